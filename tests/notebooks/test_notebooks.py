"""The notebooks run top to bottom on a small world and produce what they promise.

The world (sample data → prep → features → a champion → scored forecasts, :mod:`tests.notebooks.notebook_world`)
is built once; each notebook is executed by nbclient in a real ``python3`` kernel (ipykernel's spec, which
jupyter_client starts with this interpreter) with ``ELIQ_CONFIG`` pointing at the world. A probe cell appended to
the executed copy (the files are not changed) prints the notebook's key results as JSON, and the test checks them
against the world: the MLflow run notebook 2 logged, the monitoring run notebook 3 wrote, the figures drawn.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.notebooks.notebook_world import HOMES, NotebookWorld, build_world

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("notebooks")]

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
CELL_TIMEOUT_S = 600


@pytest.fixture(scope="session")
def notebook_world(tmp_path_factory) -> NotebookWorld:
    return build_world(tmp_path_factory.mktemp("notebook_world"))


def execute(name: str, world: NotebookWorld, probe: str) -> tuple[Any, dict[str, Any]]:
    """Run ``notebooks/<name>`` with ``probe`` appended as a last cell; the executed notebook and the probe's JSON.

    Raises:
        nbclient.exceptions.CellExecutionError: a cell failed (the message holds the cell and its traceback).
    """
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(f"import json, sys\n{probe}"))
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},  # the kernel starts where a person opens it
    )
    client.execute(env={**os.environ, "ELIQ_CONFIG": str(world.config)})
    printed = "".join(
        output.get("text", "") for output in notebook.cells[-1].outputs if output.output_type == "stream"
    )
    return notebook, json.loads(printed.strip().splitlines()[-1])


def images(notebook: Any) -> int:
    """The figures a notebook displayed (PNG outputs)."""
    return sum(
        "image/png" in output.get("data", {})
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )


def test_curated_data_quality_notebook(notebook_world):
    probe = """print(json.dumps({
    "executable": sys.executable,
    "zone_files": zones.set_index("zone")["files"].to_dict(),
    "homes": len(coverage),
    "home_metrics": len(home_metrics),
    "quarantine_reasons": sorted(reasons["reason"]) if len(reasons) else [],
    "hourly_rows": len(hourly),
}))"""
    notebook, found = execute("01_curated_data_quality.ipynb", notebook_world, probe)

    assert found["executable"] == sys.executable  # the kernel runs this environment's interpreter
    zones = ("raw", "processed", "quarantine", "curated", "quality")
    assert all(found["zone_files"][zone] > 0 for zone in zones)
    assert found["homes"] == HOMES  # every generated home appears under one source or another
    assert found["home_metrics"] >= HOMES - 2  # homes with readings (the bills-only ones have none)
    assert found["quarantine_reasons"], "the sample data's faults put rows in quarantine"
    assert found["hourly_rows"] > 0
    assert images(notebook) >= 5  # completeness, quarantine reasons, load profile, vs temperature, heatmap


def test_forecast_experiment_notebook(notebook_world):
    probe = """print(json.dumps({
    "run_id": run_id,
    "forecasters": evaluation.headline["forecaster"].tolist(),
    "lead_hours": int(evaluation.hourly_by_lead["lead_h"].nunique()),
    "champion_version": champion.version,
}))"""
    notebook, found = execute("02_forecast_experiment.ipynb", notebook_world, probe)

    from mlflow import MlflowClient

    from contracts.config import load_settings

    settings = load_settings(notebook_world.config)
    client = MlflowClient(settings.training.backend_uri(), settings.training.backend_uri())
    run = client.get_run(found["run_id"])
    assert client.get_experiment(run.info.experiment_id).name == "eliq-forecast-notebooks"
    assert run.data.params["model.num_leaves"] == "63"  # the variant's change, logged
    assert run.data.tags["feature_service"] == "forecast_v1"
    for name in ("variant", "champion", "seasonal_naive", "persistence_ensemble"):
        assert f"hourly_day1_nrmse_{name}" in run.data.metrics
    assert {a.path for a in client.list_artifacts(found["run_id"])} >= {"plots", "config", "evaluation"}
    assert run.outputs is not None
    models = [output.model_id for output in run.outputs.model_outputs]  # MLflow 3: a logged model of the run
    assert len(models) == 1 and client.get_logged_model(models[0]).source_run_id == found["run_id"]
    assert set(found["forecasters"]) == {"variant", "champion", "seasonal_naive", "persistence_ensemble"}
    assert found["lead_hours"] > 24  # NRMSE by lead covers the day-ahead horizon
    assert found["champion_version"] == notebook_world.champion_version
    versions = client.search_model_versions("name = 'eliq-forecast'")  # the registry is untouched
    assert [str(v.version) for v in versions] == [notebook_world.champion_version]
    assert images(notebook) >= 1


def test_drift_review_notebook(notebook_world):
    probe = """print(json.dumps({
    "report_html": outcome.report_html,
    "reports": outcome.reports,
    "metrics_json": outcome.metrics_json,
    "drift_features": drift["feature"].tolist(),
    "cohorts": sorted(set(cohorts["cohort"])),
    "by_lead_rows": len(by_lead),
    "breaches": len(breaches),
    "snapshots": len(snapshots),
}))"""
    notebook, found = execute("03_drift_review.ipynb", notebook_world, probe)

    runs_dir = notebook_world.root / "monitoring" / "runs"
    assert Path(found["report_html"]).is_file()
    assert Path(found["report_html"]).parent.parent == runs_dir
    assert all(Path(path).is_file() for path in found["reports"].values())
    assert "temp_c" in found["drift_features"] and len(found["drift_features"]) >= 40
    assert found["cohorts"] == ["heating", "pv", "region"]
    assert found["by_lead_rows"] >= 1  # the scored week's forecasts met their actuals
    metrics = json.loads(Path(found["metrics_json"]).read_text())
    assert found["breaches"] == len(metrics["breaches"])
    assert found["snapshots"] >= 3  # drift, performance and quality, in the Evidently workspace
    assert images(notebook) >= 4  # drift scores, temp_c, cohorts, accuracy, completeness
