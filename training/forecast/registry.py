"""The forecasters by name, and how each is made for a resolution.

Callers (the backtest, the benchmark, later the CLI and MLflow wiring) choose forecasters by these names; nothing
branches on a model name anywhere else.
"""

from __future__ import annotations

from typing import Any

from training.forecast.baselines import PersistenceEnsembleForecaster, SeasonalNaiveForecaster
from training.forecast.calibration import Forecaster
from training.forecast.global_model import GlobalLightGbmForecaster

FORECASTERS: dict[
    str, type[GlobalLightGbmForecaster | SeasonalNaiveForecaster | PersistenceEnsembleForecaster]
] = {
    "global_lightgbm": GlobalLightGbmForecaster,
    "seasonal_naive": SeasonalNaiveForecaster,
    "persistence_ensemble": PersistenceEnsembleForecaster,
}

# The feature column a baseline reads at each resolution (the daily rows have daily lags).
BASELINE_COLUMNS: dict[tuple[str, str], str] = {
    ("seasonal_naive", "hourly"): "kwh_same_hour_last_week",
    ("seasonal_naive", "daily"): "kwh_day_same_weekday_latest",
    ("persistence_ensemble", "hourly"): "kwh_same_hour_mean",
    ("persistence_ensemble", "daily"): "kwh_day_mean_7d",
}


def make_forecaster(name: str, resolution: str = "hourly", **params: Any) -> Forecaster:
    """A fresh forecaster ``name`` for ``resolution`` rows, with ``params`` passed to its constructor."""
    if name not in FORECASTERS:
        raise KeyError(f"unknown forecaster {name!r}; known: {sorted(FORECASTERS)}")
    column = BASELINE_COLUMNS.get((name, resolution))
    if column is not None:
        params.setdefault("column", column)
    forecaster: Forecaster = FORECASTERS[name](**params)
    return forecaster
