"""Faults of the meter register: negative readings and register resets or rollovers."""

from __future__ import annotations

from typing import Self

import numpy as np
import pandas as pd

from contracts.schemas import Anomaly
from data_prep.quality.anomalies.base import AnomalyDetector, gather, typical_level_kwh_per_h
from data_prep.quality.anomalies.grid import HomeGrid


class NegativeValueDetector(AnomalyDetector):
    """Flags a negative import reading.

    Targets meters or converters that report export in the import channel, a wrong sign convention, and small
    differencing errors of cumulative registers. ``kwh`` is grid import, so it cannot be negative; export has
    its own column.

    Args:
        tolerance_kwh: readings down to ``-tolerance_kwh`` are rounding noise and not flagged [kWh].
    """

    name = Anomaly.NEGATIVE.value
    masks = True

    def __init__(self, tolerance_kwh: float = 0.001) -> None:
        self.tolerance_kwh = tolerance_kwh

    def detect_grid(self, grid: HomeGrid) -> np.ndarray:
        """Flag readings below ``-tolerance_kwh``."""
        with np.errstate(invalid="ignore"):
            return grid.kwh < -self.tolerance_kwh


class MeterResetDetector(AnomalyDetector):
    """Flags the single interval where a cumulative register was reset or rolled over.

    Targets interval values computed as differences of register readings: when the register wraps (99999 -> 0)
    or is reset by a meter exchange, one interval gets ``new - old`` (a huge negative value); when the old
    reading is taken as 0, one interval gets the whole register (an absurd positive value). Either way the
    neighbours are normal, which tells a reset from a sustained fault.

    A reading is a reset when it is below ``-negative_factor * level`` or above ``positive_factor * level``
    (``level`` is the home's median rate times the interval), and its neighbours are within
    ``normal_factor * level`` in absolute value. A positive reset must be followed by a normal reading; a
    missing previous reading is allowed, because a meter exchange often leaves a gap before the reset.

    Args:
        negative_factor: depth of a negative reset, in multiples of the typical level [-].
        positive_factor: height of a positive reset, in multiples of the typical level [-].
        normal_factor: largest absolute neighbour, in multiples of the typical level [-].
        min_level_kwh_per_h: floor of the typical level [kWh/h].

    Attributes:
        level_kwh_per_h_: typical level per fitted home [kWh/h].
    """

    name = Anomaly.METER_RESET.value
    masks = True

    level_kwh_per_h_: pd.Series

    def __init__(
        self,
        negative_factor: float = 100.0,
        positive_factor: float = 100.0,
        normal_factor: float = 10.0,
        min_level_kwh_per_h: float = 0.05,
    ) -> None:
        self.negative_factor = negative_factor
        self.positive_factor = positive_factor
        self.normal_factor = normal_factor
        self.min_level_kwh_per_h = min_level_kwh_per_h

    def fit_grid(self, grid: HomeGrid) -> Self:
        """Learn the typical level of each home."""
        super().fit_grid(grid)
        self.level_kwh_per_h_ = typical_level_kwh_per_h(grid, self.min_level_kwh_per_h)
        return self

    def detect_grid(self, grid: HomeGrid) -> np.ndarray:
        """Flag huge single-interval values between normal neighbours."""
        fitted = self._fitted_homes(grid)
        level_h = gather(self.level_kwh_per_h_.to_numpy(), fitted)
        level_row = grid.per_row(level_h * grid.interval_min / 60.0)
        with np.errstate(invalid="ignore"):
            rows = np.flatnonzero(
                (grid.kwh < -self.negative_factor * level_row) | (grid.kwh > self.positive_factor * level_row)
            )
            before, after = grid.neighbours(rows)
            normal = self.normal_factor * level_row[rows]
            normal_before = np.isnan(before) | (np.abs(before) <= normal)
            normal_after = np.abs(after) <= normal
            negative = (grid.kwh[rows] < 0) & normal_before & (normal_after | np.isnan(after))
            positive = (grid.kwh[rows] > 0) & normal_before & normal_after
        flagged = np.zeros(grid.n_rows, dtype=bool)
        flagged[rows[negative | positive]] = True
        return flagged
