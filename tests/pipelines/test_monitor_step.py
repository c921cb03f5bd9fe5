"""The workflow's monitor step: the monitoring layer's step function run by the runner after scoring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("monitoring.steps")

pytestmark = pytest.mark.xdist_group("pipelines")


def test_the_full_run_ends_with_the_monitoring_reports(pipeline_world):
    monitor = pipeline_world.record.steps["monitor"]
    assert monitor.status == "succeeded"
    assert set(monitor.inputs["upstream"]) == {"score"}
    out = monitor.outputs
    assert Path(out["report_html"]).is_file()
    assert Path(out["reports"]["drift"]).is_file()
    assert Path(out["report_html"]).is_relative_to(Path(monitor.out_dir))  # the reports live with the run
    metrics = json.loads(Path(out["metrics_json"]).read_text())
    assert metrics
    assert Path(out["workspace"]).is_dir()
    for breach in out["breaches"]:
        assert {"kind", "metric", "value", "threshold"} <= set(breach)
