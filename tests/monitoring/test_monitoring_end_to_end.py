"""End to end on a small lake with a registered champion and stored forecasts: the step, ``eliq monitor report``
and ``eliq monitor check`` (exit codes, alert records), the Evidently workspace, and retraining after an alert."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from monitoring.evidently_workspace import project_runs
from pipelines.cli import app
from pipelines.cli.monitor import ALERT_EXIT_CODE
from tests.monitoring.monitoring_world import BACKTEST_MAE_KWH, LOOSE, MonitoredWorld, build_world

pytestmark = [
    pytest.mark.xdist_group("feast"),
    pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::DeprecationWarning", "ignore::UserWarning"),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> MonitoredWorld:
    return build_world(tmp_path_factory.mktemp("monitored_world"))


@pytest.fixture(scope="module")
def first_run(world):
    from monitoring.steps import monitor_forecast

    settings = world.settings("step")
    return settings, monitor_forecast(settings, as_of=world.data_end + pd.Timedelta(hours=2))


def test_step_monitors_every_forecast_v1_feature_against_the_training_window(world, first_run):
    _, outcome = first_run
    metrics = json.loads(Path(outcome.metrics_json).read_text())
    assert (outcome.model_name, outcome.model_version) == ("eliq-forecast", world.version)
    assert metrics["feature_source"] == "feast"
    assert "training window of eliq-forecast" in metrics["windows"]["reference_source"]
    assert outcome.windows.current.end == world.data_end
    assert outcome.windows.reference.end == outcome.windows.current.start
    judged = {f["feature"] for f in metrics["drift"]["features"]} | set(metrics["drift"]["empty_features"])
    assert {"kwh_lag_1h", "temp_c", "price_eur_mwh", "hour", "sun_elevation_deg", "has_pv"} <= judged
    assert "month" not in judged and len(judged) == 51  # forecast_v1's 52 features, month ignored
    cohorts = {(c["cohort"], c["value"]) for c in metrics["drift"]["cohorts"]}
    assert {("pv", "yes"), ("pv", "no")} <= cohorts and any(c == "region" for c, _ in cohorts)


def test_step_scores_the_stored_forecasts_against_the_backtest(first_run):
    _, outcome = first_run
    metrics = json.loads(Path(outcome.metrics_json).read_text())
    performance = metrics["performance"]
    assert performance["rows"] > 500
    by_lead = {row["lead_day"]: row for row in performance["by_lead"]}
    assert set(by_lead) == {"day+1", "day+2"}
    assert by_lead["day+1"]["backtest_mae"] == BACKTEST_MAE_KWH
    assert by_lead["day+1"]["mae_ratio"] == pytest.approx(by_lead["day+1"]["mae"] / BACKTEST_MAE_KWH)
    assert 0.3 < by_lead["day+1"]["coverage"] <= 1.0
    kinds = {(b.kind, b.metric) for b in outcome.breaches}
    assert ("performance", "mae_ratio") in kinds  # the stand-in backtest level is far below the live MAE
    quality = metrics["quality"]
    assert quality["completeness"] > 0.9 and quality["batch_age_h"] == pytest.approx(2.0)


def test_step_writes_the_reports_and_adds_snapshots_to_the_workspace(first_run):
    settings, outcome = first_run
    folder = Path(outcome.run_folder)
    assert {p.name for p in folder.iterdir()} >= {
        "report.html",
        "metrics.json",
        "drift.html",
        "performance.html",
        "quality.html",
    }
    summary = Path(outcome.report_html).read_text()
    assert "threshold(s) crossed" in summary and 'href="drift.html"' in summary
    runs = project_runs(settings.monitoring.workspace, "eliq-forecast")
    assert sorted(runs) == sorted(outcome.snapshot_ids) and len(runs) == 3


def test_report_command_adds_a_run_to_the_same_project(world):
    config = world.config("cli", **LOOSE)
    settings = world.settings("cli", **LOOSE)
    for _ in range(2):
        result = CliRunner().invoke(app, ["--config", str(config), "monitor", "report"])
        assert result.exit_code == 0, result.output
    assert "report" in result.output and "eliq monitor ui" in result.output
    assert len(project_runs(settings.monitoring.workspace, "eliq-forecast")) == 6
    assert len(list(Path(settings.monitoring.runs_dir).iterdir())) == 2


@pytest.mark.parametrize(
    ("thresholds", "exit_code"),
    [
        pytest.param(LOOSE, 0, id="nothing-crossed-exit-0"),
        pytest.param({**LOOSE, "quality": {"batch_max_age_h": 1.0}}, ALERT_EXIT_CODE, id="stale-data-exit-3"),
    ],
)
def test_check_command_exit_code_and_alert_record(world, thresholds, exit_code, tmp_path):
    name = f"check-{exit_code}"
    config = world.config(name, **thresholds)
    as_of = (world.data_end + pd.Timedelta(hours=3)).isoformat()
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app, ["--config", str(config), "monitor", "check", "--as-of", as_of, "--out", str(out)]
    )
    assert result.exit_code == exit_code, result.output
    log = world.root / name / "runs" / "alerts.jsonl"
    if exit_code == 0:
        assert not (out / "alert.json").exists() and not log.exists()
        assert "no threshold crossed" in result.output
        return
    record = json.loads((out / "alert.json").read_text())
    assert record["kinds"] == ["quality"] and record["breaches"][0]["metric"] == "batch_age_h"
    assert record["breaches"][0]["value"] == pytest.approx(3.0)
    assert json.loads(log.read_text().splitlines()[-1]) == record


def test_check_rejects_a_reference_without_data(world):
    config = world.config("bad-reference")
    reference = ["--reference-from", "2020-01-01", "--reference-to", "2020-02-01"]
    result = CliRunner().invoke(app, ["--config", str(config), "monitor", "check", *reference])
    assert result.exit_code == 1 and "no curated hours" in result.output


@pytest.mark.slow
def test_check_with_retrain_trains_and_runs_the_promotion_gate(world):
    from mlflow import MlflowClient

    from monitoring.steps import check_forecast

    performance = {**LOOSE["performance"], "degradation_ratio": 1.3}
    settings = world.settings("retrain", **{**LOOSE, "performance": performance})
    result = check_forecast(settings, retrain=True, as_of=world.data_end)
    assert {b.metric for b in result.monitoring.breaches} == {"mae_ratio"}
    assert result.retraining is not None and result.retraining.version is not None
    assert int(result.retraining.version) > int(world.version)
    record = json.loads(Path(result.alert_path).read_text())
    assert record["retraining"]["version"] == result.retraining.version
    version = MlflowClient().get_model_version("eliq-forecast", result.retraining.version)
    assert version.tags["promotion.decision"] == ("promoted" if result.retraining.promoted else "rejected")
