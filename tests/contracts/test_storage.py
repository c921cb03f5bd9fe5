"""The lake: all I/O through fsspec, atomic writes, stable buckets."""

from __future__ import annotations

import uuid

import pyarrow as pa
import pytest

from contracts.storage import Lake, home_bucket, home_buckets


@pytest.fixture
def memory_lake():
    lake = Lake(f"memory://lake-{uuid.uuid4().hex}")
    yield lake
    lake.fs.rm(lake.root, recursive=True)


def test_table_round_trip_in_memory_filesystem(memory_lake):
    table = pa.table({"home_id": ["a", "b"], "kwh": [1.0, 2.0]})
    path = memory_lake.path("curated", "x.parquet")
    memory_lake.write_table(path, table)
    assert memory_lake.read_table(path).equals(table)
    assert "memory" in memory_lake.fs.protocol


def test_crash_mid_write_keeps_the_previous_version(memory_lake):
    path = memory_lake.path("processed", "file.bin")
    memory_lake.write_bytes(path, b"version 1")
    with pytest.raises(RuntimeError), memory_lake.atomic_open(path) as handle:
        handle.write(b"half of version 2")
        raise RuntimeError("crash")
    assert memory_lake.read_bytes(path) == b"version 1"
    assert memory_lake.glob(memory_lake.path("_tmp", "*")) == []


def test_hive_partitioned_folder_reads_with_filters(memory_lake):
    for bucket in (0, 1):
        table = pa.table({"home_id": [f"h{bucket}"], "kwh": [float(bucket)]})
        memory_lake.write_table(memory_lake.path("curated", "t", f"bucket={bucket}", "part-0.parquet"), table)
    read = memory_lake.read_table(memory_lake.path("curated", "t"), filters=[("home_id", "=", "h1")])
    assert read.column("kwh").to_pylist() == [1.0]


def test_home_bucket_is_stable_and_vectorised():
    ids = [f"home_{i}" for i in range(200)]
    single = [home_bucket(h, 16) for h in ids]
    assert home_buckets(pa.array(ids), 16).to_pylist() == single
    assert home_bucket("home_1", 16) == 12  # crc32 is the same on every machine and process
    assert set(single) == set(range(16))
