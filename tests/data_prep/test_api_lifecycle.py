"""What `eliq prep run` does with the service's data-management API: the API's readings and profiles reach the
curated zone once, a deleted home leaves the curated zone at the next run, and its data is purged after
``purge_after`` (crash-safe, logged), while files delivered under ``--input`` stay as delivered.

The API's files are written by the service's own ingestion code (tests may import serving; data_prep does not).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from contracts.api_zone import API_PROFILES, API_READINGS
from contracts.storage import Zone
from data_prep import purge
from data_prep.ingest.staging import STAGED_SUFFIX, read_stream
from data_prep.raw_zone import RawZone
from data_prep.run import PrepResult, run_prep
from serving.data_management import ProfileStore
from tests.data_prep.api_lake import (
    API_AT,
    CLIENT,
    DELETED_AT,
    HOURS,
    RUN_AT,
    ApiLake,
    build_api_lake,
    kwh,
    purge_time,
    readings,
)

DERIVED = (Zone.PROCESSED, Zone.QUARANTINE, Zone.CURATED, Zone.QUALITY)


@pytest.fixture
def world(tmp_path) -> ApiLake:
    """The lake after a first prep run of the input files and the API's files."""
    built = build_api_lake(tmp_path)
    prep(built, RUN_AT)
    return built


def prep(world: ApiLake, now, **kwargs) -> PrepResult:
    return run_prep(str(world.inputs), world.settings, now=now, **kwargs)


def hourly(world: ApiLake) -> pd.DataFrame:
    frame = world.table(Zone.CURATED, "consumption_hourly")
    return frame.sort_values(["home_id", "ts"], ignore_index=True)[["home_id", "ts", "kwh"]]


def homes_in(world: ApiLake, zone: Zone | str, *parts: str) -> set[str]:
    frame = world.table(zone, *parts)
    return set(frame["home_id"]) if "home_id" in frame else set()


def manifest(world: ApiLake) -> pd.DataFrame:
    return RawZone(world.lake).read_manifest()


def files_holding(world: ApiLake, home: str) -> list[str]:
    """Every Parquet file and staged part of the derived zones with a row of ``home``."""
    found = []
    for zone in DERIVED:
        for path in sorted(Path(world.lake.path(zone)).rglob("*")):
            if path.suffix == STAGED_SUFFIX:
                table = read_stream(world.lake, str(path))
            elif path.suffix == ".parquet":
                table = pq.ParquetFile(path).read()
            else:
                continue
            if "home_id" in table.column_names and home in set(table["home_id"].to_pylist()):
                found.append(str(path))
    return found


def api_readings_files(world: ApiLake) -> list[Path]:
    return sorted(Path(world.lake.path(Zone.RAW, API_READINGS)).rglob("*.parquet"))


def assert_every_active_file_balances(world: ApiLake) -> None:
    active = manifest(world).query("status == 'active'")
    assert active["committed"].all()
    balance = active["rows_processed"] + active["rows_quarantined"] + active["rows_purged"]
    assert (active["rows_in"] == balance).all(), active


# --- the API's files reach the curated zone, once -------------------------------------------------------------------


def test_api_readings_and_profiles_reach_the_curated_zone(tmp_path):
    world = build_api_lake(tmp_path)
    result = prep(world, RUN_AT)
    assert (result.files_new, result.api_files_new) == (6, 4)  # 2 input files; 2 batches and 2 documents
    curated = hourly(world)
    assert curated.groupby("home_id").size().to_dict() == {"a1": HOURS, "a2": HOURS, "f1": HOURS}
    a1 = curated[curated["home_id"] == "a1"]
    assert a1["kwh"].round(3).tolist() == [kwh("a1", h) for h in range(HOURS)]  # both batches, in order
    entries = manifest(world).set_index("source_file")
    api = entries[entries.index.str.startswith((API_READINGS, API_PROFILES))]
    assert len(api) == 4 and (api["status"] == "active").all()
    assert api.loc[f"{API_PROFILES}/a1.json", "raw_path"] == ProfileStore(world.lake).document_path("a1")
    assert_every_active_file_balances(world)


def test_a_second_run_adds_nothing_and_a_new_batch_adds_only_itself(world):
    before, entries = hourly(world), len(manifest(world))
    again = prep(world, RUN_AT)
    assert (again.files_new, again.buckets_rebuilt) == (0, [])
    pd.testing.assert_frame_equal(hourly(world), before)
    assert len(manifest(world)) == entries
    batch = world.post_readings(readings("a2", HOURS, 12), now=API_AT + timedelta(hours=12))
    assert batch is not None
    # the service's crash between its raw write and its ledger: a resend writes the same readings again
    resent = pq.read_table(batch)
    resent = resent.set_column(resent.schema.get_field_index("batch_id"), "batch_id", pa.array(["r"] * 12))
    pq.write_table(resent, batch.replace(".parquet", "-resent.parquet"))
    third = run_prep(None, world.settings, now=RUN_AT + timedelta(days=1))  # the API's files only
    assert third.api_files_new == 2
    curated = hourly(world)
    assert curated.groupby("home_id").size().to_dict() == {"a1": HOURS, "a2": HOURS + 12, "f1": HOURS}
    assert not curated.duplicated(["home_id", "ts"]).any()
    quarantine = world.table(Zone.QUARANTINE, "readings_series")
    assert (quarantine["reason"] == "duplicate").sum() == 12
    assert_every_active_file_balances(world)


def test_without_the_api_only_the_input_files_are_read(tmp_path):
    world = build_api_lake(tmp_path)
    result = prep(world, RUN_AT, include_api=False)
    assert result.api_files_new == 0
    assert set(hourly(world)["home_id"]) == {"f1"}
    homes = world.table(Zone.CURATED, "homes", "homes.parquet").set_index("home_id")
    assert homes.loc["a1", "floor_area_m2"] == 100.0  # the file's profile


def test_the_api_profile_wins_over_the_files_even_a_later_one(world):
    def floor_area(home: str) -> float:
        homes = world.table(Zone.CURATED, "homes", "homes.parquet").set_index("home_id")
        return float(homes.loc[home, "floor_area_m2"])

    assert floor_area("a1") == 150.0  # the API's document, not the file's 100
    profiles = world.inputs / "profiles" / "homes.jsonl"
    profiles.write_text(profiles.read_text().replace("100.0", "120.0").replace("80.0", "85.0"))
    prep(world, RUN_AT + timedelta(hours=1))
    assert (floor_area("a1"), floor_area("f1")) == (150.0, 85.0)  # the re-delivered file updates f1 only
    world.put_profile({"home_id": "a1", "timezone": "Europe/Oslo", "floor_area_m2": 175.0})
    prep(world, RUN_AT + timedelta(hours=2))
    assert floor_area("a1") == 175.0
    versions = manifest(world).query(f"source_file == '{API_PROFILES}/a1.json'")
    assert sorted(versions["status"]) == ["active", "superseded"]


# --- deleting a home: out of the curated zone at once, out of the lake after purge_after -----------------------------


def test_a_deleted_home_leaves_the_curated_zone_at_the_next_run(world):
    from features.transforms.build import build_feature_tables

    world.delete("a1")
    result = prep(world, DELETED_AT + timedelta(days=1))
    assert result.homes_excluded == ["a1"] and result.homes_purged == []
    for dataset in ("consumption_hourly", "consumption_daily", "consumption_monthly", "homes"):
        kept = homes_in(world, Zone.CURATED, dataset)
        assert "a1" not in kept and {"a2", "f1"} <= kept, dataset
    assert "a1" in homes_in(world, Zone.PROCESSED, "readings")  # kept for the retention period
    world.put_profile({"home_id": "a2", "floor_area_m2": 61.0})  # a profile change rebuilds every bucket
    rebuilt = prep(world, DELETED_AT + timedelta(days=2))
    assert rebuilt.buckets_rebuilt and "a1" not in homes_in(world, Zone.CURATED, "consumption_hourly")
    build_feature_tables(world.lake, world.settings.prep.n_buckets)
    for table in ("consumption", "home"):
        features = homes_in(world, "features", table)
        assert "a1" not in features and {"a2", "f1"} <= features, table


def test_before_purge_after_a_deleted_home_stays_in_the_raw_zone(world):
    tombstone = world.delete("a1")
    raw_files = api_readings_files(world)
    result = prep(world, purge_time(tombstone, -timedelta(minutes=1)))
    assert result.homes_purged == []
    assert api_readings_files(world) == raw_files
    assert Path(ProfileStore(world.lake).document_path("a1")).exists()
    assert ProfileStore(world.lake).tombstone("a1") is not None
    assert purge.read_purge_log(world.lake) == []
    assert "a1" in homes_in(world, Zone.PROCESSED, "readings")


def assert_purged(world: ApiLake) -> None:
    """a1 is gone from the API's files and every derived zone; a2 and f1 are whole; the log says so once."""
    assert files_holding(world, "a1") == []
    store = ProfileStore(world.lake)
    assert not Path(store.document_path("a1")).exists() and store.tombstone("a1") is None
    raw = pd.concat([pd.read_parquet(p) for p in api_readings_files(world)])
    assert len(api_readings_files(world)) == 1 and set(raw["home_id"]) == {"a2"} and len(raw) == HOURS
    assert hourly(world).groupby("home_id").size().to_dict() == {"a2": HOURS, "f1": HOURS}
    log = purge.read_purge_log(world.lake)
    assert [(r["event"], r["home_id"]) for r in log] == [("planned", "a1"), ("purged", "a1")]
    assert log[1]["api_readings_removed"] == HOURS and log[1]["api_profile_removed"]
    entries = manifest(world).set_index("source_file")
    assert (entries.loc[entries.index.str.contains("a1.json|T120000Z"), "status"] != "active").sum() == 2
    mixed = entries[(entries["status"] == "active") & entries.index.str.startswith(API_READINGS)]
    assert mixed["rows_purged"].tolist() == [24]  # a1's half of the mixed batch, counted once
    assert_every_active_file_balances(world)
    metrics = json.loads(world.lake.read_bytes(world.lake.path(Zone.QUALITY, "metrics.json")))
    assert metrics["run"]["rows_balance_ok"] is True


def test_after_purge_after_the_home_is_purged_and_the_log_says_so(world):
    tombstone = world.delete("a1")
    prep(world, DELETED_AT + timedelta(days=1))
    result = prep(world, purge_time(tombstone, timedelta(hours=1)))
    assert result.homes_purged == ["a1"]
    assert_purged(world)
    assert (world.inputs / "readings" / "meter.csv").exists()
    again = prep(world, purge_time(tombstone, timedelta(hours=2)))
    assert again.homes_purged == [] and again.files_new == 0
    assert_purged(world)


def test_a_crash_mid_purge_is_finished_by_the_next_run(world, monkeypatch):
    tombstone = world.delete("a1")
    calls = {"n": 0}
    original = purge.drop_home_rows

    def crash_on_the_fourth_file(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise OSError("simulated crash")
        return original(*args, **kwargs)

    monkeypatch.setattr(purge, "drop_home_rows", crash_on_the_fourth_file)
    when = purge_time(tombstone, timedelta(hours=1))
    with pytest.raises(OSError, match="simulated crash"):
        prep(world, when)
    assert ProfileStore(world.lake).tombstone("a1") is not None  # removed last: the purge is still due
    assert files_holding(world, "a1")  # part done
    monkeypatch.setattr(purge, "drop_home_rows", original)
    assert prep(world, when).homes_purged == ["a1"]
    assert_purged(world)


def test_a_home_from_input_files_deleted_through_the_api_is_purged_from_the_derived_zones(world):
    tombstone = ProfileStore(world.lake).mark_deleted("f1", CLIENT, DELETED_AT)
    prep(world, purge_time(tombstone, timedelta(hours=1)))
    assert files_holding(world, "f1") == []
    raw_copy = manifest(world).set_index("source_file").loc["readings/meter.csv"]
    assert Path(raw_copy["raw_path"]).exists()  # the delivered file stays as it came
    assert (raw_copy["rows_in"], raw_copy["rows_processed"], raw_copy["rows_purged"]) == (HOURS, 0, HOURS)
    assert_every_active_file_balances(world)


def test_an_id_reused_after_its_purge_starts_afresh(world):
    tombstone = world.delete("a1")
    when = purge_time(tombstone, timedelta(hours=1))
    prep(world, when)
    ProfileStore(world.lake).create(CLIENT, {"home_id": "a1", "floor_area_m2": 90.0}, lambda _: None)
    world.post_readings(readings("a1", 0, 6), now=when)
    prep(world, when + timedelta(hours=1))
    a1 = hourly(world).query("home_id == 'a1'")
    assert len(a1) == 6  # the new readings only: the purged ones do not come back
    homes = world.table(Zone.CURATED, "homes", "homes.parquet").set_index("home_id")
    assert homes.loc["a1", "floor_area_m2"] == 90.0


def test_a_tombstone_taken_away_before_the_purge_brings_the_home_back(world):
    world.delete("a1")
    prep(world, DELETED_AT + timedelta(days=1))
    Path(ProfileStore(world.lake).tombstone_path("a1")).unlink()  # an operator's undelete
    result = prep(world, DELETED_AT + timedelta(days=2))
    assert result.homes_excluded == [] and result.buckets_rebuilt
    assert hourly(world).groupby("home_id").size().to_dict() == {"a1": HOURS, "a2": HOURS, "f1": HOURS}


def test_homes_due_together_are_purged_together(world):
    world.delete("a1")
    later = world.delete("a2", DELETED_AT + timedelta(hours=1))
    result = prep(world, purge_time(later, timedelta(hours=1)))
    assert sorted(result.homes_purged) == ["a1", "a2"]
    assert api_readings_files(world) == []  # the mixed batch held nothing else: it goes too
    assert files_holding(world, "a1") == files_holding(world, "a2") == []
    assert set(hourly(world)["home_id"]) == {"f1"}
    api = manifest(world).query("source_file.str.startswith('api_')", engine="python")
    assert (api["status"] == "purged").all() and len(api) == 4
    log = purge.read_purge_log(world.lake)
    assert sorted((r["event"], r["home_id"]) for r in log) == [
        ("planned", "a1"),
        ("planned", "a2"),
        ("purged", "a1"),
        ("purged", "a2"),
    ]
    assert_every_active_file_balances(world)
