"""The generator's clock: one hourly UTC axis and, per time zone, where each local day starts on it.

Every array of the generator is indexed by hours of :class:`TimeAxis` (or quarters: hour index × 4 + quarter),
so weather, prices and every home share one time base and a per-home window is a slice of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

ISO_UTC_FORMAT = "%Y-%m-%dT%H:%M:%S+00:00"


@dataclass(frozen=True)
class TimeAxis:
    """An hourly UTC axis covering ``n_days`` local days from ``first_day`` in every zone of ``tz_names``.

    Attributes:
        start_utc: the first hour of the axis (the earliest local midnight of ``first_day``) [UTC].
        n_hours: length of the axis [h].
        first_day: the first local day.
        n_days: number of local days.
        tz_names: IANA time zones, indexed by a home's ``tz_code``.
        offsets_h: UTC offset of each zone at each hour, shape (n_tz, n_hours) [h].
        day_start: index on the axis of each local midnight, shape (n_tz, n_days + 1); the last column is the
            end of the window (exclusive).

    Invariants:
        ``day_start[z]`` is strictly increasing; a home in zone ``z`` lives on hours
        ``day_start[z, 0] .. day_start[z, -1] - 1``. Days have 23, 24 or 25 hours across DST changes.
    """

    start_utc: pd.Timestamp
    n_hours: int
    first_day: date
    n_days: int
    tz_names: tuple[str, ...]
    offsets_h: np.ndarray
    day_start: np.ndarray

    @classmethod
    def build(cls, first_day: str | date, n_days: int, tz_names: tuple[str, ...]) -> TimeAxis:
        """The axis for ``n_days`` local days starting on ``first_day`` in each of ``tz_names``."""
        first = pd.Timestamp(first_day).date()
        days = pd.date_range(first, periods=n_days + 1, freq="D")
        midnights = np.array(
            [days.tz_localize(tz).tz_convert("UTC").tz_localize(None).to_numpy() for tz in tz_names]
        )
        start = pd.Timestamp(midnights.min()).tz_localize("UTC")
        end = pd.Timestamp(midnights.max()).tz_localize("UTC")
        n_hours = int((end - start) / pd.Timedelta(hours=1))
        hours = pd.date_range(start, periods=n_hours, freq="h")
        offsets = np.array(
            [
                (hours.tz_convert(tz).tz_localize(None) - hours.tz_localize(None)) / pd.Timedelta(hours=1)
                for tz in tz_names
            ]
        )
        day_start = ((midnights - start.to_datetime64()) / np.timedelta64(1, "h")).astype(np.int64)
        return cls(start, n_hours, first, n_days, tz_names, offsets.astype(np.int64), day_start)

    @property
    def hours_utc(self) -> pd.DatetimeIndex:
        """The interval starts of the axis [UTC]."""
        return pd.date_range(self.start_utc, periods=self.n_hours, freq="h")

    @property
    def days(self) -> pd.DatetimeIndex:
        """The local days of the window, plus the day after it (naive dates)."""
        return pd.date_range(self.first_day, periods=self.n_days + 1, freq="D")

    def local_hour(self) -> np.ndarray:
        """Local clock hour (0–23) of every axis hour per zone, shape (n_tz, n_hours)."""
        utc_hour = self.hours_utc.hour.to_numpy()
        return (utc_hour[None, :] + self.offsets_h) % 24

    def local_day(self) -> np.ndarray:
        """Local day index of every axis hour per zone, clipped to 0..n_days-1, shape (n_tz, n_hours)."""
        hours = np.arange(self.n_hours)
        out = np.empty((len(self.tz_names), self.n_hours), dtype=np.int64)
        for z in range(len(self.tz_names)):
            out[z] = np.searchsorted(self.day_start[z], hours, side="right") - 1
        return np.clip(out, 0, self.n_days - 1)

    def in_window(self) -> np.ndarray:
        """Whether each axis hour is inside the local window of each zone, shape (n_tz, n_hours) [bool]."""
        hours = np.arange(self.n_hours)
        return (hours[None, :] >= self.day_start[:, :1]) & (hours[None, :] < self.day_start[:, -1:])

    def utc_labels(self, steps_per_hour: int = 1, extra_hours: int = 3) -> np.ndarray:
        """ISO 8601 UTC labels (``2025-01-01T00:00:00+00:00``) of the axis at ``steps_per_hour``.

        ``extra_hours`` labels past the end exist so that a label shifted by a UTC offset still has a string.
        """
        n = (self.n_hours + extra_hours) * steps_per_hour
        stamps = pd.date_range(self.start_utc, periods=n, freq=pd.Timedelta(minutes=60 // steps_per_hour))
        return np.asarray(stamps.strftime(ISO_UTC_FORMAT), dtype=object)

    def local_midnight_labels(self) -> np.ndarray:
        """ISO labels of local midnights with their offset (``2025-03-31T00:00:00+02:00``), (n_tz, n_days)."""
        labels = []
        for tz in self.tz_names:
            stamps = self.days[:-1].tz_localize(tz)
            labels.append([s.isoformat() for s in stamps])
        return np.asarray(labels, dtype=object)

    def local_naive_labels(self, tz_code: int) -> np.ndarray:
        """Naive local wall-clock labels (``2025-03-30 01:00:00``) of every axis hour in one zone."""
        local = self.hours_utc.tz_convert(self.tz_names[tz_code]).tz_localize(None)
        return np.asarray(local.strftime("%Y-%m-%d %H:%M:%S"), dtype=object)

    def weekday(self) -> np.ndarray:
        """Day of week of each local day (Monday = 0), shape (n_days,)."""
        return self.days[:-1].dayofweek.to_numpy()

    def day_of_year(self) -> np.ndarray:
        """Day of year of every axis hour, shape (n_hours,)."""
        return self.hours_utc.dayofyear.to_numpy()

    def month_starts(self) -> list[tuple[date, date, int, int]]:
        """Calendar-month periods: (period_start, period_end exclusive, first day index, end day index)."""
        periods = []
        start = self.first_day
        end = self.first_day + timedelta(days=self.n_days)
        while start < end:
            nxt = (pd.Timestamp(start) + pd.offsets.MonthBegin(1)).date()
            stop = min(nxt, end)
            periods.append((start, stop, (start - self.first_day).days, (stop - self.first_day).days))
            start = stop
        return periods
