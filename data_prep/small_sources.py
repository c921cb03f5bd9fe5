"""Profiles, bills, weather and prices: parsed per file, then one processed table each, rebuilt from all active files.

Layout: ``processed/_parsed/<source>/<sha16>/part.parquet`` (a file's valid rows), ``processed/<source>/<source>.parquet``
(the table), ``quarantine/<source>/<sha16>.parquet`` (a file's rejected rows) and
``quarantine/<source>_series/all.parquet`` (duplicates and overlaps found across files).
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from contracts.schemas import HOME_ID, Reason, Source
from contracts.storage import Lake, Zone
from data_prep.ingest.profiles import latest_profiles, parse_profiles, read_documents
from data_prep.ingest.source_spec import SourceSpec
from data_prep.ingest.staging import QuarantineLog, staged_dir, staged_parquet_options
from data_prep.ingest.table_reader import read_batches
from data_prep.ingest.tables import (
    BILLS,
    PRICES,
    WEATHER,
    TableContract,
    parse_table_batch,
    resolve_duplicates,
)
from data_prep.quality.rules import RuleSet

VALUE_COLUMNS = {
    Source.BILLS: ["kwh"],
    Source.WEATHER: ["temp_c", "ghi_w_m2"],
    Source.PRICES: ["price_eur_mwh"],
}


def contract_for(source: Source, rules: RuleSet) -> TableContract:
    if source is Source.BILLS:
        return BILLS
    if source is Source.WEATHER:
        return TableContract(WEATHER.columns, WEATHER.key, dict(rules.weather.ranges))
    return TableContract(PRICES.columns, PRICES.key, dict(rules.prices.ranges))


class StagedFile(NamedTuple):
    """What staging one small file did: its row counts, its quarantine, and the part it staged."""

    rows_in: int
    rows_staged: int
    quarantine: pa.Table
    part: pa.Table


def parse_small_file(
    lake: Lake,
    raw_path: str,
    source: Source,
    source_file: str,
    sha: str,
    seq: int,
    spec: SourceSpec,
    rules: RuleSet,
) -> StagedFile:
    """Stage one file: its valid rows written as its part, its rejected rows in its quarantine."""
    log = QuarantineLog(source.value, source_file)
    if source is Source.PROFILES:
        documents = read_documents(lake.read_bytes(raw_path), raw_path)
        frame = parse_profiles(documents, source_file, seq, log)
        rows_in = len(documents)
    else:
        contract = contract_for(source, rules)
        parts, rows_in = [], 0
        for batch in read_batches(lake.fs, raw_path):
            rows_in += len(batch.malformed)
            if batch.malformed:
                log.add(
                    np.array([Reason.MALFORMED_ROW.value] * len(batch.malformed), dtype=object),
                    np.array([m.line or -1 for m in batch.malformed]),
                    [m.text for m in batch.malformed],
                    [m.detail for m in batch.malformed],
                )
            frame_part, n_records = parse_table_batch(batch, contract, spec, log)
            parts.append(frame_part)
            rows_in += n_records
        filled = [p for p in parts if not p.empty]  # one part (the usual case) is used as it is, not copied
        frame = (
            pd.concat(filled, ignore_index=True) if len(filled) > 1 else next(iter(filled), pd.DataFrame())
        )
        if source is Source.BILLS and not frame.empty:
            frame = _bill_row_checks(frame, rules, log)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if source is not Source.PROFILES:
        # Added as arrow columns: converting a column of one Python string per row would cost more than the frame.
        table = table.append_column("source_file", pa.repeat(pa.scalar(source_file, pa.string()), len(frame)))
        table = table.append_column("ingest_seq", pa.array(np.full(len(frame), seq, dtype=np.int64)))
    path = posixpath.join(staged_dir(lake, source.value, sha), "part.parquet")
    lake.write_table(path, table, **staged_parquet_options(table.schema))
    return StagedFile(rows_in, len(frame), log.table(), table)


def _bill_row_checks(frame: pd.DataFrame, rules: RuleSet, log: QuarantineLog) -> pd.DataFrame:
    days = (frame["period_end"] - frame["period_start"]).dt.days.to_numpy()
    invalid = days <= 0
    with np.errstate(invalid="ignore"):
        out_of_range = ~invalid & (
            (frame["kwh"].to_numpy() < 0) | (frame["kwh"].to_numpy() > rules.bills.max_kwh_per_day * days)
        )
    bad = invalid | out_of_range
    if bad.any():
        reasons = np.where(invalid, Reason.INVALID_PERIOD.value, Reason.OUT_OF_RANGE.value)[bad]
        rows = frame[bad]
        records = (
            rows[HOME_ID]
            + ","
            + rows["period_start"].astype(str)
            + ","
            + rows["period_end"].astype(str)
            + ","
            + rows["kwh"].astype(str)
        ).tolist()
        log.add(reasons, rows["line"].to_numpy(), records, None, rows[HOME_ID].tolist())
    return frame[~bad].reset_index(drop=True)


def build_small_table(
    lake: Lake,
    source: Source,
    active_shas: list[str],
    rules: RuleSet,
    staged: Mapping[str, pa.Table] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rebuild a source's processed table from its active files; returns it and the cross-file quarantine rows.

    Args:
        staged: the parts staged by this run, by file hash (:attr:`StagedFile.part`); the others are read back.
    """
    frames = []
    for sha in active_shas:
        path = posixpath.join(staged_dir(lake, source.value, sha), "part.parquet")
        if staged is not None and sha in staged:
            frames.append(staged[sha].to_pandas())
        elif lake.exists(path):
            frames.append(lake.read_table(path).to_pandas())
    if source is Source.PROFILES:
        table = latest_profiles(frames)
        dropped = pd.DataFrame(columns=["source_file", "line", "reason", HOME_ID])
    else:
        frames = [f for f in frames if not f.empty]
        combined = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if combined.empty:
            return combined, pd.DataFrame(columns=["source_file", "line", "reason"])
        table, dropped = resolve_duplicates(combined, contract_for(source, rules), VALUE_COLUMNS[source])
        if source is Source.BILLS:
            table, overlaps = _overlapping_bills(table)
            dropped = pd.concat([dropped, overlaps], ignore_index=True)
    target = lake.path(Zone.PROCESSED, source.value, f"{source.value}.parquet")
    lake.write_table(target, pa.Table.from_pandas(table, preserve_index=False))
    _write_series_quarantine(lake, source, dropped)
    return table, dropped


def _overlapping_bills(bills: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A bill that starts before the previous kept bill of its home ends overlaps it and is quarantined.

    Invariants:
        Bills are taken in order of start, then ingestion; a quarantined bill does not block the ones after it.
    """
    bills = bills.sort_values([HOME_ID, "period_start", "ingest_seq", "line"], ignore_index=True)
    homes = bills[HOME_ID].to_numpy()
    starts, ends = bills["period_start"].to_numpy(), bills["period_end"].to_numpy()
    overlap = np.zeros(len(bills), dtype=bool)
    kept_end = None
    # Bills are few (about twelve a home a year), so a scan in order is clearer than a vectorised fixpoint.
    for i in range(len(bills)):
        if i == 0 or homes[i] != homes[i - 1]:
            kept_end = ends[i]
        elif starts[i] < kept_end:
            overlap[i] = True
        else:
            kept_end = ends[i]
    return bills[~overlap].reset_index(drop=True), bills[overlap].assign(
        reason=Reason.OVERLAPPING_PERIOD.value
    )


def _write_series_quarantine(lake: Lake, source: Source, dropped: pd.DataFrame) -> None:
    from contracts.schemas import QUARANTINE

    n = len(dropped)
    record_columns = [c for c in dropped.columns if c not in ("source_file", "line", "reason", "ingest_seq")]
    records = dropped[record_columns].astype(str).agg(",".join, axis=1).tolist() if n else []
    table = pa.table(
        {
            "source": pa.array([source.value] * n, pa.string()),
            "source_file": pa.array(dropped["source_file"].astype(str).tolist() if n else [], pa.string()),
            "line": pa.array(dropped["line"].astype("Int64").tolist() if n else [], pa.int64()),
            "reason": pa.array(dropped["reason"].tolist() if n else [], pa.string()),
            "detail": pa.nulls(n, pa.string()),
            "record": pa.array(records, pa.string()),
            "home_id": pa.array(
                dropped[HOME_ID].astype(str).tolist() if n and HOME_ID in dropped else [None] * n, pa.string()
            ),
            "ts": pa.nulls(n, QUARANTINE.field("ts").type),
        },
        schema=QUARANTINE,
    )
    lake.write_table(lake.path(Zone.QUARANTINE, f"{source.value}_series", "all.parquet"), table)
