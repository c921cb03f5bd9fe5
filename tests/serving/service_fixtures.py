"""A small served world for the service tests: a curated lake, a real MLflow store with a trained forecast model
behind ``champion``, API keys of two clients and an admin, and settings pointing at all of it.

The world is built once per test session (a marker file guards it) and shared by the service test modules; the
model is trained with the project's own training step and small parameters, so building it takes seconds.
Tests may import ``training`` to build fixtures; the serving code never does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from contracts.config import Settings, load_settings
from contracts.schemas import HOME_ID
from contracts.storage import Lake, Zone, home_bucket
from tests.world_config import world_config

N_BUCKETS = 4
MODEL_NAME = "eliq-forecast"
OWNERS = {
    "s000": "acme",
    "s001": "acme",
    "s005": "acme",
    "s002": "globex",
    "s003": "globex",
    "s004": "globex",
}
COLD_HOME = "s005"  # its first reading is 7 days before the end: less than min_history_days
SMALL_PARAMS = {
    "n_estimators": 30,
    "learning_rate": 0.2,
    "num_leaves": 15,
    "min_child_samples": 20,
    "quantile_n_estimators": 20,
    "quantile_max_rows": 10_000,
    "n_jobs": 1,
}
FORECAST = {
    "backtest_days": 4,
    "calibration_days": 10,
    "max_train_rows": 30_000,
    "prophet_homes": 0,
    "report_homes": 1,
    "params": SMALL_PARAMS,
}


@dataclass(frozen=True)
class ServedWorld:
    """Where the served world lives.

    Attributes:
        root: the folder holding everything.
        config: a YAML config file describing it (for subprocesses: ``ELIQ_CONFIG``).
        keys: raw API keys by client id (``acme``, ``globex``, ``ops`` the admin).
        last_ts: the last curated hour [UTC].
        run_id: the MLflow run of the trained model (register it again for a second version).
    """

    root: Path
    config: Path
    keys: dict[str, str]
    last_ts: pd.Timestamp
    run_id: str

    def settings(self, features: dict[str, Any] | None = None, **serving: Any) -> Settings:
        """The world's settings, with ``serving`` (and ``features``) keys overridden."""
        values = json.loads(self.config.read_text())
        values["serving"] = {**values["serving"], **serving}
        values["features"] = {**values["features"], **(features or {})}
        return load_settings(**values)


def config_values(root: Path) -> dict[str, Any]:
    return world_config(
        root,
        n_buckets=N_BUCKETS,
        forecast=FORECAST,
        serving={"state_dir": str(root / "state"), "reload_interval_s": 0, "max_batch_homes": 5},
    )


def write_partitioned_curated(lake: Lake, hourly: pd.DataFrame, homes: pd.DataFrame) -> None:
    """The curated zone in the layout ``eliq prep run`` writes (bucket and month partitions)."""
    import pyarrow as pa

    from data_prep.curated_hourly import write_hourly_partitions

    buckets = hourly[HOME_ID].map(lambda h: home_bucket(h, N_BUCKETS))
    for bucket, rows in hourly.groupby(buckets):
        write_hourly_partitions(lake, int(bucket), rows.reset_index(drop=True))
    lake.write_table(
        lake.path(Zone.CURATED, "homes", "homes.parquet"), pa.Table.from_pandas(homes, preserve_index=False)
    )


def add_api_keys(settings: Settings) -> dict[str, str]:
    """Keys of two tenants and an admin in the service's key store."""
    from serving.clients import ApiKeyStore

    store = ApiKeyStore(Path(settings.serving.state_dir) / "clients.db")
    return {"acme": store.add("acme"), "globex": store.add("globex"), "ops": store.add("ops", admin=True)}


def build_world(root: Path) -> ServedWorld:
    """Build the served world under ``root`` once; later calls return the one built."""
    marker = root / "world.json"
    if marker.is_file():
        record = json.loads(marker.read_text())
        return ServedWorld(
            root, root / "eliq.yaml", record["keys"], pd.Timestamp(record["last_ts"]), record["run_id"]
        )
    from training.forecast.synthetic import synthetic_hourly

    root.mkdir(parents=True, exist_ok=True)
    hourly, homes = synthetic_hourly(n_homes=6, days=60, seed=5, late_start_days={5: 53})
    homes["client_id"] = homes[HOME_ID].map(OWNERS)
    write_partitioned_curated(Lake(str(root / "lake")), hourly, homes)
    config = root / "eliq.yaml"
    config.write_text(json.dumps(config_values(root)))  # JSON is YAML
    settings = load_settings(config)
    run_id, version = train_and_register(settings, hourly, homes)
    set_champion(version)
    keys = add_api_keys(settings)
    last_ts = pd.Timestamp(hourly["ts"].max())
    marker.write_text(json.dumps({"keys": keys, "last_ts": str(last_ts), "run_id": run_id}))
    return ServedWorld(root, config, keys, last_ts, run_id)


def train_and_register(settings: Settings, hourly: pd.DataFrame, homes: pd.DataFrame) -> tuple[str, str]:
    """Fit the deployable forecast with the training code and register it, without the backtest and its report
    (what ``eliq train forecast`` adds; seconds instead of tens of seconds here). Returns (run id, version)."""
    import mlflow

    from training.forecast.frames import HourlyPanel
    from training.forecast.training_run import ForecastTrainingConfig, fit_deployable
    from training.integrations.mlflow_forecast_model import log_forecast_model
    from training.integrations.mlflow_tracking import configure_tracking, experiment_id
    from training.steps.forecast_train import input_example

    config = ForecastTrainingConfig.from_settings(settings.training.forecast)
    configure_tracking(settings.training)
    model = fit_deployable(HourlyPanel.from_frames(hourly, homes), config)
    with mlflow.start_run(experiment_id=experiment_id(settings.training, "forecast")) as run:
        info = log_forecast_model(
            model, input_example(hourly, homes), metadata={}, registered_model_name=MODEL_NAME
        )
    return run.info.run_id, str(info.registered_model_version)


def register_again(run_id: str) -> str:
    """A new registered version of the same logged model (a stand-in for a retrained one); returns it."""
    import mlflow

    return str(mlflow.register_model(f"runs:/{run_id}/model", MODEL_NAME).version)


def set_champion(version: str) -> None:
    from mlflow import MlflowClient

    MlflowClient().set_registered_model_alias(MODEL_NAME, "champion", version)


def session_world(tmp_path_factory: Any) -> ServedWorld:
    """The served world of this test session: built by the first module that asks, reused by the others."""
    return build_world(tmp_path_factory.getbasetemp() / "served_world")
