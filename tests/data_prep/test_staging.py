"""Staged parts: what ``read_staged_bucket`` returns is what pandas makes of the staged rows, whatever the format of
each part (Arrow IPC streams, or Parquet from an earlier release); parts appear all together or not at all; a
purge finds and rewrites them."""

from __future__ import annotations

import posixpath
import uuid

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from contracts.storage import Lake, Zone, home_buckets
from data_prep.home_rows import drop_home_rows, home_files, home_row_counts
from data_prep.ingest.readings import STAGED_READINGS
from data_prep.ingest.staging import (
    STAGED_SUFFIX,
    BucketWriter,
    bucket_order,
    read_staged_bucket,
    read_stream,
    staged_buckets,
    staged_dir,
)

N_BUCKETS = 4
CONSTANTS = ("source_file", "ingest_seq", "is_mean_kw")


def _lake() -> Lake:
    return Lake(f"memory://staging-{uuid.uuid4().hex}")


def _rows(seed: int, n: int, source_file: str, ingest_seq: int) -> pa.Table:
    """Staged rows in the full schema: several homes, NaN and DST's autumn hours in UTC."""
    rng = np.random.default_rng(seed)
    homes = np.array([f"h{i}" for i in rng.integers(0, 9, n)], dtype=object)
    start = pd.Timestamp("2025-10-25T22:00:00Z").value // 1000
    micros = start + rng.integers(0, 6, n) * 3_600_000_000
    kwh = rng.random(n)
    kwh[rng.random(n) < 0.2] = np.nan
    pv = np.where(rng.random(n) < 0.7, np.nan, rng.random(n))
    return pa.table(
        {
            "home_id": pa.array(homes, pa.string()),
            "ts": pa.array(micros, pa.timestamp("us", tz="UTC")),
            "kwh": pa.array(kwh),
            "pv_kwh": pa.array(pv),
            "export_kwh": pa.array(np.full(n, np.nan)),
            "source_file": pa.array([source_file] * n, pa.string()),
            "line": pa.array(np.arange(2, n + 2), pa.int64()),
            "ingest_seq": pa.array(np.full(n, ingest_seq), pa.int64()),
            "is_mean_kw": pa.array(np.full(n, ingest_seq % 2 == 1)),
        },
        schema=STAGED_READINGS,
    )


def _stage(lake: Lake, sha: str, rows: pa.Table, batch_rows: int = 7) -> None:
    """Stage rows as ``parse_readings_file`` does: batch by batch, grouped by bucket, home ids as dictionaries."""
    constants = {c: rows[c][0].as_py() for c in CONSTANTS} if rows.num_rows else dict.fromkeys(CONSTANTS, 0)
    writer = BucketWriter(lake, staged_dir(lake, "readings", sha), STAGED_READINGS, N_BUCKETS, constants)
    for start in range(0, rows.num_rows, batch_rows):
        batch = rows.slice(start, batch_rows).drop_columns(list(CONSTANTS))
        homes = pc.dictionary_encode(batch["home_id"].combine_chunks())
        order, buckets = bucket_order(homes, np.arange(batch.num_rows), N_BUCKETS)
        batch = batch.set_column(0, "home_id", homes)
        writer.write(batch.take(pa.array(order)), buckets)
    writer.commit()


def _stage_parquet(lake: Lake, sha: str, rows: pa.Table) -> None:
    """Stage rows as the previous release did: one Parquet file per bucket, every column in rows."""
    buckets = home_buckets(rows["home_id"], N_BUCKETS).to_numpy()
    for bucket in np.unique(buckets):
        path = posixpath.join(staged_dir(lake, "readings", sha), f"bucket={bucket:03d}.parquet")
        lake.write_table(path, rows.filter(pa.array(buckets == bucket)))


def _expected(tables: list[pa.Table], bucket: int) -> pd.DataFrame:
    """The plain reference: the bucket's rows of each file, in file order, as pandas makes them."""
    parts = [t.filter(pc.equal(home_buckets(t["home_id"], N_BUCKETS), bucket)) for t in tables]
    return pa.concat_tables(parts).to_pandas()


@pytest.mark.parametrize(
    ("sizes", "legacy"),
    [
        pytest.param([60, 45, 30], set(), id="streams"),
        pytest.param([60, 45, 30], {1}, id="a-parquet-part-between-streams"),
        pytest.param([60, 45, 30], {0, 1, 2}, id="parquet-only"),
        pytest.param([1], set(), id="one-row"),
        pytest.param([0, 25], set(), id="a-file-without-rows"),
    ],
)
def test_a_bucket_reads_as_pandas_reads_its_rows(sizes, legacy):
    lake = _lake()
    shas = [f"{i:016x}" + "ab" * 24 for i in range(len(sizes))]
    tables = [_rows(seed, n, f"readings/f{seed}.csv", seed + 1) for seed, n in enumerate(sizes)]
    for sha, table, index in zip(shas, tables, range(len(sizes)), strict=True):
        (_stage_parquet if index in legacy else _stage)(lake, sha, table)
    expected_buckets = {int(b) for t in tables for b in home_buckets(t["home_id"], N_BUCKETS).to_numpy()}
    assert staged_buckets(lake, "readings", shas) == expected_buckets == staged_buckets(lake, "readings")
    for bucket in range(N_BUCKETS):
        frame = read_staged_bucket(lake, "readings", shas, bucket)
        if bucket not in expected_buckets:
            assert frame.empty
            continue
        pd.testing.assert_frame_equal(frame, _expected(tables, bucket), check_exact=True)


def test_a_part_stores_only_its_own_homes_and_no_constant_column():
    lake, sha = _lake(), "cd" * 32
    table = _rows(3, 200, "readings/a.csv", 4)
    _stage(lake, sha, table, batch_rows=200)
    for path in lake.glob(f"{staged_dir(lake, 'readings', sha)}/bucket=*"):
        assert path.endswith(STAGED_SUFFIX)
        stored = read_stream(lake, path)
        assert not set(CONSTANTS) & set(stored.column_names)
        bucket = int(path.rsplit("=", 1)[1].split(".")[0])
        for chunk in stored["home_id"].chunks:
            homes = chunk.dictionary.to_pylist()
            assert len(set(homes)) == len(homes)
            assert set(home_buckets(pa.array(homes), N_BUCKETS).to_pylist()) == {bucket}


def test_parts_appear_only_when_committed():
    lake, sha = _lake(), "ef" * 32
    folder = staged_dir(lake, "readings", sha)
    table = _rows(5, 40, "readings/b.csv", 2).drop_columns(list(CONSTANTS))
    homes = pc.dictionary_encode(table["home_id"].combine_chunks())
    order, buckets = bucket_order(homes, np.arange(table.num_rows), N_BUCKETS)
    constants = {"source_file": "readings/b.csv", "ingest_seq": 2, "is_mean_kw": False}

    aborted = BucketWriter(lake, folder, STAGED_READINGS, N_BUCKETS, constants)
    aborted.write(table.take(pa.array(order)), buckets)
    aborted.abort()
    assert not lake.exists(folder) and not lake.glob(lake.path("_tmp", "*"))

    writer = BucketWriter(lake, folder, STAGED_READINGS, N_BUCKETS, constants)
    writer.write(table.take(pa.array(order)), buckets)
    assert not lake.exists(folder)  # written, not yet committed
    assert writer.commit() == sorted(set(buckets.tolist())) == sorted(staged_buckets(lake, "readings", [sha]))


def test_a_purge_counts_and_drops_a_homes_rows_from_a_staged_part():
    lake, shas = _lake(), ["12" * 32, "34" * 32]
    tables = [_rows(7, 80, "readings/c.csv", 1), _rows(8, 50, "readings/d.csv", 2)]
    for sha, table in zip(shas, tables, strict=True):
        _stage(lake, sha, table)
    gone = {"h1", "h4"}
    buckets = {int(b) for b in home_buckets(pa.array(sorted(gone)), N_BUCKETS).to_numpy()}
    parts = [p for p in home_files(lake, [Zone.PROCESSED], buckets) if p.endswith(STAGED_SUFFIX)]
    assert parts and all(int(p.rsplit("=", 1)[1][:3]) in buckets for p in parts)
    counted = {home: 0 for home in gone}
    for path in parts:
        counts, total = home_row_counts(lake, path, gone)
        assert total == read_stream(lake, path).num_rows
        for home, rows in counts.items():
            counted[home] += rows
    every = pa.concat_tables(tables).to_pandas()
    assert counted == every["home_id"].value_counts()[sorted(gone)].to_dict()

    dropped = sum(drop_home_rows(lake, path, gone) for path in parts)
    assert dropped == sum(counted.values())
    assert sum(drop_home_rows(lake, path, gone) for path in parts) == 0  # idempotent
    kept = [t.filter(pc.invert(pc.is_in(t["home_id"], pa.array(sorted(gone))))) for t in tables]
    for bucket in buckets:
        frame = read_staged_bucket(lake, "readings", shas, bucket)
        pd.testing.assert_frame_equal(frame, _expected(kept, bucket), check_exact=True)
