"""Rolling-origin backtest: forecasters fitted on the data before each block of origins, scored on what followed.

Origins are every ``step_days`` local dates from ``start_date`` to ``end_date``, all homes, at the schedule's
issue time. The forecasters are fitted (and calibrated) on the data before the first origin, and again every
``refit_every_days`` when set; every forecaster of a block shares one set of features. The result is one long
frame: a row per forecaster and forecast row, with its quantiles, the actual and the row's identifiers.

Invariants:
    A forecast for an origin on date ``D`` is fitted on data before the block's first origin (``<= D``) and its
    features read readings before its issue time only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from training.forecast.calibration import CalibratedForecaster, Forecaster
from training.forecast.fitting import TrainingWindows, fit_calibrated, training_sets
from training.forecast.forecast_sets import ForecastSet, Resolution, build_set
from training.forecast.frames import HourlyPanel
from training.forecast.origins import origin_grid

ForecasterFactory = Callable[[], Forecaster]


@dataclass(frozen=True)
class BacktestPlan:
    """What a backtest runs.

    Attributes:
        start_date: first origin, local date [days since 1970-01-01].
        end_date: last origin, inclusive.
        step_days: days between origins [d].
        refit_every_days: refit the forecasters every this many days [d]; ``None`` fits once, before the start.
        windows: the training and calibration windows of each fit.
    """

    start_date: int
    end_date: int
    step_days: int = 1
    refit_every_days: int | None = None
    windows: TrainingWindows = field(default_factory=TrainingWindows)

    def origins(self) -> np.ndarray:
        return np.arange(self.start_date, self.end_date + 1, self.step_days)

    def blocks(self) -> list[np.ndarray]:
        """The origins of each fit, in order."""
        origins = self.origins()
        if self.refit_every_days is None or len(origins) == 0:
            return [origins]
        block = (origins - self.start_date) // self.refit_every_days
        return [origins[block == b] for b in np.unique(block)]


@dataclass
class BacktestResult:
    """A backtest's forecasts and timings.

    Attributes:
        resolution: the resolution's name.
        forecasts: one row per forecaster and forecast row: ``forecaster``, the row identifiers (``home_id``,
            ``issue_time``, ``ts`` or ``local_date``, lead), ``group``, ``cold_start``, ``actual`` and the
            quantile columns (``kwh_p10`` …).
        fit_seconds: wall time of fitting per forecaster (all blocks) [s].
        predict_seconds: wall time of predicting per forecaster [s].
        feature_seconds: wall time of building features (all sets) [s].
        models: the fitted forecasters of the last block, by name.
    """

    resolution: str
    forecasts: pd.DataFrame
    fit_seconds: dict[str, float]
    predict_seconds: dict[str, float]
    feature_seconds: float
    models: dict[str, CalibratedForecaster] = field(default_factory=dict)


def run_backtest(
    panel: HourlyPanel,
    resolution: Resolution,
    forecasters: Mapping[str, ForecasterFactory],
    plan: BacktestPlan,
) -> BacktestResult:
    """Run ``plan`` for every forecaster on every home of ``panel``.

    Args:
        panel: the data (everything before and during the backtest period).
        resolution: hourly or daily rows (see :data:`training.forecast.forecast_sets.RESOLUTIONS`).
        forecasters: name → a function making a fresh, unfitted forecaster.
        plan: origins, refits and windows.
    """
    import time

    parts: list[pd.DataFrame] = []
    fit_s = dict.fromkeys(forecasters, 0.0)
    predict_s = dict.fromkeys(forecasters, 0.0)
    feature_s = 0.0
    models: dict[str, CalibratedForecaster] = {}
    for origins in plan.blocks():
        started = time.perf_counter()
        train, cal = training_sets(resolution, panel, int(origins[0]), plan.windows)
        test = _test_set(resolution, panel, origins, plan.windows)
        feature_s += time.perf_counter() - started
        ids = resolution.ids(panel, test.rows)
        for name, make in forecasters.items():
            started = time.perf_counter()
            model = models[name] = fit_calibrated(make(), train, cal)
            fit_s[name] += time.perf_counter() - started
            started = time.perf_counter()
            quantiles = model.predict_quantiles(test.X, test.groups, test.cold)
            predict_s[name] += time.perf_counter() - started
            parts.append(_scored(name, ids, test, quantiles))
    forecasts = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return BacktestResult(resolution.name, forecasts, fit_s, predict_s, feature_s, models)


def _test_set(
    resolution: Resolution, panel: HourlyPanel, origins: np.ndarray, windows: TrainingWindows
) -> ForecastSet:
    home, issue_date = origin_grid(np.arange(panel.n_homes), origins)
    return build_set(resolution, panel, resolution.rows(panel, home, issue_date), windows.min_history_days)


def _scored(name: str, ids: pd.DataFrame, test: ForecastSet, quantiles: pd.DataFrame) -> pd.DataFrame:
    out = ids.copy()
    out.insert(0, "forecaster", name)
    out["group"] = test.groups
    out["cold_start"] = test.cold
    out["actual"] = test.y
    for column in quantiles.columns:
        out[column] = quantiles[column].to_numpy(dtype=np.float32)
    return out
