"""Curated tables: nearest weather point, hourly joins, local days, bills on calendar months."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data_prep import curated_hourly
from data_prep import curated_zone as curated


def test_nearest_point_is_by_great_circle_distance():
    homes = pd.DataFrame(
        {"home_id": ["a", "b", "c"], "lat": [59.3, 55.6, np.nan], "lon": [18.1, 13.0, np.nan]}
    )
    points = pd.DataFrame({"lat": [59.5, 55.5, 60.0], "lon": [18.0, 13.0, 25.0]})
    nearest = curated_hourly.nearest_points(homes, points).set_index("home_id")
    assert nearest.loc["a", ["weather_lat", "weather_lon"]].tolist() == [59.5, 18.0]
    assert nearest.loc["b", "weather_distance_km"] == pytest.approx(11.1, abs=0.2)  # 0.1° of latitude
    assert "c" not in nearest.index  # no position, no weather point


def test_hourly_lookup_joins_the_same_utc_hour_and_leaves_unknowns_null():
    ts = pd.date_range("2025-01-01", periods=3, freq="h", tz="UTC")
    prices = pd.DataFrame({"price_area": ["SE3"] * 3, "ts": ts, "price_eur_mwh": [10.0, 20.0, 30.0]})
    lookup = curated_hourly.HourlyLookup(prices, ["price_area"], ["price_eur_mwh"])
    query_ts = pd.Series([ts[1], ts[2], ts[2] + pd.Timedelta(hours=1), ts[0]])
    got = lookup.lookup(pd.Series(["SE3", "SE3", "SE3", "DK1"]), query_ts)["price_eur_mwh"]
    np.testing.assert_array_equal(got, [20.0, 30.0, np.nan, np.nan])


def test_local_days_follow_the_home_time_zone_across_dst():
    ts = pd.Series(pd.date_range("2025-03-29T22:00", periods=4, freq="h", tz="UTC"))
    dates = curated.local_dates(ts, pd.Series(["h"] * 4), pd.Series({"h": "Europe/Stockholm"}))
    assert dates.dt.strftime("%d").tolist() == ["29", "30", "30", "30"]  # 23:00, then midnight CET


def test_bills_are_prorated_by_day_onto_calendar_months():
    bills = pd.DataFrame(
        {
            "home_id": ["h"],
            "period_start": [pd.Timestamp("2025-01-16")],
            "period_end": [pd.Timestamp("2025-02-15")],  # 16 days in January, 14 in February
            "kwh": [300.0],
        }
    )
    monthly = curated.prorate_bills(bills).set_index("month")["bill_kwh"]
    assert monthly[pd.Timestamp("2025-01-01")] == pytest.approx(160.0)
    assert monthly[pd.Timestamp("2025-02-01")] == pytest.approx(140.0)


def test_a_billed_month_without_readings_has_zero_days_with_data_as_an_integer():
    daily = pd.DataFrame({"home_id": ["r"], "date": [pd.Timestamp("2025-01-05")], "kwh": [10.0]})
    bills = pd.DataFrame(
        {
            "home_id": ["b"],
            "period_start": [pd.Timestamp("2025-01-01")],
            "period_end": [pd.Timestamp("2025-02-01")],
            "kwh": [310.0],
        }
    )
    monthly = curated.monthly_totals(daily, bills).set_index("home_id")
    assert monthly["days_with_data"].dtype == np.int64  # the same type in every bucket's file
    assert monthly.loc["b", "days_with_data"] == 0 and np.isnan(monthly.loc["b", "kwh"])
    assert monthly.loc["r", "days_with_data"] == 1 and np.isnan(monthly.loc["r", "bill_kwh"])


def test_bill_check_sums_the_readings_of_the_period():
    days = pd.date_range("2025-01-01", periods=31, freq="D")
    daily = pd.DataFrame({"home_id": "h", "date": days, "kwh": 10.0})
    bills = pd.DataFrame(
        {
            "home_id": ["h"],
            "period_start": [days[0]],
            "period_end": [pd.Timestamp("2025-02-01")],
            "kwh": [300.0],
        }
    )
    check = curated.bill_check(daily.iloc[:30], bills)
    assert check["readings_kwh"].item() == pytest.approx(300.0)
    assert check["coverage"].item() == pytest.approx(30 / 31)


def test_local_days_match_a_conversion_of_each_row_in_its_own_zone():
    instants = [*pd.date_range("2025-03-29T20:00", periods=40, freq="30min", tz="UTC"), pd.NaT]
    ts = pd.Series(instants, dtype="datetime64[ns, UTC]").sample(frac=1, random_state=0)  # shuffled index
    zones = pd.Series({"se": "Europe/Stockholm", "nf": "America/St_Johns", "lh": "Australia/Lord_Howe"})
    home_ids = pd.Series(np.resize(["se", "nf", "lh", "unknown"], len(ts)), index=ts.index)
    want = [
        pd.NaT if pd.isna(t) else t.tz_convert(zones.get(h, "UTC")).tz_localize(None).normalize()
        for t, h in zip(ts, home_ids, strict=True)
    ]
    got = curated.local_dates(ts, home_ids, zones)
    assert got.index.equals(ts.index) and got.dtype == "datetime64[ns]"
    np.testing.assert_array_equal(got.to_numpy(), pd.Series(want, dtype="datetime64[ns]").to_numpy())


def test_enriched_rows_take_the_values_of_their_own_home_point_area_and_hour():
    ts = pd.date_range("2025-01-01", periods=4, freq="h", tz="UTC")
    weather = pd.DataFrame(
        {
            "lat": [1.0] * 4 + [2.0] * 4,
            "lon": 0.0,
            "ts": list(ts) * 2,
            "temp_c": np.arange(8.0),
            "ghi_w_m2": 0.0,
        }
    )
    prices = pd.DataFrame({"price_area": "A", "ts": ts, "price_eur_mwh": [10.0, 20.0, 30.0, 40.0]})
    homes = pd.DataFrame(
        {
            "home_id": ["h1", "h2", "h3"],
            "weather_lat": [2.0, 1.0, np.nan],  # h3 has no position
            "weather_lon": [0.0, 0.0, np.nan],
            "price_area": ["A", "B", None],  # no prices for B
        }
    )
    hourly = pd.DataFrame({"home_id": ["h2", "h1", "h3", "h4", "h1"], "ts": ts[[0, 1, 2, 3, 3]], "kwh": 1.0})
    out = curated_hourly.enrich_hourly(
        hourly,
        homes,
        curated_hourly.HourlyLookup(weather, ["lat", "lon"], ["temp_c", "ghi_w_m2"]),
        curated_hourly.HourlyLookup(prices, ["price_area"], ["price_eur_mwh"]),
    )
    assert list(out.columns) == [
        "home_id", "ts", "kwh", "weather_lat", "weather_lon", "price_area", "temp_c", "ghi_w_m2",
        "price_eur_mwh", *curated_hourly.WEATHER_VALUES[2:],  # the weather columns the lookup lacks come last
    ]  # fmt: skip
    np.testing.assert_array_equal(out["temp_c"], [0.0, 5.0, np.nan, np.nan, 7.0])  # h4 is not a known home
    np.testing.assert_array_equal(out["price_eur_mwh"], [np.nan, 20.0, np.nan, np.nan, 40.0])
    assert out["price_area"].iloc[[0, 1, 4]].tolist() == ["B", "A", "A"]
    assert out["price_area"].iloc[[2, 3]].isna().all()


def test_bill_check_counts_a_day_in_every_bill_that_covers_it():
    days = pd.date_range("2025-01-01", periods=40, freq="D")
    daily = pd.DataFrame(
        {"home_id": ["h"] * 40 + ["g"] * 40, "date": list(days) * 2, "kwh": [1.0] * 40 + [2.0] * 40}
    )
    bills = pd.DataFrame(
        {
            "home_id": ["h", "h", "g", "x"],  # h's two bills overlap; x has no readings
            "period_start": pd.to_datetime(["2025-01-01", "2025-01-11", "2025-01-05", "2025-01-01"]),
            "period_end": pd.to_datetime(["2025-01-21", "2025-02-20", "2025-01-15", "2025-02-01"]),
            "kwh": [20.0, 40.0, 20.0, 1.0],
        }
    )
    check = curated.bill_check(daily.sample(frac=1, random_state=0), bills)
    assert check["home_id"].tolist() == ["g", "h", "h"]
    assert check["readings_kwh"].tolist() == [20.0, 20.0, 30.0]  # h's second bill has 30 days of readings
    assert check["coverage"].tolist() == pytest.approx([1.0, 1.0, 30 / 40])


def test_a_pickled_lookup_maps_the_same_values_from_a_file_removed_with_the_lookup():
    import gc
    import os
    import pickle

    prices = pd.DataFrame(
        {
            "price_area": ["SE3", "SE3", "SE4"],
            "ts": pd.to_datetime(["2025-01-01 00:00", "2025-01-01 01:00", "2025-01-01 00:00"], utc=True),
            "price_eur_mwh": [10.0, 20.0, 30.0],
        }
    )
    lookup = curated_hourly.HourlyLookup(prices, ["price_area"], ["price_eur_mwh"])
    copy = pickle.loads(pickle.dumps(lookup))
    areas = pd.Series(["SE3", "SE4", "SE3", "NO1"])
    ts = pd.Series(
        pd.to_datetime(
            ["2025-01-01 01:00", "2025-01-01 00:00", "2025-01-02 00:00", "2025-01-01 00:00"], utc=True
        )
    )
    got, want = copy.lookup(areas, ts)["price_eur_mwh"], lookup.lookup(areas, ts)["price_eur_mwh"]
    np.testing.assert_array_equal(got, [20.0, 30.0, np.nan, np.nan])
    np.testing.assert_array_equal(got, want)
    assert type(got) is np.ndarray and not copy.arrays["price_eur_mwh"].flags.writeable  # mapped, read-only
    folder = os.path.dirname(next(iter(lookup._files.values())))
    assert pickle.dumps(lookup) and os.path.isdir(folder)  # pickled again: the same files
    del lookup, copy
    gc.collect()
    assert not os.path.exists(folder)
