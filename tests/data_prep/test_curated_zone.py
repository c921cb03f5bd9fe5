"""Curated tables: nearest weather point, hourly joins, local days, bills on calendar months."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data_prep import curated_zone as curated


def test_nearest_point_is_by_great_circle_distance():
    homes = pd.DataFrame(
        {"home_id": ["a", "b", "c"], "lat": [59.3, 55.6, np.nan], "lon": [18.1, 13.0, np.nan]}
    )
    points = pd.DataFrame({"lat": [59.5, 55.5, 60.0], "lon": [18.0, 13.0, 25.0]})
    nearest = curated.nearest_points(homes, points).set_index("home_id")
    assert nearest.loc["a", ["weather_lat", "weather_lon"]].tolist() == [59.5, 18.0]
    assert nearest.loc["b", "weather_distance_km"] == pytest.approx(11.1, abs=0.2)  # 0.1° of latitude
    assert "c" not in nearest.index  # no position, no weather point


def test_hourly_lookup_joins_the_same_utc_hour_and_leaves_unknowns_null():
    ts = pd.date_range("2025-01-01", periods=3, freq="h", tz="UTC")
    prices = pd.DataFrame({"price_area": ["SE3"] * 3, "ts": ts, "price_eur_mwh": [10.0, 20.0, 30.0]})
    lookup = curated.HourlyLookup(prices, ["price_area"], ["price_eur_mwh"])
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
