"""Index arithmetic on the sorted long frame: where each home starts and ends, and where its gaps are.

Every strategy works on flat numpy arrays over the whole frame (all homes at once) instead of a loop over
homes: a row's neighbours are found by index offsets, and an offset that leaves the row's home is rejected by
comparing it with the first and last row of that home.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from contracts.schemas import GHI_W_M2, HOME_ID, INTERVAL_MIN, KWH, TEMP_C, TS

HOURS_PER_WEEK = 168
MINUTES_PER_DAY = 1440
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
NS_PER_MINUTE = 60 * 10**9
NS_PER_HOUR = 60 * NS_PER_MINUTE
NS_PER_DAY = 24 * NS_PER_HOUR
EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday; Monday is 0
WEATHER_COLUMNS = (TEMP_C, GHI_W_M2)


def _home_change_points(home: pd.Series) -> np.ndarray:
    """Row positions where a new home starts (excluding row 0) in a frame sorted by home."""
    if isinstance(home.dtype, pd.CategoricalDtype):
        codes = home.cat.codes.to_numpy()
        return np.flatnonzero(codes[1:] != codes[:-1]) + 1
    if home.dtype == object:
        values = home.to_numpy()
        return np.flatnonzero(values[1:] != values[:-1]) + 1
    codes, _ = pd.factorize(home)  # arrow-backed strings convert to numpy slowly; factorize does not
    return np.flatnonzero(codes[1:] != codes[:-1]) + 1


def _ts_ns(ts: pd.Series) -> np.ndarray:
    """Interval starts as int64 nanoseconds since the epoch in UTC; naive timestamps are taken as UTC."""
    return pd.DatetimeIndex(ts).as_unit("ns").asi8


def _is_regular(ts_ns: np.ndarray, interval_min: np.ndarray, home_first: np.ndarray) -> bool:
    """Whether each home's rows step by exactly its interval (a daily home: 23 to 25 h, for DST days)."""
    step = np.diff(ts_ns)
    expected = interval_min[:-1] * NS_PER_MINUTE
    daily = interval_min[:-1] == MINUTES_PER_DAY
    ok = (step == expected) | (daily & (np.abs(step - expected) <= NS_PER_HOUR))
    ok[home_first[1:] - 1] = True  # a home's first row follows another home's last
    return bool(ok.all())


@dataclass(frozen=True, eq=False)
class SlotGrid:
    """The kwh-independent layout of a long frame sorted by (``home_id``, ``ts``) with one row per slot.

    Attributes:
        home_ids: the frame's homes in row order, shape (n_homes,).
        home_first: first row of each home, shape (n_homes,).
        home_last: last row of each home, shape (n_homes,).
        home_interval_min: each home's interval [min], shape (n_homes,).
        code: the home of each row as an index into ``home_ids``, shape (n_rows,).
        ts_ns: interval start of each row [ns since the epoch, UTC], shape (n_rows,).
        weather: the weather columns present in the frame (``temp_c`` [°C], ``ghi_w_m2`` [W/m²]), by name.

    Invariants:
        Rows of one home are contiguous and strictly increasing in time; the grid is regular per home (a
        missing reading is a row with NaN kwh), so an offset of k rows is k intervals.
    """

    home_ids: np.ndarray
    home_first: np.ndarray
    home_last: np.ndarray
    home_interval_min: np.ndarray
    code: np.ndarray
    ts_ns: np.ndarray
    weather: dict[str, np.ndarray]

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> SlotGrid:
        """Build the layout of ``frame``; raises ValueError if it is not sorted by (home_id, ts)."""
        n_rows = len(frame)
        starts = np.concatenate([[0], _home_change_points(frame[HOME_ID])]) if n_rows else np.zeros(0, int)
        home_first = starts.astype(np.int64)
        home_last = np.append(home_first[1:] - 1, n_rows - 1).astype(np.int64) if n_rows else home_first
        code = np.repeat(np.arange(len(home_first)), np.diff(np.append(home_first, n_rows)))
        interval = frame[INTERVAL_MIN].to_numpy(dtype=np.int64)
        home_interval = interval[home_first]
        ts_ns = _ts_ns(frame[TS])
        if (interval != home_interval[code]).any() or not _is_regular(ts_ns, interval, home_first):
            raise ValueError(
                "frame must be sorted by (home_id, ts) on a regular grid per home (missing slots as NaN rows), "
                "with one interval per home"
            )
        weather = {c: frame[c].to_numpy(dtype=np.float64) for c in WEATHER_COLUMNS if c in frame.columns}
        home_ids = frame[HOME_ID].to_numpy(dtype=object)[home_first]
        return cls(home_ids, home_first, home_last, home_interval, code, ts_ns, weather)

    @property
    def n_rows(self) -> int:
        """Rows of the frame."""
        return len(self.code)

    @cached_property
    def row_first(self) -> np.ndarray:
        """First row of each row's home."""
        return self.home_first[self.code]

    @cached_property
    def row_last(self) -> np.ndarray:
        """Last row of each row's home."""
        return self.home_last[self.code]

    @cached_property
    def interval_min(self) -> np.ndarray:
        """Interval of each row [min]."""
        return self.home_interval_min[self.code]

    @cached_property
    def hour_of_week(self) -> np.ndarray:
        """Hour of the UTC week of each row's interval start, 0 = Monday 00:00."""
        hours = self.ts_ns // NS_PER_HOUR + EPOCH_WEEKDAY * 24
        return (hours % HOURS_PER_WEEK).astype(np.int64)

    def slots(self, minutes: float, rows: np.ndarray) -> np.ndarray:
        """For each of ``rows``, the whole number of its home's intervals in ``minutes`` (at least 1)."""
        return np.maximum(1, np.ceil(minutes / self.interval_min[rows])).astype(np.int64)

    def offset_rows(self, rows: np.ndarray, offset: np.ndarray | int) -> np.ndarray:
        """``rows + offset``, or -1 where that leaves the row's home."""
        target = rows + offset
        inside = (target >= self.row_first[rows]) & (target <= self.row_last[rows])
        return np.where(inside, target, -1)


@dataclass(frozen=True)
class GapTable:
    """The interior gaps of a frame: runs of missing slots with a known reading on both sides.

    Attributes:
        start: first missing row of each gap.
        length: missing slots in each gap.
        home: the home of each gap (an index into ``SlotGrid.home_ids``).
        hours: the length of each gap [h].
    """

    start: np.ndarray
    length: np.ndarray
    home: np.ndarray
    hours: np.ndarray

    def rows(self, keep: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The rows of the gaps selected by ``keep`` (all by default), and the gap index of each row."""
        gap = np.flatnonzero(keep) if keep is not None else np.arange(len(self.start))
        gap_of_row = np.repeat(gap, self.length[gap])
        first_of_gap = np.cumsum(self.length[gap]) - self.length[gap]
        within = np.arange(len(gap_of_row)) - np.repeat(first_of_gap, self.length[gap])
        return self.start[gap_of_row] + within, gap_of_row


@dataclass(frozen=True, eq=False)
class GapContext:
    """A frame's readings with the nearest known reading on either side of every row.

    Attributes:
        grid: the frame's layout.
        kwh: the readings, NaN where missing [kWh per interval].
        known: where ``kwh`` is a number.
        prev_known: the last known row at or before each row in the same home, -1 if none.
        next_known: the first known row at or after each row in the same home, -1 if none.
        memo: arrays derived from these readings that several strategies share (e.g. per-home sums), computed
            once by whoever needs them first; the readings never change, so the entries never go stale.
    """

    grid: SlotGrid
    kwh: np.ndarray
    known: np.ndarray
    prev_known: np.ndarray
    next_known: np.ndarray
    memo: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, grid: SlotGrid, kwh: np.ndarray) -> GapContext:
        """Locate the known readings around every row of ``kwh`` (a float array aligned with ``grid``)."""
        kwh.setflags(write=False)  # memo entries are derived from it
        known = ~np.isnan(kwh)
        index = np.arange(len(kwh), dtype=np.int64)
        prev = np.maximum.accumulate(np.where(known, index, -1)) if len(kwh) else index
        prev[prev < grid.row_first] = -1
        nxt = np.minimum.accumulate(np.where(known, index, len(kwh))[::-1])[::-1] if len(kwh) else index
        nxt[nxt > grid.row_last] = -1
        return cls(grid, kwh, known, prev, nxt)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> GapContext:
        """The context of ``frame``'s ``kwh`` column."""
        return cls.build(SlotGrid.from_frame(frame), frame[KWH].to_numpy(dtype=np.float64, copy=True))

    def interior_missing(self) -> np.ndarray:
        """Missing rows inside their home's observed span (a known reading before and after)."""
        return np.flatnonzero(~self.known & (self.prev_known >= 0) & (self.next_known >= 0))

    def gaps(self) -> GapTable:
        """The interior gaps; leading and trailing runs outside a home's observed span are not gaps."""
        rows = self.interior_missing()
        start = rows[self.prev_known[rows] == rows - 1]
        length = self.next_known[start] - start
        home = self.grid.code[start]
        hours = length * self.grid.home_interval_min[home] / 60.0
        return GapTable(start, length, home, hours)

    def observed_span(self) -> tuple[np.ndarray, np.ndarray]:
        """First and last known row of each home (-1 for a home with no reading)."""
        first = self.next_known[self.grid.home_first]
        last = self.prev_known[self.grid.home_last]
        return first, last


def prefix_sum(values: np.ndarray) -> np.ndarray:
    """Prefix sums with a leading 0, for :func:`window_sum`."""
    return np.concatenate([[0.0], np.cumsum(values)])


def window_sum(prefix: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Sum over rows ``lo..hi`` inclusive of the values whose :func:`prefix_sum` is ``prefix``."""
    return prefix[hi + 1] - prefix[lo]


def nanmedian_rows(matrix: np.ndarray) -> np.ndarray:
    """Median of each row of ``matrix`` ignoring NaNs (NaN for an all-NaN row), by one sort."""
    ordered = np.sort(matrix, axis=-1)  # NaNs sort last
    count = (~np.isnan(matrix)).sum(axis=-1)
    lo = np.clip((count - 1) // 2, 0, None)[..., None]
    hi = np.clip(count // 2, 0, matrix.shape[-1] - 1)[..., None]
    median = 0.5 * (np.take_along_axis(ordered, lo, -1) + np.take_along_axis(ordered, hi, -1))[..., 0]
    return np.where(count > 0, median, np.nan)


def gap_windows(ctx: GapContext, rows: np.ndarray, minutes: float) -> tuple[np.ndarray, np.ndarray]:
    """The rows within ``minutes`` before and after each gap that holds one of ``rows``.

    Args:
        ctx: the readings.
        rows: interior missing rows, ascending.
        minutes: the span on each side of a gap [min].

    Returns:
        ``(gap_of_row, window)``: the gap index of each of ``rows``, and per gap a row of source row indices
        (the span before the gap, then the span after it), -1 where the span leaves the home or is shorter.
    """
    edge, gap_of_row = np.unique(ctx.prev_known[rows], return_index=True, return_inverse=True)[1:]
    edge_rows = rows[edge]  # one row per gap
    width = ctx.grid.slots(minutes, edge_rows)
    step = np.arange(int(width.max()) if len(width) else 0)
    before = ctx.prev_known[edge_rows][:, None] - step
    after = ctx.next_known[edge_rows][:, None] + step
    window = np.concatenate([before, after], axis=1)
    inside = np.concatenate([step < width[:, None]] * 2, axis=1)
    inside &= window >= ctx.grid.row_first[edge_rows][:, None]
    inside &= window <= ctx.grid.row_last[edge_rows][:, None]
    return gap_of_row, np.where(inside, window, -1)
