"""Series-level rules of meter readings: duplicates, interval inference, grid alignment, ranges and the grid itself.

All functions take and return long frames sorted by (``home_id``, ``ts``); per-home work is vectorised with numpy
over the sorted frame, so a bucket of hundreds of homes is a handful of array operations, not a loop.

Each rule is an array function (:class:`SortedRows`, :func:`home_intervals`, :func:`align_rows`, and
:func:`data_prep.grid_layout.grid_layout`) with homes as integer codes; the frame functions (:func:`deduplicate`,
:func:`infer_intervals`, :func:`align`, :func:`data_prep.grid_layout.build_grid`) are thin adapters over them. A
bucket builder calls the array functions directly, so a bucket's wide frame is copied once, when its grid is built,
instead of at every step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from contracts.schemas import EXPORT_KWH, HOME_ID, INTERVAL_MIN, KWH, PV_KWH, TS, Reason
from data_prep.quality.rules import ReadingRules
from data_prep.sorted_runs import (
    repeat_is_same,
    repeats,
    run_codes,
    stable_order,
)

VALUE_COLUMNS = (KWH, PV_KWH, EXPORT_KWH)
MINUTE_US = np.int64(60_000_000)  # microseconds per minute
_DAY_MIN = 1440
_NO_STEP = -1  # marks a "step" from one home to the next, or one that does not move forward in time


def ts_minutes(ts: pd.Series) -> np.ndarray:
    """Minutes since the epoch of a UTC timestamp column [min]."""
    return ts.array.as_unit("us").asi8 // MINUTE_US


@dataclass(frozen=True)
class SortedRows:
    """A staged frame's rows in the order deduplication reads them, as arrays.

    Attributes:
        order: positions in the frame, sorted by (``home_id``, ``ts``, ``ingest_seq``, ``line``).
        home: per sorted row, its home as an index into ``home_ids``.
        home_ids: the frame's homes, ascending (a missing id last).
        minutes: per sorted row, its ``ts`` [min since the epoch].
        is_repeat: per sorted row, whether an earlier sorted row has the same home and minute.

    Invariants:
        - "First" is the lowest (``ingest_seq``, ``line``): the result does not depend on the order files are read
          in.
        - Home ids hold no control characters (:func:`data_prep.ingest.readings.row_checks` quarantines them as
          ``malformed_row``): ``pd.factorize`` hashes object strings only up to a NUL, so ``"h1\\x00x"`` and ``"h1"``
          would be one home here.
    """

    order: np.ndarray
    home: np.ndarray
    home_ids: np.ndarray
    minutes: np.ndarray
    is_repeat: np.ndarray

    @classmethod
    def of(cls, frame: pd.DataFrame) -> SortedRows:
        """Sort ``frame``'s rows and find the repeats."""
        home, home_ids = run_codes(frame[HOME_ID], sort=True)
        if (home < 0).any():  # sort_values puts a missing id last
            home = np.where(home < 0, len(home_ids), home)
            home_ids = np.append(home_ids, np.array([None], dtype=object))
        stamps = frame[TS].array.asi8
        if frame[TS].hasnans:  # and NaT last
            stamps = np.where(frame[TS].isna().to_numpy(), np.iinfo(np.int64).max, stamps)
        order = stable_order(home, stamps, frame["ingest_seq"].to_numpy(), frame["line"].to_numpy())
        home = home[order]
        minutes = ts_minutes(frame[TS])[order]
        return cls(order, home, home_ids, minutes, repeats(home, minutes))

    def repeat_reasons(self, frame: pd.DataFrame) -> np.ndarray:
        """Per repeat (in sorted order), ``duplicate`` when its values equal the kept row's, else
        ``conflicting_duplicate``."""
        columns = [frame[c].to_numpy() for c in VALUE_COLUMNS]
        same = repeat_is_same(self.is_repeat, columns, self.order)
        return np.where(same, Reason.DUPLICATE.value, Reason.CONFLICTING_DUPLICATE.value)

    def repeats(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The repeated rows of ``frame`` with their ``reason``, on their positions in sorted order."""
        repeat = np.flatnonzero(self.is_repeat)
        if len(repeat) == 0:
            empty = frame.iloc[:0]
            empty.index = pd.RangeIndex(0)
            return empty.assign(reason=pd.Series(dtype=object))
        dropped = frame.take(self.order[repeat])
        dropped.index = pd.Index(repeat)
        return dropped.assign(reason=self.repeat_reasons(frame))


def deduplicate(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep the first-ingested row of each (home, ts); the others go to quarantine.

    A repeat with the same values is a ``duplicate``; with different values, a ``conflicting_duplicate``. See
    :class:`SortedRows` for the order and its invariants.

    Returns:
        The kept rows sorted by (``home_id``, ``ts``) on a fresh index, and the repeats with their ``reason``.
    """
    rows = SortedRows.of(frame)
    kept = frame.take(rows.order[~rows.is_repeat])
    kept.index = pd.RangeIndex(len(kept))
    return kept, rows.repeats(frame)


def home_intervals(
    home: np.ndarray, minutes: np.ndarray, n_homes: int, known_min: tuple[int, ...] = (15, 30, 60, 1440)
) -> tuple[np.ndarray, np.ndarray]:
    """Each home's native interval and phase, from the most common step between its readings.

    The interval is the largest known interval that divides the most common step (a 3-hour step between sparse
    hourly readings is hourly), or the step itself when none does; a home without a step is hourly.

    Args:
        home: per row, its home as an index in ``[0, n_homes)``; the rows of a home are contiguous and sorted by
            time.
        minutes: per row, its timestamp [min since the epoch].
        n_homes: the number of homes.
        known_min: the intervals the grid expects [min].

    Returns:
        Per home, ``interval_min`` [min] and ``phase_min`` (the usual minute offset of its timestamps within the
        interval, e.g. 30 for hourly data in a zone at UTC+05:30) [min].
    """
    step = np.diff(minutes)
    # Daily data in local time steps by 23 h or 25 h across DST changes; it is still daily.
    step[(step >= 1380) & (step <= 1500)] = _DAY_MIN
    step[(step <= 0) | (home[1:] != home[:-1])] = _NO_STEP
    modal, has_step = _mode_per_home(home[1:], step, n_homes, skip=_NO_STEP)
    interval = np.full(n_homes, 60, dtype=np.int64)
    for h in np.flatnonzero(has_step):  # one per home
        interval[h] = _snap(int(modal[h]), known_min)
    phase, _ = _mode_per_home(home, minutes % interval[home], n_homes)
    return interval, phase


def infer_intervals(frame: pd.DataFrame, known_min: tuple[int, ...] = (15, 30, 60, 1440)) -> pd.DataFrame:
    """Each home's native interval and phase (see :func:`home_intervals`).

    Returns:
        One row per home, in order of appearance: ``interval_min`` [min] and ``phase_min`` [min].
    """
    home, home_ids = run_codes(frame[HOME_ID])
    interval, phase = home_intervals(home, ts_minutes(frame[TS]), len(home_ids), known_min)
    return pd.DataFrame({HOME_ID: home_ids, INTERVAL_MIN: interval, "phase_min": phase})


def _mode_per_home(
    home: np.ndarray, values: np.ndarray, n_homes: int, skip: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The most common value per home (the smallest on ties) other than ``skip``, and whether the home has one.

    Equal neighbours are counted as one run first: a home's steps and phases are nearly constant, so only a few
    runs are left to sort.
    """
    mode = np.zeros(n_homes, dtype=np.int64)
    has_value = np.zeros(n_homes, dtype=bool)
    if len(values) == 0:
        return mode, has_value
    new_run = np.ones(len(values), dtype=bool)
    new_run[1:] = (home[1:] != home[:-1]) | (values[1:] != values[:-1])
    heads = np.flatnonzero(new_run)
    weight = np.diff(np.append(heads, len(values)))
    if skip is not None:
        counted = values[heads] != skip
        heads, weight = heads[counted], weight[counted]
        if len(heads) == 0:
            return mode, has_value
    order = np.lexsort((values[heads], home[heads]))
    run_home, run_value, weight = home[heads][order], values[heads][order], weight[order]
    new_pair = np.ones(len(order), dtype=bool)
    new_pair[1:] = (run_home[1:] != run_home[:-1]) | (run_value[1:] != run_value[:-1])
    first = np.flatnonzero(new_pair)
    pair_home, pair_value = run_home[first], run_value[first]
    count = np.add.reduceat(weight, first)
    ranked = np.lexsort((pair_value, -count, pair_home))
    best = ranked[np.append(True, pair_home[ranked][1:] != pair_home[ranked][:-1])]
    mode[pair_home[best]] = pair_value[best]
    has_value[pair_home[best]] = True
    return mode, has_value


def _snap(step: int, known_min: tuple[int, ...]) -> int:
    dividing = [k for k in known_min if step % k == 0]
    return max(dividing) if dividing else step


@dataclass(frozen=True)
class AlignedRows:
    """Rows placed on their home's grid (see :func:`align_rows`).

    Attributes:
        interval: per row, its home's interval [min].
        slot: per row, its slot number on the home's grid.
        values: the value columns, mean power converted to energy [kWh].
        off_grid: per row, its timestamp is not on the grid.
        out_of_range: per row, its ``kwh`` is outside the physical range.
    """

    interval: np.ndarray
    slot: np.ndarray
    values: dict[str, np.ndarray]
    off_grid: np.ndarray
    out_of_range: np.ndarray

    @property
    def bad(self) -> np.ndarray:
        """Rows that go to quarantine."""
        return self.off_grid | self.out_of_range

    def reasons(self, rows: np.ndarray) -> np.ndarray:
        """The quarantine reason of each of ``rows`` (bad rows): a timestamp off the grid wins."""
        return np.where(self.off_grid[rows], Reason.OFF_GRID_TIMESTAMP.value, Reason.OUT_OF_RANGE.value)

    def frame(
        self, source: pd.DataFrame, rows: np.ndarray, source_rows: np.ndarray | None = None
    ) -> pd.DataFrame:
        """``rows`` as a frame on a fresh index: their rows of ``source`` with the converted values,
        ``interval_min`` and ``slot``.

        Args:
            source: the frame the arrays were read from.
            rows: positions in these arrays.
            source_rows: the positions of ``rows`` in ``source``; ``rows`` by default.
        """
        out = source.take(rows if source_rows is None else source_rows)
        out.index = pd.RangeIndex(len(rows))
        for column in VALUE_COLUMNS:
            out[column] = self.values[column][rows]
        out[INTERVAL_MIN] = self.interval[rows]
        out["slot"] = self.slot[rows]
        return out


def align_rows(
    interval: np.ndarray,
    phase: np.ndarray,
    minutes: np.ndarray,
    values: dict[str, np.ndarray],
    is_mean_kw: np.ndarray,
    rules: ReadingRules,
) -> AlignedRows:
    """Each row's slot on its home's grid, its values as energy, and the grid and range rules.

    Args:
        interval: per row, its home's interval [min].
        phase: per row, its home's phase [min].
        minutes: per row, its timestamp [min since the epoch].
        values: the value columns, converted in place where ``is_mean_kw`` [kWh, or kW].
        is_mean_kw: per row, whether its values are mean power.
        rules: the range rule.
    """
    offset = minutes - phase
    slot = offset // interval
    off_grid = offset - slot * interval != 0
    daily = np.flatnonzero(interval == _DAY_MIN)
    if len(daily):
        # Daily data in local time moves by an hour with DST: the nearest day is its slot.
        slot[daily] = (offset[daily] + 720) // _DAY_MIN
        off_grid[daily] = np.abs(offset[daily] - slot[daily] * _DAY_MIN) > 60
    hours = interval / 60.0
    if is_mean_kw.any():
        for column in VALUE_COLUMNS:
            values[column][is_mean_kw] *= hours[is_mean_kw]
    kwh = values[KWH]
    with np.errstate(invalid="ignore"):
        out_of_range = kwh > rules.max_kw * hours
        if rules.min_kw is not None:
            out_of_range |= kwh < rules.min_kw * hours
    return AlignedRows(interval, slot, values, off_grid, out_of_range)


def home_positions(keys: pd.Series, home_ids: np.ndarray) -> np.ndarray:
    """The row of each of ``home_ids`` in ``keys``; KeyError when one is absent."""
    at = pd.Index(keys).get_indexer(home_ids)
    if (at < 0).any():
        raise KeyError(f"homes without an interval: {list(home_ids[at < 0][:5])}")
    return at


def align(
    frame: pd.DataFrame, intervals: pd.DataFrame, rules: ReadingRules
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Attach each row's slot on its home's grid, convert mean power to energy, and apply the range rule.

    Returns:
        the aligned rows (with ``interval_min`` and ``slot``) and the rows quarantined as ``off_grid_timestamp`` or
        ``out_of_range``, on their labels in ``frame``.
    """
    home, home_ids = run_codes(frame[HOME_ID])
    at = home_positions(intervals[HOME_ID], home_ids)[home]
    interval = intervals[INTERVAL_MIN].to_numpy()[at]
    values = {c: frame[c].to_numpy(copy=True) for c in VALUE_COLUMNS}
    aligned = align_rows(
        interval,
        intervals["phase_min"].to_numpy()[at],
        ts_minutes(frame[TS]),
        values,
        frame["is_mean_kw"].to_numpy(),
        rules,
    )
    bad = aligned.bad
    good_rows, bad_rows = np.flatnonzero(~bad), np.flatnonzero(bad)
    rejected = aligned.frame(frame, bad_rows)
    rejected.index = frame.index[bad_rows]
    return aligned.frame(frame, good_rows), rejected.assign(reason=aligned.reasons(bad_rows))
