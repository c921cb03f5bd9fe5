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
    reasons = np.full(n, None, dtype=object)
    details = np.full(n, None, dtype=object)
    out: dict[str, object] = {}
    for name, (kind, required) in contract.columns.items():
        if name not in table.column_names:
            out[name] = np.full(n, np.nan)
            continue
        values, absent, bad = _parse_column(table[name], kind, spec)
        _fail(
            reasons,
            details,
            absent if required else np.zeros(n, bool),
            Reason.MISSING_FIELD,
            f"{name} is empty",
        )
        _fail(reasons, details, bad, *_BAD_VALUE[kind](name))
        out[name] = _convert(name, values, spec)
    for name, (low, high) in contract.ranges.items():
        values = np.asarray(out[name], dtype=float)
        with np.errstate(invalid="ignore"):
            outside = (values < low) | (values > high)
        _fail(reasons, details, outside, Reason.OUT_OF_RANGE, f"{name} outside [{low}, {high}]")
    frame = pd.DataFrame(out)
    frame["line"] = lines
    bad_rows = np.flatnonzero(pd.notna(reasons))
    if len(bad_rows):
        log.add(
            reasons[bad_rows],
            lines[bad_rows],
            row_records(batch.table, canon.row[bad_rows]),
            details[bad_rows],
        )
    return frame.iloc[np.flatnonzero(pd.isna(reasons))].reset_index(drop=True), n


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
        return (
            ts,
            reasons == Reason.MISSING_FIELD.value,
            pd.notna(reasons) & (reasons != Reason.MISSING_FIELD.value),
        )
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


def _fail(reasons: np.ndarray, details: np.ndarray, mask: np.ndarray, reason: Reason, detail: str) -> None:
    new = np.asarray(mask, dtype=bool) & pd.isna(reasons)
    reasons[new] = reason.value
    details[new] = detail


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
    """Keep the first-ingested row per key; repeats go to quarantine as duplicate or conflicting_duplicate."""
    if frame.empty:
        return frame, frame.assign(reason=pd.Series(dtype=object))
    frame = frame.sort_values([*contract.key, "ingest_seq", "line"], kind="stable", ignore_index=True)
    repeat = frame.duplicated(list(contract.key), keep="first").to_numpy()
    if not repeat.any():
        return frame, frame.iloc[:0].assign(reason=pd.Series(dtype=object))
    first = frame.drop_duplicates(list(contract.key), keep="first").set_index(list(contract.key))[
        value_columns
    ]
    repeats = frame[repeat]
    kept_values = first.reindex(pd.MultiIndex.from_frame(repeats[list(contract.key)])).to_numpy()
    same = np.all(
        (repeats[value_columns].to_numpy() == kept_values)
        | (pd.isna(repeats[value_columns]).to_numpy() & pd.isna(kept_values)),
        axis=1,
    )
    dropped = repeats.assign(
        reason=np.where(same, Reason.DUPLICATE.value, Reason.CONFLICTING_DUPLICATE.value)
    )
    return frame[~repeat].reset_index(drop=True), dropped
