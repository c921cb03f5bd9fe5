"""Stored forecasts: served while their inputs are unchanged, the same numbers as a fresh computation, recomputed
when the home's inputs, the model version or the clock (for a cold start issued now) move on, and computed for every
home in the background.

The served world of ``service_fixtures`` (a real MLflow store with a small model behind ``champion``); the
readings-reach-the-next-forecast case is ``test_service_inprocess``'s, which runs through the stored forecasts too.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from contracts.schemas import HOME_ID, KWH, TS
from serving.app import create_app
from serving.context import ServingContext
from serving.families.forecast_cache import ForecastCache, StoredForecast
from serving.families.forecast_compute import issue_groups
from serving.history import ModelHistory
from serving.input_versions import HomeInputVersions
from tests.serving.service_fixtures import COLD_HOME, OWNERS, ServedWorld, session_world

pytestmark = [
    pytest.mark.xdist_group("served_world"),
    pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning"),
]
ACME = [h for h, c in OWNERS.items() if c == "acme"]


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> ServedWorld:
    return session_world(tmp_path_factory)


def _post(client: TestClient, world: ServedWorld, homes: list[str], **body) -> dict:
    response = client.post(
        "/forecast", json={"home_ids": homes, **body}, headers={"X-API-Key": world.keys["acme"]}
    )
    assert response.status_code == 200, response.text
    return response.json()


def _by_home(document: dict) -> dict[str, dict]:
    return {h["home_id"]: h for h in document["homes"]}


def test_a_stored_forecast_is_served_again_with_the_numbers_of_a_fresh_computation(world):
    context = ServingContext.start(world.settings(warm_forecasts=False))
    uncached = ServingContext.start(world.settings(warm_forecasts=False, forecast_cache_entries=0))
    family = context.families["forecast"]
    with TestClient(create_app(context)) as client, TestClient(create_app(uncached)) as fresh:
        first = _post(client, world, ["s000"])
        misses = family.cache.misses
        assert misses == 1  # one miss, counted once although the route looks twice (event loop, then thread)
        second = _post(client, world, ["s000"], quantiles=[0.5], horizon=12)
        recomputed = _post(fresh, world, ["s000"])
    assert family.cache.misses == misses and family.cache.hits >= 1  # the second request computed nothing
    assert first == recomputed
    stored = first["homes"][0]["forecast"]
    assert [p["kwh"] for p in second["homes"][0]["forecast"]] == [
        {"p50": p["kwh"]["p50"]} for p in stored[:12]
    ]
    assert len(uncached.families["forecast"].cache) == 0


def test_a_home_gets_the_same_forecast_alone_and_in_a_batch(world):
    context = ServingContext.start(world.settings(warm_forecasts=False, forecast_cache_entries=0))
    with TestClient(create_app(context)) as client:
        batch = _by_home(_post(client, world, ACME))
        alone = {h: _by_home(_post(client, world, [h]))[h] for h in ACME}
    assert batch == alone
    assert batch[COLD_HOME]["cold_start"] and not batch["s000"]["cold_start"]


def test_a_home_without_readings_is_forecast_in_a_batch_with_homes_that_have_them(world):
    """Regression: the reading-less home's placeholder row lay at the other homes' first hour while its forecast
    was issued now, so the whole batch failed (a 400 to the client, a failed batch in the background pass)."""
    context = ServingContext.start(world.settings(warm_forecasts=False, forecast_cache_entries=0))
    context.homes.register("acme-empty", "acme")
    with TestClient(create_app(context)) as client:
        batch = _by_home(_post(client, world, ["acme-empty", "s000"]))
        alone = {h: _by_home(_post(client, world, [h]))[h] for h in ("acme-empty", "s000")}
    assert batch["s000"] == alone["s000"] and not batch["s000"]["cold_start"]
    empty = batch["acme-empty"]
    assert empty["cold_start"] and empty["freshness"]["last_reading_start"] is None
    assert len(empty["forecast"]) == len(alone["acme-empty"]["forecast"]) > 0
    if empty["issue_time"] == alone["acme-empty"]["issue_time"]:  # both issued in the same clock hour
        assert empty == alone["acme-empty"]


def test_a_profile_change_bumps_the_home_input_version_and_the_forecast_is_computed_again(world):
    context = ServingContext.start(world.settings(warm_forecasts=False))
    family = context.families["forecast"]
    with TestClient(create_app(context)) as client:
        _post(client, world, ["s000"])
        before, misses = len(family.cache), family.cache.misses
        version = family.versions.of(["s000"])["s000"]
        HomeInputVersions(family.versions.path).bump(["s000"])  # what PUT /homes/s000 does
        _post(client, world, ["s000"])
    assert family.versions.of(["s000"])["s000"] == version + 1
    assert len(family.cache) == before + 1 and family.cache.misses == misses + 1  # stored anew, new version


def test_every_home_is_computed_in_the_background_and_then_served_without_a_model_call(world):
    context = ServingContext.start(world.settings(warm_forecasts=True))
    family = context.families["forecast"]
    assert family.wait_until_warm(timeout_s=120)
    homes = context.homes.all_homes()
    assert set(OWNERS) <= set(homes) and len(family.cache) >= len(OWNERS)
    misses = family.cache.misses
    with TestClient(create_app(context)) as client:
        _post(client, world, ACME)
        status = client.get("/readyz").json()["families"]["forecast"]["stored_forecasts"]
    assert family.cache.misses == misses and status["warming"] is False and status["entries"] >= len(OWNERS)


def test_a_warm_request_during_a_pass_gets_one_more_pass_after_it(world):
    import threading

    family = ServingContext.start(world.settings(warm_forecasts=False)).families["forecast"]
    started, release, passes = threading.Event(), threading.Event(), []
    original = family.warm

    def observed() -> int:  # the real pass, held at its start the first time
        passes.append(len(passes) + 1)
        if len(passes) == 1:
            started.set()
            release.wait(60)
        return original()

    family.warm = observed  # type: ignore[method-assign]
    family.warm_in_background()
    assert started.wait(60)
    family.warm_in_background()  # e.g. a model reloaded mid-pass
    family.warm_in_background()  # asked twice: still one more pass, not two
    assert family.status()["stored_forecasts"]["warming"] is True
    release.set()
    assert family.wait_until_warm(timeout_s=120)
    assert passes == [1, 2] and family.status()["stored_forecasts"]["warming"] is False
    assert len(family.cache) >= len(OWNERS)


def test_an_expired_forecast_is_not_served():
    cache = ForecastCache(max_entries=2)
    entry = StoredForecast(datetime.now(UTC), True, None, (), (), {}, expires_at=time.time() - 1)
    cache.put("old", entry)
    cache.put("a", StoredForecast(datetime.now(UTC), False, None, (), (), {}))
    cache.put("b", StoredForecast(datetime.now(UTC), False, None, (), (), {}))
    assert cache.get("old") is None and cache.get("a") is not None and len(cache) == 2


def test_homes_are_forecast_at_their_own_latest_local_date_and_homes_without_readings_now():
    hourly = pd.DataFrame(
        {
            HOME_ID: ["oslo", "oslo", "tokyo", "lima", "dark"],
            TS: pd.to_datetime(
                [
                    "2025-03-01 21:00",
                    "2025-03-01 22:00",
                    "2025-03-01 22:00",
                    "2025-02-27 05:00",
                    "2025-03-01 00:00",
                ],
                utc=True,
            ),
            KWH: [0.4, 0.5, 0.3, 0.2, float("nan")],
        }
    )
    zones = {"oslo": "Europe/Oslo", "tokyo": "Asia/Tokyo", "lima": "America/Lima", "dark": "UTC"}
    frame = hourly.assign(timezone=hourly[HOME_ID].map(zones))
    now = datetime(2025, 3, 2, 8, 41, tzinfo=UTC)
    calls = issue_groups(ModelHistory(frame, hourly, ()), None, now)
    by_homes = {tuple(homes): (parameter, expires) for parameter, homes, expires in calls}
    # Oslo's 22:00 UTC is 23:00 on 1 March, Tokyo's is 07:00 on 2 March: two dates, two model calls
    assert by_homes[("oslo",)] == ("", None) and by_homes[("tokyo",)] == ("", None)
    assert by_homes[("lima",)] == ("", None)
    parameter, expires = by_homes[("dark",)]
    assert (
        parameter == "2025-03-02T08:00:00+00:00"
        and expires == datetime(2025, 3, 2, 9, tzinfo=UTC).timestamp()
    )
    explicit = issue_groups(ModelHistory(frame, hourly, ()), datetime(2025, 3, 1, 10), now)
    assert explicit == [("2025-03-01T10:00:00", ["oslo", "tokyo", "lima", "dark"], None)]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"home_ids": ACME}, id="hourly-batch-with-a-cold-home"),
        pytest.param(
            {"home_ids": ["s000"], "quantiles": [0.9, 0.1], "horizon": 5}, id="hourly-two-quantiles"
        ),
        pytest.param({"home_ids": ["s001"], "resolution": "daily", "horizon": 7}, id="daily"),
        pytest.param({"home_ids": ["s001", "s000"], "resolution": "monthly"}, id="monthly"),
    ],
)
def test_the_rendered_document_is_the_response_model_serialised(world, body):
    from serving.families.forecast_schema import ForecastRequest, ForecastResponse

    context = ServingContext.start(world.settings(warm_forecasts=False))
    family = context.families["forecast"]
    request = ForecastRequest(**body)
    document = family.respond(request, "acme")
    again = family.respond(request, "acme", compute=False)  # from the stored pieces
    parsed = ForecastResponse.model_validate_json(document)
    assert parsed.model_dump_json().encode() == document == again
    assert [h.home_id for h in parsed.homes] == request.home_ids
    assert all(len(h.forecast) == request.periods for h in parsed.homes)
    assert all(set(p.kwh) == {q.label for q in request.quantiles} for h in parsed.homes for p in h.forecast)
