"""Spikes: one interval far above both of its neighbours."""

from __future__ import annotations

from typing import Self

import numpy as np
import pandas as pd

from contracts.schemas import Anomaly
from data_prep.quality.anomalies.base import AnomalyDetector, gather, typical_level_kwh_per_h
from data_prep.quality.anomalies.grid import HomeGrid


class SpikeDetector(AnomalyDetector):
    """Flags a single interval that rises far above both neighbours and falls straight back.

    Targets transmission glitches and double-counted pulses: one corrupt interval inside an otherwise normal
    series. A sustained load (heat pump, EV charging over several intervals) is not a spike, because its
    neighbours are high too; a change of level is :class:`LevelShiftDetector`'s business.

    A reading ``x[t]`` is a spike when both ``x[t] - x[t-1]`` and ``x[t] - x[t+1]`` exceed
    ``max(jump_factor * level, min_jump_kwh_per_h) * interval``, where ``level`` is the home's median rate (so
    a spike is also above ``jump_factor`` times the typical level), and ``x[t]`` is at least ``min_ratio``
    times the higher neighbour. Both neighbours must be present. Inside a run of corrupt values (a day in Wh)
    the neighbours are corrupt too; the ratio keeps the run's local maxima from being called spikes.

    Args:
        jump_factor: the rise over each neighbour, in multiples of the home's typical level [-].
        min_jump_kwh_per_h: the smallest rise that counts, as a rate [kWh/h]. The default 12 is above what one
            household appliance adds (an 11 kW three-phase EV charger), so one hour of charging is no spike.
        min_ratio: the spike over the higher neighbour [-].
        min_level_kwh_per_h: floor of the typical level, for nearly vacant and PV homes [kWh/h].

    Attributes:
        level_kwh_per_h_: typical level per fitted home [kWh/h].
    """

    name = Anomaly.SPIKE.value
    masks = True

    level_kwh_per_h_: pd.Series

    def __init__(
        self,
        jump_factor: float = 10.0,
        min_jump_kwh_per_h: float = 12.0,
        min_ratio: float = 3.0,
        min_level_kwh_per_h: float = 0.05,
    ) -> None:
        self.jump_factor = jump_factor
        self.min_jump_kwh_per_h = min_jump_kwh_per_h
        self.min_ratio = min_ratio
        self.min_level_kwh_per_h = min_level_kwh_per_h

    def fit_grid(self, grid: HomeGrid) -> Self:
        """Learn the typical level of each home."""
        super().fit_grid(grid)
        self.level_kwh_per_h_ = typical_level_kwh_per_h(grid, self.min_level_kwh_per_h)
        return self

    def detect_grid(self, grid: HomeGrid) -> np.ndarray:
        """Flag readings that exceed both neighbours by the minimum jump."""
        fitted = self._fitted_homes(grid)
        level = gather(self.level_kwh_per_h_.to_numpy(), fitted)
        min_jump_kwh_per_h = np.where(
            np.isnan(level), np.nan, np.fmax(self.jump_factor * level, self.min_jump_kwh_per_h)
        )
        min_jump = grid.per_row(min_jump_kwh_per_h * grid.interval_min / 60.0)
        x = grid.kwh
        with np.errstate(invalid="ignore"):
            # Candidates rise min_jump above the rows before and after, whichever home those belong to.
            rise = np.diff(x, prepend=np.nan) > min_jump
            rise[:-1] &= x[:-1] - x[1:] > min_jump[:-1]
            rise[-1:] = False
            rows = np.flatnonzero(rise)
            before, after = grid.neighbours(rows)
            value, jump = x[rows], min_jump[rows]
            spike = (
                (value - before > jump)
                & (value - after > jump)
                & (value >= self.min_ratio * np.fmax(before, after))
            )
        flagged = np.zeros(grid.n_rows, dtype=bool)
        flagged[rows[spike]] = True
        return flagged
