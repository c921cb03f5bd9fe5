"""The curated zone: analysis-ready Parquet, partitioned so one home or one month is read without a full scan.

Layout:
    ``curated/consumption_hourly/bucket=NNN/month=YYYY-MM/part-0.parquet``: hourly kWh per home with the nearest
        weather point's values and the spot price of the home's price area (:mod:`data_prep.curated_hourly`).
    ``curated/consumption_daily/bucket=NNN.parquet`` and ``curated/consumption_monthly/bucket=NNN.parquet``.
    ``curated/homes/homes.parquet``: home attributes, the weather point each home maps to, and its native interval.

A home's bucket is :func:`contracts.storage.home_bucket`; :func:`~data_prep.curated_hourly.read_home_hourly` reads one
home's files only.
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
    TS,
)
from contracts.storage import Lake, Zone, home_buckets
from data_prep.curated_hourly import HourlyLookup, write_hourly_bucket
from data_prep.processed_zone import bucket_file
from data_prep.sorted_runs import NAT, combined_key, group_sums, run_codes

HOUR_NS = 3_600 * 10**9
DAY_NS = 24 * HOUR_NS


def local_dates(ts: pd.Series, home_ids: pd.Series, zones: pd.Series) -> pd.Series:
    """The local calendar date of each timestamp in its home's time zone (UTC when unknown)."""
    home, ids = run_codes(home_ids)
    wall = _wall_clock(ts, home, ids, zones)
    dates = np.where(wall == NAT, NAT, wall - wall % DAY_NS).view("datetime64[ns]")
    return pd.Series(dates, index=ts.index)


def _wall_clock(ts: pd.Series, home: np.ndarray, ids: np.ndarray, zones: pd.Series) -> np.ndarray:
    """The local wall-clock time [ns since 1970-01-01 local] of each instant in its home's zone (UTC when unknown).

    Args:
        home: per row, the position of its home in ``ids``; -1 for none (UTC).
    Invariants:
        Instants on the hour (a bucket's rows) are looked up in a table of each zone's hours, converted once;
        otherwise each zone converts all its rows at once. NaT stays NaT.
    """
    zone_of_home = np.append(zones.reindex(ids).fillna("UTC").to_numpy(), "UTC")  # home -1: the last one
    zone_code, zone_names = pd.factorize(zone_of_home)
    zone_of_row = zone_code[home]
    utc = ts.array.as_unit("ns")
    hour, past = np.divmod(utc.asi8, HOUR_NS)
    first = int(hour.min()) if len(hour) else 0
    span = int(hour.max()) - first + 1 if len(hour) and not utc.isna().any() else 0
    if 0 < span <= len(hour) and not past.any():
        hours = pd.DatetimeIndex((first + np.arange(span)) * HOUR_NS, tz="UTC")
        table = [hours.tz_convert(str(zone)).tz_localize(None).asi8 for zone in zone_names]
        return np.asarray(np.stack(table)[zone_of_row, hour - first])
    wall = np.empty(len(ts), dtype=np.int64)
    for code, zone in enumerate(zone_names):
        rows = zone_of_row == code if len(zone_names) > 1 else slice(None)
        wall[rows] = pd.DatetimeIndex(utc[rows]).tz_convert(str(zone)).tz_localize(None).asi8
    return wall


def daily_from_hourly(
    hourly: pd.DataFrame,
    daily_native: pd.DataFrame,
    zones: pd.Series,
    home_codes: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Daily totals per home and local date, from hourly homes and from homes that read daily.

    A day's ``kwh`` is null unless all its hours have a value (23 or 25 on DST days).

    Args:
        home_codes: ``run_codes(hourly[HOME_ID], sort=True)`` when the caller has it.
    """
    daily = _daily_of_runs(hourly, zones, home_codes or run_codes(hourly[HOME_ID], sort=True))
    if daily is None:
        daily = _daily_grouped(hourly, zones)
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


def _daily_grouped(hourly: pd.DataFrame, zones: pd.Series) -> pd.DataFrame:
    """The hourly part of :func:`daily_from_hourly` by a pandas groupby: the reference for any row order."""
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
    return daily.drop(columns=["expected_hours"]).reset_index()


def _daily_of_runs(
    hourly: pd.DataFrame, zones: pd.Series, home_codes: tuple[np.ndarray, np.ndarray]
) -> pd.DataFrame | None:
    """:func:`_daily_grouped` for rows sorted by (home, time), whose (home, local date) groups are runs.

    Returns:
        The daily rows, equal to the grouped ones to the last bit (compensated sums in row order, as pandas);
        None when the rows are empty, have a missing home or time, or are not in (home, local date) order, or
        ``home_codes`` are not in ascending order of home.
    """
    home, ids = home_codes
    if not len(home) or home.min() < 0 or hourly[TS].isna().any() or (ids[1:] <= ids[:-1]).any():
        return None
    day = _wall_clock(hourly[TS], home, ids, zones) // DAY_NS
    key = combined_key(home, day)
    if key is None or (key[1:] < key[:-1]).any():
        return None
    first = np.flatnonzero(np.append(True, key[1:] != key[:-1]))
    size = np.diff(np.append(first, len(key)))
    kwh, n_hours = group_sums(hourly[KWH].to_numpy(dtype=float), first, size)
    daily = {HOME_ID: ids[home[first]], "date": (day[first] * DAY_NS).view("datetime64[ns]")}
    daily[KWH] = np.where(n_hours < size, np.nan, kwh)
    daily["n_hours"] = n_hours
    daily["share_imputed"] = _group_means(hourly["share_imputed"].to_numpy(dtype=float), first, size)
    temp = hourly["temp_c"].to_numpy(dtype=float) if "temp_c" in hourly else None
    daily["temp_c_mean"] = np.nan if temp is None else _group_means(temp, first, size)
    return pd.DataFrame(daily)


def _group_means(values: np.ndarray, first: np.ndarray, size: np.ndarray) -> np.ndarray:
    """The mean of the non-NaN values of each group of consecutive rows, as pandas' grouped mean; NaN for none."""
    total, count = group_sums(values, first, size)
    return total / np.maximum(count, 1)  # a group without values has a NaN total


_DATE = "datetime64[ns]"  # local dates and months, naive, as daily_from_hourly writes them


def _typed_empty(dtypes: dict[str, Any]) -> pd.DataFrame:
    """An empty frame with these column types, so that an empty bucket's file has the schema the others have."""
    return pd.DataFrame({column: pd.Series(dtype=dtype) for column, dtype in dtypes.items()})


def monthly_totals(daily: pd.DataFrame, bills: pd.DataFrame) -> pd.DataFrame:
    """Monthly kWh per home from daily readings, beside the billed kWh prorated by day onto calendar months."""
    frame = daily.assign(month=daily["date"].dt.to_period("M").dt.start_time)
    grouped = frame.groupby([HOME_ID, "month"])
    monthly = grouped[KWH].sum(min_count=1).to_frame()
    monthly["days_with_data"] = grouped[KWH].count()
    monthly = monthly.reset_index()
    billed = prorate_bills(bills)
    monthly = monthly.merge(billed, on=[HOME_ID, "month"], how="outer")
    # A billed month without readings has no day with data: 0, so the column is an integer in every bucket's file
    # (NaN would make it a float in some and an integer in others, and a reader of the folder fail).
    monthly["days_with_data"] = monthly["days_with_data"].fillna(0).astype(np.int64)
    monthly["days_in_month"] = monthly["month"].dt.days_in_month
    return monthly.sort_values([HOME_ID, "month"], ignore_index=True)


def prorate_bills(bills: pd.DataFrame) -> pd.DataFrame:
    """Spread each bill's kWh evenly over its days and sum per calendar month."""
    if bills.empty:
        return _typed_empty({HOME_ID: object, "month": _DATE, "bill_kwh": float})
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
        return _typed_empty(
            {HOME_ID: object, "period_start": _DATE, "period_end": _DATE}
            | dict.fromkeys(("bill_kwh", "readings_kwh", "coverage"), float)
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
    code, ids, temp_c = write_hourly_bucket(lake, bucket, hourly, homes, lookups)
    columns = {c: hourly[c] for c in (HOME_ID, TS, KWH, "share_imputed")}
    hourly = pd.DataFrame({**columns, "temp_c": temp_c}, index=hourly.index, copy=False)
    daily = daily_from_hourly(hourly, grid[grid[INTERVAL_MIN] == 1440], zones, (code, ids))
    bills = _bucket_bills(bills, bucket, n_buckets, excluded)
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


def write_billed_months(
    lake: Lake, bucket: int, bills: pd.DataFrame, n_buckets: int, excluded: list[str]
) -> None:
    """The monthly file of a bucket without readings on the grid: the billed months of its homes that have bills
    (homes billed monthly without a meter feed), and no file when none has."""
    bills = _bucket_bills(bills, bucket, n_buckets, excluded)
    if bills.empty:
        return
    no_days = _typed_empty({HOME_ID: object, "date": _DATE, KWH: float})
    lake.write_table(
        bucket_file(lake, "consumption_monthly", bucket, Zone.CURATED),
        pa.Table.from_pandas(monthly_totals(no_days, bills), preserve_index=False),
    )


def bill_buckets(bills: pd.DataFrame, n_buckets: int) -> np.ndarray:
    """The bucket of each bill's home."""
    return home_buckets(pa.array(bills[HOME_ID].astype(str)), n_buckets).to_numpy()


def _bucket_bills(bills: pd.DataFrame, bucket: int, n_buckets: int, excluded: list[str]) -> pd.DataFrame:
    """The bills of the homes of ``bucket`` that are not ``excluded``."""
    if bills.empty:
        return bills
    return bills[(bill_buckets(bills, n_buckets) == bucket) & ~bills[HOME_ID].isin(excluded).to_numpy()]


def curated_files(lake: Lake, bucket: int) -> list[str]:
    """Every file :func:`write_curated_bucket` writes for ``bucket``, its bill check included."""
    return [
        lake.path(Zone.CURATED, "consumption_hourly", f"bucket={bucket:03d}"),
        bucket_file(lake, "consumption_daily", bucket, Zone.CURATED),
        bucket_file(lake, "consumption_monthly", bucket, Zone.CURATED),
        bucket_file(lake, "bill_check", bucket, Zone.QUALITY),
    ]
