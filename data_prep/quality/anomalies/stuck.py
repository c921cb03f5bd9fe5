"""Stuck meters: a run of identical readings longer than a meter should produce."""

from __future__ import annotations

import math

import numpy as np

from contracts.schemas import Anomaly
from data_prep.quality.anomalies.base import AnomalyDetector
from data_prep.quality.anomalies.grid import HomeGrid


class StuckMeterDetector(AnomalyDetector):
    """Flags every reading of a run of identical non-missing values that lasts too long.

    Targets a frozen register or a head-end that repeats the last value it received, and (through the separate
    zero threshold) a meter that reports exactly 0 for days: a disconnected current transformer, a
    switched-off meter. Runs of exactly 0.0 get their own, longer threshold because zero net import is
    legitimate for hours (a PV home at midday) and for days in a vacant home or a PV home with a battery; set
    ``max_zero_run_hours`` to None to never flag zero runs. A missing reading ends a run.

    Args:
        max_run_hours: a run of equal non-zero values lasting longer than this is flagged [h]. A run of ``n``
            intervals lasts ``n * interval``.
        max_zero_run_hours: the same for runs of exactly 0.0; None never flags them [h].
        min_run_intervals: a run shorter than this is never flagged, whatever it lasts; it keeps daily data
            from being flagged for two equal days [-].

    Note:
        A meter with a coarse resolution (0.1 kWh) at a flat night baseload repeats values naturally; raise
        ``max_run_hours`` for such data.
    """

    name = Anomaly.STUCK.value
    masks = True

    def __init__(
        self, max_run_hours: float = 6.0, max_zero_run_hours: float | None = 24.0, min_run_intervals: int = 3
    ) -> None:
        self.max_run_hours = max_run_hours
        self.max_zero_run_hours = max_zero_run_hours
        self.min_run_intervals = min_run_intervals

    def detect_grid(self, grid: HomeGrid) -> np.ndarray:
        """Flag the rows of runs longer than the thresholds."""
        x, n = grid.kwh, grid.n_rows
        repeats = np.zeros(n, dtype=bool)
        repeats[1:] = x[1:] == x[:-1]  # NaN never equals NaN, so a gap ends a run
        repeats[grid.starts] = False
        # Only repeating rows matter: each block of consecutive ones plus the row before it is a run.
        repeating = np.flatnonzero(repeats)
        block_begins = np.flatnonzero(np.diff(repeating, prepend=-2) != 1)
        run_start = repeating[block_begins] - 1
        run_length = np.diff(np.append(block_begins, len(repeating))) + 1
        run_value = x[run_start]
        run_interval_min = grid.interval_min[np.searchsorted(grid.starts, run_start, side="right") - 1]
        max_run = np.where(
            run_value == 0.0,
            self._max_intervals(self.max_zero_run_hours, run_interval_min),
            self._max_intervals(self.max_run_hours, run_interval_min),
        )
        stuck = (run_length > max_run) & (run_length >= self.min_run_intervals)
        boundary = np.zeros(n + 1, dtype=np.int32)
        boundary[run_start[stuck]] += 1
        boundary[run_start[stuck] + run_length[stuck]] -= 1
        return np.cumsum(boundary[:-1]) > 0

    @staticmethod
    def _max_intervals(hours: float | None, interval_min: np.ndarray) -> np.ndarray:
        """The longest run that is still fine, in intervals; +inf when the threshold is off."""
        if hours is None:
            return np.full(len(interval_min), math.inf)
        return np.floor(hours * 60.0 / interval_min + 1e-9)
