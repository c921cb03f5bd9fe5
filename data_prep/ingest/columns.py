"""Turn text or typed input columns into canonical values: the spec's mapping, numbers and UTC timestamps.

Every function reports which rows failed and why instead of raising, so one bad value quarantines one row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from contracts.schemas import Reason
from data_prep.ingest.source_spec import SourceSpec

_OFFSET_PATTERN = r"(?:Z|z|[+-]\d\d(?::?\d\d)?)$"


@dataclass
class Canonical:
    """A batch in canonical column names; ``row`` maps each row to the input row it came from."""

    table: pa.Table
    row: np.ndarray


class SpecError(ValueError):
    """The spec does not fit the file (a mapped column is absent); the whole file is unreadable as declared."""


def apply_spec(table: pa.Table, spec: SourceSpec) -> Canonical:
    """Rename, add constants, compose timestamps and melt wide layouts, as ``spec`` declares."""
    rename = {file_col: canonical for canonical, file_col in spec.columns.items()}
    missing = [c for c in rename if c not in table.column_names]
    if missing:
        raise SpecError(f"columns {missing} declared in the spec are not in the file ({table.column_names})")
    table = table.rename_columns([rename.get(c, c) for c in table.column_names])
    row = np.arange(table.num_rows, dtype=np.int64)
    for name, value in spec.constants.items():
        table = table.append_column(name, pa.array([value] * table.num_rows, pa.string()))
    if spec.timestamp is not None:
        table = table.append_column("ts", _compose_timestamp(table, spec))
    if spec.wide is not None:
        table, row = _melt(table, spec)
    return Canonical(table, row)


def _compose_timestamp(table: pa.Table, spec: SourceSpec) -> pa.Array:
    ts_spec = spec.timestamp
    assert ts_spec is not None
    for col in (ts_spec.date_column, ts_spec.hour_column):
        if col not in table.column_names:
            raise SpecError(f"timestamp column {col!r} is not in the file ({table.column_names})")
    dates = pd.to_datetime(
        table[ts_spec.date_column].to_pandas(), format=ts_spec.date_format, errors="coerce"
    )
    hours = pd.to_numeric(table[ts_spec.hour_column].to_pandas(), errors="coerce") - ts_spec.hour_base
    stamps = dates + pd.to_timedelta(hours, unit="h")
    text = stamps.dt.strftime("%Y-%m-%dT%H:%M:%S").where(stamps.notna(), None)
    return pa.array(text, pa.string())


def _melt(table: pa.Table, spec: SourceSpec) -> tuple[pa.Table, np.ndarray]:
    wide = spec.wide
    assert wide is not None
    keys = [c for c in table.column_names if c not in wide.id_columns]
    n = table.num_rows
    columns: dict[str, pa.Array] = {
        c: pa.concat_arrays([table[c].combine_chunks()] * len(keys)) for c in wide.id_columns
    }
    columns[wide.key_name] = pa.array(np.repeat(keys, n), pa.string())
    columns[wide.value_name] = pa.concat_arrays([table[k].combine_chunks().cast(pa.string()) for k in keys])
    return pa.table(columns), np.tile(np.arange(n, dtype=np.int64), len(keys))


def to_float(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Numbers from a column.

    Returns:
        values [float64, NaN where absent or bad], ``absent`` (null or empty), ``bad`` (present but not a number).
    """
    if pa.types.is_floating(column.type) or pa.types.is_integer(column.type):
        values = column.to_numpy(zero_copy_only=False).astype(np.float64)
        absent = np.isnan(values)
        return values, absent, np.zeros(len(values), dtype=bool)
    text = column.cast(pa.string())
    absent = is_blank(text)
    try:
        values = pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
        return values.astype(np.float64), absent, np.zeros(len(values), dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        values = pd.to_numeric(text.to_pandas(), errors="coerce").to_numpy(dtype=np.float64)
        return values, absent, np.isnan(values) & ~absent


def is_blank(text: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """True where a text value is null or only white space."""
    stripped = pc.utf8_trim_whitespace(text)
    return np.asarray(pc.fill_null(pc.equal(stripped, ""), True).to_numpy(zero_copy_only=False), dtype=bool)


def to_utc(
    column: pa.ChunkedArray | pa.Array, timezone: str | None, group: np.ndarray | None = None
) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """UTC timestamps from ISO 8601 text with an offset, or naive text in a declared ``timezone``.

    Args:
        column: the timestamps as text, or a timestamp column.
        timezone: the IANA zone of naive timestamps; without it a naive timestamp is a bad timestamp.
        group: the series each row belongs to (the home); a repeated autumn hour is resolved per series.

    Returns:
        the timestamps (NaT where bad) and, per row, ``None`` or the :class:`Reason` it failed with.

    Invariants:
        A naive local time that DST repeats takes its first occurrence in a series as summer time and the second as
        standard time, in file order; a naive local time that DST skips is a ``nonexistent_local_time``.
    """
    n = len(column)
    reasons = np.full(n, None, dtype=object)
    if pa.types.is_timestamp(column.type):
        return _typed_timestamps(column, timezone, group, reasons)
    text = column.cast(pa.string())
    absent = is_blank(text)
    reasons[absent] = Reason.MISSING_FIELD.value
    try:
        utc = pd.DatetimeIndex(pc.cast(text, pa.timestamp("us", tz="UTC")).to_pandas())
        return utc, reasons
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    # Most rows of a file with a few bad stamps still have the usual form: parse those fast, the rest slowly.
    fast = pc.strptime(text, format="%Y-%m-%dT%H:%M:%S%z", unit="us", error_is_null=True)
    fast_ok = ~np.asarray(pc.is_null(fast).to_numpy(zero_copy_only=False), dtype=bool)
    if fast_ok.all():
        return pd.DatetimeIndex(fast.to_pandas()), reasons
    if fast_ok.any():
        rest = np.flatnonzero(~fast_ok)
        slow, slow_reasons = to_utc(
            text.take(pa.array(rest)), timezone, None if group is None else group[rest]
        )
        result = pd.Series(fast.to_pandas(), dtype="datetime64[ns, UTC]")
        result.iloc[rest] = slow
        reasons[rest] = slow_reasons
        return pd.DatetimeIndex(result), reasons
    series = pd.Series(text.to_pandas(), dtype=object)
    has_offset = series.str.contains(_OFFSET_PATTERN, regex=True, na=False).to_numpy()
    result = pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]")
    if has_offset.any():
        result[has_offset] = pd.to_datetime(series[has_offset], utc=True, format="ISO8601", errors="coerce")
    naive = ~has_offset & ~absent
    if naive.any():
        parsed = pd.to_datetime(series[naive], format="ISO8601", errors="coerce")
        if timezone is None:
            reasons[naive & ~_nat(parsed, naive, n)] = Reason.BAD_TIMESTAMP.value
        else:
            local, local_reasons = _localize(parsed, timezone, None if group is None else group[naive])
            result[naive] = local
            reasons[naive] = np.where(pd.isna(local_reasons), reasons[naive], local_reasons)
    still_bad = result.isna().to_numpy() & pd.isna(reasons)
    reasons[still_bad] = Reason.BAD_TIMESTAMP.value
    return pd.DatetimeIndex(result), reasons


def _nat(parsed: pd.Series, mask: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[np.flatnonzero(mask)] = parsed.isna().to_numpy()
    return out


def _typed_timestamps(
    column: pa.ChunkedArray | pa.Array, timezone: str | None, group: np.ndarray | None, reasons: np.ndarray
) -> tuple[pd.DatetimeIndex, np.ndarray]:
    values = pd.Series(column.to_pandas())
    reasons[values.isna().to_numpy()] = Reason.MISSING_FIELD.value
    if values.dt.tz is not None:
        return pd.DatetimeIndex(values.dt.tz_convert("UTC")), reasons
    if timezone is None:
        reasons[values.notna().to_numpy()] = Reason.BAD_TIMESTAMP.value
        return pd.DatetimeIndex(pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")), reasons
    local, local_reasons = _localize(values, timezone, group)
    reasons[pd.notna(local_reasons)] = local_reasons[pd.notna(local_reasons)]
    return pd.DatetimeIndex(local), reasons


def _localize(naive: pd.Series, timezone: str, group: np.ndarray | None) -> tuple[pd.Series, np.ndarray]:
    """Localize naive wall-clock times, resolving DST's repeated hour by order of appearance."""
    index = pd.DatetimeIndex(naive)
    reasons = np.full(len(index), None, dtype=object)
    probe = index.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    as_dst = index.tz_localize(timezone, ambiguous=True, nonexistent="NaT")
    probe_nat, dst_nat = np.asarray(probe.isna()), np.asarray(as_dst.isna())
    nonexistent: np.ndarray = probe_nat & dst_nat & np.asarray(index.notna())
    ambiguous: np.ndarray = probe_nat & ~dst_nat
    reasons[nonexistent] = Reason.NONEXISTENT_LOCAL_TIME.value
    if ambiguous.any():
        keys = pd.DataFrame({"g": group[ambiguous] if group is not None else 0, "t": index[ambiguous]})
        first = (keys.groupby(["g", "t"]).cumcount() == 0).to_numpy()
        flags = np.zeros(len(index), dtype=bool)
        flags[np.flatnonzero(ambiguous)] = first
        resolved = index.tz_localize(timezone, ambiguous=flags, nonexistent="NaT")
        probe = probe.where(~ambiguous, resolved)
    return pd.Series(probe.tz_convert("UTC"), index=naive.index), reasons
