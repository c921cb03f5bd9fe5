"""Fitting on the data before a date: the training and calibration windows of a resolution, and a calibrated fit.

Everything a fit for ``end_date`` reads ends before local midnight of ``end_date``:

- calibration rows: issue dates in ``[end_date - calibration_days, end_date)`` whose target is before ``end_date``;
- training rows: every earlier origin whose target is before the first calibration date.

So the forecaster never trains on a target the calibrator scores, and neither sees a reading of ``end_date`` or
later. Rows are sampled (seeded) to bounded budgets before any feature is built.

Invariants:
    Training targets ``< end_date - calibration_days <=`` calibration targets ``< end_date`` (local dates).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.forecast.calibration import CalibratedForecaster, ConformalCalibrator, Forecaster
from training.forecast.cold_start import DEFAULT_MIN_HISTORY_DAYS
from training.forecast.forecast_sets import ForecastSet, Resolution, Rows, build_set
from training.forecast.frames import HourlyPanel
from training.forecast.origins import origin_grid


@dataclass(frozen=True)
class TrainingWindows:
    """How much data a fit uses.

    Attributes:
        calibration_days: issue dates of the calibration window [d].
        max_train_rows: training rows sampled at most.
        max_calibration_rows: calibration rows sampled at most.
        min_history_days: homes with less history at issue are cold-start rows [d].
        seed: seed of the row sampling.
    """

    calibration_days: int = 28
    max_train_rows: int = 2_000_000
    max_calibration_rows: int = 300_000
    min_history_days: float = DEFAULT_MIN_HISTORY_DAYS
    seed: int = 0


def panel_dates(panel: HourlyPanel) -> tuple[int, int]:
    """The first and last local dates with any reading (the earliest and latest over the homes' zones)."""
    dates = panel.calendar.local_date[:, : panel.last_reading_hour() + 1]
    return int(dates.min()), int(dates.max())


def window_rows(
    resolution: Resolution,
    panel: HourlyPanel,
    first_date: int,
    last_date: int,
    target_before: int,
    max_rows: int,
    rng: np.random.Generator,
    training: bool = False,
) -> Rows:
    """Rows of every home for issue dates ``first_date … last_date`` with a target before ``target_before``,
    sampled to ``max_rows``; with ``training``, only rows the resolution trains on."""
    dates = np.arange(first_date, last_date + 1)
    home, issue_date = origin_grid(np.arange(panel.n_homes), dates)
    started = np.flatnonzero(panel.calendar.day_start(home, issue_date) >= panel.first_reading[home] - 24)
    if len(started) == 0:
        return resolution.rows(panel, home[:0], issue_date[:0])
    per_origin = max(len(resolution.rows(panel, home[started[:1]], issue_date[started[:1]])), 1)
    if len(started) * per_origin > 2 * max_rows:  # sample origins first: rows of every origin would not fit
        started = np.sort(rng.choice(started, max(2 * max_rows // per_origin, 1), replace=False))
    rows = resolution.rows(panel, home[started], issue_date[started])
    usable = resolution.target_date(panel, rows) < target_before
    keep = np.flatnonzero(usable & resolution.trains_on(rows) if training else usable)
    if len(keep) > max_rows:
        keep = np.sort(rng.choice(keep, max_rows, replace=False))
    return rows.take(keep)


def training_sets(
    resolution: Resolution, panel: HourlyPanel, end_date: int, windows: TrainingWindows
) -> tuple[ForecastSet, ForecastSet]:
    """The training and calibration sets for a fit on the data before local date ``end_date``."""
    rng = np.random.default_rng(windows.seed)
    first, _ = panel_dates(panel)
    cal_start = end_date - windows.calibration_days
    if cal_start <= first + 1:
        raise ValueError(
            f"too little history before {end_date}: training needs days before the calibration window"
        )
    train = window_rows(
        resolution, panel, first, cal_start - 1, cal_start, windows.max_train_rows, rng, training=True
    )
    cal = window_rows(resolution, panel, cal_start, end_date - 1, end_date, windows.max_calibration_rows, rng)
    return (
        build_set(resolution, panel, train, windows.min_history_days),
        build_set(resolution, panel, cal, windows.min_history_days),
    )


def fit_calibrated(
    forecaster: Forecaster,
    train: ForecastSet,
    cal: ForecastSet,
    calibrator: ConformalCalibrator | None = None,
) -> CalibratedForecaster:
    """``forecaster`` fitted on ``train`` and calibrated on ``cal``."""
    model = CalibratedForecaster(forecaster, calibrator)
    return model.fit(train.X, train.y, cal.X, cal.y, cal.groups)
