"""The service in-process: the FastAPI app bound to a real serving context (a curated lake in a temporary folder, a
real MLflow store with a small trained forecast model behind ``champion``, the SQLite key store), called through
FastAPI's test client.

Covered: keys (401) and admin keys (403) on the insights and admin endpoints, tenant isolation (404, never 403),
validation (422) and limits (400), quantiles, horizon and resolution, the cold-start flag and data freshness,
readings and homes added through the data API reaching the next forecast, health and readiness, an alias change
picked up without a restart (admin reload and the poll), and that no stack trace reaches a client.
"""

from __future__ import annotations

import json
import logging
import time

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from contracts.storage import Lake
from serving.app import INTERNAL_ERROR, OPENAPI_FILE, create_app, openapi_spec
from serving.context import ServingContext
from tests.serving.service_fixtures import COLD_HOME, ServedWorld, register_again, session_world, set_champion

pytestmark = [
    pytest.mark.xdist_group("served_world"),
    pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning"),
]


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> ServedWorld:
    return session_world(tmp_path_factory)


@pytest.fixture(scope="module")
def context(world) -> ServingContext:
    return ServingContext.start(world.settings())


@pytest.fixture(scope="module")
def api(context):
    with TestClient(create_app(context)) as client:
        yield client


def key(world: ServedWorld, client: str) -> dict[str, str]:
    return {"X-API-Key": world.keys[client]}


def forecast(api, world, client="acme", **body):
    return api.post("/forecast", json={"home_ids": ["s000"], **body}, headers=key(world, client))


# --- health -----------------------------------------------------------------------------------------------------


def test_healthz_needs_no_key_and_readyz_reports_the_loaded_version(api):
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz")
    assert ready.status_code == 200, ready.text
    report = ready.json()
    assert report["ready"] and report["families"]["forecast"]["version"] == "1"
    assert report["families"]["forecast"]["alias"] == "champion"
    assert report["lake"]["reached"] and report["lake"]["homes"] >= 6  # the fuzz test adds some
    assert report["online_store"]["applied"] is False and "apply" in report["online_store"]["detail"]


def test_readyz_is_503_while_no_model_is_loaded(world):
    context = ServingContext.start(world.settings(model_alias="staging"))  # no version has that alias
    with TestClient(create_app(context)) as client:
        ready = client.get("/readyz")
        refused = client.post("/forecast", json={"home_ids": ["s000"]}, headers=key(world, "acme"))
    assert ready.status_code == 503 and not ready.json()["ready"]
    assert "no 'staging' version" in ready.json()["families"]["forecast"]["error"]
    assert refused.status_code == 503 and "not loaded" in refused.json()["detail"]


# --- keys and tenants -------------------------------------------------------------------------------------------

ENDPOINTS = [
    pytest.param("/forecast", {"home_ids": ["s000"]}, id="forecast"),
    pytest.param("/admin/reload", None, id="admin-reload"),
]


@pytest.mark.parametrize(("path", "body"), ENDPOINTS)
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-key"),
        pytest.param({"X-API-Key": "eliq_not-a-key"}, id="unknown-key"),
        pytest.param({"Authorization": "Bearer eliq_not-a-key"}, id="unknown-bearer"),
        pytest.param({"Authorization": "Basic YWNtZTpwdw=="}, id="other-scheme"),
    ],
)
def test_every_endpoint_but_health_needs_a_valid_key(api, path, body, headers):
    response = api.post(path, json=body, headers=headers)
    assert response.status_code == 401 and "key" in response.json()["detail"]


def test_a_missing_key_is_401_before_the_body_is_judged(api):
    response = api.post("/forecast", json={"home_ids": "not a list", "horizon": 0})
    assert response.status_code == 401


def test_a_bearer_key_works_like_the_header(api, world):
    response = api.post(
        "/forecast", json={"home_ids": ["s000"]}, headers={"Authorization": f"Bearer {world.keys['acme']}"}
    )
    assert response.status_code == 200 and response.json()["homes"][0]["home_id"] == "s000"


def test_admin_reload_needs_an_admin_key(api, world):
    refused = api.post("/admin/reload", headers=key(world, "acme"))
    assert refused.status_code == 403 and "admin" in refused.json()["detail"]
    done = api.post("/admin/reload", headers=key(world, "ops"))
    assert done.status_code == 200 and done.json()["families"]["forecast"]["version"] == "1"


@pytest.mark.parametrize(
    ("client", "home_ids"),
    [
        pytest.param("acme", ["s002"], id="acme-asks-globex-home"),
        pytest.param("globex", ["s000"], id="globex-asks-acme-home"),
        pytest.param("acme", ["s000", "s003"], id="mixed-batch"),
    ],
)
def test_another_clients_home_is_not_found_like_an_unknown_one(api, world, client, home_ids):
    foreign = api.post("/forecast", json={"home_ids": home_ids}, headers=key(world, client))
    other = home_ids[-1]
    unknown = api.post("/forecast", json={"home_ids": [*home_ids[:-1], "nobody"]}, headers=key(world, client))
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json()["detail"].replace(other, "X") == unknown.json()["detail"].replace("nobody", "X")


def test_each_client_forecasts_its_own_homes(api, world):
    acme = forecast(api, world, "acme", home_ids=["s000", "s001"])
    globex = forecast(api, world, "globex", home_ids=["s002"])
    assert acme.status_code == globex.status_code == 200
    assert [h["home_id"] for h in acme.json()["homes"]] == ["s000", "s001"]
    assert [h["home_id"] for h in globex.json()["homes"]] == ["s002"]


# --- validation -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param({"horizon": 49}, "less than or equal to 48", id="hourly-horizon-49"),
        pytest.param({"resolution": "daily", "horizon": 32}, "1..31 for a daily", id="daily-horizon-32"),
        pytest.param({"resolution": "monthly", "horizon": 3}, "1..2 for a monthly", id="monthly-horizon-3"),
        pytest.param({"horizon": 0}, "greater than or equal to 1", id="horizon-0"),
        pytest.param({"horizon": "soon"}, "valid integer", id="horizon-not-a-number"),
        pytest.param({"quantiles": [0.3]}, "0.1, 0.5 or 0.9", id="unknown-quantile"),
        pytest.param({"quantiles": []}, "at least 1", id="no-quantile"),
        pytest.param({"resolution": "weekly"}, "'hourly', 'daily' or 'monthly'", id="weekly"),
        pytest.param({"home_ids": []}, "at least 1", id="no-home"),
        pytest.param({"home_ids": "s000"}, "valid list", id="home-ids-not-a-list"),
        pytest.param({"home_ids": [""]}, "at least 1 character", id="empty-home-id"),
        pytest.param({"issue_time": "yesterday"}, "valid datetime", id="issue-time-not-a-time"),
        pytest.param({"issue_time": "1900-01-01T10:00"}, "between 2000-01-01", id="issue-time-1900"),
        pytest.param({"colour": "red"}, "Extra inputs are not permitted", id="unknown-field"),
    ],
)
def test_a_malformed_request_is_422_with_a_message(api, world, body, message):
    response = forecast(api, world, **body)
    assert response.status_code == 422
    assert message in json.dumps(response.json()["detail"])


def test_a_batch_beyond_max_batch_homes_is_400(api, world):
    response = forecast(api, world, home_ids=[f"s{i:03d}" for i in range(6)])  # the world allows 5
    assert response.status_code == 400 and "at most 5" in response.json()["detail"]


def test_a_body_that_is_not_json_is_422(api, world):
    response = api.post(
        "/forecast", content=b"{not json", headers={**key(world, "acme"), "Content-Type": "application/json"}
    )
    assert response.status_code == 422 and "JSON" in json.dumps(response.json())


# --- the forecast -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resolution", "horizon", "quantiles", "step"),
    [
        pytest.param("hourly", None, [0.1, 0.5, 0.9], pd.Timedelta(hours=1), id="hourly-default-48h"),
        pytest.param("hourly", 6, [0.5], pd.Timedelta(hours=1), id="hourly-6h-median"),
        pytest.param("daily", 7, [0.9, 0.1], pd.Timedelta(days=1), id="daily-7d-p10-p90"),
        pytest.param("monthly", None, [0.5, 0.9], None, id="monthly-both-months"),
    ],
)
def test_quantiles_and_horizon_shape_the_forecast(api, world, resolution, horizon, quantiles, step):
    body = {"resolution": resolution, "quantiles": quantiles} | ({"horizon": horizon} if horizon else {})
    response = forecast(api, world, home_ids=["s000", "s001"], **body)
    assert response.status_code == 200, response.text
    document = response.json()
    expected = horizon or {"hourly": 48, "daily": 31, "monthly": 2}[resolution]
    labels = {f"p{round(q * 100)}" for q in quantiles}
    assert document["horizon"] == expected and document["quantiles"] == sorted(quantiles)
    assert document["model"] == {"name": "eliq-forecast", "version": "1", "alias": "champion"}
    for home in document["homes"]:
        points = home["forecast"]
        assert len(points) == expected and all(set(p["kwh"]) == labels for p in points)
        assert all(v >= 0 for p in points for v in p["kwh"].values())
        starts = pd.to_datetime([p["period_start"] for p in points])
        if step is not None:
            assert (starts[1:] - starts[:-1] == step).all()
        else:
            assert all(s.day == 1 for s in starts) and [p["lead"] for p in points] == [0, 1]
        if len(labels) > 1:
            low, high = min(labels), max(labels)
            assert all(p["kwh"][low] <= p["kwh"][high] for p in points)


def test_the_hourly_forecast_starts_after_the_issue_time(api, world):
    home = forecast(api, world).json()["homes"][0]
    issue = pd.Timestamp(home["issue_time"])
    assert pd.Timestamp(home["forecast"][0]["period_start"]) > issue
    assert [p["lead"] for p in home["forecast"]] == list(
        range(home["forecast"][0]["lead"], home["forecast"][0]["lead"] + 48)
    )


def test_the_cold_start_flag_and_the_freshness_of_each_home(api, world):
    homes = {h["home_id"]: h for h in forecast(api, world, home_ids=["s000", COLD_HOME]).json()["homes"]}
    assert homes[COLD_HOME]["cold_start"] and not homes["s000"]["cold_start"]
    for (
        home
    ) in homes.values():  # issued at 10:00 local on the last reading's date: the readings until then count
        last = pd.Timestamp(home["freshness"]["last_reading_start"])
        assert world.last_ts - pd.Timedelta(days=1) < last <= world.last_ts
        assert last + pd.Timedelta(hours=1) <= pd.Timestamp(home["issue_time"])
        assert home["freshness"]["online"] is None  # the feature store is not applied here


def test_an_issue_time_in_the_past_uses_only_the_readings_before_it(api, world):
    home = forecast(api, world, issue_time="2025-02-20T10:00:00").json()["homes"][0]
    assert home["issue_time"].startswith("2025-02-20T09:00")  # 10:00 in the home's zone (UTC+1)
    assert home["freshness"]["last_reading_start"] == "2025-02-20T08:00:00Z"


def test_a_home_created_through_the_api_gets_the_cold_start_forecast(api, world):
    profile = {"home_id": "acme-new", "timezone": "Europe/Stockholm", "country": "SE", "floor_area_m2": 90}
    created = api.post("/homes", json=profile, headers=key(world, "acme"))
    assert created.status_code == 201, created.text
    home = forecast(api, world, home_ids=["acme-new"], horizon=24).json()["homes"][0]
    assert home["cold_start"] and home["freshness"]["last_reading_start"] is None
    assert len(home["forecast"]) == 24
    other = forecast(api, world, "globex", home_ids=["acme-new"])
    assert other.status_code == 404


def test_readings_ingested_through_the_api_reach_the_next_forecast(api, world):
    before = forecast(api, world, home_ids=["s001"]).json()["homes"][0]
    hours = pd.date_range(world.last_ts + pd.Timedelta(hours=1), periods=36, freq="h")
    readings = [{"home_id": "s001", "ts": t.isoformat(), "kwh": 0.8} for t in hours]
    ingested = api.post("/readings", json={"readings": readings}, headers=key(world, "acme"))
    assert ingested.status_code == 200 and ingested.json()["accepted"] == 36, ingested.text
    after = forecast(api, world, home_ids=["s001"]).json()["homes"][0]
    assert pd.Timestamp(after["issue_time"]) == pd.Timestamp(before["issue_time"]) + pd.Timedelta(days=1)
    assert pd.Timestamp(after["freshness"]["last_reading_start"]) > world.last_ts


def test_the_online_store_view_of_freshness_when_the_feature_store_is_applied(world, tmp_path):
    from features.store import FeatureStoreAdapter
    from tests.features.test_store import write_feature_tables

    write_feature_tables(Lake(str(world.root / "lake")))  # the lake's features/ zone: only Feast reads it
    settings = world.settings(features={"repo_dir": str(tmp_path / "feast")})  # applied here only
    adapter = FeatureStoreAdapter.from_settings(settings)
    adapter.apply()
    pushed_at = world.last_ts + pd.Timedelta(hours=5)
    adapter.push_readings(
        pd.DataFrame({"home_id": ["s000"], "ts": [pushed_at], "kwh": [0.7]}), interval_min=60
    )
    with TestClient(create_app(ServingContext.start(settings))) as client:
        online_store = client.get("/readyz").json()["online_store"]
        homes = client.post(
            "/forecast", json={"home_ids": ["s000", "s001"]}, headers=key(world, "acme")
        ).json()
    assert online_store["applied"] and online_store["reached"] and online_store["backend"] == "sqlite"
    online = {h["home_id"]: h["freshness"]["online"] for h in homes["homes"]}
    assert online["s000"]["service"] == "forecast_v1" and online["s000"]["features_total"] > 0
    assert pd.Timestamp(online["s000"]["last_pushed_reading_start"]) == pushed_at
    assert online["s001"]["last_pushed_reading_start"] is None  # nothing pushed for it


# --- reloading --------------------------------------------------------------------------------------------------


def test_an_alias_change_is_picked_up_by_the_admin_reload_without_restart(api, world):
    version = register_again(world.run_id)
    try:
        set_champion(version)
        assert forecast(api, world).json()["model"]["version"] == "1"  # no poll here: still the loaded one
        reloaded = api.post("/admin/reload", headers=key(world, "ops")).json()["families"]["forecast"]
        assert reloaded["reloaded"] and reloaded["version"] == version
        assert forecast(api, world).json()["model"]["version"] == version
        assert api.get("/readyz").json()["families"]["forecast"]["version"] == version
    finally:
        set_champion("1")
        api.post("/admin/reload", headers=key(world, "ops"))
    assert forecast(api, world).json()["model"]["version"] == "1"


def test_the_poll_follows_the_alias_without_restart(world):
    context = ServingContext.start(world.settings(reload_interval_s=0.2))
    version = register_again(world.run_id)
    try:
        with TestClient(create_app(context)) as client:  # the app's lifespan starts the poll
            set_champion(version)
            deadline = time.monotonic() + 60
            while context.families["forecast"].status()["version"] != version and time.monotonic() < deadline:
                time.sleep(0.1)
            served = client.post("/forecast", json={"home_ids": ["s000"]}, headers=key(world, "acme"))
        assert served.json()["model"]["version"] == version
        assert context._poller is None  # the lifespan stopped it
    finally:
        set_champion("1")


# --- errors and the spec ----------------------------------------------------------------------------------------


def test_an_unhandled_error_is_a_generic_500_without_a_trace(world, caplog):
    app = create_app()

    def explode() -> None:
        raise RuntimeError("secret detail /etc/passwd")

    app.add_api_route("/explode", explode)
    with caplog.at_level(logging.ERROR, logger="serving.app"), TestClient(app) as client:
        response = client.get("/explode")
    assert response.status_code == 500 and response.json() == {"detail": INTERNAL_ERROR}
    assert "Traceback" not in response.text and "secret" not in response.text
    assert any("secret detail" in (r.exc_text or "") for r in caplog.records)  # the trace is in the log


def test_the_committed_openapi_spec_is_the_generated_one(api):
    committed = json.loads(OPENAPI_FILE.read_text())
    assert committed == openapi_spec(), "docs/openapi.json is stale: run `python -m serving.app`"
    assert api.get("/openapi.json").json() == committed
    assert {"/forecast", "/healthz", "/readyz", "/admin/reload", "/readings", "/homes"} <= set(
        committed["paths"]
    )
