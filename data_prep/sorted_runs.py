"""Array helpers for long frames whose rows come in runs of equal keys (a bucket sorted by home and time).

Codes from the first value of each run and one stable sort over merged integer keys replace pandas' per-row string
hashing and multi-key sorts, which dominated a bucket's build time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

NAT = np.iinfo(np.int64).min  # NaT as int64


def run_starts(values: np.ndarray) -> np.ndarray | None:
    """The first row of each run of equal neighbours in an object array; None when its values cannot be compared
    (``pd.NA`` has no truth value)."""
    new_run = np.ones(len(values), dtype=bool)
    try:
        np.not_equal(values[1:], values[:-1], out=new_run[1:])
    except TypeError:
        return None
    return np.flatnonzero(new_run)


def run_codes(column: pd.Series, sort: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize`` of a column whose equal values come in runs, such as the home ids of a long frame.

    Only the first value of each run is hashed, so a sorted column of a few hundred homes costs one comparison
    of neighbours instead of a hash per row.

    Returns:
        The code of each row (-1 where missing) and the distinct values as an object array, ascending when
        ``sort`` (the order ``sort_values`` gives them), else in order of appearance.
    """
    values = column.to_numpy()
    heads = run_starts(values) if values.dtype == object and len(values) else None
    if heads is not None:
        codes, run_values = pd.factorize(values[heads], sort=sort)
        return np.repeat(codes, np.diff(np.append(heads, len(values)))), np.asarray(run_values, dtype=object)
    codes, uniques = pd.factorize(column, sort=sort)
    return codes, np.asarray(uniques, dtype=object)


@dataclass(frozen=True)
class Coded:
    """A text column as integer codes into its distinct values: the form a bucket's text columns are made in.

    Building the object column, or the Arrow column, from the codes costs a lookup per row; finding the codes
    again from the object column costs a string comparison or a hash per row.

    Attributes:
        codes: per row, an index into ``values``; -1 where the row has no value.
        values: the distinct values (none of them missing).
    """

    codes: np.ndarray
    values: np.ndarray

    @classmethod
    def of(cls, codes: np.ndarray, values: np.ndarray) -> Coded:
        """The column of ``codes`` into ``values``, which may hold missing values (None, NaN): their rows get -1."""
        missing = pd.isna(values)
        if not missing.any():
            return cls(codes, values)
        kept = np.flatnonzero(~missing)
        new_code = np.full(len(values) + 1, -1)  # the last one keeps -1 at -1
        new_code[kept] = np.arange(len(kept))
        return cls(new_code[codes], values[kept])

    @classmethod
    def column(cls, frame: pd.DataFrame, name: str, coded: Mapping[str, Coded] | None = None) -> Coded:
        """``coded[name]`` when there, else the codes of ``frame[name]`` (:func:`run_codes`)."""
        if coded is not None and name in coded:
            return coded[name]
        return cls(*run_codes(frame[name]))

    def ascending(self) -> Coded:
        """The same column with its values in ascending order (the order ``run_codes(sort=True)`` gives)."""
        order = np.argsort(self.values, kind="stable")
        rank = np.empty(len(order) + 1, dtype=np.int64)
        rank[order] = np.arange(len(order))
        rank[-1] = -1
        return Coded(rank[self.codes], self.values[order])

    def objects(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The column (or its ``rows``) as an object array, None where missing."""
        lookup = np.append(self.values, np.array([None], dtype=object))  # code -1: the last one
        return lookup[self.codes if rows is None else self.codes[rows]]

    def arrow(self, arrow_type: pa.DataType | None = None) -> pa.Array:
        """The column as an Arrow array, null where missing: each distinct value is converted once, then taken per
        row. Equals ``pa.array(self.objects(), arrow_type, from_pandas=True)``; without a type, Arrow infers it."""
        codes = self.codes
        indices = pa.array(codes, mask=codes < 0) if len(codes) and codes.min() < 0 else pa.array(codes)
        return pa.array(self.values, type=arrow_type, from_pandas=True).take(indices)


def frame_columns(columns: Mapping[str, Any]) -> dict[str, Any]:
    """``columns`` with each :class:`Coded` one as an object array: the columns of a pandas frame."""
    return {name: c.objects() if isinstance(c, Coded) else c for name, c in columns.items()}


def arrow_table(frame: pd.DataFrame, schema: pa.Schema, coded: Mapping[str, Coded] | None = None) -> pa.Table:
    """``pa.Table.from_pandas`` of ``frame``'s columns in ``schema``, pandas metadata included.

    A text column is converted run by run (a home's id, its flags and its files repeat over long runs of rows)
    instead of row by row, from its codes when ``coded`` has them. An empty frame gives the same schema.
    """
    columns = [f.name for f in schema]
    empty = pa.Table.from_pandas(frame.iloc[:0][columns], schema=schema, preserve_index=False)
    arrays = [arrow_column(frame[f.name], f.type, (coded or {}).get(f.name)) for f in schema]
    return pa.Table.from_arrays(arrays, schema=empty.schema)


def arrow_column(
    column: pd.Series, arrow_type: pa.DataType | None = None, coded: Coded | None = None
) -> pa.Array:
    """``column`` as ``pa.array(column, arrow_type, from_pandas=True)`` converts it, for less.

    Text is converted from its codes (``coded``, else :func:`run_codes`), once per distinct value; float and
    datetime values of the column's own type are wrapped without a copy, NaN and NaT as nulls.
    """
    if coded is None and column.dtype == object:
        coded = Coded(*run_codes(column))
    if coded is not None:
        return coded.arrow(arrow_type)
    own_type = pa.array(column.iloc[:0], from_pandas=True).type
    if arrow_type is None or arrow_type == own_type:
        if column.dtype.kind == "M":
            values = column.array.asi8
            return with_nulls(own_type, values, values == NAT)
        if column.dtype in (np.float32, np.float64):
            values = column.to_numpy()
            return with_nulls(own_type, values, np.isnan(values))
    return pa.array(column, type=arrow_type, from_pandas=True)


def with_nulls(arrow_type: pa.DataType, values: np.ndarray, missing: np.ndarray) -> pa.Array:
    """Fixed-width ``values`` as an Arrow array of ``arrow_type`` on the same memory, null where ``missing``."""
    values = np.ascontiguousarray(values)
    validity = pa.py_buffer(np.packbits(~missing, bitorder="little")) if missing.any() else None
    return pa.Array.from_buffers(arrow_type, len(values), [validity, pa.py_buffer(values)])


def combined_key(major: np.ndarray, minor: np.ndarray) -> np.ndarray | None:
    """One int64 key ordered as (``major``, ``minor``), or None when it could overflow."""
    if len(minor) == 0:
        return major.astype(np.int64)
    low, high = int(minor.min()), int(minor.max())
    span = high - low + 1
    if int(major.max()) * span + span >= 2**62 or int(major.min()) < 0:
        return None
    return major.astype(np.int64) * span + (minor.astype(np.int64) - low)


def stable_order(*keys: np.ndarray) -> np.ndarray:
    """``np.lexsort`` of integer ``keys`` given major first; neighbouring keys are merged into one where they fit.

    Keys are merged from the minor end, so the rows of a frame made of sorted parts are first sorted by a minor key
    that is nearly in order already, and then by a major key that is a few sorted runs: a stable sort of either is
    a cheap merge of runs, where ``np.lexsort`` would sort every key from scratch.
    """
    merged: list[np.ndarray] = []
    for key in reversed(keys):
        if merged:
            combined = combined_key(key, merged[0])
            if combined is not None:
                merged[0] = combined
                continue
        merged.insert(0, np.asarray(key, dtype=np.int64))
    if len(merged) == 1:
        return np.argsort(merged[0], kind="stable")
    return np.lexsort(merged[::-1])


def repeats(*keys: np.ndarray) -> np.ndarray:
    """Per row of ``keys`` sorted together, whether the row before it has the same value in every key."""
    is_repeat = np.zeros(len(keys[0]), dtype=bool)
    is_repeat[1:] = True
    for key in keys:
        is_repeat[1:] &= key[1:] == key[:-1]
    return is_repeat


def repeat_is_same(
    is_repeat: np.ndarray, columns: list[np.ndarray], order: np.ndarray | None = None
) -> np.ndarray:
    """Per repeat (:func:`repeats`), whether each of its values equals the one of its run's first row.

    Args:
        is_repeat: per sorted row, whether it repeats the keys of the row before.
        columns: the values compared, one array per column; a missing value equals a missing value.
        order: the sorted rows' positions in ``columns``, when the columns are not in sorted order.
    """
    first = np.maximum.accumulate(np.where(is_repeat, 0, np.arange(len(is_repeat))))
    repeat = np.flatnonzero(is_repeat)
    rows, kept_rows = (repeat, first[repeat]) if order is None else (order[repeat], order[first[repeat]])
    same = np.ones(len(repeat), dtype=bool)
    for values in columns:
        value, kept = values[rows], values[kept_rows]
        same &= (value == kept) | (pd.isna(value) & pd.isna(kept))
    return same


def group_sums(values: np.ndarray, first: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sum and the count of the non-NaN values of each group of consecutive rows; NaN for a group without.

    The sum is compensated (Kahan) and taken in row order, as pandas' grouped sum, so results agree to the last
    bit. Groups are short (the slots of an hour), so the loop runs over positions within a group.
    """
    total = np.zeros(len(first))
    compensation = np.zeros(len(first))
    count = np.zeros(len(first), dtype=np.int64)
    for k in range(int(size.max()) if len(size) else 0):
        group = np.flatnonzero(size > k)
        value = values[first[group] + k]
        present = ~np.isnan(value)
        group, value = group[present], value[present]
        y = value - compensation[group]
        t = total[group] + y
        error = t - total[group] - y
        compensation[group] = np.where(np.isfinite(error), error, 0.0)
        total[group] = t
        count[group] += 1
    return np.where(count > 0, total, np.nan), count
