"""The data-management API: readings ingestion (validation, idempotency, the raw zone, the online store) and home
profiles (CRUD, tenant isolation, deletion), through the domain objects and through FastAPI's test client.

Everything is real and embedded: a local lake in a temporary folder, the SQLite ledger and key store, and a Feast
repository (file registry, SQLite online store) built with the feature tests' own tables (homes h1, h2, h3).
"""

from __future__ import annotations

import json
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from contracts.config import Settings, load_settings
from contracts.feature_settings import FeatureStoreSettings
from contracts.schemas import Reason
from contracts.storage import Lake, Zone
from data_prep.quality.rules import ReadingRules, load_rules
from features.store import FeatureStoreAdapter
from serving.clients import ApiKeyStore
from serving.data_management import (
    RETENTION_DAYS,
    ProfileStore,
    ReadingsIngestor,
    ReadingsLedger,
    delete_home,
    recent_readings,
    validate_readings,
)
from serving.home_directory import HomeDirectory, HomeTakenError
from serving.home_profiles import (
    ProfileConflictError,
    ProfileInvalidError,
    ProfileRejectedError,
    erase_online_homes,
)
from serving.routes_data import data_router
from tests.features.test_store import HOUR, N_HOURS, START, make_adapter, write_feature_tables

pytestmark = [
    pytest.mark.xdist_group("feast"),
    pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::DeprecationWarning"),
]

NOW = datetime(2025, 1, 9, 12, tzinfo=UTC)  # after the feature tables' last hour (START + 72 h)
OWNERS = {"h1": "acme", "h2": "acme", "h3": "globex"}
RULES = load_rules().readings


def directory(state_dir: Path, owners: dict[str, str] = OWNERS) -> HomeDirectory:
    """The service's home directory over curated homes ``owners`` (home → client)."""
    curated = pd.DataFrame({"home_id": list(owners), "client_id": list(owners.values())})
    return HomeDirectory(curated, state_dir / "homes.db")


def reading(home_id: Any = "h1", ts: Any = "2025-01-09T10:00:00+01:00", kwh: Any = 0.5, **more: Any) -> dict:
    return {"home_id": home_id, "ts": ts, "kwh": kwh, **more}


def quarter_hours(home_id: str, start: str, n: int, kwh: float = 0.25) -> list[dict]:
    stamps = pd.date_range(start, periods=n, freq="15min", tz="UTC")
    return [reading(home_id, t.isoformat(), kwh, interval_min=15) for t in stamps]


@pytest.fixture(scope="module")
def feast_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("feast-lake")
    write_feature_tables(Lake(str(root)))
    return root


@pytest.fixture(scope="module")
def features(feast_root):
    """A real Feast store, applied and materialised (every view of h1, h2, h3 online)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adapter = make_adapter(feast_root)
        adapter.apply()
        adapter.materialize(end=(START + N_HOURS * HOUR).to_pydatetime())
    return adapter


@pytest.fixture
def lake(tmp_path) -> Lake:
    return Lake(str(tmp_path / "lake"))


@pytest.fixture
def ingestor(lake, tmp_path) -> ReadingsIngestor:
    return ReadingsIngestor(lake, tmp_path / "state", RULES)


def ingest(ingestor: ReadingsIngestor, rows: list[dict], client: str = "acme", now: datetime = NOW):
    return ingestor.ingest(client, rows, OWNERS.get, now)


# --- readings: validation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "rules", "reason"),
    [
        pytest.param(reading(kwh="abc"), RULES, Reason.BAD_NUMBER, id="kwh-not-a-number"),
        pytest.param(reading(kwh=True), RULES, Reason.BAD_NUMBER, id="kwh-a-boolean"),
        pytest.param(reading(kwh=None), RULES, Reason.MISSING_FIELD, id="kwh-missing"),
        pytest.param(reading(kwh=float("-inf")), RULES, Reason.BAD_NUMBER, id="kwh-minus-infinity"),
        pytest.param(reading(kwh="NaN"), RULES, Reason.MISSING_FIELD, id="kwh-nan"),  # as null, like prep
        pytest.param(reading(home_id=" "), RULES, Reason.MISSING_FIELD, id="home-blank"),
        pytest.param(reading(ts="2025-01-09T10:00:00"), RULES, Reason.BAD_TIMESTAMP, id="ts-without-offset"),
        pytest.param(reading(ts="yesterday"), RULES, Reason.BAD_TIMESTAMP, id="ts-not-a-time"),
        pytest.param(reading(ts=1736416800), RULES, Reason.BAD_TIMESTAMP, id="ts-epoch-number"),
        pytest.param(
            reading(ts="2025-01-09T14:00:00Z"), RULES, Reason.FUTURE_TIMESTAMP, id="ts-in-the-future"
        ),
        pytest.param(reading(ts="1999-12-31T23:00:00Z"), RULES, Reason.OUT_OF_RANGE, id="ts-before-2000"),
        pytest.param(
            reading(ts="2025-01-09T10:00:30Z"), RULES, Reason.OFF_GRID_TIMESTAMP, id="ts-with-seconds"
        ),
        pytest.param(
            reading(ts="2025-01-09T10:00:00.000000001Z"), RULES, Reason.BAD_TIMESTAMP, id="ts-finer-than-1us"
        ),
        pytest.param(reading(home_id="h1\x00x"), RULES, Reason.MALFORMED_ROW, id="home-with-nul"),
        pytest.param(reading(kwh=101.0), RULES, Reason.OUT_OF_RANGE, id="above-max-kw-hourly"),
        pytest.param(reading(kwh=26.0, interval_min=15), RULES, Reason.OUT_OF_RANGE, id="above-max-kw-15min"),
        pytest.param(
            reading(kwh=-0.2), ReadingRules(min_kw=0.0), Reason.OUT_OF_RANGE, id="negative-below-min-kw"
        ),
        pytest.param(reading(interval_min=7.5), RULES, Reason.BAD_NUMBER, id="interval-fractional"),
        pytest.param(reading(interval_min=2880), RULES, Reason.BAD_NUMBER, id="interval-beyond-a-day"),
        pytest.param(reading(home_id="nobody"), RULES, Reason.UNKNOWN_HOME, id="unknown-home"),
        pytest.param(reading(home_id="h3"), RULES, Reason.UNKNOWN_HOME, id="another-clients-home"),
    ],
)
def test_a_malformed_reading_is_rejected_with_its_reason(row, rules, reason):
    valid, rejected = validate_readings([reading(), row], "acme", OWNERS.get, rules, NOW)
    assert [(r.line, r.reason) for r in rejected] == [(1, reason.value)]
    assert rejected[0].detail
    assert valid["line"].tolist() == [0]


@pytest.mark.parametrize(
    "row",
    [
        pytest.param(reading(kwh=-0.2), id="negative-left-to-anomaly-detection"),
        pytest.param(reading(kwh="0.5"), id="kwh-as-text"),
        pytest.param(reading(ts="2025-01-09T12:30:00+00:00"), id="within-future-tolerance"),
        pytest.param(reading(kwh=99.0), id="just-below-max-kw"),
        pytest.param(reading(kwh=1200.0, interval_min=1440), id="daily-reading"),
    ],
)
def test_a_reading_data_prep_would_keep_is_valid(row):
    valid, rejected = validate_readings([row], "acme", OWNERS.get, RULES, NOW)
    assert rejected == [] and len(valid) == 1


def test_valid_readings_are_in_utc_with_their_interval():
    rows = [reading(ts="2025-01-09T10:00:00+01:00"), reading(ts="2025-01-09T09:15:00Z", interval_min=15)]
    valid, _ = validate_readings(rows, "acme", OWNERS.get, RULES, NOW)
    assert valid["ts"].tolist() == [pd.Timestamp("2025-01-09T09:00Z"), pd.Timestamp("2025-01-09T09:15Z")]
    assert valid["interval_min"].tolist() == [60, 15]


def test_every_row_of_a_mixed_batch_is_counted_once(ingestor):
    rng = np.random.default_rng(4)
    rows = quarter_hours("h1", "2025-01-08T00:00Z", 40)
    faults = [{"kwh": "x"}, {"home_id": "h3"}, {"ts": "soon"}, {"kwh": 1e4}]
    broken = rng.choice(len(rows), 10, replace=False)
    for i in broken:
        rows[i] = {**rows[i], **faults[rng.integers(len(faults))]}
    rows += rows[:5]  # repeats within the batch
    receipt = ingest(ingestor, rows)
    assert receipt.accepted + receipt.duplicates + len(receipt.rejected) == len(rows)
    assert receipt.accepted == 30 and receipt.duplicates == len(set(range(5)) - set(broken))
    assert [r.line for r in receipt.rejected] == sorted(r.line for r in receipt.rejected)


# --- readings: idempotency and the raw zone ---------------------------------------------------------------------


def raw_files(lake: Lake) -> list[str]:
    return lake.glob(lake.path(Zone.RAW, "api_readings", "**", "*.parquet"))


def test_a_reading_sent_twice_is_stored_once(ingestor, lake, tmp_path):
    rows = quarter_hours("h1", "2025-01-09T00:00Z", 8)
    first = ingest(ingestor, rows)
    second = ingest(ingestor, rows)
    assert (first.accepted, first.duplicates) == (8, 0)
    assert (second.accepted, second.duplicates, second.rejected, second.batch_id) == (0, 8, (), None)
    assert len(raw_files(lake)) == 1
    stored = ReadingsLedger(tmp_path / "state" / "readings.db").recent(["h1"], NOW - timedelta(days=1))
    assert len(stored) == 8


def test_a_resent_reading_with_another_kwh_is_a_conflicting_duplicate(ingestor):
    ingest(ingestor, [reading(kwh=0.5)])
    receipt = ingest(ingestor, [reading(kwh=0.7), reading(ts="2025-01-09T11:00:00+01:00")])
    assert receipt.accepted == 1
    assert [(r.line, r.reason) for r in receipt.rejected] == [(0, Reason.CONFLICTING_DUPLICATE.value)]
    assert "0.5" in receipt.rejected[0].detail


def test_repeats_within_a_batch_keep_the_first(ingestor, lake):
    receipt = ingest(ingestor, [reading(kwh=0.5), reading(kwh=0.5), reading(kwh=0.9)])
    assert (receipt.accepted, receipt.duplicates) == (1, 1)
    assert [(r.line, r.reason) for r in receipt.rejected] == [(2, Reason.CONFLICTING_DUPLICATE.value)]
    assert lake.read_table(receipt.raw_path).column("kwh").to_pylist() == [0.5]


def test_the_batch_file_holds_the_accepted_readings_and_the_ingest_time(ingestor, lake):
    receipt = ingest(
        ingestor, [reading(), reading(kwh="x"), reading(ts="2025-01-09T11:00:00+01:00", kwh=0.6)]
    )
    assert receipt.raw_path == lake.path(
        Zone.RAW, "api_readings", "client=acme", "date=2025-01-09", f"{receipt.batch_id}.parquet"
    )
    table = lake.read_table(receipt.raw_path)
    assert table.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    frame = table.to_pandas()
    assert frame["line"].tolist() == [0, 2] and frame["kwh"].tolist() == [0.5, 0.6]
    assert (frame["ingested_at"] == pd.Timestamp(NOW)).all() and (frame["client_id"] == "acme").all()
    assert lake.glob(lake.path("_tmp", "*")) == []


def test_a_failed_raw_write_stores_nothing_and_a_resend_succeeds(ingestor, lake):
    blocker = lake.path(Zone.RAW, "api_readings", "client=acme")
    lake.fs.makedirs(lake.path(Zone.RAW, "api_readings"), exist_ok=True)
    lake.fs.pipe_file(blocker, b"a file where the client's folder should be")
    rows = quarter_hours("h2", "2025-01-09T00:00Z", 4)
    with pytest.raises(OSError):
        ingest(ingestor, rows)
    assert recent_readings(ingestor.state_dir, ["h2"], NOW - timedelta(days=1)).empty
    assert lake.glob(lake.path("_tmp", "*")) == []
    lake.fs.rm(blocker)
    assert ingest(ingestor, rows).accepted == 4


def test_recent_readings_are_complete_hours_since_the_cutoff(ingestor):
    rows = [
        *quarter_hours("h1", "2025-01-09T06:00Z", 4, kwh=0.25),  # a complete hour
        *quarter_hours("h1", "2025-01-09T07:00Z", 3),  # three quarters: incomplete
        reading("h1", "2025-01-09T08:00:00Z", 0.8),  # hourly
        reading("h1", "2025-01-08T00:00:00Z", 9.0, interval_min=1440),  # daily: not an hour
        reading("h1", "2025-01-07T05:00:00Z", 0.3),  # before the cut-off
        reading("h2", "2025-01-09T06:00:00Z", 0.4),
    ]
    assert ingest(ingestor, rows).accepted == len(rows)
    recent = recent_readings(ingestor.state_dir, ["h1", "h2"], datetime(2025, 1, 8, tzinfo=UTC))
    assert recent.to_dict("list") == {
        "home_id": ["h1", "h1", "h2"],
        "ts": [pd.Timestamp(f"2025-01-09T0{h}:00Z") for h in (6, 8, 6)],
        "kwh": [1.0, 0.8, 0.4],
    }
    assert str(recent["ts"].dt.tz) == "UTC"


def test_the_newest_reading_is_pushed_online_and_a_backfill_is_not(lake, tmp_path, features):
    ingestor = ReadingsIngestor(lake, tmp_path / "state", RULES, features)
    live = ingest(ingestor, quarter_hours("h2", "2025-01-09T08:00Z", 4, kwh=0.3))
    assert live.pushed_homes == 1
    backfill = ingest(ingestor, [reading("h2", "2025-01-09T06:00:00Z", 0.9)])
    assert (backfill.accepted, backfill.pushed_homes) == (1, 0)
    row = features.online_features(["h2"], "live_v1").iloc[0]
    assert row["kwh_latest"] == 0.3 and row["interval_min_latest"] == 15
    assert row["reading_start_ts"] == pd.Timestamp("2025-01-09T08:45Z")


# --- home profiles ----------------------------------------------------------------------------------------------


def test_a_profile_is_created_read_and_replaced_with_unknown_fields_kept(lake):
    profiles = ProfileStore(lake)
    created = profiles.create(
        "acme", {"home_id": "n1", "floor_area_m2": 80, "meter_brand": "Kaifa"}, OWNERS.get
    )
    assert created.client_id == "acme" and created.model_extra == {"meter_brand": "Kaifa"}
    assert json.loads(lake.read_bytes(profiles.document_path("n1")))["meter_brand"] == "Kaifa"
    profiles.replace("acme", "n1", {"occupants": 3})
    stored = profiles.get("n1")
    assert stored is not None and stored.occupants == 3 and stored.floor_area_m2 is None
    assert profiles.owner("n1") == "acme"


@pytest.mark.parametrize(
    ("document", "error", "message"),
    [
        pytest.param(
            {"home_id": "n1", "floor_area_m2": "big"}, ProfileInvalidError, "floor_area_m2", id="wrong-type"
        ),
        pytest.param({"home_id": "n1", "lat": 123.0}, ProfileInvalidError, "lat", id="out-of-range"),
        pytest.param({"floor_area_m2": 80}, ProfileInvalidError, "home_id", id="no-home-id"),
        pytest.param(
            {"home_id": "n1", "client_id": "globex"}, ProfileRejectedError, "globex", id="other-client"
        ),
    ],
)
def test_an_invalid_profile_is_rejected_with_the_field(lake, document, error, message):
    with pytest.raises(error, match=message):
        ProfileStore(lake).create("acme", document, OWNERS.get)
    assert not lake.exists(ProfileStore(lake).document_path("n1"))


def test_a_home_claimed_by_another_client_meanwhile_gets_no_document(lake, tmp_path):
    homes = directory(tmp_path / "state")
    homes.register("n1", "globex")  # after acme's check that the id is free, before its claim
    with pytest.raises(HomeTakenError):
        ProfileStore(lake).create("acme", {"home_id": "n1"}, lambda home_id: None, homes.register)
    assert not lake.exists(ProfileStore(lake).document_path("n1")) and homes.owner("n1") == "globex"


@pytest.mark.parametrize(
    "home_id",
    [pytest.param("h1", id="own-lake-home"), pytest.param("h3", id="other-clients-lake-home")],
)
def test_creating_a_known_home_is_a_conflict(lake, home_id):
    with pytest.raises(ProfileConflictError, match="taken") as err:
        ProfileStore(lake).create("acme", {"home_id": home_id}, OWNERS.get)
    assert "globex" not in str(err.value)


def test_a_lake_home_is_read_from_the_curated_homes(lake):
    document = json.dumps({"home_id": "h1", "client_id": "acme", "floor_area_m2": 95.0, "wall": "brick"})
    homes = pd.DataFrame(
        {"home_id": ["h1", "h3"], "client_id": ["acme", "globex"], "document": [document, None]}
    )
    lake.write_table(lake.path(Zone.CURATED, "homes", "homes.parquet"), pa.Table.from_pandas(homes))
    profile = ProfileStore(lake).get("h1")
    assert profile is not None and profile.floor_area_m2 == 95.0 and profile.model_extra == {"wall": "brick"}
    keys_only = ProfileStore(lake).get("h3")  # a row without a document: its columns
    assert keys_only is not None and keys_only.client_id == "globex" and keys_only.floor_area_m2 is None
    assert ProfileStore(lake).get("nobody") is None


def test_deleting_a_home_removes_it_online_and_tombstones_it(lake, tmp_path, features):
    state = tmp_path / "state"
    ingest(ReadingsIngestor(lake, state, RULES, features), [reading("h1", "2025-01-09T10:00:00Z", 0.4)])
    profiles = ProfileStore(lake)
    assert features.online_features(["h1"]).iloc[0]["floor_area_m2"] == 70.0
    tombstone = delete_home("h1", "acme", profiles, state, features, now=NOW)
    online = features.online_features(["h1", "h2"])
    assert pd.isna(online.loc[0, ["kwh_lag_1h", "floor_area_m2", "temp_c"]]).all()
    assert online.loc[1, "floor_area_m2"] == 120.0  # the other homes stay
    assert pd.isna(features.online_features(["h1"], "live_v1").iloc[0]["kwh_latest"])
    assert recent_readings(state, ["h1"], NOW - timedelta(days=1)).empty
    assert tombstone["purge_after"] == (NOW + timedelta(days=RETENTION_DAYS)).isoformat()
    assert json.loads(lake.read_bytes(profiles.tombstone_path("h1")))["deleted_at"] == NOW.isoformat()
    assert profiles.get("h1") is None and profiles.owner("h1") is None
    with pytest.raises(ProfileConflictError):
        profiles.create("acme", {"home_id": "h1"}, lambda h: None)


# --- the routes -------------------------------------------------------------------------------------------------


@pytest.fixture
def api(tmp_path, features) -> tuple[TestClient, dict[str, str], Settings]:
    settings = load_settings(
        storage={"root": str(tmp_path / "lake")},
        serving={"state_dir": str(tmp_path / "state"), "max_batch_readings": 20},
    )
    keys_store = ApiKeyStore(tmp_path / "state" / "clients.db")
    keys = {client: keys_store.add(client) for client in ("acme", "globex")}
    app = FastAPI()
    app.include_router(data_router())
    app.state.settings = settings
    app.state.clients = keys_store
    app.state.homes = directory(tmp_path / "state")
    app.state.lake = Lake.from_settings(settings.storage)
    app.state.features = features
    app.state.families = {}
    return TestClient(app), keys, settings


def as_client(keys: dict[str, str], client: str) -> dict[str, str]:
    return {"X-API-Key": keys[client]}


ROUTES = [
    pytest.param("post", "/readings", {"readings": [reading()]}, id="post-readings"),
    pytest.param("post", "/homes", {"home_id": "n1"}, id="post-homes"),
    pytest.param("get", "/homes/h1", None, id="get-home"),
    pytest.param("put", "/homes/h1", {"occupants": 2}, id="put-home"),
    pytest.param("delete", "/homes/h1", None, id="delete-home"),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
@pytest.mark.parametrize(
    "headers", [pytest.param({}, id="no-key"), pytest.param({"X-API-Key": "eliq_wrong"}, id="unknown-key")]
)
def test_every_route_needs_a_valid_key(api, method, path, body, headers):
    client, _, _ = api
    response = client.request(method, path, json=body, headers=headers)
    assert response.status_code == 401 and "key" in response.json()["detail"]


@pytest.mark.parametrize(("method", "path", "body"), [p for p in ROUTES if "/homes/" in p.values[1]])
def test_another_clients_home_is_not_found_like_an_unknown_one(api, method, path, body):
    client, keys, _ = api
    foreign = client.request(method, path, json=body, headers=as_client(keys, "globex"))
    unknown = client.request(method, "/homes/nobody", json=body, headers=as_client(keys, "globex"))
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json()["detail"].replace("h1", "X") == unknown.json()["detail"].replace("nobody", "X")
    mine = client.get("/homes/h1", headers=as_client(keys, "acme"))  # untouched by the other client's request
    assert mine.status_code == 200 and mine.json()["client_id"] == "acme" and mine.json()["occupants"] is None


def test_readings_route_reports_accepted_duplicates_and_rejected_rows(api):
    client, keys, _ = api
    batch = {"readings": [reading(), reading(), reading("h3"), reading(kwh="abc")]}
    body = client.post("/readings", json=batch, headers=as_client(keys, "acme")).json()
    assert (body["accepted"], body["duplicates"], body["pushed_homes"]) == (1, 1, 1)
    assert [(r["line"], r["reason"]) for r in body["rejected"]] == [(2, "unknown_home"), (3, "bad_number")]
    again = client.post("/readings", json=batch, headers=as_client(keys, "acme")).json()
    assert (again["accepted"], again["duplicates"], again["batch_id"]) == (0, 2, None)


@pytest.mark.parametrize(
    ("batch", "status"),
    [
        pytest.param({"readings": [reading()] * 21}, 413, id="over-max-batch-readings"),
        pytest.param({"readings": []}, 422, id="empty"),
        pytest.param({"readings": [reading(kwh={"value": 1})]}, 422, id="kwh-an-object"),
        pytest.param({"readings": [reading(kilowatts=1)]}, 422, id="unknown-field"),
        pytest.param([reading()], 422, id="not-an-object"),
    ],
)
def test_a_malformed_batch_is_a_4xx_with_a_message(api, batch, status):
    client, keys, _ = api
    response = client.post("/readings", json=batch, headers=as_client(keys, "acme"))
    assert response.status_code == status and response.json()["detail"]


def test_home_lifecycle_through_the_routes(api, tmp_path):
    client, keys, _ = api
    acme = as_client(keys, "acme")
    created = client.post("/homes", json={"home_id": "n1", "floor_area_m2": 60, "pool": True}, headers=acme)
    assert (
        created.status_code == 201
        and created.json()["client_id"] == "acme"
        and created.json()["pool"] is True
    )
    assert client.post("/homes", json={"home_id": "n1"}, headers=acme).status_code == 409
    assert client.get("/homes/n1", headers=as_client(keys, "globex")).status_code == 404
    readings = client.post("/readings", json={"readings": [reading("n1")]}, headers=acme).json()
    assert readings["accepted"] == 1
    replaced = client.put("/homes/n1", json={"occupants": 4}, headers=acme)
    assert replaced.status_code == 200 and replaced.json()["occupants"] == 4
    assert client.get("/homes/n1", headers=acme).json().get("floor_area_m2") is None
    deleted = client.delete("/homes/n1", headers=acme)
    assert deleted.status_code == 200 and deleted.json()["purge_after"] > deleted.json()["deleted_at"]
    assert client.get("/homes/n1", headers=acme).status_code == 404
    late = client.post("/readings", json={"readings": [reading("n1", kwh=0.7)]}, headers=acme).json()
    assert [r["reason"] for r in late["rejected"]] == ["unknown_home"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        pytest.param(
            "post", "/homes", {"home_id": "n2", "client_id": "globex"}, 400, "client_id", id="other-client"
        ),
        pytest.param("put", "/homes/h1", {"home_id": "h2"}, 400, "differs", id="put-other-home-id"),
        pytest.param(
            "post", "/homes", {"home_id": "n2", "occupants": "many"}, 422, "occupants", id="wrong-type"
        ),
        pytest.param("post", "/homes", {"floor_area_m2": 50}, 422, "home_id", id="post-without-home-id"),
        pytest.param("post", "/homes", {"home_id": "h3"}, 409, "taken", id="another-clients-home-id"),
    ],
)
def test_a_bad_profile_request_is_a_4xx_with_a_message(api, method, path, body, status, message):
    client, keys, _ = api
    response = client.request(method, path, json=body, headers=as_client(keys, "acme"))
    assert response.status_code == status
    detail = response.json()["detail"]
    assert message in json.dumps(detail)
    if status == 422:  # FastAPI's shape, whether FastAPI or the profile store found the problem
        assert any(problem["loc"][0] == "body" and message in problem["loc"] for problem in detail)


@pytest.mark.integration
def test_deleting_a_home_removes_its_redis_keys(feast_root, tmp_path):
    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError:
        pytest.fail("Redis is not running on 127.0.0.1:6379 (.ci/run starts it)")
    project = f"eliq_it_{uuid.uuid4().hex[:10]}"
    settings = FeatureStoreSettings(
        project=project, online_store="redis", redis_url="redis://127.0.0.1:6379/0", repo_dir=str(tmp_path)
    )
    adapter = FeatureStoreAdapter(Lake(str(feast_root)), settings, n_buckets=4)
    try:
        adapter.apply()
        adapter.materialize(end=(START + N_HOURS * HOUR).to_pydatetime())
        adapter.push_readings(pd.DataFrame({"home_id": ["h1"], "ts": [START], "kwh": [0.2]}), interval_min=60)
        assert erase_online_homes(adapter, ["h1"]) == 1  # one hash per home holds all of its views
        online = adapter.online_features(["h1", "h2"]).set_index("home_id")
        assert pd.isna(online.loc["h1", ["kwh_lag_1h", "floor_area_m2"]]).all()
        assert online.loc["h2", "floor_area_m2"] == 120.0
        assert pd.isna(adapter.online_features(["h1"], "live_v1")["kwh_latest"].iloc[0])
    finally:
        adapter.teardown()
