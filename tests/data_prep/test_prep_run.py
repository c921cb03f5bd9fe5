"""prep end to end: zones, row accounting, idempotence, supersede, crash recovery, fsspec lakes."""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, datetime

import pandas as pd
import pytest

from contracts.storage import Lake, Zone
from data_prep.run import NothingUsableError, run_prep
from tests.conftest import REPO, settings_for

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _manifest(settings) -> pd.DataFrame:
    from data_prep.raw_zone import RawZone

    return RawZone(Lake.from_settings(settings.storage)).read_manifest()


def _processed_rows(settings) -> pd.DataFrame:
    lake = Lake.from_settings(settings.storage)
    return lake.read_table(lake.path(Zone.PROCESSED, "readings")).to_pandas()


def test_documented_samples_ingest_without_quarantine(lake_settings):
    result = run_prep(str(REPO / "docs" / "samples"), lake_settings, now=NOW)
    assert result.rows_quarantined == 0
    assert result.rows_in == result.rows_processed > 0
    lake = Lake.from_settings(lake_settings.storage)
    homes = (
        lake.read_table(lake.path(Zone.CURATED, "homes", "homes.parquet")).to_pandas().set_index("home_id")
    )
    assert homes.loc["de_0042", "extra_json"] == '{"smart_thermostat": true}'  # unknown fields survive
    daily = _processed_rows(lake_settings)
    local = daily[(daily["home_id"] == "se_0002") & (daily["interval_min"] == 1440)]
    assert local["kwh"].round(2).tolist() == [21.45, 20.12, 19.87]  # Wh declared in _source.yaml


@pytest.mark.integration
def test_demo_data_balances_every_file(small_demo, tmp_path):
    settings = settings_for(str(tmp_path / "lake"))
    result = run_prep(str(small_demo), settings, truth_uri=str(small_demo / "_truth"))
    manifest = _manifest(settings)
    active = manifest[manifest["status"] == "active"]
    assert (active["rows_in"] == active["rows_processed"] + active["rows_quarantined"]).all()
    assert active["committed"].all()
    assert result.rows_quarantined > 0  # the sample data carries faults
    lake = Lake.from_settings(settings.storage)
    quarantine = lake.read_table(lake.path(Zone.QUARANTINE)).to_pandas()
    assert len(quarantine) == result.rows_quarantined
    assert quarantine["reason"].notna().all()
    report = lake.read_bytes(result.report_paths["quality report"]).decode()
    assert "Recall per fault type" in report and "data:image/png;base64" in report


@pytest.mark.integration
def test_second_run_is_a_no_op_and_keeps_outputs(small_demo, tmp_path):
    settings = settings_for(str(tmp_path / "lake"))
    run_prep(str(small_demo), settings)
    before = _processed_rows(settings)
    again = run_prep(str(small_demo), settings)
    assert again.files_new == 0 and again.buckets_rebuilt == []
    pd.testing.assert_frame_equal(_processed_rows(settings), before)
    assert len(_manifest(settings)) == again.files_seen


@pytest.mark.integration
def test_rerun_after_a_crash_completes(small_demo, tmp_path, monkeypatch):
    settings = settings_for(str(tmp_path / "lake"))
    reference = settings_for(str(tmp_path / "reference"))
    run_prep(str(small_demo), reference)
    from data_prep import curated_zone

    calls = {"n": 0}
    original = curated_zone.write_curated_bucket

    def crash_on_third_bucket(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("simulated crash")
        return original(*args, **kwargs)

    monkeypatch.setattr(curated_zone, "write_curated_bucket", crash_on_third_bucket)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_prep(str(small_demo), settings)
    assert not _manifest(settings)["committed"].all()  # the interrupted work is still pending
    monkeypatch.setattr(curated_zone, "write_curated_bucket", original)
    run_prep(str(small_demo), settings)
    key = ["home_id", "ts"]
    got = _processed_rows(settings).sort_values(key, ignore_index=True)
    want = _processed_rows(reference).sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(got, want)
    assert _manifest(settings)["committed"].all()


def test_corrected_file_supersedes_the_old_version(tmp_path, lake_settings):
    folder = tmp_path / "in" / "readings"
    folder.mkdir(parents=True)
    values = [0.5 + 0.1 * (h % 7) for h in range(24)]
    rows = [f"h1,2025-01-01T{h:02d}:00:00Z" for h in range(24)]
    (folder / "meter.csv").write_text(
        "home_id,ts,kwh\n" + "\n".join(f"{r},{v:.1f}" for r, v in zip(rows, values, strict=True)) + "\n"
    )
    run_prep(str(tmp_path / "in"), lake_settings, now=NOW)
    corrected = "\n".join(f"{r},{2 * v:.1f}" for r, v in zip(rows, values, strict=True))
    (folder / "meter.csv").write_text("home_id,ts,kwh\n" + corrected + "\n")
    result = run_prep(str(tmp_path / "in"), lake_settings, now=NOW)
    assert result.files_new == 1
    manifest = _manifest(lake_settings)
    assert sorted(manifest["status"]) == ["active", "superseded"]
    processed = _processed_rows(lake_settings)
    assert processed["kwh"].round(1).tolist() == [
        round(2 * v, 1) for v in values
    ]  # the old version left the zone


def test_lake_on_an_fsspec_memory_filesystem(tmp_path):
    settings = settings_for(f"memory://lake-{uuid.uuid4().hex}")
    result = run_prep(str(REPO / "docs" / "samples"), settings, now=NOW)
    lake = Lake.from_settings(settings.storage)
    assert "memory" in lake.fs.protocol
    assert lake.exists(lake.path(Zone.RAW, "_manifest.parquet"))
    assert lake.glob(lake.path(Zone.CURATED, "consumption_hourly", "bucket=*", "month=*", "part-0.parquet"))
    assert result.rows_processed > 0
    assert not tmp_path.joinpath("lake").exists()  # nothing was written locally


def test_nothing_usable_is_an_error_that_says_why(tmp_path, lake_settings):
    folder = tmp_path / "in" / "readings"
    folder.mkdir(parents=True)
    (folder / "bad.csv").write_text("home_id,ts,kwh\nh1,not-a-time,1\n,2025-01-01T00:00:00Z,\n")
    with pytest.raises(NothingUsableError, match="quarantine"):
        run_prep(str(tmp_path / "in"), lake_settings, now=NOW)


def test_one_home_is_read_from_its_bucket_only(small_demo, tmp_path):
    from data_prep.curated_hourly import read_home_hourly

    settings = settings_for(str(tmp_path / "lake"))
    run_prep(str(small_demo), settings)
    lake = Lake.from_settings(settings.storage)
    homes = lake.read_table(lake.path(Zone.CURATED, "homes", "homes.parquet")).to_pandas()
    hourly_home = homes.dropna(subset=["interval_min"]).query("interval_min <= 60")["home_id"].iloc[0]
    rows = read_home_hourly(lake, hourly_home, settings.prep.n_buckets)
    assert set(rows["home_id"]) == {hourly_home}
    assert rows["temp_c"].notna().mean() > 0.9  # joined with its nearest weather point
    assert rows["price_eur_mwh"].notna().mean() > 0.9


def _copy_tree(src, dst):
    shutil.copytree(src, dst)
    return dst


@pytest.mark.integration
def test_worker_processes_give_the_same_zones_as_one_process(small_demo, tmp_path):
    serial = settings_for(str(tmp_path / "serial"))
    parallel = settings_for(str(tmp_path / "parallel"), workers=2)
    run_prep(str(small_demo), serial)
    result = run_prep(str(small_demo), parallel)
    key = ["home_id", "ts"]
    got = _processed_rows(parallel).sort_values(key, ignore_index=True)
    want = _processed_rows(serial).sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(got, want)
    for table in ("consumption_hourly", "consumption_daily", "consumption_monthly", "homes"):
        pd.testing.assert_frame_equal(_curated(parallel, table), _curated(serial, table))
    manifest = _manifest(parallel)
    assert (manifest["rows_in"] == manifest["rows_processed"] + manifest["rows_quarantined"]).all()
    assert result.rows_quarantined == _manifest(serial)["rows_quarantined"].sum()


def _curated(settings, table: str) -> pd.DataFrame:
    lake = Lake.from_settings(settings.storage)
    frame = lake.read_table(lake.path(Zone.CURATED, table)).to_pandas()
    key = [c for c in ("home_id", "ts", "date", "month") if c in frame.columns]
    return frame.sort_values(key, ignore_index=True)


def test_a_bucket_whose_every_row_is_quarantined_still_balances(tmp_path):
    """A bucket with staged rows but none on the grid (each out of range for its interval) keeps its quarantine
    and counts, and leaves no processed or curated rows."""
    inputs = tmp_path / "input" / "readings"
    inputs.mkdir(parents=True)
    rows = [f"h_huge,2025-01-01T{h:02d}:00:00+00:00,{1e6 + h}" for h in range(6)]
    (inputs / "huge.csv").write_text("home_id,ts,kwh\n" + "\n".join(rows) + "\n")
    settings = settings_for(str(tmp_path / "lake"))
    result = run_prep(str(tmp_path / "input"), settings, now=NOW)
    assert (result.rows_in, result.rows_processed, result.rows_quarantined) == (6, 0, 6)
    lake = Lake.from_settings(settings.storage)
    quarantine = lake.read_table(lake.path(Zone.QUARANTINE, "readings_series")).to_pandas()
    assert sorted(quarantine["line"]) == [2, 3, 4, 5, 6, 7]
    assert not lake.glob(lake.path(Zone.CURATED, "consumption_hourly", "*"))


def _bills_only_inputs(root, billed: dict[str, float]) -> str:
    """Hourly readings of ``r1`` and two monthly bills of each home of ``billed`` (kWh per bill), which has no
    readings."""
    (root / "readings").mkdir(parents=True, exist_ok=True)
    (root / "bills").mkdir(exist_ok=True)
    stamps = pd.date_range("2025-01-01", periods=24 * 59, freq="h", tz="UTC")
    kwh = 0.3 + 0.4 * (stamps.hour / 23) + 0.05 * (stamps.dayofweek / 6)  # a daily and weekly shape, not flat
    readings = pd.DataFrame({"home_id": "r1", "ts": stamps.strftime("%Y-%m-%dT%H:%M:%S+00:00"), "kwh": kwh})
    readings.to_csv(root / "readings" / "r.csv", index=False)
    bills = [
        f"{home},2025-01-01,2025-02-01,{kwh}\n{home},2025-02-01,2025-03-01,{kwh}\n"
        for home, kwh in billed.items()
    ]
    (root / "bills" / "bills.csv").write_text("home_id,period_start,period_end,kwh\n" + "".join(bills))
    return str(root)


def _monthly(settings) -> pd.DataFrame:
    lake = Lake.from_settings(settings.storage)
    return lake.read_table(
        lake.path(Zone.CURATED, "consumption_monthly")
    ).to_pandas()  # the folder as one table


def test_homes_with_bills_and_no_readings_get_monthly_rows_in_a_bucket_without_readings(tmp_path):
    from contracts.storage import home_bucket

    settings = settings_for(str(tmp_path / "lake"))
    n = settings.prep.n_buckets
    assert len({home_bucket(h, n) for h in ("r1", "b1", "b2")}) == 3  # each home in a bucket of its own
    run_prep(_bills_only_inputs(tmp_path / "in", {"b1": 310.0, "b2": 280.0}), settings, now=NOW)
    monthly = _monthly(settings)
    billed = monthly[monthly["home_id"] == "b1"].sort_values("month")
    assert billed["bill_kwh"].tolist() == pytest.approx([310.0, 310.0])
    assert billed["kwh"].isna().all() and billed["days_with_data"].tolist() == [0, 0]
    assert set(monthly["home_id"]) == {"r1", "b1", "b2"}
    assert (monthly.loc[monthly["home_id"] == "r1", "days_with_data"] > 0).all()

    # Corrected: without b1, whose bucket sorted first. r1's bucket (no bills) now comes before b2's (billed), and
    # the folder still reads as one table: every bucket's file has the same schema.
    run_prep(_bills_only_inputs(tmp_path / "in", {"b2": 280.0}), settings, now=NOW)
    assert set(_monthly(settings)["home_id"]) == {"r1", "b2"}
    assert sorted({home_bucket(h, n) for h in ("r1", "b2")}) == [home_bucket("r1", n), home_bucket("b2", n)]


def test_a_billed_home_keeps_its_months_when_the_homes_with_readings_of_its_bucket_are_deleted(tmp_path):
    from contracts.storage import home_bucket
    from serving.data_management import ProfileStore

    settings = settings_for(str(tmp_path / "lake"))
    n = settings.prep.n_buckets
    neighbour = next(f"b{i}" for i in range(100) if home_bucket(f"b{i}", n) == home_bucket("r1", n))
    inputs = _bills_only_inputs(tmp_path / "in", {neighbour: 300.0})
    run_prep(inputs, settings, now=NOW)
    assert set(_monthly(settings)["home_id"]) == {"r1", neighbour}
    ProfileStore(Lake.from_settings(settings.storage)).mark_deleted("r1", "acme", NOW)
    result = run_prep(inputs, settings, now=NOW + pd.Timedelta(hours=1))  # deleted, not purged yet
    assert result.homes_excluded == ["r1"]
    assert set(_monthly(settings)["home_id"]) == {neighbour}
    corrected = _bills_only_inputs(
        tmp_path / "in", {neighbour: 320.0}
    )  # a new bills file rebuilds every bucket
    result = run_prep(corrected, settings, now=NOW + pd.Timedelta(hours=2))
    assert home_bucket("r1", n) in result.buckets_rebuilt
    monthly = _monthly(settings)
    assert set(monthly["home_id"]) == {neighbour} and monthly["bill_kwh"].tolist() == pytest.approx(
        [320.0] * 2
    )


def test_every_bucket_file_of_a_dataset_has_the_same_schema(small_demo, tmp_path):
    """With many small buckets, some hold no home with a price area, no imputed gap or no bill: their files still
    have the types the others have, so that a reader of the whole folder (one Arrow dataset) does not fail."""
    import collections
    from pathlib import Path

    import pyarrow.parquet as pq

    settings = settings_for(str(tmp_path / "lake"), n_buckets=32)
    run_prep(str(small_demo), settings, now=NOW)
    schemas: dict[Path, set[str]] = collections.defaultdict(set)
    for path in Path(tmp_path / "lake").rglob("*.parquet"):  # bucket=NNN.parquet or bucket=NNN/month=…/…
        bucket = next((p for p in (path, *path.parents) if p.name.startswith("bucket=")), None)
        if bucket is not None:
            schemas[bucket.parent].add(pq.read_schema(path).remove_metadata().to_string())
    assert len(schemas) >= 10  # processed, quality and curated datasets
    assert {folder.name: len(found) for folder, found in schemas.items() if len(found) > 1} == {}
