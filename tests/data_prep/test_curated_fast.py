"""The curated zone's fast paths equal their pandas references: Arrow table, month files, local days, daily sums."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from contracts.storage import Lake
from data_prep import curated_hourly
from data_prep import curated_zone as curated
from data_prep.sorted_runs import run_codes

ZONES = pd.Series(
    {
        "a": "Europe/Stockholm",
        "b": "America/St_Johns",  # -03:30
        "c": "Australia/Lord_Howe",  # a 30-minute DST shift on 2025-04-06
        "d": "Asia/Kolkata",  # +05:30
    }
)  # "e" has no zone: UTC


def _hourly(seed: int, shuffle: bool = False) -> pd.DataFrame:
    """Hourly rows of five homes across the European and Lord Howe DST changes, sorted by (home, ts)."""
    rng = np.random.default_rng(seed)
    parts = []
    for home, start, hours in (("a", 0, 400), ("b", 7, 300), ("c", 0, 500), ("d", 30, 31), ("e", 3, 60)):
        ts = pd.date_range("2025-03-28", periods=hours, freq="h", tz="UTC")[start:]
        kwh = rng.choice([1e16, 1.0, 0.1, 0.7, -3.3, np.nan], size=len(ts))  # sums that round
        parts.append(
            pd.DataFrame(
                {
                    "home_id": home,
                    "ts": ts,
                    "kwh": kwh,
                    "interval_min": np.int32(60),
                    "quality_flag": rng.choice(["ok", "ok", "imputed", None], size=len(ts)),
                    "share_imputed": rng.choice([0.0, 1.0, 0.25, 0.1, np.nan], size=len(ts)),
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    return frame.sample(frac=1, random_state=seed) if shuffle else frame


def _inputs() -> tuple[pd.DataFrame, curated_hourly.HourlyLookup, curated_hourly.HourlyLookup]:
    homes = pd.DataFrame(
        {
            "home_id": ["a", "b", "c", "d"],  # e: no attributes
            "weather_lat": [1.0, 2.0, 1.0, np.nan],
            "weather_lon": [0.0, 0.0, 0.0, np.nan],
            "price_area": ["A", "B", None, "A"],
        }
    )
    ts = pd.date_range("2025-03-28", periods=480, freq="h", tz="UTC")  # ends before the last rows
    weather = pd.DataFrame(
        {
            "lat": np.repeat([1.0, 2.0], len(ts)),
            "lon": 0.0,
            "ts": list(ts) * 2,
            "temp_c": np.arange(2.0 * len(ts)),
        }
    )
    weather.loc[::7, "temp_c"] = np.nan
    prices = pd.DataFrame({"price_area": "A", "ts": ts, "price_eur_mwh": np.arange(len(ts)) / 3})
    return (
        homes,
        curated_hourly.HourlyLookup(weather, ["lat", "lon"], ["temp_c"]),
        curated_hourly.HourlyLookup(prices, ["price_area"], ["price_eur_mwh"]),
    )


def _table(
    hourly: pd.DataFrame, homes: pd.DataFrame, *lookups: curated_hourly.HourlyLookup | None
) -> pa.Table:
    of = curated_hourly._homes_of_rows(hourly, homes)
    table, temp_c = curated_hourly._curated_hourly_table(hourly, of, homes, lookups)
    np.testing.assert_array_equal(temp_c, table["temp_c"].to_numpy(zero_copy_only=False))
    return table


@pytest.mark.parametrize("shuffle", [False, True])
def test_the_curated_table_is_from_pandas_of_the_enriched_frame(shuffle):
    homes, weather, prices = _inputs()
    hourly = _hourly(0, shuffle)
    hourly.loc[hourly.index[5], "home_id"] = None  # a row without a home
    hourly.loc[hourly.index[6], "ts"] = pd.NaT
    hourly["pv_kwh"] = np.where(hourly["kwh"] > 0.5, np.nan, hourly["kwh"]).astype(np.float32)
    for lookups in ((weather, prices), (None, None)):
        want = pa.Table.from_pandas(
            curated_hourly.enrich_hourly(hourly, homes, *lookups), preserve_index=False
        )
        got = _table(hourly, homes, *lookups)
        assert got.equals(want, check_metadata=True)


@pytest.mark.parametrize("rows", [slice(0, 0), slice(0, 1), slice(None)])
def test_the_curated_table_types_columns_as_from_pandas_does_and_keeps_the_price_area_text(rows):
    homes, weather, prices = _inputs()
    homes = homes.assign(price_area=None)  # no area anywhere: from_pandas makes it a null column
    hourly = _hourly(1).iloc[rows].assign(quality_flag="ok")
    want = pa.Table.from_pandas(
        curated_hourly.enrich_hourly(hourly, homes, weather, prices), preserve_index=False
    )
    area = want.schema.get_field_index("price_area")
    assert want.schema.field(area).type == pa.null()
    want = want.cast(
        want.schema.set(area, pa.field("price_area", pa.string()))
    )  # text in every bucket's file
    got = _table(hourly, homes, weather, prices)
    assert got.equals(want)  # the pandas metadata differs: it says the column holds text
    assert got.to_pandas().equals(
        curated_hourly.enrich_hourly(hourly, homes, weather, prices).reset_index(drop=True)
    )


@pytest.mark.parametrize("shuffle", [False, True])
def test_month_files_hold_the_rows_of_their_month_in_order(shuffle):
    homes, weather, prices = _inputs()
    hourly = _hourly(2, shuffle)
    hourly.loc[hourly["home_id"] == "e", "ts"] += pd.Timedelta(
        days=90
    )  # home e: in June, after a month without rows
    table = _table(hourly, homes, weather, prices)
    lake = Lake(f"memory://curated-{uuid.uuid4().hex}")
    months = hourly["ts"].dt.tz_convert(None).to_numpy().astype("datetime64[M]")
    assert curated_hourly.write_hourly_partitions(lake, 7, table) == len(np.unique(months)) == 3
    for month in np.unique(months):
        path = lake.path("curated", "consumption_hourly", "bucket=007", f"month={month}", "part-0.parquet")
        back = lake.read_table(path)
        assert back.equals(table.take(np.flatnonzero(months == month)), check_metadata=True)


def test_a_month_of_nat_rows_comes_last():
    ts = pd.Series(pd.to_datetime(["2025-02-01", None, "2025-01-31"]).tz_localize("UTC"))
    table = pa.Table.from_pandas(pd.DataFrame({"ts": ts, "v": [0, 1, 2]}), preserve_index=False)
    parts = [(str(month), part["v"].to_pylist()) for month, part in curated_hourly._month_parts(table)]
    assert parts == [("2025-01", [2]), ("2025-02", [0]), ("NaT", [1])]


def _reference_wall_clock(ts: pd.Series, home_ids: pd.Series) -> np.ndarray:
    return np.array(
        [
            pd.NaT.value if pd.isna(t) else t.tz_convert(ZONES.get(h, "UTC")).tz_localize(None).value
            for t, h in zip(ts, home_ids, strict=True)
        ]
    )


@pytest.mark.parametrize("freq", ["h", "90min"])  # on the hour: a table of hours; otherwise per zone
def test_wall_clock_is_each_instant_in_its_home_zone(freq):
    hourly = _hourly(3, shuffle=True)
    hourly["ts"] = pd.date_range("2025-03-29", periods=len(hourly), freq=freq, tz="UTC")[
        np.random.default_rng(3).permutation(len(hourly)) % 300
    ]
    hourly.loc[hourly.index[4], "home_id"] = None
    home, ids = run_codes(hourly["home_id"])
    got = curated._wall_clock(hourly["ts"], home, ids, ZONES)
    np.testing.assert_array_equal(got, _reference_wall_clock(hourly["ts"], hourly["home_id"]))


def _with_temperature(hourly: pd.DataFrame, seed: int) -> pd.DataFrame:
    temp = np.random.default_rng(seed).normal(5, 10, len(hourly)).round(1)
    return hourly.assign(temp_c=np.where(np.arange(len(hourly)) % 5 == 0, np.nan, temp))


@pytest.mark.parametrize("seed", range(4))
def test_daily_sums_of_runs_equal_the_grouped_sums_to_the_last_bit(seed):
    hourly = _with_temperature(_hourly(seed), seed)
    runs = curated._daily_of_runs(hourly, ZONES, run_codes(hourly["home_id"], sort=True))
    assert runs is not None
    pd.testing.assert_frame_equal(runs, curated._daily_grouped(hourly, ZONES), check_exact=True)
    without_temperature = curated._daily_of_runs(
        hourly.drop(columns="temp_c"), ZONES, run_codes(hourly["home_id"], sort=True)
    )
    assert without_temperature is not None
    pd.testing.assert_frame_equal(
        without_temperature, curated._daily_grouped(hourly.drop(columns="temp_c"), ZONES), check_exact=True
    )


def test_daily_sums_fall_back_to_pandas_when_days_are_not_runs():
    hourly = _with_temperature(_hourly(5), 5)
    shuffled = hourly.sample(frac=1, random_state=1)
    missing_home = hourly.assign(home_id=hourly["home_id"].where(hourly.index != 3))
    homes_descending = hourly.sort_values(["home_id", "ts"], ascending=[False, True])
    cases = [
        (frame, run_codes(frame["home_id"], sort=True)) for frame in (shuffled, missing_home, hourly.iloc[:0])
    ]
    cases.append((homes_descending, run_codes(homes_descending["home_id"])))  # codes not ascending by home
    for frame, codes in cases:
        assert curated._daily_of_runs(frame, ZONES, codes) is None
        pd.testing.assert_frame_equal(
            curated.daily_from_hourly(frame, pd.DataFrame(), ZONES, codes),
            curated._daily_grouped(frame, ZONES),
            check_exact=True,
        )
