"""The row layout of a long frame of meter readings, shared by every anomaly detector.

A bucket frame is sorted by (``home_id``, ``ts``) and holds a regular grid per home, so each home is one
contiguous block of rows. :class:`HomeGrid` finds the blocks once and gives the detectors numpy arrays: the
readings, the home of each row, its neighbours in time (which never cross from one home into the next), the
slot of the week and the day of each row.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from contracts.schemas import HOME_ID, INTERVAL_MIN, KWH, TS

_NS_PER_MIN = 60_000_000_000
_NS_PER_HOUR = 60 * _NS_PER_MIN
_MIN_PER_DAY = 1440
_MIN_PER_WEEK = 7 * _MIN_PER_DAY
_NS_PER_DAY = _MIN_PER_DAY * _NS_PER_MIN
_DST_SHIFT_NS = 60 * _NS_PER_MIN
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday; weeks start on Monday = 0


@dataclass(frozen=True, eq=False)
class HomeGrid:
    """Numpy view of a bucket frame: one contiguous block of rows per home.

    Attributes:
        kwh: the readings, NaN where missing; one per row [kWh].
        ts_ns: interval starts as nanoseconds since the epoch in UTC; one per row.
        home_index: the home ids in frame order; home ``i`` is ``home_index[i]``.
        starts: the first row of each home.
        lengths: the number of rows of each home.
        interval_min: the native interval of each home [min].

    Invariants:
        Rows of a home are contiguous and consecutive rows of a home are exactly one interval apart (daily
        rows: 23 to 25 h, as local midnight moves with DST), so the previous row of a home is the previous
        interval. :meth:`from_frame` checks this; every construction checks that each interval divides a day.
    """

    kwh: np.ndarray
    ts_ns: np.ndarray
    home_index: pd.Index
    starts: np.ndarray
    lengths: np.ndarray
    interval_min: np.ndarray

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> HomeGrid:
        """Read the layout of ``frame`` (columns ``home_id``, ``ts``, ``kwh``, ``interval_min``).

        Raises:
            ValueError: a column is missing, the rows of a home are not contiguous, a home's interval is not
                constant or does not divide a day, or its timestamps are not one interval apart.
        """
        missing = {HOME_ID, TS, KWH, INTERVAL_MIN} - set(frame.columns)
        if missing:
            raise ValueError(f"frame lacks columns {sorted(missing)}")
        starts = _block_starts(frame[HOME_ID])
        home_index = pd.Index(frame[HOME_ID].iloc[starts].to_numpy(dtype=object), name=HOME_ID)
        if not home_index.is_unique:
            raise ValueError("the rows of a home are not contiguous: sort the frame by (home_id, ts)")
        lengths = np.diff(np.append(starts, len(frame)))
        interval_row = frame[INTERVAL_MIN].to_numpy(dtype=np.int64)
        ts_ns = _utc_nanoseconds(frame[TS])
        grid = cls(
            kwh=frame[KWH].to_numpy(dtype=np.float64, na_value=np.nan),
            ts_ns=ts_ns,
            home_index=home_index,
            starts=starts,
            lengths=lengths,
            interval_min=interval_row[starts] if len(frame) else np.zeros(0, np.int64),
        )
        grid._check_regular(interval_row)
        return grid

    def __post_init__(self) -> None:
        if np.any((self.interval_min <= 0) | (_MIN_PER_DAY % np.maximum(self.interval_min, 1) != 0)):
            raise ValueError("interval_min must be a positive divisor of 1440")

    def _check_regular(self, interval_row: np.ndarray) -> None:
        # Differences between neighbouring rows may only break at the first row of a home.
        first_rows = self.starts[1:]
        changed = np.flatnonzero(interval_row[1:] != interval_row[:-1]) + 1
        if not np.isin(changed, first_rows).all():
            raise ValueError("interval_min is not constant within a home")
        step_ns = np.diff(self.ts_ns)
        if len(np.unique(self.interval_min)) == 1 and self.interval_min[0] != _MIN_PER_DAY:
            irregular = np.flatnonzero(step_ns != int(self.interval_min[0]) * _NS_PER_MIN) + 1
        else:
            # Daily readings stay at local midnight, which DST moves by an hour.
            tolerance_ns = np.where(interval_row[1:] == _MIN_PER_DAY, _DST_SHIFT_NS, 0)
            irregular = np.flatnonzero(np.abs(step_ns - interval_row[1:] * _NS_PER_MIN) > tolerance_ns) + 1
        if not np.isin(irregular, first_rows).all():
            raise ValueError("a home's timestamps are not a regular grid: sort the frame by (home_id, ts)")

    @property
    def n_rows(self) -> int:
        return len(self.kwh)

    @property
    def n_homes(self) -> int:
        return len(self.starts)

    @property
    def ends(self) -> np.ndarray:
        """The last row of each home."""
        return self.starts + self.lengths - 1

    def per_row(self, per_home: np.ndarray) -> np.ndarray:
        """Broadcast one value per home to the rows of that home."""
        return np.repeat(per_home, self.lengths)

    @cached_property
    def home_code(self) -> np.ndarray:
        """The home of each row as an index into :attr:`home_index`."""
        return self.per_row(np.arange(self.n_homes))

    @cached_property
    def interval_h(self) -> np.ndarray:
        """The interval of each row [h]."""
        return self.per_row(self.interval_min / 60.0)

    def neighbours(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The readings one interval before and after each of ``rows``, NaN outside the row's home [kWh].

        Detectors first pick the few candidate rows, then look at their neighbours; copying whole shifted
        columns would cost more than the test itself.
        """
        before = self.kwh[np.maximum(rows - 1, 0)]
        after = self.kwh[np.minimum(rows + 1, max(self.n_rows - 1, 0))]
        home = self.home_code[rows]
        before[rows == self.starts[home]] = np.nan
        after[rows == self.ends[home]] = np.nan
        return before, after

    @cached_property
    def utc_day(self) -> np.ndarray:
        """The UTC day of each row since the epoch; for daily homes the nearest day, as DST moves their ts."""
        day = self.ts_ns // _NS_PER_DAY
        daily_home = self.interval_min == _MIN_PER_DAY
        if daily_home.any():
            daily_row = self.per_row(daily_home)
            day[daily_row] = (self.ts_ns[daily_row] + _NS_PER_DAY // 2) // _NS_PER_DAY
        return day

    @cached_property
    def week_slot(self) -> np.ndarray:
        """The UTC hour of the week of each row, 0 = Monday 00:00; for daily homes the weekday, 0 = Monday."""
        slot = (self.ts_ns // _NS_PER_HOUR + 24 * _EPOCH_WEEKDAY) % 168
        daily_home = self.interval_min == _MIN_PER_DAY
        if daily_home.any():
            daily_row = self.per_row(daily_home)
            slot[daily_row] = (self.utc_day[daily_row] + _EPOCH_WEEKDAY) % 7
        return slot

    @cached_property
    def day_index(self) -> np.ndarray:
        """:attr:`utc_day` counted from the first day of each home."""
        return self.utc_day - self.per_row(self.utc_day[self.starts])

    @cached_property
    def daily_sum_count(self) -> tuple[np.ndarray, np.ndarray]:
        """The sum [kWh] and the number of present readings per home and UTC day, each (n_homes, n_days)."""
        n_days = int(self.day_index.max()) + 1 if self.n_rows else 0
        present = ~np.isnan(self.kwh)
        cell = self.home_code * n_days + self.day_index
        size, shape = self.n_homes * n_days, (self.n_homes, n_days)
        total = np.bincount(cell, weights=np.where(present, self.kwh, 0.0), minlength=size).reshape(shape)
        count = np.bincount(cell, weights=present, minlength=size).reshape(shape)
        return total, count

    def daily_peak_kwh_per_h(self) -> np.ndarray:
        """The highest reading per home and UTC day as a rate, (n_homes, n_days); NaN if none [kWh/h]."""
        total, _ = self.daily_sum_count
        peak = np.full(total.shape, np.nan)
        if self.n_rows == 0:
            return peak
        new_day = np.ones(self.n_rows, dtype=bool)
        new_day[1:] = self.day_index[1:] != self.day_index[:-1]
        new_day[self.starts] = True
        first = np.flatnonzero(new_day)
        with np.errstate(invalid="ignore"):
            day_peak = np.fmax.reduceat(self.kwh / self.interval_h, first)
        peak[self.home_code[first], self.day_index[first]] = day_peak
        return peak

    @cached_property
    def home_median_kwh_per_h(self) -> np.ndarray:
        """The median reading of each home as a rate, NaN for a home without readings [kWh/h]."""
        row_in_home = np.arange(self.n_rows) - self.per_row(self.starts)
        median = grouped_median(self.kwh, self.home_code, self.n_homes, row_in_home)
        return median / (self.interval_min / 60.0)

    @cached_property
    def week_position(self) -> np.ndarray:
        """Per row, a place that no other row of its home and :attr:`week_slot` has: a week of rows (of intervals
        that divide an hour, or a day) holds each slot once, or for ``r`` rows an hour ``r`` consecutive times.

        For :func:`grouped_median`, which checks that no two rows of a group share a place.
        """
        per_hour = np.where(self.interval_min < 60, 60 // self.interval_min, 1)
        per_week = _MIN_PER_WEEK // self.interval_min
        row_in_home = np.arange(self.n_rows) - self.per_row(self.starts)
        per_hour_row = self.per_row(per_hour)
        return row_in_home // self.per_row(per_week) * per_hour_row + row_in_home % per_hour_row

    def align(self, homes: pd.Index) -> np.ndarray:
        """The position of each home of this grid in ``homes``, -1 for a home that ``homes`` lacks."""
        return homes.get_indexer(self.home_index)


def nan_quantile(values: np.ndarray, q: float, min_count: int = 1) -> np.ndarray:
    """The ``q`` quantile over the last axis ignoring NaN; NaN where fewer than ``min_count`` are present.

    Sorts the last axis, which is short (days of a home, days of a window), so it costs little for any number
    of rows; ``np.nanquantile`` loops in Python over the other axes.
    """
    if values.shape[-1] == 0:
        return np.full(values.shape[:-1], np.nan)
    ordered = np.sort(values, axis=-1)  # NaN sorts last
    n = np.sum(~np.isnan(ordered), axis=-1)
    position = q * np.maximum(n - 1, 0)
    low = np.floor(position).astype(np.int64)[..., None]
    high = np.ceil(position).astype(np.int64)[..., None]
    below = np.take_along_axis(ordered, low, axis=-1)[..., 0]
    above = np.take_along_axis(ordered, high, axis=-1)[..., 0]
    return np.where(n >= max(min_count, 1), below + (above - below) * (position - low[..., 0]), np.nan)


def grouped_median(
    values: np.ndarray, key: np.ndarray, n_groups: int, position: np.ndarray | None = None
) -> np.ndarray:
    """NaN-skipping median of ``values`` per ``key`` in ``[0, n_groups)``; NaN for a group without values.

    Args:
        values: the values [any unit].
        key: per value, its group.
        n_groups: the number of groups.
        position: per value, a small non-negative number that no other value of its group has. The values are then
            laid out in a table of one row per group and sorted row by row, about twice as fast as pandas' grouped
            median; without it, or when the table would be large or two values share a place, pandas computes it.

    Invariants:
        Equals pandas' grouped median to the last bit: the middle value, or the mean of the two middle values.
    """
    if position is not None and len(values):
        median = _table_median(values, key, n_groups, position)
        if median is not None:
            return median
    # Categorical groups skip factorizing the keys, which is most of the cost of grouping by plain integers.
    groups = pd.CategoricalIndex(pd.Categorical.from_codes(key, categories=pd.RangeIndex(n_groups)))
    return pd.Series(values).groupby(groups, observed=False).median().to_numpy(dtype=np.float64)


def _table_median(
    values: np.ndarray, key: np.ndarray, n_groups: int, position: np.ndarray
) -> np.ndarray | None:
    """:func:`grouped_median` from a table of the values, one row per group; None when it does not apply."""
    width = int(position.max()) + 1
    if n_groups * width > 4 * len(values) + 4096:  # mostly empty: the sort would cost more than pandas
        return None
    table = np.full((n_groups, width), np.nan)
    table[key, position] = values
    present = ~np.isnan(values)
    count = np.bincount(key[present], minlength=n_groups)
    if np.count_nonzero(~np.isnan(table)) != count.sum():  # two values shared a place
        return None
    table.sort(axis=1)  # NaN last
    rows = np.arange(n_groups)
    low = table[rows, np.maximum((count - 1) // 2, 0)]
    high = table[rows, np.minimum(count // 2, width - 1)]
    # As pandas: the middle value, or (upper + lower) / 2.
    median = np.where(count % 2 == 1, low, (high + low) / 2)
    return np.where(count > 0, median, np.nan)


def _block_starts(home_id: pd.Series) -> np.ndarray:
    """First row of each run of equal home ids."""
    if len(home_id) == 0:
        return np.zeros(0, np.int64)
    if isinstance(home_id.dtype, pd.CategoricalDtype):
        keys = home_id.cat.codes.to_numpy()
    else:
        keys = home_id.to_numpy(dtype=object)
    return np.concatenate([[0], np.flatnonzero(keys[1:] != keys[:-1]) + 1]).astype(np.int64)


def _utc_nanoseconds(ts: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch; aware timestamps are converted to UTC, naive ones are taken as UTC."""
    return ts.to_numpy(dtype="datetime64[ns]").view(np.int64)
