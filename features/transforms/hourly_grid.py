"""Keys × hours matrices: the dense hourly grid that every lag and trailing window runs on.

A long frame (one row per key and hour, where hours may be missing) becomes one matrix per value column, with one
column for every hour from the frame's first hour to its last; a missing hour is NaN. A lag is then a shift along
the hour axis and a trailing window a rolling statistic over a fixed number of columns, so both count time, never
rows: a gap in the data cannot make a "24 h lag" reach back 25 hours.

Invariants:
    Column ``j`` of every matrix holds the hour starting at ``first_hour + j`` [h since the epoch].
    A lag or trailing statistic at column ``j`` reads columns ``<= j`` only: never an hour that starts later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from contracts.schemas import TS

NS_PER_HOUR = 3_600 * 10**9
RollingStat = Literal["mean", "std", "min", "max", "sum", "count"]


def utc_hours(ts: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Whole hours since the epoch of each instant, floored [h]."""
    return np.asarray(pd.DatetimeIndex(ts).as_unit("ns").asi8) // NS_PER_HOUR


@dataclass(frozen=True)
class HourlyGrid:
    """Value matrices of shape (keys, hours) built from a long frame.

    Attributes:
        keys: the distinct keys, sorted; row ``i`` of every matrix is ``keys[i]``.
        first_hour: the hour of column 0 [h since the epoch].
        values: one float64 matrix per value column; NaN where the hour is missing or its value is null.
        present: True where the long frame had a row for the key and hour (even with null values).
    """

    keys: pd.Index
    first_hour: int
    values: dict[str, np.ndarray]
    present: np.ndarray

    @classmethod
    def from_long(cls, frame: pd.DataFrame, keys: list[str], values: list[str]) -> HourlyGrid:
        """The grid of ``frame``'s ``values`` by ``keys`` and hour; a value column absent from ``frame`` is all NaN.

        Args:
            frame: one row per key and hour start ``ts`` (UTC); unsorted input and gaps are fine.
            keys: the key columns (one, or several for a composite key such as a grid point's lat and lon).
            values: the value columns.
        """
        rows, uniques = factorize_keys([frame[key] for key in keys])
        hours = utc_hours(frame[TS]) if len(frame) else np.zeros(0, dtype=np.int64)
        first = int(hours.min()) if len(hours) else 0
        n_hours = int(hours.max()) - first + 1 if len(hours) else 0
        cols = hours - first
        n_keys = len(uniques[0])
        present = np.zeros((n_keys, n_hours), dtype=bool)
        present[rows, cols] = True
        matrices = {}
        for name in values:
            matrix = np.full((n_keys, n_hours), np.nan)
            if name in frame.columns:
                matrix[rows, cols] = frame[name].to_numpy(dtype=float, na_value=np.nan)
            matrices[name] = matrix
        index = (
            pd.MultiIndex.from_arrays(uniques, names=keys)
            if len(keys) > 1
            else pd.Index(uniques[0], name=keys[0])
        )
        return cls(keys=index, first_hour=first, values=matrices, present=present)

    @property
    def n_hours(self) -> int:
        return int(self.present.shape[1])

    def hour_starts(self) -> pd.DatetimeIndex:
        """The UTC start of each column's hour."""
        ns = (self.first_hour + np.arange(self.n_hours, dtype=np.int64)) * NS_PER_HOUR
        return pd.DatetimeIndex(ns.astype("datetime64[ns]")).tz_localize("UTC")

    def span(self) -> np.ndarray:
        """True from each key's first present hour to its last, gaps included [bool, keys × hours]."""
        seen_before = np.cumsum(self.present, axis=1) > 0
        seen_after = np.cumsum(self.present[:, ::-1], axis=1)[:, ::-1] > 0
        return seen_before & seen_after

    def key_values(self, level: int = 0) -> np.ndarray:
        """The values of one key column, one per grid row."""
        return np.asarray(self.keys.get_level_values(level))

    def to_long(
        self,
        columns: dict[str, np.ndarray],
        rows: np.ndarray,
        key_columns: dict[str, np.ndarray],
        offset_hours: int,
    ) -> pd.DataFrame:
        """A long frame of ``columns`` (matrices of the grid's shape) at the cells where ``rows`` is True.

        Args:
            columns: output name → matrix (keys × hours).
            rows: which cells become rows [bool, keys × hours].
            key_columns: output name → one value per grid row (e.g. :meth:`key_values`, or an id derived from it).
            offset_hours: added to each hour start to give ``event_timestamp`` [h].

        Returns:
            ``key_columns``, ``event_timestamp`` (UTC, ns) and ``columns``; sorted by key, then time.
        """
        key_pos, hour_pos = np.nonzero(rows)
        out: dict[str, object] = {name: values[key_pos] for name, values in key_columns.items()}
        ns = (self.first_hour + hour_pos.astype(np.int64) + offset_hours) * NS_PER_HOUR
        out["event_timestamp"] = pd.DatetimeIndex(ns.astype("datetime64[ns]")).tz_localize("UTC")
        for name, matrix in columns.items():
            out[name] = matrix[key_pos, hour_pos]
        return pd.DataFrame(out)


def factorize_keys(columns: list[pd.Series | np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Codes of the distinct combinations of ``columns``, sorted by the first column, then the next.

    Returns:
        (codes, uniques): ``codes[i]`` is the combination of row ``i``; ``uniques[k][c]`` the value of column ``k``
        in combination ``c``. Combining per-column integer codes avoids building a tuple per row.
    """
    combined = np.zeros(len(columns[0]), dtype=np.int64)
    levels = []
    for column in columns:
        codes, level = pd.factorize(np.asarray(column), sort=True)
        combined = combined * max(len(level), 1) + codes
        levels.append((codes, level))
    distinct, inverse = np.unique(combined, return_inverse=True)
    first = np.zeros(len(distinct), dtype=np.int64)
    first[inverse[::-1]] = np.arange(len(combined))[::-1]  # a row of each combination
    return inverse.reshape(-1), [np.asarray(level)[codes[first]] for codes, level in levels]


def lagged(matrix: np.ndarray, hours: int) -> np.ndarray:
    """``matrix`` shifted ``hours`` columns to the right, NaN where the lag reaches before the first hour.

    Invariants:
        Column ``j`` of the result is column ``j - hours`` of the input (``hours >= 0``): a lag by time.
    """
    out = np.full(matrix.shape, np.nan)
    if hours < matrix.shape[1]:
        out[:, hours:] = matrix[:, : matrix.shape[1] - hours]
    return out


def trailing(matrix: np.ndarray, hours: int, stat: RollingStat, min_hours: int) -> np.ndarray:
    """A statistic of the values present in the ``hours`` columns ending at each column (that column included).

    Args:
        matrix: keys × hours, NaN where no value.
        hours: the window length [h].
        stat: the statistic; ``std`` is the sample standard deviation (ddof 1).
        min_hours: fewer values than this in the window give NaN.

    Invariants:
        Column ``j`` of the result reads columns ``j - hours + 1 .. j`` only.
    """
    rolling = pd.DataFrame(matrix.T).rolling(hours, min_periods=min_hours)
    return np.asarray(getattr(rolling, stat)().to_numpy().T)


def trailing_quantile(matrix: np.ndarray, hours: int, q: float, min_hours: int) -> np.ndarray:
    """The ``q`` quantile (linear interpolation, as ``numpy.quantile``) of :func:`trailing`'s window.

    Invariants:
        Column ``j`` of the result reads columns ``j - hours + 1 .. j`` only.
    """
    rolling = pd.DataFrame(matrix.T).rolling(hours, min_periods=min_hours)
    return np.asarray(rolling.quantile(q, interpolation="linear").to_numpy().T)
