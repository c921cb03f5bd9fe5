"""Training, registry, promotion, rollback and prediction through a real MLflow store (SQLite in a temp folder).

The lake holds synthetic homes in the curated layout; the model is small so that a run takes seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from contracts.config import load_settings
from contracts.storage import Lake, Zone
from training.forecast.synthetic import synthetic_hourly

pytestmark = pytest.mark.xdist_group("forecast_mlflow")

# small and single-threaded: two test workers share two cores, and LightGBM's spinning threads slow to a crawl
# when oversubscribed
SMALL = {
    "n_estimators": 40,
    "learning_rate": 0.2,
    "num_leaves": 15,
    "min_child_samples": 20,
    "quantile_n_estimators": 30,
    "quantile_max_rows": 20_000,
    "n_jobs": 1,
}
BAD = {**SMALL, "n_estimators": 1, "learning_rate": 0.01, "num_leaves": 2}
FORECAST = {
    "backtest_days": 8,
    "calibration_days": 14,
    "max_train_rows": 60_000,
    "prophet_homes": 0,
    "params": SMALL,
}


def write_curated(root: Path, hourly: pd.DataFrame, homes: pd.DataFrame) -> None:
    """Synthetic frames in the curated zone's layout (what `eliq prep run` writes)."""
    import pyarrow as pa

    lake = Lake(str(root))
    lake.write_table(
        lake.path(Zone.CURATED, "consumption_hourly", "bucket=000", "part-0.parquet"),
        pa.Table.from_pandas(hourly, preserve_index=False),
    )
    lake.write_table(
        lake.path(Zone.CURATED, "homes", "homes.parquet"),
        pa.Table.from_pandas(homes, preserve_index=False),
    )


def settings_on(tmp: Path, tracking_uri: str | None = None, **forecast: object):
    return load_settings(
        storage={"root": str(tmp / "lake")},
        training={
            "tracking_uri": tracking_uri or f"sqlite:///{tmp / 'mlflow' / 'mlflow.db'}",
            "artifact_root": str(tmp / "mlflow" / "artifacts"),
            "forecast": {**FORECAST, **forecast},
        },
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("forecast_mlflow")
    hourly, homes = synthetic_hourly(n_homes=10, days=80, seed=8, late_start_days={9: 72})
    write_curated(tmp / "lake", hourly, homes)
    return tmp


@pytest.fixture(scope="module")
def first_run(store):
    from training.steps.forecast_train import train_forecast

    return train_forecast(settings_on(store), report_dir=str(store / "report-1"))


def test_training_logs_lineage_metrics_report_and_registers_a_challenger(store, first_run):
    from mlflow import MlflowClient

    from training.integrations.mlflow_registry import aliased

    run = MlflowClient().get_run(first_run.run_id)
    tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
    assert tags["feature_service"] == "forecast_v1"
    assert len(tags["data_snapshot"]) == 32 and tags["git_commit"]
    assert params["model.n_estimators"] == "40" and params["issue_time_h"] == "10.0"
    assert any(k.startswith("hourly_day1_nrmse") for k in metrics)
    artifacts = {a.path for a in MlflowClient().list_artifacts(first_run.run_id, "evaluation")}
    assert any(p.endswith(".html") for p in artifacts) and any(p.endswith(".md") for p in artifacts)
    challenger = aliased("eliq-forecast", "challenger")
    assert challenger is not None and challenger.version == first_run.version == "1"
    assert set(first_run.comparison["forecaster"]) >= {
        "global_lightgbm",
        "seasonal_naive",
        "persistence_ensemble",
    }


def test_the_data_snapshot_id_changes_when_a_curated_file_changes(tmp_path):
    from training.integrations.mlflow_tracking import data_snapshot_id

    hourly, homes = synthetic_hourly(n_homes=2, days=3, seed=1)
    write_curated(tmp_path, hourly, homes)
    before = data_snapshot_id(Lake(str(tmp_path)))
    assert data_snapshot_id(Lake(str(tmp_path))) == before
    write_curated(tmp_path, hourly.assign(kwh=hourly["kwh"] * 1.01), homes)
    assert data_snapshot_id(Lake(str(tmp_path))) != before


_CLEAN_PROCESS = """
import json, sys
import mlflow, pandas as pd
mlflow.set_tracking_uri(sys.argv[1])
model = mlflow.pyfunc.load_model("models:/eliq-forecast@challenger")
frame = pd.read_parquet(sys.argv[2])
out = model.predict(frame, params={"issue_time": sys.argv[3], "resolution": "all"})
out.to_parquet(sys.argv[4])
"""


def test_the_model_loaded_in_a_clean_process_gives_the_same_numbers(store, first_run, tmp_path):
    import mlflow

    from contracts.forecast_model_io import OUTPUT_COLUMNS
    from training.integrations.mlflow_forecast_model import load_forecast_model

    model = load_forecast_model("models:/eliq-forecast@challenger")
    signature = model.metadata.signature
    assert {p.name for p in signature.params.params} == {"issue_time", "resolution"}
    assert {"home_id", "ts", "kwh", "temp_c", "timezone"} <= set(signature.inputs.input_names())
    example = model.input_example
    assert example is not None and len(example) > 0
    issue = str((pd.Timestamp(example["ts"].max()) - pd.Timedelta(days=2)).date()) + "T10:00"
    here = model.predict(example, params={"issue_time": issue})
    assert list(here.columns) == list(OUTPUT_COLUMNS)
    example.to_parquet(tmp_path / "input.parquet")
    subprocess.run(
        [
            sys.executable,
            "-c",
            _CLEAN_PROCESS,
            mlflow.get_tracking_uri(),
            str(tmp_path / "input.parquet"),
            issue,
            str(tmp_path / "out.parquet"),
        ],
        check=True,
        cwd=tmp_path,
    )
    there = pd.read_parquet(tmp_path / "out.parquet")
    pd.testing.assert_frame_equal(
        here.reset_index(drop=True), there.reset_index(drop=True), check_dtype=False
    )
    hourly = here[here["resolution"] == "hourly"]
    assert hourly.groupby("home_id").size().between(47, 49).all()
    assert (hourly["kwh_p10"] <= hourly["kwh_p50"]).all() and (hourly["kwh_p50"] <= hourly["kwh_p90"]).all()


def test_a_wrong_parameter_or_issue_time_is_a_clear_error(first_run):
    from training.integrations.mlflow_forecast_model import load_forecast_model

    model = load_forecast_model("models:/eliq-forecast@challenger")
    with pytest.raises(Exception, match="resolution must be one of"):
        model.predict(model.input_example, params={"resolution": "weekly"})
    with pytest.raises(ValueError, match="outside the data"):
        model.predict(model.input_example, params={"issue_time": "2001-01-01T10:00"})


def test_promotion_gate_promotes_a_good_model_rejects_a_bad_one_and_rolls_back(store, first_run):
    from training.integrations.mlflow_registry import aliased, champion_history
    from training.steps.forecast_promote import promote_forecast, rollback_forecast
    from training.steps.forecast_train import train_forecast

    settings = settings_on(store)
    first = promote_forecast(settings)
    assert first.decision.promote, first.decision.reasons
    assert first.previous_champion is None and first.champion_version == first_run.version
    assert set(first.decision.improvements) == {"seasonal_naive", "persistence_ensemble"}

    bad = train_forecast(settings, params=BAD)  # a one-tree model: worse than the baselines
    rejected = promote_forecast(settings)
    assert not rejected.decision.promote
    assert rejected.challenger_version == bad.version and rejected.champion_version == first_run.version
    assert rejected.decision.improvements["champion"] < 0
    assert aliased("eliq-forecast", "champion").version == first_run.version

    # the same configuration again clears a zero margin (an equal score), so it becomes champion ...
    again = train_forecast(settings_on(store, promotion_margin=0.0))
    promoted = promote_forecast(settings_on(store, promotion_margin=0.0))
    assert promoted.decision.promote and promoted.champion_version == again.version
    assert champion_history("eliq-forecast") == [first_run.version, again.version]
    # ... and one command moves the champion back
    moved = rollback_forecast(settings)
    assert moved == {"model": "eliq-forecast", "from": again.version, "to": first_run.version}
    assert aliased("eliq-forecast", "champion").version == first_run.version


def test_prediction_step_forecasts_every_resolution_and_flags_the_cold_start_home(store, first_run):
    from training.steps.forecast_predict import predict_forecast

    outcome = predict_forecast(settings_on(store), homes=["s000", "s009"], alias="challenger")
    frame = outcome.forecasts
    assert set(frame["resolution"]) == {"hourly", "daily", "monthly"}
    assert set(frame["home_id"]) == {"s000", "s009"}
    assert (frame["model_version"] == outcome.version).all()
    cold = frame.groupby("home_id")["cold_start"].any()
    assert cold["s009"] and not cold["s000"]  # s009's first reading is 8 days before the end
    monthly = frame[frame["resolution"] == "monthly"]
    assert len(monthly) == 4 and np.isfinite(monthly["kwh_p50"]).all()


def test_prediction_refuses_unknown_homes_and_a_missing_alias(store, first_run):
    from training.integrations.mlflow_registry import RegistryError
    from training.steps.forecast_predict import predict_forecast

    with pytest.raises(KeyError, match="unknown homes"):
        predict_forecast(settings_on(store), homes=["nope"], alias="challenger")
    with pytest.raises(RegistryError, match="no 'staging' version"):
        predict_forecast(settings_on(store), homes=["s000"], alias="staging")


@pytest.mark.integration
def test_tracking_and_registry_on_the_local_postgresql(tmp_path):
    import psycopg

    from training.steps.forecast_train import train_forecast

    database = f"eliq_mlflow_{np.random.default_rng().integers(1 << 30)}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {database}")
    try:
        hourly, homes = synthetic_hourly(n_homes=4, days=60, seed=2)
        write_curated(tmp_path / "lake", hourly, homes)
        uri = f"postgresql://postgres@127.0.0.1:5432/{database}"
        outcome = train_forecast(settings_on(tmp_path, tracking_uri=uri, backtest_days=4))
        from mlflow import MlflowClient

        assert MlflowClient().get_run(outcome.run_id).data.tags["feature_service"] == "forecast_v1"
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{database}") as conn:
            versions = conn.execute("SELECT name, version FROM model_versions").fetchall()
            aliases = conn.execute("SELECT alias, version FROM registered_model_aliases").fetchall()
        assert versions == [("eliq-forecast", 1)] and aliases == [("challenger", 1)]
    finally:
        import mlflow

        mlflow.set_tracking_uri(None)
        _dispose_engines()
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def _dispose_engines() -> None:
    """MLflow caches one SQLAlchemy engine per URI; closing them lets the test database be dropped."""
    import gc

    import sqlalchemy

    for obj in gc.get_objects():
        if isinstance(obj, sqlalchemy.engine.Engine):
            obj.dispose()


def test_outcome_record_is_json(first_run, tmp_path):
    from training.steps.forecast_train import write_outcome

    write_outcome(first_run, tmp_path / "outcome.json")
    record = json.loads((tmp_path / "outcome.json").read_text())
    assert record["version"] == first_run.version and record["comparison"]


def test_cli_tunes_then_trains_with_the_tuned_parameters_and_shows_the_registry(store, first_run, tmp_path):
    from typer.testing import CliRunner

    from pipelines.cli import app

    config = tmp_path / "eliq.yaml"
    config.write_text(
        json.dumps(
            {
                "storage": {"root": str(store / "lake")},
                "training": {
                    "tracking_uri": f"sqlite:///{store / 'mlflow' / 'mlflow.db'}",
                    "artifact_root": str(store / "mlflow" / "artifacts"),
                    "tuning": {"storage_url": f"sqlite:///{tmp_path / 'optuna.db'}", "validation_days": 5},
                    "forecast": FORECAST,
                },
            }
        )  # JSON is YAML
    )
    params = tmp_path / "best.json"
    tuned = CliRunner().invoke(
        app, ["--config", str(config), "tune", "forecast", "--trials", "2", "--params-out", str(params)]
    )
    assert tuned.exit_code == 0, tuned.output
    best = json.loads(params.read_text())
    assert best["n_jobs"] == 1 and 0.02 <= best["learning_rate"] <= 0.3
    shown = CliRunner().invoke(app, ["--config", str(config), "models", "show", "forecast"])
    assert shown.exit_code == 0 and "challenger" in shown.output


@pytest.mark.parametrize(
    ("days", "trains"),
    [
        pytest.param(20, True, id="three-weeks-trains"),
        pytest.param(10, False, id="ten-days-is-a-clear-error"),
    ],
)
def test_a_few_weeks_of_history_train_with_shortened_windows(tmp_path, days, trains):
    from training.steps.forecast_train import train_forecast

    hourly, homes = synthetic_hourly(n_homes=3, days=days, seed=5)
    write_curated(tmp_path / "lake", hourly, homes)
    settings = settings_on(tmp_path, backtest_days=28)
    if not trains:
        with pytest.raises(ValueError, match="too little history: the data spans"):
            train_forecast(settings)
        return
    outcome = train_forecast(settings)
    assert outcome.version == "1"
    assert outcome.comparison["rows"].min() > 0


@pytest.fixture(scope="module")
def small_feature_lake(small_demo, tmp_path_factory):
    """The small sample data through `eliq prep run`, `features build` and `features apply`."""
    from data_prep.run import run_prep
    from features.store import FeatureStoreAdapter
    from features.transforms.build import build_feature_tables
    from tests.conftest import settings_for

    root = tmp_path_factory.mktemp("feature_lake") / "lake"
    settings = settings_for(str(root))
    run_prep(str(small_demo), settings)
    lake = Lake(str(root))
    build_feature_tables(lake, settings.prep.n_buckets)
    FeatureStoreAdapter.from_settings(settings).apply()
    return settings, lake


def test_training_through_the_feature_store_reads_the_same_history_as_the_curated_zone(small_feature_lake):
    from training.forecast.frames import load_hourly_frame
    from training.integrations.feast_history import hourly_frame_from_feature_store
    from training.steps.forecast_train import load_frames

    settings, lake = small_feature_lake
    curated = load_hourly_frame(lake)
    served = hourly_frame_from_feature_store(settings, curated[["home_id", "ts"]])
    both = curated.merge(served, on=["home_id", "ts"], suffixes=("", "_feast"))
    assert len(both) == len(curated)
    np.testing.assert_allclose(both["kwh_feast"], both["kwh"], rtol=1e-6, equal_nan=True)
    first_hour = both.groupby("home_id")["ts"].transform("min") == both["ts"]
    rest = both[~first_hour]  # a home's first hour has no weather through the store (see feast_history)
    np.testing.assert_allclose(rest["temp_c_feast"], rest["temp_c"], rtol=1e-6, equal_nan=True)
    assert rest["temp_c_feast"].notna().any()
    feast_settings = settings.model_copy(
        update={
            "training": settings.training.model_copy(
                update={"forecast": settings.training.forecast.model_copy(update={"source": "feast"})}
            )
        }
    )
    hourly, _ = load_frames(feast_settings)
    assert set(hourly.columns) >= {"home_id", "ts", "kwh", "temp_c", "ghi_w_m2"} and len(hourly) == len(
        curated
    )
