"""Feature table transforms: point-in-time correctness, lags by time, degree-days, price ranks, home encoding, and
the build of every table on a generated lake."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from contracts.storage import Lake
from features.transforms.build import build_feature_tables, feature_table_path
from features.transforms.consumption import consumption_feature_table
from features.transforms.home import home_feature_table
from features.transforms.price import price_feature_table
from features.transforms.weather import degree_days, weather_feature_table
from tests.conftest import settings_for

START = pd.Timestamp("2025-01-01", tz="UTC")
HOUR = pd.Timedelta(hours=1)
FEATURES = [
    "kwh_lag_1h", "kwh_lag_24h", "kwh_lag_48h", "kwh_lag_168h",
    "kwh_mean_24h", "kwh_std_24h", "kwh_min_24h", "kwh_max_24h",
    "kwh_mean_7d", "kwh_std_7d", "kwh_min_7d", "kwh_max_7d",
    "kwh_total_24h", "kwh_total_30d", "night_share_7d", "baseload_kwh_7d", "share_imputed_24h",
]  # fmt: skip
SPEC_COLUMNS = {
    "consumption": ["home_id", "event_timestamp", *FEATURES],
    "weather": [
        "weather_point", "event_timestamp", "available_at", "temp_c", "hdd_c", "cdd_c", "ghi_w_m2", "cloud_cover",
        "wind_m_s", "temp_c_mean_24h", "temp_c_mean_7d",
    ],
    "price": [
        "price_area", "event_timestamp", "price_eur_mwh", "price_day_mean", "price_day_min", "price_day_max",
        "price_rank_in_day",
    ],
    "home": [
        "home_id", "event_timestamp", "floor_area_m2", "build_year", "occupants", "home_type_code", "heat_pump",
        "direct_electric", "district_heating", "gas", "has_ev", "ev_charger_kw", "lat", "lon", "country",
        "price_area", "weather_point", "client_id", "pv_kwp", "pv_tilt_deg", "pv_azimuth_deg", "has_pv",
    ],
}  # fmt: skip
ZONES = pd.Series({"h1": "Europe/Stockholm"})


def _hourly(
    days: int = 40, seed: int = 0, gap: tuple[int, int] = (300, 330), nulls: tuple[int, ...] = (500,)
):
    """One home's hourly rows with a daily shape, an absent stretch of hours and some null kWh."""
    rng = np.random.default_rng(seed)
    hours = np.arange(days * 24)
    kwh = 0.4 + 0.3 * np.sin(2 * np.pi * hours / 24) ** 2 + rng.gamma(2.0, 0.1, len(hours))
    frame = pd.DataFrame(
        {
            "home_id": "h1",
            "ts": START + pd.to_timedelta(hours, unit="h"),
            "kwh": kwh,
            "share_imputed": (rng.random(len(hours)) < 0.05).astype(float),
        }
    )
    frame.loc[list(nulls), "kwh"] = np.nan
    return frame.drop(index=range(*gap)).reset_index(drop=True)


def _row_at(table: pd.DataFrame, end: pd.Timestamp) -> pd.Series:
    rows = table[table["event_timestamp"] == end]
    assert len(rows) == 1, f"no single row at {end}"
    return rows.iloc[0][FEATURES].astype(float)


# --- (1) point-in-time correctness -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "end_hour",
    [
        pytest.param(30, id="second-day"),
        pytest.param(200, id="eighth-day"),
        pytest.param(340, id="just-after-a-gap"),
        pytest.param(501, id="right-after-a-null"),
        pytest.param(900, id="after-30-days"),
    ],
)
def test_a_row_equals_its_features_recomputed_from_data_ending_at_its_timestamp(end_hour):
    hourly = _hourly()
    full = consumption_feature_table(hourly, ZONES)
    end = START + end_hour * HOUR
    known = hourly[hourly["ts"] + HOUR <= end]
    recomputed = consumption_feature_table(known, ZONES)
    assert recomputed["event_timestamp"].max() == end
    pd.testing.assert_series_equal(_row_at(full, end), _row_at(recomputed, end), check_exact=False, rtol=1e-6)


def test_changing_later_readings_leaves_earlier_rows_unchanged():
    hourly = _hourly()
    cutoff = START + 400 * HOUR
    changed = hourly.copy()
    later = changed["ts"] + HOUR > cutoff
    changed.loc[later, "kwh"] *= 7.0
    changed.loc[later, "share_imputed"] = 1.0
    before, after = consumption_feature_table(hourly, ZONES), consumption_feature_table(changed, ZONES)
    early = before["event_timestamp"] <= cutoff
    assert early.sum() > 300
    pd.testing.assert_frame_equal(before[early], after[early])
    assert not np.allclose(
        before.loc[~early, "kwh_mean_24h"], after.loc[~early, "kwh_mean_24h"], equal_nan=True
    )


# --- (2) lags by time across gaps --------------------------------------------------------------------------------


def test_lag_24h_is_the_hour_exactly_a_day_earlier_even_across_a_gap():
    hourly = _hourly(days=6, gap=(50, 60), nulls=())
    table = consumption_feature_table(hourly, ZONES).set_index("event_timestamp")
    by_start = hourly.set_index("ts")["kwh"]
    # E - 24 h is hour 70 (before the gap), and the 10 missing rows would shift a row-based lag by 10 hours
    end = START + 95 * HOUR
    assert table.loc[end, "kwh_lag_24h"] == pytest.approx(by_start[START + 71 * HOUR], rel=1e-6)
    assert table.loc[end, "kwh_lag_48h"] == pytest.approx(by_start[START + 47 * HOUR], rel=1e-6)
    # E - 24 h falls in the gap: null, not the value of a neighbouring row
    assert np.isnan(table.loc[START + 79 * HOUR, "kwh_lag_24h"])
    # rows exist for the missing hours themselves, with the latest hour null and windows over what is present
    in_gap = table.loc[START + 55 * HOUR]
    assert np.isnan(in_gap["kwh_lag_1h"]) and not np.isnan(in_gap["kwh_mean_24h"])
    assert table.index.is_monotonic_increasing and len(table) == 6 * 24


def test_window_values_match_numpy_on_the_window():
    hourly = _hourly(days=35, gap=(0, 0), nulls=())
    table = consumption_feature_table(hourly, ZONES).set_index("event_timestamp")
    end = START + 800 * HOUR
    week = hourly[(hourly["ts"] + HOUR <= end) & (hourly["ts"] + HOUR > end - 168 * HOUR)]
    day = week.tail(24)["kwh"].to_numpy()
    row = table.loc[end]
    local_hour = week["ts"].dt.tz_convert("Europe/Stockholm").dt.hour
    expected = {
        "kwh_lag_1h": day[-1],
        "kwh_mean_24h": day.mean(),
        "kwh_std_24h": day.std(ddof=1),
        "kwh_max_7d": week["kwh"].max(),
        "kwh_total_24h": day.sum(),
        "kwh_total_30d": hourly[(hourly["ts"] + HOUR <= end)].tail(720)["kwh"].sum(),
        "baseload_kwh_7d": np.quantile(week["kwh"], 0.1),
        "night_share_7d": week.loc[local_hour < 6, "kwh"].sum() / week["kwh"].sum(),
        "share_imputed_24h": week.tail(24)["share_imputed"].mean(),
    }
    for name, value in expected.items():
        assert row[name] == pytest.approx(value, rel=1e-5), name


def test_windows_with_too_few_hours_are_null():
    table = consumption_feature_table(_hourly(days=3, gap=(0, 0), nulls=()), ZONES)
    first = table.iloc[0]
    assert first["kwh_lag_1h"] > 0 and np.isnan(first["kwh_mean_24h"]) and np.isnan(first["kwh_lag_24h"])
    assert table["kwh_total_30d"].isna().all() and table["kwh_mean_24h"].notna().sum() == 72 - 11


# --- (3) weather: degree-days and trailing temperature ---------------------------------------------------------


@pytest.mark.parametrize(
    ("temp_c", "hdd_c", "cdd_c"),
    [
        pytest.param(-4.5, 20 / 24, 0.0, id="cold"),
        pytest.param(15.5, 0.0, 0.0, id="at-heating-base"),
        pytest.param(20.0, 0.0, 0.0, id="between-bases"),
        pytest.param(25.0, 0.0, 3 / 24, id="hot"),
        pytest.param(np.nan, np.nan, np.nan, id="missing"),
    ],
)
def test_degree_days_at_known_temperatures(temp_c, hdd_c, cdd_c):
    hdd, cdd = degree_days(np.array([temp_c]))
    np.testing.assert_allclose([hdd[0], cdd[0]], [hdd_c, cdd_c])


def _weather(temps: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lat": 59.25,
            "lon": 18.0,
            "ts": START + pd.to_timedelta(np.arange(len(temps)), unit="h"),
            "temp_c": temps,
            "ghi_w_m2": 0.0,
        }
    )


def test_weather_table_trailing_means_end_at_the_hour_and_ignore_later_hours():
    temps = np.arange(200, dtype=float)
    table = weather_feature_table(_weather(temps))
    changed = weather_feature_table(_weather(np.where(np.arange(200) > 150, 99.0, temps)))
    row = table.set_index("event_timestamp").loc[START + 100 * HOUR]
    assert row["weather_point"] == "59.250_18.000" and row["temp_c"] == 100.0
    assert row["temp_c_mean_24h"] == pytest.approx(np.mean(temps[77:101]))
    assert np.isnan(table["temp_c_mean_7d"].iloc[82]) and table["temp_c_mean_7d"].iloc[83] == np.mean(
        temps[:84]
    )
    assert (table["available_at"] == table["event_timestamp"]).all()
    assert table["cloud_cover"].isna().all()  # an optional column the input lacks
    pd.testing.assert_frame_equal(table.iloc[:151], changed.iloc[:151])


# --- (4) prices: local-day statistics and rank -----------------------------------------------------------------


def _prices(area: str, first: str, hours: int, prices: np.ndarray | None = None) -> pd.DataFrame:
    values = prices if prices is not None else np.arange(hours, dtype=float)
    ts = pd.date_range(pd.Timestamp(first, tz="UTC"), periods=hours, freq="h")
    return pd.DataFrame({"price_area": area, "ts": ts, "price_eur_mwh": values})


def test_price_day_statistics_and_rank_on_a_hand_built_day():
    # 2025-01-15 in Stockholm is 2025-01-14T23:00Z .. 2025-01-15T22:00Z
    prices = np.array(
        [50, 40, 30, 30, 60, *range(100, 119), 10.0]
    )  # 25 hours: the last is the next local day
    table = price_feature_table(_prices("SE3", "2025-01-14T23:00", 25, prices))
    day = table.iloc[:24]
    assert day["price_rank_in_day"].tolist()[:5] == [4, 3, 1, 1, 5]  # equal prices share the lower rank
    assert day["price_rank_in_day"].max() == 24
    assert (day["price_day_min"] == 30).all() and (day["price_day_max"] == 118).all()
    assert day["price_day_mean"].iloc[0] == pytest.approx(prices[:24].mean())
    assert table.iloc[24][["price_rank_in_day", "price_day_min", "price_day_max"]].tolist() == [1, 10, 10]


def test_a_dst_day_has_23_ranked_hours():
    # 2025-03-30, Europe/Stockholm: local midnight is 23:00Z on the 29th, the next one 22:00Z on the 30th
    table = price_feature_table(_prices("SE3", "2025-03-29T23:00", 24))
    dst_day, next_day = table.iloc[:23], table.iloc[23:]
    assert sorted(dst_day["price_rank_in_day"]) == list(range(1, 24))
    assert (dst_day["price_day_mean"] == 11.0).all() and (dst_day["price_day_max"] == 22).all()
    assert next_day["price_rank_in_day"].tolist() == [1]


def test_an_unknown_area_uses_utc_days():
    table = price_feature_table(_prices("XX1", "2025-01-14T23:00", 25))
    assert table["price_rank_in_day"].tolist()[:2] == [1, 1]  # 23:00Z ends a UTC day; 00:00Z starts the next


# --- (5) home encoding -------------------------------------------------------------------------------------------


def _homes() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "home_id": ["a", "b", "c", "d"],
            "home_type": ["detached", "other", None, "castle"],
            "heating_types": [["heat_pump", "direct_electric"], [], None, ["oil", "gas"]],
            "pv_kwp": [5.5, np.nan, 0.0, np.nan],
            "pv_tilt_deg": [30.0, np.nan, 20.0, np.nan],
            "pv_azimuth_deg": [180.0, np.nan, 90.0, np.nan],
            "has_ev": [True, None, False, False],
            "ev_charger_kw": [11.0, np.nan, np.nan, 7.4],
            "occupants": [2.0, np.nan, 3.0, 1.0],
            "weather_lat": [59.5, np.nan, 55.0, 60.0],
            "weather_lon": [18.0, np.nan, 12.5, 24.75],
        }
    )


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        pytest.param("home_type_code", [3, -1, -1, -1], id="home-type-unknown-is-minus-one"),
        pytest.param("heat_pump", [1, 0, 0, 0], id="heat-pump"),
        pytest.param("direct_electric", [1, 0, 0, 0], id="direct-electric"),
        pytest.param("gas", [0, 0, 0, 1], id="gas-among-others"),
        pytest.param("district_heating", [0, 0, 0, 0], id="district-heating"),
        pytest.param("has_pv", [1, 0, 0, 0], id="has-pv-needs-kwp"),
        pytest.param("pv_kwp", [5.5, 0.0, 0.0, 0.0], id="no-pv-is-zero-kwp"),
        pytest.param("has_ev", [1, 0, 0, 1], id="ev-from-flag-or-charger"),
        pytest.param(
            "weather_point", ["59.500_18.000", None, "55.000_12.500", "60.000_24.750"], id="point-id"
        ),
    ],
)
def test_home_encoding(column, expected):
    table = home_feature_table(_homes())
    assert table[column].tolist() == expected


def test_home_encoding_of_missing_fields():
    table = home_feature_table(_homes())
    assert np.isnan(table["pv_tilt_deg"].iloc[2])  # a tilt without PV is dropped
    assert table["occupants"].iloc[1] is pd.NA and table["build_year"].isna().all()  # absent column: unknown
    assert table["country"].isna().all() and table["event_timestamp"].iloc[0] == pd.Timestamp(0, tz="UTC")
    assert table.columns.tolist() == SPEC_COLUMNS["home"]


# --- (6) homes without weather or prices -------------------------------------------------------------------------


def test_a_lake_without_weather_or_prices_still_gets_consumption_and_home_rows(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    homes = pd.DataFrame({"home_id": ["h1"], "timezone": ["Europe/Stockholm"], "price_area": ["SE3"]})
    lake.write_table(lake.path("curated", "homes", "homes.parquet"), pa.Table.from_pandas(homes))
    hourly = _hourly(days=10, gap=(0, 0), nulls=()).assign(price_eur_mwh=np.nan, temp_c=np.nan)
    bucket = lake.path("curated", "consumption_hourly", "bucket=000", "month=2025-01", "part-0.parquet")
    lake.write_table(bucket, pa.Table.from_pandas(hourly, preserve_index=False))
    result = build_feature_tables(lake, n_buckets=1)
    assert result.rows == {"home": 1, "weather": 0, "price": 0, "consumption": 240}
    home = lake.read_table(feature_table_path(lake, "home")).to_pandas()
    assert home["weather_point"].isna().all() and home["price_area"].tolist() == ["SE3"]
    for name in ("weather", "price"):
        assert lake.read_table(feature_table_path(lake, name)).schema.names == SPEC_COLUMNS[name]


# --- (7) the build on a generated lake ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built_lake(small_demo, tmp_path_factory):
    from data_prep.run import run_prep

    settings = settings_for(str(tmp_path_factory.mktemp("features") / "lake"))
    run_prep(str(small_demo), settings)
    lake = Lake(settings.storage.root)
    stale = feature_table_path(lake, "consumption", 9)
    lake.write_table(stale, pa.table({"home_id": ["x"]}))
    stages: list[tuple[str, int, int]] = []
    result = build_feature_tables(lake, settings.prep.n_buckets, progress=lambda *a: stages.append(a))
    return lake, result, stages


def test_build_writes_every_table_with_the_spec_columns(built_lake):
    lake, result, stages = built_lake
    assert set(result.rows) == set(SPEC_COLUMNS) and all(rows > 0 for rows in result.rows.values())
    for name, paths in result.paths.items():
        for path in paths:
            table = lake.read_table(path)
            assert table.schema.names == SPEC_COLUMNS[name], path
            assert table.schema.field("event_timestamp").type == pa.timestamp("ns", tz="UTC")
    assert len(result.paths["consumption"]) == 4
    assert lake.glob(lake.path("features", "consumption", "*.parquet")) == sorted(result.paths["consumption"])
    assert ("consumption", 4, 4) in stages and ("home", 1, 1) in stages


def test_build_rows_end_at_the_curated_hours(built_lake):
    lake, result, _ = built_lake
    curated = lake.read_table(
        lake.path("curated", "consumption_hourly"), columns=["home_id", "ts"]
    ).to_pandas()
    features = lake.read_table(lake.path("features", "consumption")).to_pandas()
    last_hour = curated.groupby("home_id")["ts"].max() + HOUR
    last_row = features.groupby("home_id")["event_timestamp"].max()
    pd.testing.assert_series_equal(last_row.sort_index(), last_hour.sort_index(), check_names=False)
    assert result.homes_with_consumption == curated["home_id"].nunique()
    assert not features.duplicated(["home_id", "event_timestamp"]).any()


def test_build_keeps_homes_without_weather_or_prices(built_lake):
    lake, _, _ = built_lake
    home = lake.read_table(feature_table_path(lake, "home")).to_pandas()
    features = lake.read_table(lake.path("features", "consumption"), columns=["home_id"]).to_pandas()
    without = set(home.loc[home["weather_point"].isna() & home["price_area"].isna(), "home_id"])
    assert without, "the demo data should hold homes without weather or prices"
    assert without <= set(features["home_id"])  # the demo's unprofiled homes: metered, no position or area
    unknown = home[home["home_id"].isin(without)]
    assert (unknown["home_type_code"] == -1).all() and (unknown["has_pv"] == 0).all()
    assert set(features["home_id"]) <= set(home["home_id"])


def test_an_unknown_time_zone_counts_night_in_utc():
    hourly = _hourly(days=10, gap=(0, 0), nulls=())
    in_utc = consumption_feature_table(hourly, pd.Series({"h1": "UTC"}))
    unknown = consumption_feature_table(hourly, pd.Series({"h1": "Mars/Olympus"}))
    stockholm = consumption_feature_table(hourly, ZONES)
    pd.testing.assert_series_equal(unknown["night_share_7d"], in_utc["night_share_7d"])
    assert not np.allclose(stockholm["night_share_7d"], in_utc["night_share_7d"], equal_nan=True)
