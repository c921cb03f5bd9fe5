"""Parse a meter-readings file into staged canonical rows and quarantine.

Row-level rules applied here (:func:`row_checks`, which the service's readings API applies too): required fields,
well-formed home ids, number and timestamp parsing, declared units and time zones, and future timestamps. Rules that need a home's whole series (duplicates, grid alignment, ranges per interval) run when
the bucket is built (:mod:`data_prep.processed_zone`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from contracts.schemas import EXPORT_KWH, HOME_ID, KWH, PARSED_READINGS, PV_KWH, TS, Reason
from contracts.storage import Lake
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
from data_prep.ingest.staging import BucketWriter, QuarantineLog, bucket_order, row_records, staged_dir
from data_prep.ingest.table_reader import RowBatch, read_batches
from data_prep.quality.rules import ReadingRules

# PARSED_READINGS plus whether ``kwh`` still holds mean power, converted once the interval is known.
STAGED_READINGS = PARSED_READINGS.append(pa.field("is_mean_kw", pa.bool_(), nullable=False))


@dataclass(frozen=True)
class ParsedFile:
    """The outcome of parsing one file.

    Attributes:
        rows_in: rows read, malformed lines included.
        rows_staged: rows that passed row validation.
        quarantine: the file's quarantined rows.
        buckets: the home buckets it touched.
    """

    rows_in: int
    rows_staged: int
    quarantine: pa.Table
    buckets: tuple[int, ...]


@dataclass(frozen=True)
class FileContext:
    """What identifies a file being parsed."""

    source_file: str
    sha256: str
    ingest_seq: int


def parse_readings_file(
    lake: Lake,
    raw_path: str,
    context: FileContext,
    spec: SourceSpec,
    rules: ReadingRules,
    n_buckets: int,
    now: datetime,
    block_bytes: int = 16 << 20,
) -> ParsedFile:
    """Stage the valid rows of a raw readings file by bucket and collect its quarantine.

    Invariants:
        Every row of the file is counted once: ``rows_in == rows_staged + quarantine.num_rows``.
    """
    constants = {
        "source_file": context.source_file,
        "ingest_seq": context.ingest_seq,
        "is_mean_kw": spec.is_power,
    }
    folder = staged_dir(lake, "readings", context.sha256)
    writer = BucketWriter(lake, folder, STAGED_READINGS, n_buckets, constants)
    log = QuarantineLog("readings", context.source_file)
    rows_in = rows_staged = 0
    repeated: set[tuple[Any, Any]] = set()  # DST's repeated hour, per home, across the file's batches
    try:
        for batch in read_batches(lake.fs, raw_path, block_bytes):
            rows_in += len(batch.malformed)
            _quarantine_malformed(batch, log)
            staged, row_buckets, n_records = _parse_batch(
                batch, context, spec, rules, now, n_buckets, log, repeated
            )
            rows_in += n_records
            rows_staged += staged.num_rows
            writer.write(staged, row_buckets)
        buckets = writer.commit()
    except BaseException:
        writer.abort()
        raise
    return ParsedFile(rows_in, rows_staged, log.table(), tuple(buckets))


def _quarantine_malformed(batch: RowBatch, log: QuarantineLog) -> None:
    if batch.malformed:
        log.add(
            np.array([Reason.MALFORMED_ROW.value] * len(batch.malformed), dtype=object),
            np.array([m.line if m.line is not None else -1 for m in batch.malformed]),
            [m.text for m in batch.malformed],
            [m.detail for m in batch.malformed],
        )


def _parse_batch(
    batch: RowBatch,
    context: FileContext,
    spec: SourceSpec,
    rules: ReadingRules,
    now: datetime,
    n_buckets: int,
    log: QuarantineLog,
    repeated: set[tuple[Any, Any]],
) -> tuple[pa.Table, np.ndarray, int]:
    """The batch's valid rows grouped by bucket, their buckets, and how many records the batch held (a wide row
    holds one per key column)."""
    no_rows = pa.table({}), np.empty(0, np.int64), batch.table.num_rows
    try:
        canon = apply_spec(batch.table, spec)
    except SpecError as err:
        _quarantine_all(batch, log, str(err))
        return no_rows
    table, lines = canon.table, batch.lines[canon.row]
    missing = [c for c in (HOME_ID, TS, KWH) if c not in table.column_names]
    if missing:
        _quarantine_all(batch, log, f"required columns absent: {missing}")
        return no_rows
    verdicts, parsed, homes = _judge(table, spec, rules, now, repeated)
    failed = verdicts.failed
    bad = np.flatnonzero(failed)
    if len(bad):
        source_rows = canon.row[bad]
        log.add(
            verdicts.reasons[bad],
            lines[bad],
            row_records(batch.table, source_rows),
            verdicts.details[bad],
            table[HOME_ID].take(pa.array(bad)).to_pylist(),
            parsed[TS].take(pa.array(bad)),
        )
    rows, buckets = bucket_order(homes, np.flatnonzero(~failed), n_buckets)
    take = pa.array(rows)
    # The columns constant over the file are the writer's (``parse_readings_file``).
    staged = pa.table(
        {
            HOME_ID: homes.take(take),
            TS: parsed[TS].take(take),
            KWH: pa.array(parsed[KWH][rows]),
            PV_KWH: pa.array(parsed[PV_KWH][rows]),
            EXPORT_KWH: pa.array(parsed[EXPORT_KWH][rows]),
            "line": pa.array(lines[rows], pa.int64()),
        }
    )
    return staged, buckets, table.num_rows


class CheckedRows(NamedTuple):
    """The outcome of :func:`row_checks`, one entry per row of the table checked.

    Attributes:
        reasons: the first :class:`~contracts.schemas.Reason` value the row failed, or ``None`` when it passed.
        details: what exactly failed, for the quarantine's ``detail``, or ``None``.
        parsed: ``ts`` (``TS_TYPE`` array, null where bad) and ``kwh``, ``pv_kwh``, ``export_kwh`` [kWh, or mean kW
            while the spec declares power; float64 arrays, NaN where absent or bad].
    """

    reasons: np.ndarray
    details: np.ndarray
    parsed: dict[str, Any]


def row_checks(
    table: pa.Table,
    spec: SourceSpec,
    rules: ReadingRules,
    now: datetime,
    repeated: set[tuple[Any, Any]] | None = None,
) -> CheckedRows:
    """Apply the readings contract's row rules to a batch in canonical column names.

    The rules, in the order a row is judged (its first failure is its reason):

    - ``home_id`` is present (``missing_field``) and holds no control characters (``malformed_row``: pandas hashes
      text only up to a NUL, so ``"h1\\x00x"`` would be merged with ``"h1"``);
    - ``ts`` is present, parses, exists in the declared zone, and fits microseconds exactly (``missing_field``,
      ``bad_timestamp``, ``nonexistent_local_time``; see :func:`~data_prep.ingest.columns.to_utc`);
    - ``kwh`` is present and ``kwh``, ``pv_kwh``, ``export_kwh`` are finite numbers when present (``missing_field``,
      ``bad_number``); null, NaN, blank and ``NaN``/``null``/``None``… text are all missing
      (:func:`~data_prep.ingest.columns.to_float`);
    - ``ts`` is not later than ``now`` + ``rules.max_future_minutes`` (``future_timestamp``).

    Args:
        table: the rows, with ``home_id``, ``ts`` and ``kwh`` (text or typed) and optionally ``pv_kwh``, ``export_kwh``.
        spec: the file's declarations: time zone of naive times, energy unit.
        rules: the reading rules (``max_future_minutes``).
        now: the time the future rule measures from [UTC].
        repeated: DST's repeated hours met in earlier batches of the same file, per home (updated in place); see
            :func:`~data_prep.ingest.columns.to_utc`.

    Invariants:
        A row's outcome depends on its own values only, except for a naive time that DST repeats, which is resolved
        by its order within its home (``to_utc``). Readings sent to the service's API are judged by this function too.
    """
    verdicts, parsed, _ = _judge(table, spec, rules, now, repeated)
    return CheckedRows(verdicts.reasons, verdicts.details, parsed)


class _Judged(NamedTuple):
    """What :func:`row_checks` finds, as :func:`_parse_batch` uses it: the verdicts, the parsed values, and the
    home ids, dictionary-encoded (null where absent)."""

    verdicts: RowVerdicts
    parsed: dict[str, Any]
    homes: pa.DictionaryArray


def _judge(
    table: pa.Table,
    spec: SourceSpec,
    rules: ReadingRules,
    now: datetime,
    repeated: set[tuple[Any, Any]] | None,
) -> _Judged:
    n = table.num_rows
    verdicts = RowVerdicts.passing(n)
    # Each distinct home is judged once; a null home's code is -1, which picks the appended last entry.
    encoded = pc.dictionary_encode(table[HOME_ID].cast(pa.string()).combine_chunks())
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    empty = np.append(is_missing(encoded.dictionary), True)[codes]
    verdicts.fail(empty, Reason.MISSING_FIELD, "home_id is empty")
    control = np.append(has_control_characters(encoded.dictionary), False)[codes]
    verdicts.fail(control, Reason.MALFORMED_ROW, "home_id holds control characters")
    # The DST rule groups by home id, not by this batch's codes, so that it carries over to the next batch.
    home_ids = np.append(encoded.dictionary.to_numpy(zero_copy_only=False), np.array([None], dtype=object))
    ts, ts_reasons, ts_details = to_utc(table[TS], spec.timezone, home_ids[codes], repeated)
    unparsed = np.flatnonzero(np.asarray(ts.isna()))  # to_utc gives a reason only with a NaT
    on_ts = np.zeros(n, dtype=bool)
    for reason in (Reason.MISSING_FIELD, Reason.BAD_TIMESTAMP, Reason.NONEXISTENT_LOCAL_TIME):
        on_ts[unparsed] = ts_reasons[unparsed] == reason.value
        verdicts.fail(on_ts, reason, f"ts: {reason.value.replace('_', ' ')}")
    precise = unparsed[pd.notna(ts_details[unparsed])]
    # The row failed on its ts, not on a rule before.
    precise = precise[verdicts.reasons[precise] == ts_reasons[precise]]
    verdicts.details[precise] = ts_details[precise]
    factor = 1.0 if spec.is_power else spec.kwh_factor(1.0)
    parsed: dict[str, Any] = {TS: pa.array(ts, PARSED_READINGS.field(TS).type)}
    for column, required in ((KWH, True), (PV_KWH, False), (EXPORT_KWH, False)):
        if column not in table.column_names:
            parsed[column] = np.full(n, np.nan)
            continue
        values, absent, bad = to_float(table[column])
        if required:
            verdicts.fail(absent, Reason.MISSING_FIELD, f"{column} is missing (empty, null or NaN)")
        verdicts.fail(bad, Reason.BAD_NUMBER, f"{column} is not a finite number")
        parsed[column] = values * factor
    horizon = pd.Timestamp(now) + pd.Timedelta(minutes=rules.max_future_minutes)
    with np.errstate(invalid="ignore"):
        future = np.asarray(ts > horizon)
    verdicts.fail(future, Reason.FUTURE_TIMESTAMP, f"interval starts after {horizon.isoformat()}")
    return _Judged(verdicts, parsed, encoded)


def _quarantine_all(batch: RowBatch, log: QuarantineLog, detail: str) -> None:
    rows = np.arange(batch.table.num_rows)
    log.add(
        np.array([Reason.MISSING_FIELD.value] * len(rows), dtype=object),
        batch.lines,
        row_records(batch.table, rows),
        [detail] * len(rows),
    )
