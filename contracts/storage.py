"""The lake: zone layout and atomic I/O through fsspec.

Every byte the platform reads from or writes to the lake goes through :class:`Lake`, so the same code runs on a local
folder, ``memory://`` (tests) and Azure Data Lake Gen2 (``abfs://``) by configuration alone.

Invariants:
    A write is visible under its final name only when complete: it goes to ``_tmp/`` first and is then moved.
    A crash mid-write leaves the previous version of that file readable.
"""

from __future__ import annotations

import posixpath
import uuid
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq


class Zone(StrEnum):
    """The lake's zones, from the file as it came to analysis-ready tables."""

    RAW = "raw"
    PROCESSED = "processed"
    QUARANTINE = "quarantine"
    CURATED = "curated"
    QUALITY = "quality"


def home_bucket(home_id: str, n_buckets: int) -> int:
    """The bucket of a home: a stable hash, the same in every process and on every machine.

    Invariants:
        Depends only on ``home_id`` and ``n_buckets`` (Python's ``hash`` is salted per process; crc32 is not).
    """
    return zlib.crc32(home_id.encode()) % n_buckets


def home_buckets(home_ids: pa.Array | pa.ChunkedArray, n_buckets: int) -> pa.Array:
    """:func:`home_bucket` for a column, hashing each distinct home once [int32]."""
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(home_ids)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks() if encoded.num_chunks != 1 else encoded.chunk(0)
    per_home = pa.array([home_bucket(h, n_buckets) for h in encoded.dictionary.to_pylist()], pa.int32())
    return pc.take(per_home, encoded.indices)


class Lake:
    """A lake rooted at an fsspec URI.

    Args:
        root: the lake's URI or local path.
        storage_options: fsspec options for the filesystem.
    """

    def __init__(self, root: str, storage_options: dict[str, Any] | None = None) -> None:
        self.uri = root
        self.fs, self.root = fsspec.core.url_to_fs(root, **(storage_options or {}))
        self.root = self.root.rstrip("/")

    @classmethod
    def from_settings(cls, storage: Any) -> Lake:
        """A lake from :class:`contracts.config.StorageSettings`."""
        return cls(storage.root, storage.storage_options)

    def path(self, *parts: str | Zone) -> str:
        """The full path of ``parts`` below the root."""
        return posixpath.join(self.root, *[str(p) for p in parts])

    def exists(self, path: str) -> bool:
        return bool(self.fs.exists(path))

    def glob(self, pattern: str) -> list[str]:
        return sorted(self.fs.glob(pattern))

    def _tmp_path(self, final: str) -> str:
        return self.path("_tmp", f"{uuid.uuid4().hex}-{posixpath.basename(final)}")

    @contextmanager
    def atomic_open(self, path: str) -> Iterator[Any]:
        """Open ``path`` for binary writing; it appears under its name only if the block completes."""
        tmp = self._tmp_path(path)
        self.fs.makedirs(posixpath.dirname(tmp), exist_ok=True)
        try:
            with self.fs.open(tmp, "wb") as handle:
                yield handle
            self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
            self._replace(tmp, path)
        except BaseException:
            if self.fs.exists(tmp):
                self.fs.rm(tmp)
            raise

    def _replace(self, tmp: str, path: str) -> None:
        """Move ``tmp`` over ``path``: one rename on a local disk and on ADLS Gen2 (hierarchical namespace).

        Where the filesystem refuses to rename over an existing file, the old file is removed first; there a
        crash between the two steps leaves the file absent (never half-written), and a rerun writes it again.
        """
        try:
            self.fs.mv(tmp, path)
        except (FileExistsError, OSError):
            self.fs.rm(path)
            self.fs.mv(tmp, path)

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write ``data`` to ``path`` atomically."""
        with self.atomic_open(path) as handle:
            handle.write(data)

    def read_bytes(self, path: str) -> bytes:
        return bytes(self.fs.cat_file(path))

    def write_table(self, path: str, table: pa.Table, **kwargs: Any) -> None:
        """Write ``table`` as one Parquet file at ``path``, atomically (snappy; statistics on unless ``kwargs`` limit
        them with ``write_statistics``, as the bucket tables do to the columns readers filter on).

        Snappy rather than zstd: it writes about twice as fast here, the files are about 7 % larger, and every
        Parquet reader (Power BI included) reads it.
        """
        kwargs.setdefault("compression", "snappy")
        with self.atomic_open(path) as handle:
            pq.write_table(table, handle, **kwargs)

    def read_table(self, path: str, columns: list[str] | None = None, filters: Any = None) -> pa.Table:
        """Read a Parquet file or a hive-partitioned folder of them."""
        import pyarrow.dataset as ds

        if self.fs.isfile(path):
            return pq.read_table(path, filesystem=self.fs, columns=columns, filters=filters)
        dataset = ds.dataset(path, filesystem=self.fs, format="parquet", partitioning="hive")
        return dataset.to_table(columns=columns, filter=_as_expression(filters))

    def rm(self, paths: Iterable[str]) -> None:
        for p in paths:
            if self.fs.exists(p):
                self.fs.rm(p, recursive=True)


def _as_expression(filters: Any) -> Any:
    if filters is None or not isinstance(filters, list):
        return filters
    import pyarrow.parquet as pq_

    return pq_.filters_to_expression(filters)
