"""Parse the small tabular sources (bills, weather, prices) into typed frames, quarantining bad rows.

Each source is described by a :class:`TableContract`: its columns, their kinds, which are required, its key, and
its range rules. Duplicates on the key are resolved across all files when the processed table is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from contracts.schemas import (
    GHI_W_M2,
    HOME_ID,
    LAT,
    LON,
    PRICE_AREA,
    PRICE_EUR_MWH,
    TEMP_C,
    TS,
    WEATHER_OPTIONAL,
    Reason,
)
from data_prep.ingest.columns import (
    RowVerdicts,
    SpecError,
    apply_spec,
    has_control_characters,
    is_missing,
    to_float,
    to_utc,
)
from data_prep.ingest.source_spec import SourceSpec
from data_prep.ingest.staging import QuarantineLog, row_records
from data_prep.ingest.table_reader import RowBatch
from data_prep.sorted_runs import repeat_is_same, repeats, stable_order

Kind = Literal["text", "ts", "date", "number"]


@dataclass(frozen=True)
class TableContract:
    """The columns of a tabular source.

    Attributes:
        columns: canonical name → (kind, required).
        key: the columns that identify a row; a repeat is a duplicate.
        ranges: closed ranges per numeric column, in canonical units.
    """

    columns: dict[str, tuple[Kind, bool]]
    key: tuple[str, ...]
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)


BILLS = TableContract(
    {
        HOME_ID: ("text", True),
        "period_start": ("date", True),
        "period_end": ("date", True),
        "kwh": ("number", True),
    },
    key=(HOME_ID, "period_start", "period_end"),
)
WEATHER = TableContract(
    {
        LAT: ("number", True),
        LON: ("number", True),
        TS: ("ts", True),
        TEMP_C: ("number", True),
        GHI_W_M2: ("number", True),
        **{c: ("number", False) for c in WEATHER_OPTIONAL},
    },
    key=(LAT, LON, TS),
)
PRICES = TableContract(
    {PRICE_AREA: ("text", True), TS: ("ts", True), PRICE_EUR_MWH: ("number", True)}, key=(PRICE_AREA, TS)
)


def parse_table_batch(
    batch: RowBatch, contract: TableContract, spec: SourceSpec, log: QuarantineLog
) -> tuple[pd.DataFrame, int]:
    """Typed rows of one batch, and how many records it held; failing rows go to ``log`` with line and reason.

    A record is a row of the contract: a wide file's row holds one record per key column.
    """
    try:
        canon = apply_spec(batch.table, spec)
    except SpecError as err:
        _reject_all(batch, log, str(err))
        return pd.DataFrame(), batch.table.num_rows
    table, lines = canon.table, batch.lines[canon.row]
    absent_required = [c for c, (_, req) in contract.columns.items() if req and c not in table.column_names]
    if absent_required:
        _reject_all(batch, log, f"required columns absent: {absent_required}")
        return pd.DataFrame(), batch.table.num_rows
    n = table.num_rows
    verdicts = RowVerdicts.passing(n)
    out: dict[str, object] = {}
    for name, (kind, required) in contract.columns.items():
        if name not in table.column_names:
            out[name] = np.full(n, np.nan)
            continue
        values, absent, bad = _parse_column(table[name], kind, spec)
        if required:
            verdicts.fail(absent, Reason.MISSING_FIELD, f"{name} is empty")
        verdicts.fail(bad, *_BAD_VALUE[kind](name))
        out[name] = _convert(name, values, spec)
    for name, (low, high) in contract.ranges.items():
        values = np.asarray(out[name], dtype=float)
        with np.errstate(invalid="ignore"):
            outside = (values < low) | (values > high)
        verdicts.fail(outside, Reason.OUT_OF_RANGE, f"{name} outside [{low}, {high}]")
    frame = pd.DataFrame(out, copy=False)  # the arrays are this frame's own: no copy into one 2-D block
    frame["line"] = lines
    bad_rows = np.flatnonzero(verdicts.failed)
    if len(bad_rows) == 0:
        return frame, n
    log.add(
        verdicts.reasons[bad_rows],
        lines[bad_rows],
        row_records(batch.table, canon.row[bad_rows]),
        verdicts.details[bad_rows],
    )
    return frame.iloc[np.flatnonzero(~verdicts.failed)].reset_index(drop=True), n


# The reason and detail of a present value that fails its kind. A text value fails with a control character: text
# columns are keys (home_id, price_area), and pandas hashes text only up to a NUL, merging "h1\x00x" with "h1".
_BAD_VALUE: dict[Kind, Callable[[str], tuple[Reason, str]]] = {
    "number": lambda name: (Reason.BAD_NUMBER, f"{name} is not a finite number"),
    "ts": lambda name: (Reason.BAD_TIMESTAMP, f"{name} is not a timestamp"),
    "date": lambda name: (Reason.BAD_TIMESTAMP, f"{name} is not a date"),
    "text": lambda name: (Reason.MALFORMED_ROW, f"{name} holds control characters"),
}


def _parse_column(
    column: pa.ChunkedArray, kind: Kind, spec: SourceSpec
) -> tuple[object, np.ndarray, np.ndarray]:
    """Values of one kind, ``absent`` (null, blank or a missing token) and ``bad`` (present but not of the kind)."""
    if kind == "number":
        return to_float(column)
    if kind == "ts":
        ts, reasons, _ = to_utc(column, spec.timezone)
        unparsed = np.flatnonzero(np.asarray(ts.isna()))  # to_utc gives a reason only with a NaT
        absent, bad = np.zeros(len(ts), dtype=bool), np.zeros(len(ts), dtype=bool)
        absent[unparsed] = reasons[unparsed] == Reason.MISSING_FIELD.value
        bad[unparsed] = pd.notna(reasons[unparsed]) & ~absent[unparsed]
        return ts, absent, bad
    arrow_text = column.cast(pa.string())
    absent = is_missing(arrow_text)
    text = pd.Series(arrow_text.to_pandas(), dtype=object)
    if kind == "date":
        parsed = pd.to_datetime(text.where(~absent), errors="coerce", format="ISO8601")
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert(None)
        return parsed.dt.normalize(), absent, parsed.isna().to_numpy() & ~absent
    return text.str.strip().to_numpy(), absent, has_control_characters(arrow_text) & ~absent


def _convert(name: str, values: object, spec: SourceSpec) -> object:
    """Declared units to canonical ones: energy to kWh, °F to °C, another currency to EUR."""
    if name == "kwh":
        return np.asarray(values) * spec.kwh_factor(1.0)
    if name == TEMP_C and spec.temperature_unit == "f":
        return (np.asarray(values) - 32.0) * 5.0 / 9.0
    if name == PRICE_EUR_MWH:
        return np.asarray(values) * spec.eur_per_unit
    return values


def _reject_all(batch: RowBatch, log: QuarantineLog, detail: str) -> None:
    rows = np.arange(batch.table.num_rows)
    log.add(
        np.array([Reason.MISSING_FIELD.value] * len(rows), dtype=object),
        batch.lines,
        row_records(batch.table, rows),
        [detail] * len(rows),
    )


def resolve_duplicates(
    frame: pd.DataFrame, contract: TableContract, value_columns: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep the first-ingested row per key; repeats go to quarantine as duplicate or conflicting_duplicate.

    Rows come back sorted by the key, then ``ingest_seq`` and ``line`` (``sort_values``' order, missing keys last).
    The sort runs on integer codes of the key columns, and repeats are found between sorted neighbours: hashing
    and sorting the columns themselves cost more than the rest of a weather file's rebuild.
    """
    if frame.empty:
        return frame, frame.assign(reason=pd.Series(dtype=object))
    codes = [_sort_codes(frame[k]) for k in contract.key]
    order = stable_order(*codes, frame["ingest_seq"].to_numpy(), frame["line"].to_numpy())
    frame = frame.take(order) if (order[1:] < order[:-1]).any() else frame.copy(deep=False)
    frame.index = pd.RangeIndex(len(frame))
    repeat = repeats(*(code[order] for code in codes))
    if not repeat.any():
        return frame, frame.iloc[:0].assign(reason=pd.Series(dtype=object))
    same = repeat_is_same(repeat, [frame[c].to_numpy() for c in value_columns])
    dropped = frame[repeat].assign(
        reason=np.where(same, Reason.DUPLICATE.value, Reason.CONFLICTING_DUPLICATE.value)
    )
    kept = frame[~repeat]
    kept.index = pd.RangeIndex(len(kept))
    return kept, dropped


def _sort_codes(column: pd.Series) -> np.ndarray:
    """Integer codes in the column's sort order, missing values last and equal to each other."""
    codes, uniques = pd.factorize(column, sort=True)
    return np.where(codes < 0, len(uniques), codes)
