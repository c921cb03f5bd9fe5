"""The Evidently workspace: a project per model with its dashboard, snapshots added per run, and ``eliq monitor ui``
serving it (a real ``evidently ui`` subprocess)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from monitoring.evidently_reports import quality_snapshot
from monitoring.evidently_workspace import add_snapshots, open_project, project_runs

REPO = Path(__file__).resolve().parents[2]
DAILY = pd.DataFrame({"completeness": [0.99, 0.97], "share_imputed": [0.01, 0.02], "n_anomaly": [0, 3]})


def _snapshot(day: int):
    return quality_snapshot(DAILY, timestamp=datetime(2025, 2, day), metadata={"model_version": "1"})


def test_runs_add_snapshots_to_one_project_with_a_dashboard(tmp_path):
    workspace = str(tmp_path / "workspace")
    first = add_snapshots(workspace, "eliq-forecast", [_snapshot(1)])
    second = add_snapshots(workspace, "eliq-forecast", [_snapshot(2)])
    assert first[0].project_id == second[0].project_id
    added = [first[0].snapshot_id, second[0].snapshot_id]
    assert sorted(project_runs(workspace, "eliq-forecast")) == sorted(added)
    space, project = open_project(workspace, "eliq-forecast", "")
    assert len(space.list_projects()) == 1
    titles = [panel.title for panel in project.dashboard.model().panels]
    assert "Share of drifted features" in titles and "P10–P90 coverage" in titles
    assert project_runs(str(tmp_path / "nowhere"), "eliq-forecast") == []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_monitor_ui_serves_the_workspace(tmp_path):
    workspace = tmp_path / "workspace"
    add_snapshots(str(workspace), "eliq-forecast", [_snapshot(1)])
    port = _free_port()
    eliq = [sys.executable, "-c", "from pipelines.cli import main; main()"]
    server = subprocess.Popen(
        [*eliq, "monitor", "ui", "--port", str(port), "--workspace", str(workspace)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        projects = None
        deadline = time.monotonic() + 90
        while projects is None and time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/projects", timeout=2) as answer:
                    projects = json.loads(answer.read())
            except OSError:
                time.sleep(0.5)
        output = server.stdout.read().decode() if server.poll() is not None and server.stdout else ""
        assert projects is not None, output or "no answer"
        assert [p["name"] for p in projects] == ["eliq-forecast"]
    finally:
        server.terminate()
        server.wait(timeout=30)
