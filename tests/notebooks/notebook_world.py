"""A small world for the notebooks: what ``make demo`` builds, shrunk to a temporary folder.

Built with the project's own steps, in the order of the workflow:

1. ``generate_demo_data`` (``eliq demo-data``): 12 homes × 60 days, every source, the default faults;
2. ``run_prep`` (``eliq prep run``) with the sample data's ``_truth`` folder, so the quality report scores it;
3. the feature tables, ``apply`` and ``materialize`` (``eliq features build|apply|materialize``);
4. ``train_forecast`` (``eliq train forecast``) with a small single-threaded LightGBM, no Prophet, a short
   backtest, then ``promote_forecast`` (``eliq models promote forecast``); the first version becomes champion
   (by hand when the gate rejects it, see :func:`_train_and_promote`);
5. ``score_forecast`` (``eliq score forecast --client C``) of every client for a few issue dates of the last week,
   so that monitoring finds stored forecasts whose actuals have arrived.

The world's config file (``eliq.yaml``; JSON is YAML) is what a notebook reads through ``ELIQ_CONFIG``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tests.serving.service_fixtures import SMALL_PARAMS
from tests.world_config import world_config

HOMES, DAYS, SEED = 12, 60, 3
FORECAST = {
    "source": "feast",
    "backtest_days": 5,
    "calibration_days": 10,
    "max_train_rows": 30_000,
    "prophet_homes": 0,
    "report_homes": 1,
    "params": SMALL_PARAMS,
}
SCORED_DAYS = (6, 5, 4, 3)  # issue dates scored, in days before the last curated hour [d]


@dataclass(frozen=True)
class NotebookWorld:
    """Where the world lives.

    Attributes:
        root: the folder holding everything.
        config: its config file, for ``ELIQ_CONFIG``.
        champion_version: the registered version behind ``champion``.
        clients: the clients whose homes were scored.
    """

    root: Path
    config: Path
    champion_version: str
    clients: tuple[str, ...]


def config_values(root: Path) -> dict[str, Any]:
    """Every path of the world under ``root``; small buckets, in-process prep, the small model."""
    return world_config(
        root,
        n_buckets=4,
        forecast=FORECAST,
        monitoring={"sample_rows": 5_000, "cohort_sample_rows": 1_000, "min_cohort_rows": 100},
    )


def build_world(root: Path) -> NotebookWorld:
    """Build the world under ``root``: sample data → prep → features → train → promote → score."""
    from contracts.config import load_settings
    from data_prep.run import run_prep
    from data_prep.sample_data import generate_demo_data

    root.mkdir(parents=True, exist_ok=True)
    generate_demo_data(str(root / "input"), homes=HOMES, days=DAYS, seed=SEED, start="2025-01-01")
    config = root / "eliq.yaml"
    config.write_text(json.dumps(config_values(root), indent=2))
    settings = load_settings(config)
    run_prep(str(root / "input"), settings, truth_uri=str(root / "input" / "_truth"))
    _features(settings)
    version = _train_and_promote(settings)
    clients = _score_last_week(settings)
    return NotebookWorld(root, config, version, clients)


def _features(settings: Any) -> None:
    from contracts.storage import Lake
    from features.store import FeatureStoreAdapter
    from features.transforms.build import build_feature_tables

    build_feature_tables(Lake.from_settings(settings.storage), settings.prep.n_buckets)
    adapter = FeatureStoreAdapter.from_settings(settings)
    adapter.apply()
    adapter.materialize()


def _train_and_promote(settings: Any) -> str:
    """Train the first version and run the gate; the version is made champion even when the gate rejects it.

    On a dozen homes and two months the small model may not beat the persistence ensemble by the margin (the
    demo's 60 homes × 120 days do); the notebooks need a champion either way, as an operator would set by hand.
    """
    from training.integrations.mlflow_registry import set_champion
    from training.steps.forecast_promote import promote_forecast
    from training.steps.forecast_train import train_forecast

    trained = train_forecast(settings)
    assert trained.model_name is not None and trained.version is not None
    promoted = promote_forecast(settings)
    if promoted.champion_version != trained.version:
        set_champion(trained.model_name, trained.version)
    return str(trained.version)


def _score_last_week(settings: Any) -> tuple[str, ...]:
    """Every client scored at ``SCORED_DAYS`` issue dates; the clients with at least one stored file."""
    from contracts.storage import Lake
    from training.forecast.frames import load_homes
    from training.steps.forecast_score import score_forecast

    lake = Lake.from_settings(settings.storage)
    homes = load_homes(lake)
    clients = sorted(str(c) for c in homes["client_id"].dropna().unique())
    end = _last_curated_hour(lake)
    scored = set()
    for days in SCORED_DAYS:
        issue = f"{(end - pd.Timedelta(days=days)).date()}T10:00"
        for client in clients:
            try:
                score_forecast(settings, client, issue_time=issue)
            except ValueError:  # a client whose homes have no hourly readings near the issue time
                continue
            scored.add(client)
    return tuple(sorted(scored))


def _last_curated_hour(lake: Any) -> pd.Timestamp:
    from training.forecast.frames import load_hourly_frame

    hourly = load_hourly_frame(lake, columns=("home_id", "ts"))
    return pd.Timestamp(pd.to_datetime(hourly["ts"], utc=True).max())
