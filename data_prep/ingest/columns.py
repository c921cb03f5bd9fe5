"""Turn text or typed input columns into canonical values: the spec's mapping, numbers and UTC timestamps.

Every function reports which rows failed and why instead of raising, so one bad value quarantines one row.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from contracts.schemas import TS_TYPE, Reason
from data_prep.ingest.source_spec import SourceSpec

# A UTC offset at the end of a timestamp, in RE2 for arrow: a digit is any Unicode decimal digit and ``\n?$``
# allows one final newline, as Python's ``\d`` and ``$`` do.
_OFFSET_PATTERN = r"(?:Z|z|[+-]\p{Nd}\p{Nd}(?::?\p{Nd}\p{Nd})?)\n?$"


@dataclass
class Canonical:
    """A batch in canonical column names; ``row`` maps each row to the input row it came from."""

    table: pa.Table
    row: np.ndarray


@dataclass
class RowVerdicts:
    """Each row's first failed rule: its reason value and detail, ``None`` while it passes.

    ``failed`` says which rows failed already: a mask is far cheaper to test than ``pd.isna`` over ``reasons``.
    """

    reasons: np.ndarray
    details: np.ndarray
    failed: np.ndarray

    @classmethod
    def passing(cls, n: int) -> RowVerdicts:
        # np.empty fills objects with None, in half the time of np.full
        return cls(np.empty(n, dtype=object), np.empty(n, dtype=object), np.zeros(n, dtype=bool))

    def fail(self, mask: np.ndarray, reason: Reason, detail: str) -> None:
        """Fail the rows of ``mask`` that passed so far with ``reason`` and ``detail``."""
        rows = np.flatnonzero(np.asarray(mask, dtype=bool) & ~self.failed)
        self.reasons[rows] = reason.value
        self.details[rows] = detail
        self.failed[rows] = True


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
    """Numbers from a column, text or typed, with one rule for what is missing.

    A value is *absent* when it is null, NaN, blank, or one of :data:`MISSING_TOKENS` (``NaN``, ``null``, ``None``,
    ``NA``…, in any case, surrounding spaces ignored): a CSV cell, a Parquet text cell and a Parquet float NaN that
    mean "no value" all read as absent. A present value that is not a finite number (text, ``inf``, an overflow such
    as ``1e400``) is *bad*.

    Returns:
        values [float64, NaN where absent or bad], ``absent``, ``bad``.
    """
    if pa.types.is_floating(column.type) or pa.types.is_integer(column.type):
        values = column.to_numpy(zero_copy_only=False).astype(np.float64)
        absent = np.isnan(values)
    else:
        text = column.cast(pa.string())
        values = _text_to_float(text)
        absent = np.asarray(text.is_null().to_numpy(zero_copy_only=False), dtype=bool).copy()
        unparsed = np.flatnonzero(np.isnan(values) & ~absent)  # a missing marker is NaN here; test only those
        absent[unparsed] = is_missing(text.take(pa.array(unparsed)))
    bad = ~absent & ~np.isfinite(values)
    return np.where(absent | bad, np.nan, values), absent, bad


# A decimal number, with the ASCII white space around it that pandas' parser also skips. Arrow's cast reads every
# such text; the spellings of infinity and NaN are left out, as they are not finite numbers anyway.
_DECIMAL_PATTERN = r"^[\t\n\v\f\r ]*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[\t\n\v\f\r ]*$"


def _text_to_float(text: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Text as numbers, NaN where a value is not a number [float64].

    Invariants:
        A value's number does not depend on the other values of the column: arrow's cast reads every value,
        directly where a whole chunk casts, and after :data:`_DECIMAL_PATTERN` picks the decimal texts elsewhere.
    """
    numbers, failed = _cast_by_chunks(text, pa.float64())
    values = np.array(numbers.to_numpy(zero_copy_only=False), dtype=np.float64)  # a writable copy
    rows = np.flatnonzero(failed)
    if len(rows):
        rest = text.take(pa.array(rows))
        decimal = pc.match_substring_regex(rest, _DECIMAL_PATTERN)
        decimals = pc.ascii_trim_whitespace(pc.if_else(decimal, rest, None))
        values[rows] = pc.cast(decimals, pa.float64()).to_numpy(zero_copy_only=False)
    return values


# Rows cast together: a value that does not cast sends only its chunk to the slower fallback; a chunk that fails is
# cast again in pieces, so that only the pieces with a bad value take the fallback.
_CAST_CHUNK_ROWS = 4096
_CAST_PIECE_ROWS = 1024


def _cast_by_chunks(
    text: pa.ChunkedArray | pa.Array, target: pa.DataType, rows: int = _CAST_CHUNK_ROWS
) -> tuple[pa.ChunkedArray, np.ndarray]:
    """``text`` cast to ``target`` chunk by chunk (of ``rows``); null throughout a chunk or piece that does not
    cast, which ``failed`` marks [per row]."""
    parts: list[pa.Array] = []
    failed = np.zeros(len(text), dtype=bool)
    for start in range(0, len(text), rows):
        chunk = text.slice(start, rows)
        try:
            # Arrow's cast reads every value even after one failed, about a microsecond for each failure: a chunk
            # whose first value does not cast (naive local times, say) goes to the fallback without that cost.
            pc.cast(chunk.slice(0, 1), target)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            parts.append(pa.nulls(len(chunk), target))
            failed[start : start + len(chunk)] = True
            continue
        try:
            cast = pc.cast(chunk, target)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            if rows <= _CAST_PIECE_ROWS:
                cast = pa.nulls(len(chunk), target)
                failed[start : start + len(chunk)] = True
            else:
                cast, failed[start : start + len(chunk)] = _cast_by_chunks(chunk, target, _CAST_PIECE_ROWS)
        parts.extend(cast.chunks if isinstance(cast, pa.ChunkedArray) else [cast])
    return pa.chunked_array(parts, target), failed


def _case_variants(token: str) -> set[str]:
    return {"".join(chars) for chars in itertools.product(*({c.lower(), c.upper()} for c in token))}


# What writers put in a cell for "no value": pyarrow's CSV null markers (the CSV reader already reads them as null)
# and the spellings of NaN and None. Every case variant is listed so that one hash lookup finds them: lower-casing
# a whole column first would cost more than the rest of the row checks.
MISSING_TOKENS = (
    "", "nan", "-nan", "+nan", "null", "none", "na", "n/a", "#n/a", "#n/a n/a", "#na",
    "-1.#ind", "-1.#qnan", "1.#ind", "1.#qnan",
)  # fmt: skip


@functools.cache
def _missing_value_set() -> pa.Array:
    return pa.array(sorted(set().union(*(_case_variants(t) for t in MISSING_TOKENS))), pa.string())


def is_missing(text: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """True where a text value is null, only white space, or one of :data:`MISSING_TOKENS` in any case."""
    marker = pc.is_in(pc.utf8_trim_whitespace(text), value_set=_missing_value_set())  # False where null
    return np.asarray(pc.or_(marker, pc.is_null(text)).to_numpy(zero_copy_only=False), dtype=bool)


# Unicode's control characters (category Cc: C0, DEL and C1), as a pattern that RE2 (pyarrow) and ``re`` both read.
CONTROL_CHARACTERS = r"[\x00-\x1f\x7f-\x9f]"


def has_control_characters(text: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """True where a text value holds a control character (False where null).

    An identifier with one is malformed: pandas hashes object strings only up to the first NUL, so ``"h1\\x00x"``
    would group, deduplicate and join as ``"h1"``.
    """
    matches = pc.fill_null(pc.match_substring_regex(text, CONTROL_CHARACTERS), False)
    return np.asarray(matches.to_numpy(zero_copy_only=False), dtype=bool)


def to_utc(
    column: pa.ChunkedArray | pa.Array,
    timezone: str | None,
    group: np.ndarray | None = None,
    repeated: set[tuple[Any, Any]] | None = None,
) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray]:
    """UTC timestamps from ISO 8601 text with an offset, or naive text in a declared ``timezone``.

    Args:
        column: the timestamps as text (any number of fractional digits), or a timestamp column of any unit.
        timezone: the IANA zone of naive timestamps; without it a naive timestamp is a bad timestamp.
        group: the series each row belongs to (the home); a repeated autumn hour is resolved per series.
        repeated: the (series, local time) pairs of DST's repeated hour met in earlier batches of the same file;
            updated in place. With it, a repeated hour whose two occurrences fall in different batches is still
            read as summer time, then standard time; without it, the rule looks within this batch only.

    Returns:
        the timestamps at microsecond resolution (NaT where bad); per row, ``None`` or the :class:`Reason` it failed
        with (only ever with a NaT); per row, ``None`` or a detail more precise than the reason.

    Invariants:
        - A naive local time that DST repeats takes its first occurrence in a series as summer time and the second
          as standard time, in file order; a naive local time that DST skips is a ``nonexistent_local_time``.
        - A timestamp is kept exactly or not at all: one with non-zero digits finer than a microsecond (nanosecond
          text or ``timestamp[ns]``) is a ``bad_timestamp``, never rounded; so is one outside pandas' nanosecond
          range (1677-09-21 to 2262-04-11), whichever parser read it. Apart from the DST rule, a row's outcome does
          not depend on the other rows of its batch.
    """
    n = len(column)
    reasons = np.empty(n, dtype=object)  # None throughout, like details
    if pa.types.is_timestamp(column.type):
        return _at_microseconds(*_typed_timestamps(column, timezone, group, reasons, repeated))
    text = column.cast(pa.string())
    details = np.empty(n, dtype=object)
    stamps, failed = _cast_by_chunks(text, TS_TYPE)
    micros = np.array(stamps.to_numpy(zero_copy_only=False).view(np.int64))  # a writable copy
    # A chunk that cast parsed every present value, so a NaT in it is a null.
    reasons[(micros == _NAT) & ~failed] = Reason.MISSING_FIELD.value
    rows = np.flatnonzero(failed)
    if len(rows):
        # Most rows of a chunk with a bad stamp still have the usual form: parse those fast, the rest slowly.
        fast = pc.strptime(
            text.take(pa.array(rows)), format="%Y-%m-%dT%H:%M:%S%z", unit="us", error_is_null=True
        )
        micros[rows] = fast.to_numpy(zero_copy_only=False).view(np.int64)
        rest = rows[pc.is_null(fast).to_numpy(zero_copy_only=False)]
        if len(rest):
            rest_group = None if group is None else group[rest]
            slow, reasons[rest], details[rest] = _at_microseconds(
                *_parse_text(text.take(pa.array(rest)), timezone, rest_group, repeated)
            )
            micros[rest] = slow.asi8
    outside = (micros != _NAT) & ((micros < _EARLIEST.value // 1000) | (micros > _LATEST.value // 1000))
    micros[outside] = _NAT
    reasons[outside] = Reason.BAD_TIMESTAMP.value
    details[outside] = OUTSIDE_TIME_RANGE
    utc = pd.DatetimeIndex(micros.view("M8[us]")).tz_localize("UTC")
    return utc, reasons, details


# Every timestamp the pipeline keeps fits pandas' default nanosecond range (1677-09-21 to 2262-04-11), whatever path
# parsed it: arrow reads text to microseconds, pandas to nanoseconds, and later steps compute in nanoseconds.
_EARLIEST = pd.Timestamp.min.ceil("us").tz_localize("UTC")
_LATEST = pd.Timestamp.max.floor("us").tz_localize("UTC")
FINER_THAN_MICROSECOND = "ts has digits finer than a microsecond"
OUTSIDE_TIME_RANGE = f"ts is outside {_EARLIEST:%Y-%m-%d}..{_LATEST:%Y-%m-%d}"
_NAT = np.iinfo(np.int64).min  # NaT's integer value, at any unit


def _at_microseconds(
    utc: pd.DatetimeIndex, reasons: np.ndarray
) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray]:
    """``utc`` at microsecond resolution: a value that would change or that falls outside the range is NaT, a
    ``bad_timestamp`` with a detail."""
    details = np.full(len(utc), None, dtype=object)
    known = np.asarray(utc.notna())
    finer = known & (utc.asi8 % 1000 != 0) if utc.unit == "ns" else np.zeros(len(utc), dtype=bool)
    outside = known & np.asarray((utc < _EARLIEST) | (utc > _LATEST))
    for unfit, detail in ((finer, FINER_THAN_MICROSECOND), (outside, OUTSIDE_TIME_RANGE)):
        if unfit.any():
            reasons[unfit] = Reason.BAD_TIMESTAMP.value
            details[unfit] = detail
            utc = pd.DatetimeIndex(utc.where(~unfit))
    return utc.as_unit("us"), reasons, details


def _parse_text(
    text: pa.ChunkedArray | pa.Array,
    timezone: str | None,
    group: np.ndarray | None,
    repeated: set[tuple[Any, Any]] | None = None,
) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Any ISO 8601 form pandas reads, offset or naive [ns]; per row ``None`` or the :class:`Reason` it failed with."""
    n = len(text)
    reasons = np.full(n, None, dtype=object)
    absent = is_missing(text)
    reasons[absent] = Reason.MISSING_FIELD.value
    series = pd.Series(text.to_pandas(), dtype=object)
    has_offset = np.asarray(
        pc.fill_null(pc.match_substring_regex(text, _OFFSET_PATTERN), False).to_numpy(zero_copy_only=False),
        dtype=bool,
    )
    result = pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]")
    if has_offset.any():
        result[has_offset] = pd.to_datetime(series[has_offset], utc=True, format="ISO8601", errors="coerce")
    naive = ~has_offset & ~absent
    if naive.any():
        parsed = pd.to_datetime(series[naive], format="ISO8601", errors="coerce")
        if timezone is None:
            reasons[naive & ~_nat(parsed, naive, n)] = Reason.BAD_TIMESTAMP.value
        else:
            local, local_reasons = _localize(
                parsed, timezone, None if group is None else group[naive], repeated
            )
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
    column: pa.ChunkedArray | pa.Array,
    timezone: str | None,
    group: np.ndarray | None,
    reasons: np.ndarray,
    repeated: set[tuple[Any, Any]] | None = None,
) -> tuple[pd.DatetimeIndex, np.ndarray]:
    values = pd.Series(column.to_pandas())
    reasons[values.isna().to_numpy()] = Reason.MISSING_FIELD.value
    if values.dt.tz is not None:
        return pd.DatetimeIndex(values.dt.tz_convert("UTC")), reasons
    if timezone is None:
        reasons[values.notna().to_numpy()] = Reason.BAD_TIMESTAMP.value
        return pd.DatetimeIndex(pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")), reasons
    local, local_reasons = _localize(values, timezone, group, repeated)
    reasons[pd.notna(local_reasons)] = local_reasons[pd.notna(local_reasons)]
    return pd.DatetimeIndex(local), reasons


def _localize(
    naive: pd.Series, timezone: str, group: np.ndarray | None, repeated: set[tuple[Any, Any]] | None = None
) -> tuple[pd.Series, np.ndarray]:
    """Localize naive wall-clock times, resolving DST's repeated hour by order of appearance (see :func:`to_utc`)."""
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
        if repeated is not None:
            pairs = list(zip(keys["g"], keys["t"], strict=True))
            first &= np.array([pair not in repeated for pair in pairs], dtype=bool)
            repeated.update(pairs)
        flags = np.zeros(len(index), dtype=bool)
        flags[np.flatnonzero(ambiguous)] = first
        resolved = index.tz_localize(timezone, ambiguous=flags, nonexistent="NaT")
        probe = probe.where(~ambiguous, resolved)
    return pd.Series(probe.tz_convert("UTC"), index=naive.index), reasons
