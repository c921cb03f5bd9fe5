"""A small monitored world: sample data through prep, the Feast feature store, a registered champion and its
stored forecasts, in a temporary folder.

Built with the project's own steps: ``generate_demo_data`` (12 homes × 40 days), ``run_prep``, the feature
tables and ``apply``, the deployable model fitted and registered as in ``tests/serving/service_fixtures.py``
(seconds instead of the minute a full ``train_forecast`` takes), and ``score_forecast`` for every client and
issue date of the last week. The training run gets what ``train_forecast`` records and monitoring or the
promotion gate read: the training window's tags, the model parameters, and a stand-in backtest level: an MAE far below any live error, so that a check on the accuracy is certain
to find a degradation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from contracts.config import Settings, load_settings
from tests.serving.service_fixtures import FORECAST, set_champion, train_and_register
from tests.world_config import world_config

BACKTEST_MAE_KWH = 0.01
CLIENTS = ("acme_energy", "nordic_power", "hanse_strom")
LOOSE = {
    "drift": {"drift_share": 1.0, "cohort_drift_share": 1.0},
    "performance": {"degradation_ratio": 1000.0, "coverage_min": 0.0, "coverage_max": 1.0},
    "quality": {"min_completeness": 0.0, "batch_max_age_h": 1e6, "max_anomaly_share": None},
}


@dataclass(frozen=True)
class MonitoredWorld:
    """Where the world lives.

    Attributes:
        root: the folder holding everything.
        values: the configuration (monitoring thresholds at their defaults).
        data_end: the end of the last curated hour [UTC].
        run_id: the champion's training run.
        version: the champion's version.
    """

    root: Path
    values: dict[str, Any]
    data_end: pd.Timestamp
    run_id: str
    version: str

    def config(self, name: str, **monitoring: Any) -> Path:
        """A config file (JSON is YAML) with ``monitoring`` keys overridden, its own workspace and run folders."""
        values = json.loads(json.dumps(self.values))
        values["monitoring"] = {
            **values["monitoring"],
            "workspace": str(self.root / name / "workspace"),
            "runs_dir": str(self.root / name / "runs"),
            **monitoring,
        }
        path = self.root / f"{name}.json"
        path.write_text(json.dumps(values))
        return path

    def settings(self, name: str, **monitoring: Any) -> Settings:
        return load_settings(self.config(name, **monitoring))


def build_world(root: Path) -> MonitoredWorld:
    """Build the world under ``root`` (once per test session)."""
    from contracts.storage import Lake
    from data_prep.run import run_prep
    from data_prep.sample_data import generate_demo_data
    from features.store import FeatureStoreAdapter
    from features.transforms.build import build_feature_tables
    from monitoring.feature_frames import data_span
    from training.steps.forecast_train import load_frames

    root.mkdir(parents=True, exist_ok=True)
    generate_demo_data(str(root / "input"), homes=12, days=40, seed=3, start="2025-01-01", write_truth=False)
    values = _config_values(root)
    settings = load_settings(**values)
    run_prep(str(root / "input"), settings)
    lake = Lake.from_settings(settings.storage)
    build_feature_tables(lake, settings.prep.n_buckets)
    FeatureStoreAdapter.from_settings(settings).apply()
    hourly, homes = load_frames(settings)
    run_id, version = train_and_register(settings, hourly, homes)
    set_champion(version)
    _record_like_training(settings, run_id, hourly)
    _, data_end = data_span(lake)
    _score_last_week(settings, data_end)
    return MonitoredWorld(root, values, data_end, run_id, version)


def _config_values(root: Path) -> dict[str, Any]:
    return world_config(
        root,
        n_buckets=4,
        forecast={**FORECAST, "source": "feast"},
        monitoring={"sample_rows": 5_000, "cohort_sample_rows": 1_000, "min_cohort_rows": 100},
    )


def _record_like_training(settings: Settings, run_id: str, hourly: pd.DataFrame) -> None:
    """What ``train_forecast`` records on its run and monitoring or the promotion gate read: the training
    window's tags, the model parameters' artifact, and (a stand-in) backtest level."""
    from mlflow import MlflowClient

    from training.forecast.training_run import ForecastTrainingConfig
    from training.steps.forecast_train import PARAMS_ARTIFACT

    client = MlflowClient()
    params = ForecastTrainingConfig.from_settings(settings.training.forecast).params
    client.log_dict(run_id, dict(params), PARAMS_ARTIFACT)
    ts = pd.to_datetime(hourly["ts"], utc=True)
    client.set_tag(run_id, "data_first_date", str(ts.min().date()))
    client.set_tag(run_id, "data_last_date", str(ts.max().date()))
    for day in (1, 2):
        client.log_metric(run_id, f"hourly_day{day}_mae_global_lightgbm", BACKTEST_MAE_KWH)


def _score_last_week(settings: Settings, data_end: pd.Timestamp) -> None:
    from training.steps.forecast_score import score_forecast

    for day in pd.date_range(data_end - pd.Timedelta(days=6), data_end - pd.Timedelta(days=3), freq="D"):
        for client in CLIENTS:
            try:
                score_forecast(settings, client, issue_time=f"{day.date()}T10:00")
            except ValueError:  # a client whose homes are read daily: no hourly history to forecast from
                continue
