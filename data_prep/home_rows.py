"""Find and remove the rows of given homes in the lake's files, one file at a time: Parquet tables and the staged
readings parts (Arrow IPC streams, :mod:`data_prep.ingest.staging`).

Used to take deleted homes out of the curated zone (:mod:`data_prep.deleted_homes`) and to purge them from every
zone (:mod:`data_prep.purge`). A file is one of a home's files when it has a ``home_id`` column and, if its path
names a bucket (``bucket=NNN``), that bucket is the home's: the zones keep a home in its own bucket only.

Invariants:
    A file is rewritten atomically in its own format (:meth:`contracts.storage.Lake.atomic_open`), with its schema and metadata,
    so a reader sees it with or without the homes' rows, never half of it. Dropping rows that are not there writes
    nothing, so every step here can be repeated after a crash.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Collection, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from contracts.schemas import HOME_ID
from contracts.storage import Lake, Zone
from data_prep.ingest.staging import STAGED_SUFFIX, read_stream

_SUFFIXES = (".parquet", STAGED_SUFFIX)
_BUCKET = re.compile(r"(?:^|/)bucket=(\d+)(?:/|\.parquet$|\.arrows$)")


def bucket_of_path(path: str) -> int | None:
    """The bucket a path names (``…/bucket=007.parquet``, ``…/bucket=007/month=…``), ``None`` when it names none."""
    match = _BUCKET.search(path)
    return int(match.group(1)) if match else None


def home_files(lake: Lake, zones: Collection[Zone], buckets: Collection[int]) -> Iterator[str]:
    """The files of ``zones`` that may hold homes of ``buckets``: unbucketed files, and those buckets'."""
    for zone in zones:
        root = lake.path(zone)
        if not lake.exists(root):
            continue
        for path in sorted(lake.fs.find(root)):
            bucket = bucket_of_path(posixpath.relpath(path, root))
            if path.endswith(_SUFFIXES) and (bucket is None or bucket in buckets):
                yield path


def _read(lake: Lake, path: str, columns: list[str] | None = None) -> pa.Table | None:
    """The file's table (``columns`` only), ``None`` when it has no ``home_id`` column.

    Parquet is read through :class:`pyarrow.parquet.ParquetFile`, so a file inside a hive folder
    (``bucket=…/month=…``) gets no partition columns that are not in the file.
    """
    if path.endswith(STAGED_SUFFIX):
        table = read_stream(lake, path)
        return table.select(columns) if columns is not None else table
    with lake.fs.open(path, "rb") as handle:
        parquet = pq.ParquetFile(handle)
        if HOME_ID not in parquet.schema_arrow.names:
            return None
        return parquet.read(columns=columns)


def _mask(table: pa.Table, homes: Collection[str]) -> pa.ChunkedArray:
    ids = table[HOME_ID].cast(pa.string())  # dictionary-encoded ids too
    return pc.fill_null(pc.is_in(ids, value_set=pa.array(sorted(homes), pa.string())), False)


def home_row_counts(lake: Lake, path: str, homes: Collection[str]) -> tuple[dict[str, int], int]:
    """The rows of each of ``homes`` the file holds (only homes it holds), and all its rows; ({}, 0) for a file
    without ``home_id``."""
    table = _read(lake, path, [HOME_ID])
    if table is None:
        return {}, 0
    ids = table[HOME_ID].cast(pa.string()).filter(_mask(table, homes))
    counts = pc.value_counts(ids)
    return {str(c["values"]): int(c["counts"]) for c in counts.to_pylist()}, table.num_rows


def drop_home_rows(lake: Lake, path: str, homes: Collection[str]) -> int:
    """Rewrite the file without the rows of ``homes``; returns the rows dropped (0: the file is left as it is).

    A file left without rows stays, empty with its schema, so that readers of a fixed path still find it.
    """
    if not lake.exists(path):
        return 0
    table = _read(lake, path)
    if table is None:
        return 0
    mask = _mask(table, homes)
    dropped = int(pc.sum(mask).as_py() or 0)
    if dropped:
        _write(lake, path, table.filter(pc.invert(mask)))
    return dropped


def _write(lake: Lake, path: str, table: pa.Table) -> None:
    if not path.endswith(STAGED_SUFFIX):
        lake.write_table(path, table)
        return
    with lake.atomic_open(path) as handle, pa.ipc.new_stream(handle, table.schema) as writer:
        writer.write_table(table)
