"""Staging: the rows of one input file that passed row validation, split by home bucket, and its quarantine.

Staged rows live at ``processed/_parsed/<source>/<sha16>/bucket=NN.parquet``. A file's staged parts are
written under temporary names and moved into place together at the end, so a crash leaves none or all of them.
"""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from contracts.schemas import QUARANTINE
from contracts.storage import Lake, Zone, home_buckets


def staged_dir(lake: Lake, source: str, sha: str) -> str:
    return lake.path(Zone.PROCESSED, "_parsed", source, sha[:16])


def staged_buckets(lake: Lake, source: str, shas: Iterable[str] | None = None) -> set[int]:
    """The buckets the staged parts of the files ``shas`` (of every staged file when ``None``) hold rows of."""
    if shas is None:
        paths = lake.glob(
            posixpath.join(lake.path(Zone.PROCESSED, "_parsed", source), "*", "bucket=*.parquet")
        )
    else:
        paths = [p for sha in shas for p in lake.glob(f"{staged_dir(lake, source, sha)}/bucket=*.parquet")]
    return {int(posixpath.basename(p).split("=")[1].split(".")[0]) for p in paths}


def read_staged_bucket(lake: Lake, source: str, shas: Iterable[str], bucket: int) -> pd.DataFrame:
    """The staged rows of ``bucket`` from the files ``shas``, in that order; an empty frame when none has any."""
    parts = []
    for sha in shas:
        path = posixpath.join(staged_dir(lake, source, sha), f"bucket={bucket:03d}.parquet")
        if lake.exists(path):
            parts.append(lake.read_table(path))
    if not parts:
        return pd.DataFrame()
    return pa.concat_tables(parts).to_pandas()


def quarantine_path(lake: Lake, source: str, sha: str) -> str:
    return lake.path(Zone.QUARANTINE, source, f"{sha[:16]}.parquet")


@dataclass
class BucketWriter:
    """Streams rows into one Parquet file per bucket, committed together by :meth:`commit`."""

    lake: Lake
    target_dir: str
    schema: pa.Schema
    n_buckets: int
    _writers: dict[int, tuple[str, Any, Any]] = field(default_factory=dict)

    def write(self, table: pa.Table, buckets: np.ndarray) -> None:
        """Append rows to their buckets' parts.

        Args:
            table: the rows, those of a bucket next to each other (as :func:`bucket_order` orders them).
            buckets: the bucket of each row.
        """
        if len(buckets) == 0:
            return
        starts = np.flatnonzero(np.diff(buckets, prepend=-1))
        for start, end in zip(starts, [*starts[1:], len(buckets)], strict=True):
            self._writer(int(buckets[start])).write_table(table.slice(start, end - start))

    def _writer(self, bucket: int) -> Any:
        if bucket not in self._writers:
            tmp = self.lake.path("_tmp", f"{uuid.uuid4().hex}.parquet")
            self.lake.fs.makedirs(posixpath.dirname(tmp), exist_ok=True)
            handle = self.lake.fs.open(tmp, "wb")
            writer = pq.ParquetWriter(handle, self.schema, **staged_parquet_options(self.schema))
            self._writers[bucket] = (tmp, handle, writer)
        return self._writers[bucket][2]

    def commit(self) -> list[int]:
        """Close every part and move it into place; returns the buckets written."""
        self.lake.rm([self.target_dir])
        for bucket, (tmp, handle, writer) in sorted(self._writers.items()):
            writer.close()
            handle.close()
            final = posixpath.join(self.target_dir, f"bucket={bucket:03d}.parquet")
            self.lake.fs.makedirs(self.target_dir, exist_ok=True)
            self.lake.fs.mv(tmp, final)
        return sorted(self._writers)

    def abort(self) -> None:
        for tmp, handle, writer in self._writers.values():
            writer.close()
            handle.close()
            self.lake.rm([tmp])


def bucket_order(
    home_ids: pa.ChunkedArray, rows: np.ndarray, n_buckets: int
) -> tuple[np.ndarray, np.ndarray]:
    """The given rows, each with a home id, grouped by bucket and in their order within a bucket; and their buckets.

    Ordering row numbers rather than a table lets the caller take each column once and build its constant columns
    at the right length.
    """
    buckets = pc.fill_null(home_buckets(home_ids, n_buckets), -1).to_numpy(zero_copy_only=False)[rows]
    order = np.argsort(buckets, kind="stable")
    return rows[order], buckets[order]


def staged_parquet_options(schema: pa.Schema) -> dict[str, Any]:
    """Parquet writer options for staged parts, which are read back once: cheap to write rather than small.

    Dictionary encoding pays only for text (few homes, one source file); integers and times, mostly increasing
    line numbers and hours, take delta encoding, which is both faster to write and smaller than a dictionary.
    """
    text = [f.name for f in schema if pa.types.is_string(f.type)]
    deltas = [f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_timestamp(f.type)]
    return {
        "compression": "lz4",
        "use_dictionary": text,
        "column_encoding": dict.fromkeys(deltas, "DELTA_BINARY_PACKED"),
        "write_statistics": False,
    }


@dataclass
class QuarantineLog:
    """Collects quarantined rows of one file; a file's quarantine is small next to its good rows."""

    source: str
    source_file: str
    parts: list[pa.Table] = field(default_factory=list)

    def add(
        self,
        reasons: np.ndarray,
        lines: np.ndarray | None,
        records: list[str],
        details: np.ndarray | list[str | None] | None = None,
        home_ids: Any = None,
        ts: Any = None,
    ) -> None:
        n = len(reasons)
        if n == 0:
            return
        self.parts.append(
            pa.table(
                {
                    "source": pa.array([self.source] * n, pa.string()),
                    "source_file": pa.array([self.source_file] * n, pa.string()),
                    "line": pa.array(lines, pa.int64()) if lines is not None else pa.nulls(n, pa.int64()),
                    "reason": pa.array(list(reasons), pa.string()),
                    "detail": pa.array(list(details) if details is not None else [None] * n, pa.string()),
                    "record": pa.array(records, pa.string()),
                    "home_id": pa.array(home_ids, pa.string())
                    if home_ids is not None
                    else pa.nulls(n, pa.string()),
                    "ts": pa.array(ts, QUARANTINE.field("ts").type)
                    if ts is not None
                    else pa.nulls(n, QUARANTINE.field("ts").type),
                },
                schema=QUARANTINE,
            )
        )

    @property
    def count(self) -> int:
        return sum(p.num_rows for p in self.parts)

    def table(self) -> pa.Table:
        return pa.concat_tables(self.parts) if self.parts else QUARANTINE.empty_table()


def row_records(table: pa.Table, rows: np.ndarray) -> list[str]:
    """The given rows as comma-joined text, the way they read in a CSV."""
    if len(rows) == 0:
        return []
    subset = table.take(pa.array(rows))
    columns = [pc.fill_null(c.cast(pa.string()), "") for c in subset.columns]
    if not columns:
        return [""] * len(rows)
    return pc.binary_join_element_wise(*columns, ",").to_pylist()
