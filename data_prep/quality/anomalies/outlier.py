"""Robust z-score outliers against the home's own hour-of-week profile."""

from __future__ import annotations

from typing import Self

import numpy as np
import pandas as pd

from contracts.schemas import Anomaly
from data_prep.quality.anomalies.base import AnomalyDetector, gather
from data_prep.quality.anomalies.grid import HomeGrid, grouped_median, nan_quantile

_N_SLOTS = 168  # hours of a week; daily homes use the first 7 slots, one per weekday
_MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its standard deviation
_MEAN_AD_TO_SIGMA = 1.2533  # the same for the mean absolute deviation


class RobustOutlierDetector(AnomalyDetector):
    """Flags a reading far above the home's median at the same hour of the week (weekday for daily data).

    Targets corrupt values that are not a lone spike: a few intervals scaled wrongly (Wh read as kWh), a
    partial or duplicated transmission, a value from another meter. Two conditions must hold:

    * the robust z-score ``(kwh - median) / scale`` of the home and slot exceeds ``threshold``, where
      ``scale`` is ``1.4826 * MAD``; when more than half of a slot's readings are equal (MAD = 0, e.g. the
      midday import of a PV home, mostly 0) ``1.2533 * mean absolute deviation`` stands in, and the scale
      never goes below ``min_scale_kwh_per_h`` times the interval;
    * the reading exceeds ``peak_factor`` times the home's routine daily peak: the ``peak_quantile`` over days
      of each day's highest reading. Household loads are bursty: EV charging, a sauna or a laundry cycle is
      far from the median of its hour, yet a home that does it on one day in ten reaches that level routinely.
      A fault lasting less than a tenth of the days does not move the routine peak.

    Args:
        threshold: smallest robust z-score that is flagged [-].
        min_scale_kwh_per_h: lower bound of the scale, as a rate [kWh/h]; with hourly data and the defaults no
            deviation below 0.8 kWh is flagged.
        min_samples: a slot with fewer readings in the fitted frame is never flagged (too little history) [-].
        peak_quantile: quantile over days of the daily peak that defines the routine peak [-].
        peak_factor: a reading must exceed this times the routine peak [-].
        two_sided: also flag readings whose z-score is below ``-threshold`` (no peak condition applies). Off
            by default: low readings are mostly an empty home, which is real.

    Attributes:
        center_kwh_: median per fitted home and slot, shape (n_homes, 168), NaN without enough history [kWh].
        scale_kwh_: scale per fitted home and slot, same shape [kWh].
        routine_peak_kwh_per_h_: routine daily peak per fitted home [kWh/h].

    Invariants:
        Slots are hours of the week in UTC; the statistics of a home come only from its own rows.
    """

    name = Anomaly.OUTLIER.value
    masks = True

    center_kwh_: np.ndarray
    scale_kwh_: np.ndarray
    routine_peak_kwh_per_h_: pd.Series

    def __init__(
        self,
        threshold: float = 8.0,
        min_scale_kwh_per_h: float = 0.1,
        min_samples: int = 8,
        peak_quantile: float = 0.9,
        peak_factor: float = 2.0,
        two_sided: bool = False,
    ) -> None:
        self.threshold = threshold
        self.min_scale_kwh_per_h = min_scale_kwh_per_h
        self.min_samples = min_samples
        self.peak_quantile = peak_quantile
        self.peak_factor = peak_factor
        self.two_sided = two_sided

    def fit_grid(self, grid: HomeGrid) -> Self:
        """Learn the median and scale of each home and slot, and each home's routine daily peak."""
        super().fit_grid(grid)
        n_groups = grid.n_homes * _N_SLOTS
        key = grid.home_code * _N_SLOTS + grid.week_slot
        present = ~np.isnan(grid.kwh)
        count = np.bincount(key[present], minlength=n_groups)
        center = grouped_median(grid.kwh, key, n_groups, grid.week_position)
        deviation = np.abs(grid.kwh - center[key])
        mad = grouped_median(deviation, key, n_groups, grid.week_position)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_ad = np.bincount(key[present], weights=deviation[present], minlength=n_groups) / count
        scale = np.where(mad > 0, _MAD_TO_SIGMA * mad, _MEAN_AD_TO_SIGMA * mean_ad)
        floor = np.repeat(self.min_scale_kwh_per_h * grid.interval_min / 60.0, _N_SLOTS)
        center[count < self.min_samples] = np.nan
        self.center_kwh_ = center.reshape(grid.n_homes, _N_SLOTS)
        self.scale_kwh_ = np.fmax(scale, floor).reshape(grid.n_homes, _N_SLOTS)
        peak = nan_quantile(grid.daily_peak_kwh_per_h(), self.peak_quantile)
        self.routine_peak_kwh_per_h_ = pd.Series(peak, index=grid.home_index, name="routine_peak_kwh_per_h")
        return self

    def detect_grid(self, grid: HomeGrid) -> np.ndarray:
        """Flag readings above the routine peak whose robust z-score exceeds the threshold."""
        fitted = self._fitted_homes(grid)
        peak_kwh = gather(self.routine_peak_kwh_per_h_.to_numpy(), fitted) * grid.interval_min / 60.0
        with np.errstate(invalid="ignore"):
            above_peak = grid.kwh > grid.per_row(self.peak_factor * peak_kwh)
        # Only readings above the routine peak (few) or, two-sided, every reading needs its z-score.
        rows = np.arange(grid.n_rows) if self.two_sided else np.flatnonzero(above_peak)
        # Homes that fit did not see point at an extra block of NaN slots.
        first_slot = np.where(fitted < 0, len(self.homes_), fitted) * _N_SLOTS
        cell = first_slot[grid.home_code[rows]] + grid.week_slot[rows]
        unknown = np.full(_N_SLOTS, np.nan)
        center = np.concatenate([self.center_kwh_.ravel(), unknown])[cell]
        scale = np.concatenate([self.scale_kwh_.ravel(), unknown])[cell]
        score = (grid.kwh[rows] - center) / scale
        with np.errstate(invalid="ignore"):
            outlier = ((score > self.threshold) & above_peak[rows]) | (
                self.two_sided & (score < -self.threshold)
            )
        flagged = np.zeros(grid.n_rows, dtype=bool)
        flagged[rows[outlier]] = True
        return flagged
