"""Strategies that copy the home's weekly rhythm into the gap: seasonal naive and the hour-of-week profile."""

from __future__ import annotations

import numpy as np

from data_prep.quality.imputation.base import GapImputer
from data_prep.quality.imputation.grid import MINUTES_PER_WEEK, GapContext, gap_windows
from data_prep.quality.imputation.weekly import WeeklyProfile


class SeasonalNaiveImputer(GapImputer):
    """The reading in the same slot one week earlier, else one week later (then two weeks earlier, later, …).

    Args:
        max_weeks: how many weeks away, in either direction, a replacement reading may be taken from.

    Invariants:
        The week is counted in rows (slots of the home's interval), so it is 168 h of UTC time; across a DST
        change the local hour of a home's routine moves by one slot.
    """

    name = "seasonal_naive"

    def __init__(self, max_weeks: int = 2) -> None:
        self.max_weeks = max_weeks

    def _estimate(self, ctx: GapContext, rows: np.ndarray) -> np.ndarray:
        week = MINUTES_PER_WEEK // ctx.grid.interval_min[rows]
        out = np.full(len(rows), np.nan)
        for weeks in range(1, self.max_weeks + 1):
            for direction in (-1, 1):
                source = ctx.grid.offset_rows(rows, direction * weeks * week)
                usable = np.isnan(out) & (source >= 0)
                usable[usable] = ctx.known[source[usable]]
                out[usable] = ctx.kwh[source[usable]]
        return out


class HourOfWeekProfileImputer(GapImputer):
    """The home's median reading in that hour of the week, scaled to the level of the readings near the gap.

    The scale is the ratio of the known readings to the profile over ``level_window_hours`` on each side of
    the gap, so a home that is away (or has guests) keeps its current level while following its usual weekly
    shape.

    Args:
        level_window_hours: the span on each side of a gap that sets its level [h].
        max_scale: the largest scale applied, so a profile that is nearly zero around the gap cannot explode.
    """

    name = "hour_of_week_profile"

    def __init__(self, level_window_hours: float = 24.0, max_scale: float = 5.0) -> None:
        self.level_window_hours = level_window_hours
        self.max_scale = max_scale

    def _estimate(self, ctx: GapContext, rows: np.ndarray) -> np.ndarray:
        profile = WeeklyProfile.fit(ctx)
        gap_of_row, window = gap_windows(ctx, rows, 60.0 * self.level_window_hours)
        source = np.maximum(window, 0)
        expected = profile.at(ctx, source.ravel()).reshape(source.shape)
        usable = (window >= 0) & ctx.known[source] & ~np.isnan(expected)
        observed = np.where(usable, ctx.kwh[source], 0.0).sum(axis=1)
        typical = np.where(usable, expected, 0.0).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(typical > 0, np.clip(observed / typical, 0.0, self.max_scale), 1.0)
        return profile.at(ctx, rows) * scale[gap_of_row]
