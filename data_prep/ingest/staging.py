"""Staging: the rows of one input file that passed row validation, split by home bucket, and its quarantine.

Staged rows live at ``processed/_parsed/<source>/<sha16>/bucket=NN.parquet``. A file's staged parts are
written under temporary names and moved into place together at the end, so a crash leaves none or all of them.
"""

from __future__ import annotations

import posixpath
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from contracts.schemas import QUARANTINE
from contracts.storage import Lake, Zone, home_buckets


def staged_dir(lake: Lake, source: str, sha: str) -> str:
    return lake.path(Zone.PROCESSED, "_parsed", source, sha[:16])


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

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        buckets = home_buckets(table["home_id"], self.n_buckets).to_numpy(zero_copy_only=False)
        order = np.argsort(buckets, kind="stable")
        sorted_buckets = buckets[order]
        bounds = np.flatnonzero(np.diff(sorted_buckets)) + 1
        for chunk in np.split(order, bounds):
            self._writer(int(buckets[chunk[0]])).write_table(table.take(pa.array(chunk)))

    def _writer(self, bucket: int) -> Any:
        if bucket not in self._writers:
            tmp = self.lake.path("_tmp", f"{uuid.uuid4().hex}.parquet")
            self.lake.fs.makedirs(posixpath.dirname(tmp), exist_ok=True)
            handle = self.lake.fs.open(tmp, "wb")
            writer = pq.ParquetWriter(handle, self.schema, compression="snappy")
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
    import pyarrow.compute as pc

    columns = [pc.fill_null(c.cast(pa.string()), "") for c in subset.columns]
    if not columns:
        return [""] * len(rows)
    return pc.binary_join_element_wise(*columns, ",").to_pylist()
