"""Level shifts: a sudden, sustained change of a home's daily consumption."""

from __future__ import annotations

import math
from typing import Self

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from contracts.schemas import Anomaly
from data_prep.quality.anomalies.base import AnomalyDetector, gather
from data_prep.quality.anomalies.grid import HomeGrid, nan_quantile

_MAD_TO_SIGMA = 1.4826
_MEDIAN_SE = 1.2533  # standard error of a median of n normal values is this * sigma / sqrt(n)


class LevelShiftDetector(AnomalyDetector):
    """Flags the day on which a home's daily consumption steps to a new, sustained level; never masks.

    Targets a meter exchanged for one with another scaling or CT ratio, a home that changed occupants, and new
    equipment behind the meter (heat pump, PV panels). A level shift can be a real change of behaviour, so it
    is reported for review and to reset models, and the readings are kept.

    Around each day ``t`` of a home four blocks of ``window_days`` days are summarised by their median daily
    total: two before ``t`` (the old level) and two from ``t`` on (the new level). The change is the smallest
    difference between a new and an old block, and counts only when all four differences have the same sign:
    so both levels lasted two blocks, and a holiday of two or three weeks, which a level returns from, is not
    a shift. The change must also be sudden: the drift between the two blocks on either side stays below
    ``max_drift`` times the change, which leaves out the gradual swing of heating with the seasons. A change
    that is large against the home's day-to-day noise (z-score) and large relative to the level marks a
    candidate day; the shift is put on the candidate where the difference of the mean daily totals of the
    blocks next to it peaks, as medians stay flat for days around a step. The rows of the first
    ``flag_days`` days at the new level are flagged.

    A shift needs about a block and a half of data on either side, so one within three weeks of either end of
    the frame is not flagged (yet): it has not lasted long enough to tell.

    Args:
        window_days: length of each block; a multiple of 7 balances the weekly pattern [d].
        threshold: smallest z-score of the change of medians, against the home's robust day-to-day spread [-].
        min_relative_change: smallest change relative to the larger of the two blocks next to ``t``; 0.5
            asks for a halving or a doubling and keeps small changes of very regular homes from being flagged [-].
        max_drift: largest change within the old or the new level, relative to the shift [-].
        min_coverage: a day counts when at least this fraction of its intervals is present, and a window when
            at least this fraction of its days count [-].
        flag_days: days flagged from the shift point on [d].

    Attributes:
        noise_kwh_per_day_: robust standard deviation of the daily total per fitted home [kWh/d].

    Invariants:
        Days are UTC days. A day's total is the mean of its present readings times its number of intervals, so
        a partly missing day does not look like a drop.
    """

    name = Anomaly.LEVEL_SHIFT.value
    masks = False

    noise_kwh_per_day_: pd.Series

    def __init__(
        self,
        window_days: int = 14,
        threshold: float = 5.0,
        min_relative_change: float = 0.5,
        max_drift: float = 0.5,
        min_coverage: float = 0.5,
        flag_days: int = 1,
    ) -> None:
        self.window_days = window_days
        self.threshold = threshold
        self.min_relative_change = min_relative_change
        self.max_drift = max_drift
        self.min_coverage = min_coverage
        self.flag_days = flag_days

    def fit_grid(self, grid: HomeGrid) -> Self:
        """Learn the day-to-day noise of each home's daily total."""
        super().fit_grid(grid)
        step = np.abs(np.diff(_daily_totals(grid, self.min_coverage), axis=1))
        noise = _MAD_TO_SIGMA * nan_quantile(step, 0.5, min_count=2) / math.sqrt(2.0)
        self.noise_kwh_per_day_ = pd.Series(noise, index=grid.home_index, name="noise_kwh_per_day")
        return self

    def detect_grid(self, grid: HomeGrid) -> np.ndarray:
        """Flag the rows of the days at which a shift starts."""
        fitted = self._fitted_homes(grid)
        noise = gather(self.noise_kwh_per_day_.to_numpy(), fitted)
        shift_day = self._shift_days(_daily_totals(grid, self.min_coverage), noise)
        for k in range(1, self.flag_days):
            shift_day[:, k:] |= shift_day[:, :-k]
        return shift_day[grid.home_code, grid.day_index] & ~np.isnan(grid.kwh)

    def _shift_days(self, daily: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """(n_homes, n_days) bool: True on the first day of a new level."""
        if daily.shape[1] == 0:
            return np.zeros(daily.shape, dtype=bool)
        w = self.window_days
        # Medians are robust but flat for several days around a step; the difference of means peaks on it.
        strength = np.where(self._sustained_change(daily, noise), np.abs(_mean_change(daily, w)), 0.0)
        neighbourhood = np.pad(strength, ((0, 0), (w, w)), constant_values=0.0)
        largest = sliding_window_view(neighbourhood, 2 * w + 1, axis=1).max(axis=2)
        previous = np.pad(strength, ((0, 0), (1, 0)), constant_values=0.0)[:, :-1]
        return (strength > 0) & (strength >= largest) & (strength > previous)

    def _sustained_change(self, daily: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """(n_homes, n_days) bool: the four blocks around the day show a large, sudden, sustained change."""
        n_days, w = daily.shape[1], self.window_days
        padded = np.pad(daily, ((0, 0), (2 * w, 2 * w)), constant_values=np.nan)
        # medians[:, j] is the median of daily[:, j - 2w : j - w].
        medians = nan_quantile(sliding_window_view(padded, w, axis=1), 0.5, math.ceil(self.min_coverage * w))
        old = [medians[:, k * w : k * w + n_days] for k in (0, 1)]
        new = [medians[:, k * w : k * w + n_days] for k in (2, 3)]
        differences = np.stack([after - before for after in new for before in old])
        with np.errstate(invalid="ignore", divide="ignore"):
            same_sign = np.all(differences > 0, axis=0) | np.all(differences < 0, axis=0)
            change = np.where(same_sign, np.min(np.abs(differences), axis=0), 0.0)
            drift = np.fmax(np.abs(old[1] - old[0]), np.abs(new[1] - new[0]))
            z = change / (noise[:, None] * _MEDIAN_SE * math.sqrt(2.0 / w))
            relative = change / np.fmax(np.abs(old[1]), np.abs(new[0]))
            return (
                (z > self.threshold)
                & (relative >= self.min_relative_change)
                & (drift <= self.max_drift * change)
            )


def _mean_change(daily: np.ndarray, w: int) -> np.ndarray:
    """Mean of the ``w`` days from each day minus the mean of the ``w`` days before it, ignoring NaN [kWh]."""
    n_days = daily.shape[1]
    present = ~np.isnan(daily)
    total = np.pad(np.cumsum(np.where(present, daily, 0.0), axis=1), ((0, 0), (1, 0)))
    count = np.pad(np.cumsum(present, axis=1), ((0, 0), (1, 0)))
    day = np.arange(n_days)
    low, high = np.maximum(day - w, 0), np.minimum(day + w, n_days)
    with np.errstate(invalid="ignore", divide="ignore"):
        before = (total[:, day] - total[:, low]) / (count[:, day] - count[:, low])
        after = (total[:, high] - total[:, day]) / (count[:, high] - count[:, day])
    return after - before


def _daily_totals(grid: HomeGrid, min_coverage: float) -> np.ndarray:
    """Daily totals, shape (n_homes, n_days), NaN for a day with too few readings [kWh]."""
    total, count = grid.daily_sum_count
    per_day = (1440 // grid.interval_min)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count >= min_coverage * per_day, total / count * per_day, np.nan)
