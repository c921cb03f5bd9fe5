"""The MLproject entry points: each names a real ``eliq`` command, the steps cover the workflow, and a few run for
real through ``mlflow run . -e <entry> --env-manager local`` (a subprocess, tracking on a temporary SQLite)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.workflow import WORKFLOW
from tests.pipelines.pipeline_fixtures import flat

pytestmark = pytest.mark.xdist_group("pipelines")

REPO = Path(__file__).resolve().parents[2]
STEP_ENTRY_POINTS = {
    "prep": "prep",
    "features": "features",
    "train_forecast": "train",
    "evaluate_forecast": "evaluate",
    "promote_forecast": "register",
    "score_forecast": "score",
    "monitor": "monitor",
}


def entry_points() -> dict[str, dict]:
    return yaml.safe_load((REPO / "MLproject").read_text())["entry_points"]


def command_args(entry: dict, **values: str) -> list[str]:
    """The entry point's command with its parameters' defaults (or ``values``) filled in, split like a shell."""
    params = {name: str(spec.get("default", "")) for name, spec in entry.get("parameters", {}).items()}
    params.update(values)
    return shlex.split(entry["command"].format(**params))


@pytest.mark.parametrize("name", sorted(entry_points()), ids=str)
def test_every_entry_point_names_an_existing_eliq_command(name):
    args = command_args(entry_points()[name])
    assert args[0] == "eliq"
    result = CliRunner().invoke(app, [*args[1:], "--help"])
    assert result.exit_code == 0, result.output  # an unknown command or option fails here
    assert "Usage" in flat(result.output)


def test_each_workflow_step_has_an_entry_point_that_runs_that_step():
    points = entry_points()
    assert set(STEP_ENTRY_POINTS.values()) == set(WORKFLOW.names)
    for entry, step in STEP_ENTRY_POINTS.items():
        args = command_args(points[entry])
        assert args[3:6] == ["pipeline", "step", step], entry
    main = command_args(points["main"])
    assert main[3:5] == ["pipeline", "run"]
    assert main[main.index("--steps") + 1].split(",") == list(WORKFLOW.names)


def mlflow_run(entry: str, tracking_db: Path, **params: str) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "mlflow", "run", str(REPO), "-e", entry, "--env-manager", "local"]
    for key, value in params.items():
        args += ["-P", f"{key}={value}"]
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tracking_db}",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.pop("ELIQ_CONFIG", None)
    return subprocess.run(args, capture_output=True, text=True, env=env, cwd=REPO, timeout=600)


def project_run_tags(tracking_db: Path) -> dict[str, str]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tracking_db}")
    runs = client.search_runs(experiment_ids=["0"])
    assert len(runs) == 1
    return runs[0].data.tags


@pytest.fixture(scope="session")
def empty_tracking_db(tmp_path_factory) -> Path:
    """An MLflow SQLite store with its tables created once (each test copies it: migrations take seconds)."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow_template") / "project.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def tracking_db(tmp_path, empty_tracking_db) -> Path:
    path = tmp_path / "project.db"
    shutil.copyfile(empty_tracking_db, path)
    return path


@pytest.mark.slow
def test_mlflow_run_of_a_step_entry_point(tracking_db, pipeline_world):
    done = mlflow_run("score_forecast", tracking_db, config=str(pipeline_world.config))
    assert done.returncode == 0, done.stderr[-3000:]
    tags = project_run_tags(tracking_db)
    assert tags["eliq.kind"] == "step:score" and tags["eliq.status"] == "succeeded"
    assert int(tags["eliq.score.rows"]) > 0
    record_file = Path(tags["eliq.record"])
    assert record_file.parent.parent == Path(pipeline_world.settings.pipeline.runs_dir).resolve() / "steps"
    record = json.loads(record_file.read_text())
    assert record["name"] == "score" and record["status"] == "succeeded"
    assert record["outputs"]["model_version"] == tags["eliq.score.model_version"]


@pytest.mark.slow
def test_mlflow_run_of_the_main_entry_point_runs_the_runner(tracking_db, pipeline_world):
    done = mlflow_run(
        "main",
        tracking_db,
        config=str(pipeline_world.config),
        steps="score",
        input=str(pipeline_world.input_dir),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    tags = project_run_tags(tracking_db)
    assert tags["eliq.kind"].startswith("run:") and tags["eliq.status"] == "succeeded"
    record = json.loads(Path(tags["eliq.record"]).read_text())
    assert list(record["steps"]) == ["score"]
    assert record["steps"]["score"]["outputs"]["rows"] > 0
