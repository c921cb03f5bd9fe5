"""Stream an input file as batches of rows, each row with its physical line number.

CSV is read as text with pyarrow's streaming reader, serially, so that every row, including a malformed one, keeps
its line number. Parquet rows are numbered from 1. A row with the wrong number of fields is reported, not dropped.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq


@dataclass
class MalformedRow:
    """A line that could not be split into the header's fields."""

    line: int | None
    text: str
    detail: str


@dataclass
class RowBatch:
    """Rows as read: text columns for CSV, typed columns for Parquet, and the line of each row."""

    table: pa.Table
    lines: np.ndarray
    malformed: list[MalformedRow] = field(default_factory=list)


def read_batches(fs: Any, path: str, block_bytes: int = 16 << 20) -> Iterator[RowBatch]:
    """Yield the rows of ``path`` in batches; the first batch also carries the malformed lines seen so far."""
    lower = path.lower()
    if lower.endswith(".parquet"):
        yield from _parquet_batches(fs, path)
    elif lower.endswith((".csv", ".csv.gz")):
        yield from _csv_batches(fs, path, block_bytes)
    else:
        raise ValueError(f"{path}: not a tabular file (.csv, .csv.gz or .parquet)")


def _parquet_batches(fs: Any, path: str) -> Iterator[RowBatch]:
    with fs.open(path, "rb") as handle:
        parquet = pq.ParquetFile(handle)
        start = 1
        for batch in parquet.iter_batches(batch_size=1 << 20):
            table = pa.Table.from_batches([batch])
            yield RowBatch(table, np.arange(start, start + table.num_rows, dtype=np.int64))
            start += table.num_rows


def _csv_batches(fs: Any, path: str, block_bytes: int) -> Iterator[RowBatch]:
    compression = "gzip" if path.lower().endswith(".gz") else None
    with fs.open(path, "rb", compression=compression) as handle:
        header = handle.readline().decode("utf-8-sig").rstrip("\r\n")
        names = _header_names(header)
        bad: list[MalformedRow] = []

        def on_invalid(row: Any) -> str:
            # The header was consumed above, so the reader's line 1 is the file's line 2.
            line = None if row.number is None else row.number + 1
            bad.append(
                MalformedRow(line, row.text, f"{row.actual_columns} fields, expected {row.expected_columns}")
            )
            return "skip"

        reader = pa_csv.open_csv(
            io.BufferedReader(handle) if not hasattr(handle, "peek") else handle,
            read_options=pa_csv.ReadOptions(
                column_names=names, use_threads=False, block_size=block_bytes, encoding="utf8"
            ),
            parse_options=pa_csv.ParseOptions(invalid_row_handler=on_invalid, ignore_empty_lines=False),
            convert_options=pa_csv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
        next_line = 2
        for batch in reader:
            table = pa.Table.from_batches([batch])
            lines, next_line = _number_rows(table.num_rows, next_line, bad)
            yield RowBatch(table, lines, malformed=list(bad))
            bad.clear()
        if bad:  # malformed lines after the last good row
            yield RowBatch(
                pa.table({n: pa.array([], pa.string()) for n in names}), np.empty(0, np.int64), list(bad)
            )


def _header_names(header: str) -> list[str]:
    import csv

    names = next(csv.reader([header])) if header else []
    # An empty header (the real Ausgrid file has one) still needs a name to be mapped by a spec.
    return [n.strip() or f"column_{i}" for i, n in enumerate(names)]


def _number_rows(n_rows: int, first_line: int, skipped: list[MalformedRow]) -> tuple[np.ndarray, int]:
    """Line numbers of ``n_rows`` good rows that start at ``first_line``, stepping over skipped lines."""
    skipped_lines = np.unique(
        np.array([m.line for m in skipped if m.line is not None and m.line >= first_line], dtype=np.int64)
    )
    rows = np.arange(n_rows, dtype=np.int64)
    # Good rows before each skipped line; a row steps over every skipped line with no more good rows before it.
    rows_before = skipped_lines - first_line - np.arange(len(skipped_lines))
    lines = first_line + rows + np.searchsorted(rows_before, rows, side="right")
    last = int(lines[-1]) + 1 if n_rows else first_line + len(skipped_lines)
    return lines, last
