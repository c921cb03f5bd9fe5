"""The local clock of each home on a UTC hour axis: hour of day, weekday, local date and free days.

Homes share few (time zone, country) pairs, so the calendar is computed once per pair over the axis and each home
points at its pair. Free days are weekends and the public holidays of the home's country (``holidays``).

Invariants:
    ``local_date`` is non-decreasing along the axis, so the first hour of a local day is a ``searchsorted``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

_HOUR_NS = 3_600_000_000_000
_DAY_NS = 24 * _HOUR_NS


@dataclass(frozen=True)
class LocalCalendar:
    """Local clock arrays per (time zone, country) key, and the key of each home.

    Attributes:
        keys: the (time zone, country) pairs; country ``""`` when unknown (no holidays).
        home_key: index into ``keys`` of each home, shape (n_homes,).
        local_hour: local clock hour of each axis hour, shape (n_keys, n_hours) int8.
        weekday: local weekday (Monday 0), shape (n_keys, n_hours) int8.
        local_date: local date as days since 1970-01-01, shape (n_keys, n_hours) int32.
        free_day: weekend or public holiday, shape (n_keys, n_hours) bool.
        axis_start: hours since the Unix epoch of the axis's first hour [h].
    """

    keys: tuple[tuple[str, str], ...]
    home_key: np.ndarray
    local_hour: np.ndarray
    weekday: np.ndarray
    local_date: np.ndarray
    free_day: np.ndarray
    axis_start: int

    @classmethod
    def build(cls, homes: pd.DataFrame, axis_start: int, n_hours: int) -> LocalCalendar:
        """The calendar of ``homes`` (indexed like the panel rows; ``timezone``, ``country`` columns optional)."""
        zones = _column(homes, "timezone", "UTC")
        countries = _column(homes, "country", "")
        pairs = pd.MultiIndex.from_arrays([zones, countries])
        keys = pairs.unique()
        home_key = keys.get_indexer(pairs).astype(np.int32)
        utc = pd.to_datetime((np.arange(n_hours, dtype=np.int64) + axis_start) * _HOUR_NS, utc=True)
        parts = [_clock(utc, zone, country) for zone, country in keys]
        return cls(
            keys=tuple((str(z), str(c)) for z, c in keys),
            home_key=home_key,
            local_hour=np.stack([p[0] for p in parts]),
            weekday=np.stack([p[1] for p in parts]),
            local_date=np.stack([p[2] for p in parts]),
            free_day=np.stack([p[3] for p in parts]),
            axis_start=axis_start,
        )

    def at(self, name: str, home: np.ndarray, hour: np.ndarray) -> np.ndarray:
        """The calendar array ``name`` at (home row, axis hour) pairs; hours are clipped to the axis."""
        array: np.ndarray = getattr(self, name)
        return array[self.home_key[home], np.clip(hour, 0, array.shape[1] - 1)]

    def day_start(self, home: np.ndarray, local_date: np.ndarray) -> np.ndarray:
        """Axis index of the first hour of each home's local date (days since 1970-01-01, local)."""
        out = np.empty(len(home), dtype=np.int64)
        keys = self.home_key[home]
        for key in np.unique(keys):
            rows = keys == key
            out[rows] = np.searchsorted(self.local_date[key], local_date[rows], side="left")
        return out

    def local_hour_start(self, home: np.ndarray, local_date: np.ndarray, hour_of_day: float) -> np.ndarray:
        """Axis index of the hour holding local time ``hour_of_day`` on each home's local date.

        Counted as clock time, not elapsed time: 10:00 is 10:00 on a DST day too.
        """
        out = np.empty(len(home), dtype=np.int64)
        keys = self.home_key[home]
        for key in np.unique(keys):
            rows = keys == key
            zone = self.keys[key][0]
            naive = (local_date[rows].astype(np.int64) * _DAY_NS + int(hour_of_day * _HOUR_NS)).astype(
                "datetime64[ns]"
            )
            local = pd.DatetimeIndex(naive).tz_localize(zone, nonexistent="shift_forward", ambiguous=False)
            utc_hours = np.floor_divide(local.tz_convert("UTC").as_unit("ns").asi8, _HOUR_NS)
            out[rows] = utc_hours - self.axis_start
        return out


def _column(homes: pd.DataFrame, name: str, default: str) -> np.ndarray:
    if name not in homes.columns:
        return np.full(len(homes), default, dtype=object)
    return homes[name].fillna(default).astype(str).to_numpy()


def _clock(utc: pd.DatetimeIndex, zone: str, country: str) -> tuple[np.ndarray, ...]:
    local = utc.tz_convert(zone)
    naive_ns = local.tz_localize(None).as_unit("ns").asi8
    date = np.floor_divide(naive_ns, _DAY_NS).astype(np.int32)
    weekday = local.weekday.to_numpy().astype(np.int8)
    free = weekday >= 5
    if country:
        free |= _holiday_mask(date, country)
    return local.hour.to_numpy().astype(np.int8), weekday, date, free


def _holiday_mask(date: np.ndarray, country: str) -> np.ndarray:
    import holidays

    days = np.unique(date)
    calendar_days = pd.to_datetime(days.astype(np.int64) * _DAY_NS)
    try:
        known = holidays.country_holidays(country, years=sorted(set(calendar_days.year)))
    except NotImplementedError:
        return np.zeros(len(date), dtype=bool)
    is_holiday = np.array([d in known for d in calendar_days.date])
    return is_holiday[np.searchsorted(days, date)]
