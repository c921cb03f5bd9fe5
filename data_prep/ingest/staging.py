"""Staging: the rows of one input file that passed row validation, split by home bucket, and its quarantine.

A readings file's staged rows live at ``processed/_parsed/readings/<sha16>/bucket=NNN.arrows``, one Arrow IPC stream
per bucket of homes, read whenever the bucket is rebuilt. IPC costs next to nothing to write and read, where
Parquet's encoding and decoding cost several times more; the price is room: uncompressed, the parts take about ten
times the bytes of Parquet's (some 44 bytes a row). In a part, text is stored as a dictionary of the part's own
values (a few homes), and a column that is constant over the file (``source_file``, ``ingest_seq``, ``is_mean_kw``)
is stored once, in the schema's metadata, next to the full schema of the staged rows. Parts that a previous release wrote as
``bucket=NNN.parquet`` (every column in rows) are read as well, so an existing lake needs no rebuild. A small
source's staged rows are one ``part.parquet`` per file (:mod:`data_prep.small_sources`).

A file's staged parts are written under temporary names and moved into place together at the end, so a crash leaves
none or all of them.
"""

from __future__ import annotations

import base64
import json
import posixpath
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from contracts.schemas import QUARANTINE
from contracts.storage import Lake, Zone, home_buckets

# An Arrow IPC stream: unlike an IPC file, a stream takes a new dictionary for each batch.
STAGED_SUFFIX = ".arrows"
_PARQUET_SUFFIX = ".parquet"  # staged parts written by earlier releases
_SCHEMA_KEY = b"eliq.staged_schema"
_CONSTANTS_KEY = b"eliq.staged_constants"


def staged_dir(lake: Lake, source: str, sha: str) -> str:
    return lake.path(Zone.PROCESSED, "_parsed", source, sha[:16])


def staged_buckets(lake: Lake, source: str, shas: Iterable[str] | None = None) -> set[int]:
    """The buckets the staged parts of the files ``shas`` (of every staged file when ``None``) hold rows of."""
    if shas is None:
        paths = lake.glob(posixpath.join(lake.path(Zone.PROCESSED, "_parsed", source), "*", "bucket=*"))
    else:
        paths = [p for sha in shas for p in lake.glob(f"{staged_dir(lake, source, sha)}/bucket=*")]
    return {_bucket_of(p) for p in paths}


def _bucket_of(path: str) -> int:
    return int(posixpath.basename(path).split("=")[1].split(".")[0])


def read_staged_bucket(lake: Lake, source: str, shas: Iterable[str], bucket: int) -> pd.DataFrame:
    """The staged rows of ``bucket`` from the files ``shas``, in that order; an empty frame when none has any.

    Invariants:
        The frame is the one pandas makes of the staged rows in their full schema (``BucketWriter.schema``): the
        same columns, dtypes and values, whichever format each part is in.
    """
    parts = []
    for sha in shas:
        folder = staged_dir(lake, source, sha)
        for suffix in (STAGED_SUFFIX, _PARQUET_SUFFIX):
            path = posixpath.join(folder, f"bucket={bucket:03d}{suffix}")
            if lake.exists(path):
                parts.append(_read_part(lake, path))
                break
    if not parts:
        return pd.DataFrame()
    columns = {f.name: _pandas_column(parts, f) for f in parts[0].schema}
    return pd.DataFrame(columns, copy=False)  # a block per column: no copy into 2-D blocks, which costs more


@dataclass(frozen=True)
class _Part:
    """A staged part as stored: the columns kept in rows, the constant ones, and the full schema of its rows."""

    rows: pa.Table
    constants: Mapping[str, Any]
    schema: pa.Schema

    def fill(self, column: pa.Field, out: np.ndarray) -> None:
        """Write the column's values into ``out`` as pandas holds them (text as ``str`` objects, times as UTC
        ``datetime64``)."""
        if column.name in self.constants:
            out.fill(self.constants[column.name])  # one object for a text (np.full would make one per row)
            return
        start = 0
        for chunk in self.rows[column.name].chunks:
            end = start + len(chunk)
            if pa.types.is_dictionary(chunk.type):  # each distinct text is one object, which its rows share
                np.take(
                    chunk.dictionary.to_numpy(zero_copy_only=False),
                    chunk.indices.to_numpy(),
                    out=out[start:end],
                )
            else:
                out[start:end] = chunk.to_numpy(zero_copy_only=False)
            start = end


def _read_part(lake: Lake, path: str) -> _Part:
    if path.endswith(_PARQUET_SUFFIX):
        table = lake.read_table(path)
        return _Part(table, {}, table.schema)
    rows = read_stream(lake, path)
    metadata = rows.schema.metadata
    schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(metadata[_SCHEMA_KEY])))
    return _Part(rows, json.loads(metadata[_CONSTANTS_KEY]), schema)


def _pandas_column(parts: list[_Part], column: pa.Field) -> Any:
    """The column of every part, one after the other, as pandas holds it."""
    timestamp = pa.types.is_timestamp(column.type)
    dtype = (
        np.dtype(f"datetime64[{column.type.unit}]") if timestamp else np.dtype(column.type.to_pandas_dtype())
    )
    values = _empty(sum(p.rows.num_rows for p in parts), dtype)
    start = 0
    for part in parts:
        part.fill(column, values[start : start + part.rows.num_rows])
        start += part.rows.num_rows
    if timestamp and column.type.tz is not None:
        dtype = pd.DatetimeTZDtype(column.type.unit, column.type.tz)
        return pd.DatetimeIndex(values.view(np.int64), dtype=dtype)  # the integers are UTC instants
    return values


def _empty(n: int, dtype: np.dtype) -> np.ndarray:
    """A new writable array; but for objects, in memory of Arrow's pool, which keeps memory that was freed: new
    memory from the system would cost a page fault every 4 KiB, about as much as filling it."""
    if dtype.hasobject:
        return np.empty(n, dtype=dtype)
    return np.frombuffer(pa.allocate_buffer(n * dtype.itemsize), dtype=dtype)


def read_stream(lake: Lake, path: str) -> pa.Table:
    """An Arrow IPC stream file as it is stored.

    The file is read into memory of Arrow's pool, which keeps memory freed for the next part: a new ``bytes`` per
    part would be new memory each time, and the page faults of touching it cost more than the rest of the reading.
    """
    buffer = pa.allocate_buffer(lake.fs.size(path))
    view = memoryview(buffer).cast("B")
    with lake.fs.open(path, "rb") as handle:
        filled = 0
        while filled < len(view):
            count = handle.readinto(view[filled:])
            if not count:
                raise OSError(f"{path}: file ended after {filled} of {len(view)} bytes")
            filled += count
    return pa.ipc.open_stream(buffer).read_all()


def quarantine_path(lake: Lake, source: str, sha: str) -> str:
    return lake.path(Zone.QUARANTINE, source, f"{sha[:16]}.parquet")


@dataclass
class BucketWriter:
    """Streams rows into one staged part per bucket, committed together by :meth:`commit`.

    Attributes:
        schema: the full schema of the staged rows.
        constants: the value of each column that is constant over the file (JSON values): stored once per part,
            not in rows.
    """

    lake: Lake
    target_dir: str
    schema: pa.Schema
    n_buckets: int
    constants: Mapping[str, Any] = field(default_factory=dict)
    _writers: dict[int, tuple[str, Any, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._stored = _stored_schema(self.schema, self.constants)

    def write(self, table: pa.Table, buckets: np.ndarray) -> None:
        """Append rows to their buckets' parts.

        Args:
            table: the rows' columns other than the constant ones, text as text or dictionaries; the rows of a
                bucket next to each other (as :func:`bucket_order` orders them).
            buckets: the bucket of each row.
        """
        if len(buckets) == 0:
            return
        starts = np.flatnonzero(np.diff(buckets, prepend=-1))
        for start, end in zip(starts, [*starts[1:], len(buckets)], strict=True):
            part = table.slice(start, end - start)
            columns = [_as_stored(part[f.name], f.type) for f in self._stored]
            self._writer(int(buckets[start])).write_table(pa.Table.from_arrays(columns, schema=self._stored))

    def _writer(self, bucket: int) -> Any:
        if bucket not in self._writers:
            tmp = self.lake.path("_tmp", f"{uuid.uuid4().hex}{STAGED_SUFFIX}")
            self.lake.fs.makedirs(posixpath.dirname(tmp), exist_ok=True)
            handle = self.lake.fs.open(tmp, "wb")
            self._writers[bucket] = (tmp, handle, pa.ipc.new_stream(handle, self._stored))
        return self._writers[bucket][2]

    def commit(self) -> list[int]:
        """Close every part and move it into place; returns the buckets written."""
        self.lake.rm([self.target_dir])
        for bucket, (tmp, handle, writer) in sorted(self._writers.items()):
            writer.close()
            handle.close()
            final = posixpath.join(self.target_dir, f"bucket={bucket:03d}{STAGED_SUFFIX}")
            self.lake.fs.makedirs(self.target_dir, exist_ok=True)
            self.lake.fs.mv(tmp, final)
        return sorted(self._writers)

    def abort(self) -> None:
        for tmp, handle, writer in self._writers.values():
            writer.close()
            handle.close()
            self.lake.rm([tmp])


def _stored_schema(schema: pa.Schema, constants: Mapping[str, Any]) -> pa.Schema:
    """The schema of a staged part: ``schema`` less the constant columns, text as dictionaries; the full schema and
    the constants in the metadata."""
    unknown = set(constants) - set(schema.names)
    if unknown:
        raise ValueError(f"constant columns {sorted(unknown)} are not in the schema")
    fields = [
        pa.field(f.name, pa.dictionary(pa.int32(), f.type), f.nullable) if pa.types.is_string(f.type) else f
        for f in schema
        if f.name not in constants
    ]
    metadata = {
        _SCHEMA_KEY: base64.b64encode(schema.serialize().to_pybytes()),
        _CONSTANTS_KEY: json.dumps(dict(constants)).encode(),
    }
    return pa.schema(fields, metadata=metadata)


def _as_stored(column: pa.ChunkedArray, stored: pa.DataType) -> pa.ChunkedArray:
    """A column in its stored type: a dictionary of only the values its rows use, each chunk its own."""
    if not pa.types.is_dictionary(stored):
        return column.cast(stored)
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    return pa.chunked_array([_used_entries(c.cast(stored)) for c in column.chunks], stored)


def _used_entries(chunk: pa.DictionaryArray) -> pa.DictionaryArray:
    used = pc.drop_null(pc.unique(chunk.indices))
    if len(used) == len(chunk.dictionary):
        return chunk
    renumber = np.zeros(len(chunk.dictionary), dtype=np.int32)
    renumber[used.to_numpy()] = np.arange(len(used), dtype=np.int32)
    return pa.DictionaryArray.from_arrays(
        pc.take(pa.array(renumber), chunk.indices), chunk.dictionary.take(used)
    )


def bucket_order(
    homes: pa.DictionaryArray, rows: np.ndarray, n_buckets: int
) -> tuple[np.ndarray, np.ndarray]:
    """The given rows, each with a home id, grouped by bucket and in their order within a bucket; and their buckets.

    Ordering row numbers rather than a table lets the caller take each column once and build its constant columns
    at the right length.

    Args:
        homes: every row's home id, dictionary-encoded (each distinct home is hashed once).
        rows: the rows to order, each with a home id (a row without one would take the first home's bucket).
        n_buckets: the number of buckets.
    """
    per_home = home_buckets(homes.dictionary, n_buckets).to_numpy(zero_copy_only=False)
    codes = pc.fill_null(homes.indices, 0).to_numpy(zero_copy_only=False)
    buckets = per_home.astype(np.int64)[codes[rows]]
    order = np.argsort(buckets, kind="stable")  # a home's rows are mostly together: few runs to merge
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
