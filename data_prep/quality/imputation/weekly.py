"""Each home's median reading by hour of the week, computed for all homes at once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data_prep.quality.imputation.grid import (
    EPOCH_WEEKDAY,
    HOURS_PER_WEEK,
    MINUTES_PER_DAY,
    MINUTES_PER_WEEK,
    NS_PER_MINUTE,
    GapContext,
    nanmedian_rows,
)


@dataclass(frozen=True)
class WeeklyProfile:
    """The median known reading of every home in every hour of the UTC week [kWh per interval].

    A daily home's bucket is its day of the week (its readings all start at the same hour).

    Attributes:
        median: (homes, 168) medians by hour of week (a daily home fills columns 0-6, its days of the week);
            NaN where the home has no known reading in that bucket.
        phase: per home, the slot of the week of its first row.
        home_first: per home, its first row.
        period: per home, its slots per week.
        per_bucket: per home, its slots per hour (1 for a daily home).
    """

    median: np.ndarray
    phase: np.ndarray
    home_first: np.ndarray
    period: np.ndarray
    per_bucket: np.ndarray

    @classmethod
    def fit(cls, ctx: GapContext) -> WeeklyProfile:
        """Lay each interval's homes out as a (homes, weeks, slots of the week) matrix and take medians.

        A home's rows are a contiguous run of that matrix, so filling it is one flat assignment per interval,
        and the medians are one sort per interval: no loop over homes or rows.
        """
        grid = ctx.grid
        interval = grid.home_interval_min
        slot_ns = interval * NS_PER_MINUTE
        first_slot = grid.ts_ns[grid.home_first] // slot_ns + EPOCH_WEEKDAY * (MINUTES_PER_DAY // interval)
        period = MINUTES_PER_WEEK // interval
        phase = first_slot % period
        per_bucket = np.maximum(1, 60 // interval)
        median = np.full((len(grid.home_ids), HOURS_PER_WEEK), np.nan)
        lengths = grid.home_last - grid.home_first + 1
        for value in np.unique(interval):
            homes = np.flatnonzero(interval == value)
            n_weeks = int(((phase[homes] + lengths[homes] - 1) // period[homes]).max()) + 1
            width = n_weeks * int(period[homes[0]])
            rows = (
                np.arange(grid.n_rows)
                if len(homes) == len(interval)
                else np.flatnonzero(grid.interval_min == value)
            )
            shift = np.arange(len(homes)) * width + phase[homes] - grid.home_first[homes]
            matrix = np.full(len(homes) * width, np.nan)
            matrix[rows + np.repeat(shift, lengths[homes])] = ctx.kwh[rows]
            bucket_size = int(per_bucket[homes[0]])
            buckets = int(period[homes[0]]) // bucket_size
            by_bucket = matrix.reshape(len(homes), n_weeks, buckets, bucket_size).transpose(0, 2, 1, 3)
            median[homes, :buckets] = nanmedian_rows(by_bucket.reshape(len(homes), buckets, -1))
        return cls(median, phase, grid.home_first, period, per_bucket)

    def at(self, ctx: GapContext, rows: np.ndarray) -> np.ndarray:
        """The profile value of each of ``rows`` [kWh per interval]."""
        home = ctx.grid.code[rows]
        slot_of_week = (rows - self.home_first[home] + self.phase[home]) % self.period[home]
        return self.median[home, slot_of_week // self.per_bucket[home]]
