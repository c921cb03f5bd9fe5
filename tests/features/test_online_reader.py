"""The online reader: the direct SQLite read gives Feast's values, feature by feature, and falls back to Feast's path
where it cannot.

The store is the one of ``tests/features/test_store.py`` (three homes, ``h3`` without meter data, two weather points,
two price areas), applied and materialised into a SQLite online store in a temporary folder. Every comparison is
with what Feast's own ``get_online_features`` returns for the same homes and request time.
"""

from __future__ import annotations

import math
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import features.online_reader as online_reader
from contracts.feature_settings import FeatureStoreSettings
from contracts.storage import Lake
from features.on_demand import calendar_columns, daylight_columns
from features.on_demand_online import calendar_twin, daylight_twin
from features.store import FeaturesNotAppliedError, FeatureStoreAdapter
from tests.features.test_store import HOUR, N_BUCKETS, START, make_adapter, write_feature_tables

pytestmark = [
    pytest.mark.xdist_group("feast"),
    pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::DeprecationWarning"),
]

CHRISTMAS = datetime(2025, 12, 25, 10, tzinfo=UTC)
SPRING_FORWARD = datetime(2025, 3, 30, 1, tzinfo=UTC)  # 02:00 Stockholm and Berlin time does not exist
MIDSUMMER_NAIVE = datetime(2025, 6, 21, 10, 17, 42, 500_000)  # naive is UTC; Feast drops the fraction


def same(value: Any) -> tuple[str, Any]:
    """A value with its type, NaN made comparable."""
    if isinstance(value, float) and math.isnan(value):
        return ("nan", None)
    return (type(value).__name__, value)


def assert_same_columns(ours: dict[str, list[Any]], feasts: dict[str, list[Any]]) -> None:
    assert list(ours) == list(feasts)
    for name, values in feasts.items():
        assert [same(v) for v in ours[name]] == [same(v) for v in values], name


@pytest.fixture(scope="module")
def lake_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("reader-lake")
    write_feature_tables(Lake(str(root)))
    return root


@pytest.fixture(scope="module")
def served(lake_root, tmp_path_factory) -> FeatureStoreAdapter:
    adapter = make_adapter(lake_root, repo_dir=tmp_path_factory.mktemp("feast"))
    adapter.apply()
    adapter.materialize(end=(START + 48 * HOUR).to_pydatetime())
    return adapter


def test_on_sqlite_the_reader_reads_directly_every_feature_of_the_service(served):
    reader = served.online_reader("forecast_v1")
    assert reader.backend == "sqlite"
    assert list(reader.features) == list(served.online_features(["h1"]).columns[1:])
    assert {"kwh_lag_1h", "temp_c", "price_eur_mwh", "floor_area_m2", "pv_kwp", "hour", "daylight"} <= set(
        reader.features
    )


@pytest.mark.parametrize(
    ("home_ids", "request_time"),
    [
        pytest.param(["h1"], CHRISTMAS, id="one-home-on-a-holiday"),
        pytest.param(
            ["h2", "nobody", "h3", "h1", "h2"], SPRING_FORWARD, id="unknown-no-meter-repeated-at-dst"
        ),
        pytest.param(["h1", "h2"], MIDSUMMER_NAIVE, id="naive-time-with-a-fraction"),
        pytest.param(["nobody"], CHRISTMAS, id="only-an-unknown-home"),
    ],
)
def test_reader_gives_feasts_values_for_every_feature(served, home_ids, request_time):
    reader = served.online_reader()
    assert_same_columns(
        reader.read(home_ids, request_time), served.online_columns(home_ids, target_ts=request_time)
    )
    pd.testing.assert_frame_equal(
        reader.read_frame(home_ids, request_time), served.online_features(home_ids, target_ts=request_time)
    )


def test_homes_split_over_several_statements_give_the_same_values(served, monkeypatch):
    homes = ["h1", "nobody", "h2", "h3", "h1", "other"]
    reader = served.online_reader()
    whole = reader.read(homes, CHRISTMAS)
    monkeypatch.setattr(online_reader, "CHUNK_HOMES", 2)
    assert_same_columns(reader.read(homes, CHRISTMAS), whole)
    assert_same_columns(whole, served.online_columns(homes, target_ts=CHRISTMAS))


def test_unknown_home_gets_none_and_utc_calendar_features(served):
    row = {k: v[0] for k, v in served.online_reader().read(["nobody"], CHRISTMAS).items()}
    assert row["kwh_lag_1h"] is None and row["temp_c"] is None and row["floor_area_m2"] is None
    assert (row["hour"], row["month"], row["is_holiday"]) == (10, 12, -1)  # UTC, no holiday calendar
    assert row["daylight"] == -1 and row["sun_elevation_deg"] is None


def test_without_a_request_time_the_current_hour_is_described(served):
    reader = served.online_reader()
    for _ in range(2):  # once more if the hour turns between the two reads
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        implicit, explicit = reader.read(["h1", "nobody"]), reader.read(["h1", "nobody"], hour)
        if hour == datetime.now(UTC).replace(minute=0, second=0, microsecond=0):
            break
    assert_same_columns(implicit, explicit)
    assert explicit["hour"][1] == hour.hour  # an unknown home's calendar is UTC
    assert explicit["hour"][0] in {(hour.hour + 1) % 24, (hour.hour + 2) % 24}  # Stockholm, winter or summer


def test_reader_sees_rows_materialised_and_pushed_after_it_was_built(lake_root, tmp_path):
    adapter = make_adapter(lake_root, repo_dir=tmp_path / "feast")
    adapter.apply()
    forecast, live = adapter.online_reader("forecast_v1"), adapter.online_reader("live_v1")
    assert forecast.read(["h1"], CHRISTMAS)["kwh_lag_1h"] == [None]
    adapter.materialize(end=(START + 24 * HOUR).to_pydatetime())
    assert forecast.read(["h1"], CHRISTMAS)["kwh_lag_1h"] == [24.0]
    adapter.push_readings(pd.DataFrame({"home_id": ["h2"], "ts": [START], "kwh": [0.25]}), interval_min=15)
    pushed = live.read(["h2", "h1"])
    assert pushed["kw_latest"] == [1.0, None] and pushed["reading_start_ts"][0] == START.to_pydatetime()
    assert_same_columns(pushed, adapter.online_columns(["h2", "h1"], service="live_v1"))


def test_reads_from_several_threads_agree(served):
    reader = served.online_reader()
    expected = reader.read(["h1", "h2", "nobody"], CHRISTMAS)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: reader.read(["h1", "h2", "nobody"], CHRISTMAS), range(24)))
    for result in results:
        assert_same_columns(result, expected)


def test_a_reader_before_apply_says_which_command_to_run(lake_root, tmp_path):
    adapter = make_adapter(lake_root, repo_dir=tmp_path / "never-applied")
    with pytest.raises(FeaturesNotAppliedError, match="eliq features apply"):
        adapter.online_reader("forecast_v1")


def test_a_service_the_reader_cannot_reproduce_is_read_through_feast(served):
    from feast import FeatureService

    from features.definitions import build_definitions

    profile = build_definitions(served.layout.features_root).view("home_profile")
    renamed = FeatureService(name="renamed_v0", features=[profile[["floor_area_m2"]].with_name("profile")])
    served.store.apply([renamed])  # one more service; the module's others are unchanged
    reader = served.online_reader("renamed_v0")
    assert reader.backend == "feast" and "renames" in reader.reason
    assert reader.read(["h1", "nobody"]) == {"home_id": ["h1", "nobody"], "floor_area_m2": [70.0, None]}


@pytest.mark.integration
def test_on_redis_the_reader_keeps_feasts_path(lake_root, tmp_path):
    settings = FeatureStoreSettings(
        project=f"eliq_it_{uuid.uuid4().hex[:10]}", online_store="redis", repo_dir=str(tmp_path)
    )
    adapter = FeatureStoreAdapter(Lake(str(lake_root)), settings, n_buckets=N_BUCKETS)
    try:
        adapter.apply()
        adapter.materialize(end=(START + 30 * HOUR).to_pydatetime())
        reader = adapter.online_reader()
        assert reader.backend == "feast" and "redis" in reader.reason
        frame = reader.read_frame(["h1", "nobody"], CHRISTMAS)
        pd.testing.assert_frame_equal(frame, adapter.online_features(["h1", "nobody"], target_ts=CHRISTMAS))
        assert frame["kwh_lag_1h"].iloc[0] == 30
    finally:
        adapter.teardown()


# --- the on-demand twins against the pandas bodies of the on-demand views ---------------------------------------

HOURS = pd.date_range(
    "2024-12-01", "2026-01-02", freq="h", tz="UTC"
)  # a year and its two new years, DST twice


@pytest.mark.parametrize(
    "country",
    [
        pytest.param("SE", id="sweden"),
        pytest.param("DE", id="germany"),
        pytest.param("US", id="no-table-zone-from-pytz"),
        pytest.param("se", id="lower-case"),
        pytest.param("XX", id="unknown-code"),
        pytest.param(None, id="missing"),
    ],
)
def test_calendar_twin_equals_the_pandas_body_every_hour(country):
    expected = calendar_columns(pd.Series(HOURS), pd.Series([country] * len(HOURS), dtype=object))
    twin = [calendar_twin(int(hour.value), {"country": [country]}) for hour in HOURS]
    for column in ("hour", "weekday", "month", "is_holiday"):
        assert [t[column][0] for t in twin] == expected[column].tolist(), column


def test_daylight_twin_equals_the_pandas_body_to_the_bit():
    rng = np.random.default_rng(7)
    lat = [*rng.uniform(-80.0, 80.0, 60).tolist(), None, 59.3]
    lon = [*rng.uniform(-180.0, 180.0, 60).tolist(), 18.0, None]
    as_float = {
        k: pd.Series([np.nan if v is None else v for v in vs]) for k, vs in (("lat", lat), ("lon", lon))
    }
    for hour in HOURS[::97]:
        expected = daylight_columns(pd.Series([hour] * len(lat)), as_float["lat"], as_float["lon"])
        twin = daylight_twin(int(hour.value), {"lat": lat, "lon": lon})
        assert twin["daylight"] == expected["daylight"].tolist()
        elevation = [np.nan if v is None else v for v in twin["sun_elevation_deg"]]
        np.testing.assert_array_equal(elevation, expected["sun_elevation_deg"].to_numpy())
