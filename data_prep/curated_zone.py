"""The curated zone: analysis-ready Parquet, partitioned so one home or one month is read without a full scan.

Layout:
    ``curated/consumption_hourly/bucket=NNN/month=YYYY-MM/part-0.parquet``: hourly kWh per home with the nearest
        weather point's values and the spot price of the home's price area.
    ``curated/consumption_daily/bucket=NNN.parquet`` and ``curated/consumption_monthly/bucket=NNN.parquet``.
    ``curated/homes/homes.parquet``: home attributes, the weather point each home maps to, and its native interval.

A home's bucket is :func:`contracts.storage.home_bucket`; :func:`read_home_hourly` reads one home's files only.

Invariants:
    Weather and prices join on the same UTC hour as the consumption they describe; nothing from a later hour.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from contracts.schemas import (
    HOME_ID,
    INTERVAL_MIN,
    KWH,
    LAT,
    LON,
    PRICE_AREA,
    PRICE_EUR_MWH,
    TS,
    WEATHER_OPTIONAL,
)
from contracts.storage import Lake, Zone, home_bucket, home_buckets
from data_prep.processed_zone import bucket_file

EARTH_RADIUS_KM = 6371.0
WEATHER_VALUES = ("temp_c", "ghi_w_m2", *WEATHER_OPTIONAL)


def nearest_points(homes: pd.DataFrame, points: pd.DataFrame) -> pd.DataFrame:
    """The nearest weather point of each home with a position, by great-circle distance.

    Returns:
        ``home_id``, ``weather_lat``, ``weather_lon``, ``weather_distance_km`` [km]; homes without a position are absent.
    """
    located = homes.dropna(subset=[LAT, LON])
    if located.empty or points.empty:
        return pd.DataFrame(columns=[HOME_ID, "weather_lat", "weather_lon", "weather_distance_km"])
    h_lat, h_lon = np.radians(located[LAT].to_numpy())[:, None], np.radians(located[LON].to_numpy())[:, None]
    p_lat, p_lon = np.radians(points[LAT].to_numpy())[None, :], np.radians(points[LON].to_numpy())[None, :]
    a = np.sin((p_lat - h_lat) / 2) ** 2 + np.cos(h_lat) * np.cos(p_lat) * np.sin((p_lon - h_lon) / 2) ** 2
    distance = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0, 1)))
    best = distance.argmin(axis=1)
    return pd.DataFrame(
        {
            HOME_ID: located[HOME_ID].to_numpy(),
            "weather_lat": points[LAT].to_numpy()[best],
            "weather_lon": points[LON].to_numpy()[best],
            "weather_distance_km": distance[np.arange(len(located)), best],
        }
    )


class HourlyLookup:
    """Hourly values by key (a weather point, a price area) and UTC hour, as dense arrays for fast joins.

    Args:
        frame: one row per key and hour.
        keys: the key columns.
        values: the value columns.
    """

    def __init__(self, frame: pd.DataFrame, keys: list[str], values: list[str]) -> None:
        index = pd.MultiIndex.from_frame(frame[keys]) if len(keys) > 1 else pd.Index(frame[keys[0]])
        self.key_index = index.unique()
        hours = frame[TS].array.as_unit("s").asi8 // 3600
        self.first_hour = int(hours.min()) if len(hours) else 0
        self.n_hours = int(hours.max()) - self.first_hour + 1 if len(hours) else 0
        row, col = self.key_index.get_indexer(index), hours - self.first_hour
        self.arrays = {}
        for value in values:
            array = np.full((len(self.key_index), self.n_hours), np.nan)
            array[row, col] = frame[value].to_numpy(dtype=float)
            self.arrays[value] = array

    def lookup(self, keys: pd.DataFrame | pd.Series, ts: pd.Series) -> dict[str, np.ndarray]:
        """The values at each (key, hour); NaN where the key or the hour is unknown."""
        return self.values_at(self.rows_of(keys), ts)

    def rows_of(self, keys: pd.DataFrame | pd.Series) -> np.ndarray:
        """The row of each key in the lookup's arrays; -1 where the key is unknown."""
        index = pd.MultiIndex.from_frame(keys) if isinstance(keys, pd.DataFrame) else pd.Index(keys)
        return np.asarray(self.key_index.get_indexer(index))

    def values_at(self, row: np.ndarray, ts: pd.Series) -> dict[str, np.ndarray]:
        """The values at each (row from :meth:`rows_of`, hour); NaN where either is unknown."""
        col = ts.array.as_unit("s").asi8 // 3600 - self.first_hour
        known = (row >= 0) & (col >= 0) & (col < self.n_hours)
        cells = row[known] * self.n_hours + col[known]
        out = {}
        for name, array in self.arrays.items():
            values = np.full(len(row), np.nan)
            values[known] = array.ravel().take(cells)
            out[name] = values
        return out


def enrich_hourly(
    hourly: pd.DataFrame, homes: pd.DataFrame, weather: HourlyLookup | None, prices: HourlyLookup | None
) -> pd.DataFrame:
    """Hourly consumption with the home's weather point values and price; absent inputs leave nulls.

    The home attributes and lookup keys are resolved once per home, not once per row.
    """
    home_of_row, home_ids = pd.factorize(hourly[HOME_ID], use_na_sentinel=False)
    attributes = homes.set_index(HOME_ID)[["weather_lat", "weather_lon", PRICE_AREA]].reindex(home_ids)
    out: dict[str, Any] = {column: hourly[column] for column in hourly.columns}
    for column in ("weather_lat", "weather_lon", PRICE_AREA):
        out[column] = attributes[column].to_numpy()[home_of_row]
    if weather is not None:
        points = attributes[["weather_lat", "weather_lon"]].set_axis([LAT, LON], axis=1)
        out.update(weather.values_at(weather.rows_of(points)[home_of_row], hourly[TS]))
    if prices is not None:
        area_rows = prices.rows_of(attributes[PRICE_AREA])[home_of_row]
        out[PRICE_EUR_MWH] = prices.values_at(area_rows, hourly[TS])[PRICE_EUR_MWH]
    for column in (*WEATHER_VALUES, PRICE_EUR_MWH):
        if column not in out:
            out[column] = np.full(len(hourly), np.nan)
    return pd.DataFrame(out, index=hourly.index, copy=False)


def local_dates(ts: pd.Series, home_ids: pd.Series, zones: pd.Series) -> pd.Series:
    """The local calendar date of each timestamp in its home's time zone (UTC when unknown).

    Each distinct (zone, instant) pair is converted once: a bucket holds a year of hours for a few zones, not a
    conversion per row.
    """
    home_of_row, unique_homes = pd.factorize(home_ids, use_na_sentinel=False)
    zone_of_home = zones.reindex(unique_homes).fillna("UTC").to_numpy()
    zone_code_of_home, zone_names = pd.factorize(zone_of_home, use_na_sentinel=False)
    instant_of_row, instants = pd.factorize(ts, use_na_sentinel=False)
    pair_of_row, pairs = pd.factorize(
        zone_code_of_home[home_of_row].astype(np.int64) * len(instants) + instant_of_row,
        use_na_sentinel=False,
    )
    pair_zone, pair_instant = np.divmod(pairs, max(len(instants), 1))
    pair_dates = np.empty(len(pairs), dtype="datetime64[ns]")
    for code, zone in enumerate(zone_names):
        chosen = pair_zone == code
        local = pd.DatetimeIndex(instants[pair_instant[chosen]]).tz_convert(str(zone)).tz_localize(None)
        pair_dates[chosen] = local.normalize().as_unit("ns").to_numpy()
    return pd.Series(pair_dates[pair_of_row], index=ts.index)


def daily_from_hourly(hourly: pd.DataFrame, daily_native: pd.DataFrame, zones: pd.Series) -> pd.DataFrame:
    """Daily totals per home and local date, from hourly homes and from homes that read daily.

    A day's ``kwh`` is null unless all its hours have a value (23 or 25 on DST days).
    """
    columns = [HOME_ID, TS, KWH, "share_imputed", *(["temp_c"] if "temp_c" in hourly else [])]
    frame = pd.DataFrame({c: hourly[c] for c in columns}, index=hourly.index, copy=False)
    frame["date"] = local_dates(hourly[TS], hourly[HOME_ID], zones)
    grouped = frame.groupby([HOME_ID, "date"], sort=True)
    daily = grouped[KWH].sum(min_count=1).to_frame()
    daily["n_hours"] = grouped[KWH].count()
    daily["expected_hours"] = grouped[TS].size()
    daily["share_imputed"] = grouped["share_imputed"].mean()
    daily["temp_c_mean"] = grouped["temp_c"].mean() if "temp_c" in frame else np.nan
    daily.loc[daily["n_hours"] < daily["expected_hours"], KWH] = np.nan
    daily = daily.drop(columns=["expected_hours"]).reset_index()
    if not daily_native.empty:
        native = pd.DataFrame(
            {
                HOME_ID: daily_native[HOME_ID].to_numpy(),
                "date": local_dates(daily_native[TS], daily_native[HOME_ID], zones).to_numpy(),
                KWH: daily_native[KWH].to_numpy(),
                "n_hours": np.where(daily_native[KWH].notna(), 24, 0),
                "share_imputed": (daily_native["quality_flag"] != "ok").astype(float).to_numpy(),
                "temp_c_mean": np.nan,
            }
        )
        daily = pd.concat([daily, native], ignore_index=True)
    return daily


def monthly_totals(daily: pd.DataFrame, bills: pd.DataFrame) -> pd.DataFrame:
    """Monthly kWh per home from daily readings, beside the billed kWh prorated by day onto calendar months."""
    frame = daily.assign(month=daily["date"].dt.to_period("M").dt.start_time)
    grouped = frame.groupby([HOME_ID, "month"])
    monthly = grouped[KWH].sum(min_count=1).to_frame()
    monthly["days_with_data"] = grouped[KWH].count()
    monthly = monthly.reset_index()
    billed = prorate_bills(bills)
    monthly = monthly.merge(billed, on=[HOME_ID, "month"], how="outer")
    monthly["days_in_month"] = monthly["month"].dt.days_in_month
    return monthly.sort_values([HOME_ID, "month"], ignore_index=True)


def prorate_bills(bills: pd.DataFrame) -> pd.DataFrame:
    """Spread each bill's kWh evenly over its days and sum per calendar month."""
    if bills.empty:
        return pd.DataFrame(columns=[HOME_ID, "month", "bill_kwh"])
    days = (bills["period_end"] - bills["period_start"]).dt.days.to_numpy()
    expanded = bills.loc[bills.index.repeat(days)]
    offsets = np.concatenate([np.arange(d) for d in days]) if len(days) else np.array([], int)
    day = expanded["period_start"].to_numpy() + offsets.astype("timedelta64[D]")
    per_day: np.ndarray = expanded["kwh"].to_numpy(dtype=float) / np.repeat(days, days)
    spread = pd.DataFrame({HOME_ID: expanded[HOME_ID].to_numpy(), "day": day, "bill_kwh": per_day})
    spread["month"] = spread["day"].dt.to_period("M").dt.start_time
    return spread.groupby([HOME_ID, "month"])["bill_kwh"].sum().reset_index()


def bill_check(daily: pd.DataFrame, bills: pd.DataFrame) -> pd.DataFrame:
    """Readings summed over each bill period, beside the bill (the cross-source rule)."""
    if bills.empty or daily.empty:
        return pd.DataFrame(
            columns=[HOME_ID, "period_start", "period_end", "bill_kwh", "readings_kwh", "coverage"]
        )
    billed = bills[[HOME_ID, "period_start", "period_end", "kwh"]].rename(columns={"kwh": "bill_kwh"})
    bill_rows, day_rows = _same_home_pairs(billed[HOME_ID], daily[HOME_ID])
    dates = daily["date"].to_numpy()[day_rows]
    starts, ends = billed["period_start"].to_numpy()[bill_rows], billed["period_end"].to_numpy()[bill_rows]
    kept = (dates >= starts) & (dates < ends)
    inside = pd.concat(
        [
            billed.iloc[bill_rows[kept]].reset_index(drop=True),
            daily[["date", KWH]].iloc[day_rows[kept]].reset_index(drop=True),
        ],
        axis=1,
    )
    grouped = inside.groupby([HOME_ID, "period_start", "period_end"])
    out = grouped.agg(
        bill_kwh=("bill_kwh", "first"), readings_kwh=(KWH, "sum"), days=(KWH, "count")
    ).reset_index()
    out["coverage"] = out["days"] / (out["period_end"] - out["period_start"]).dt.days
    return out.drop(columns=["days"])


def _same_home_pairs(left: pd.Series, right: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Every (left row, right row) pair with the same home, in the order of an inner merge on it.

    That order (by left row, then right row) keeps the sums over each left row's pairs bit-identical to a merge's.
    """
    codes, _ = pd.factorize(pd.concat([left, right], ignore_index=True), use_na_sentinel=False)
    left_codes, right_codes = codes[: len(left)], codes[len(left) :]
    right_by_home = np.argsort(right_codes, kind="stable")
    first = np.searchsorted(right_codes[right_by_home], left_codes, side="left")
    count = np.searchsorted(right_codes[right_by_home], left_codes, side="right") - first
    left_rows = np.repeat(np.arange(len(left)), count)
    within = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    return left_rows, right_by_home[np.repeat(first, count) + within]


def write_hourly_partitions(lake: Lake, bucket: int, frame: pd.DataFrame) -> int:
    """Write one bucket's hourly rows as one file per month, replacing the bucket's earlier files."""
    folder = lake.path(Zone.CURATED, "consumption_hourly", f"bucket={bucket:03d}")
    months = frame[TS].array.tz_convert(None).to_numpy().astype("datetime64[M]")
    order = np.argsort(months, kind="stable")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    written = set()
    unique, starts = np.unique(months[order], return_index=True)
    for month, rows in zip(unique, np.split(order, starts[1:]), strict=True):
        path = f"{folder}/month={month}/part-0.parquet"
        lake.write_table(path, table.take(pa.array(rows)))
        written.add(path)
    stale = [p for p in lake.glob(f"{folder}/month=*/part-0.parquet") if p not in written]
    lake.rm(stale)
    return len(written)


def read_home_hourly(lake: Lake, home_id: str, n_buckets: int) -> pd.DataFrame:
    """One home's curated hourly rows, reading only its bucket's files."""
    folder = lake.path(Zone.CURATED, "consumption_hourly", f"bucket={home_bucket(home_id, n_buckets):03d}")
    if not lake.exists(folder):
        return pd.DataFrame()
    table = lake.read_table(folder, filters=[(HOME_ID, "=", home_id)])
    return table.to_pandas()


def write_curated_bucket(
    lake: Lake,
    bucket: int,
    grid: pd.DataFrame,
    hourly: pd.DataFrame,
    homes: pd.DataFrame,
    zones: pd.Series,
    bills: pd.DataFrame,
    lookups: tuple[HourlyLookup | None, HourlyLookup | None],
    n_buckets: int,
    excluded: list[str],
) -> None:
    """Write one bucket's curated hourly, daily and monthly consumption and its bill check."""
    enriched = enrich_hourly(hourly, homes, *lookups)
    write_hourly_partitions(lake, bucket, enriched)
    daily = daily_from_hourly(enriched, grid[grid[INTERVAL_MIN] == 1440], zones)
    if not bills.empty:
        in_bucket = home_buckets(pa.array(bills[HOME_ID].astype(str)), n_buckets).to_numpy() == bucket
        bills = bills[in_bucket & ~bills[HOME_ID].isin(excluded).to_numpy()]
    lake.write_table(
        bucket_file(lake, "consumption_daily", bucket, Zone.CURATED),
        pa.Table.from_pandas(daily, preserve_index=False),
    )
    monthly = monthly_totals(daily, bills)
    lake.write_table(
        bucket_file(lake, "consumption_monthly", bucket, Zone.CURATED),
        pa.Table.from_pandas(monthly, preserve_index=False),
    )
    checks = bill_check(daily, bills)
    lake.write_table(
        bucket_file(lake, "bill_check", bucket, Zone.QUALITY),
        pa.Table.from_pandas(checks, preserve_index=False),
    )


def curated_files(lake: Lake, bucket: int) -> list[str]:
    return [
        lake.path(Zone.CURATED, "consumption_hourly", f"bucket={bucket:03d}"),
        bucket_file(lake, "consumption_daily", bucket, Zone.CURATED),
        bucket_file(lake, "consumption_monthly", bucket, Zone.CURATED),
    ]
