"""Consumption features: lags, trailing statistics, totals, night share and baseload of hourly kWh per home.

One row per home and hour from the home's first curated hour to its last, gaps included. A row describes the
moment its hour ends: ``event_timestamp`` = E = hour start + 1 h, and every value is computed from hours that end at
or before E. Windows use the hours that have a value; a window with fewer than :data:`MIN_COVERAGE_SHARE` of its
hours present gives null.

Invariants:
    Every value in a row uses only kWh of hours whose interval ends at or before the row's ``event_timestamp``.
    Lags are by time: ``kwh_lag_24h`` at E is the kWh of exactly [E-24h, E-23h), null if that hour is missing.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa

from contracts.schemas import HOME_ID, KWH
from features.transforms.hourly_grid import HourlyGrid, RollingStat, lagged, trailing, trailing_quantile

SHARE_IMPUTED = "share_imputed"
MIN_COVERAGE_SHARE = 0.5  # a window needs at least this share of its hours with a value, else null
LAG_HOURS = {"kwh_lag_1h": 1, "kwh_lag_24h": 24, "kwh_lag_48h": 48, "kwh_lag_168h": 168}
STAT_WINDOWS_H = {"24h": 24, "7d": 168}
WINDOW_STATS: tuple[RollingStat, ...] = ("mean", "std", "min", "max")
TOTAL_WINDOWS_H = {"kwh_total_24h": 24, "kwh_total_30d": 720}
NIGHT_LOCAL_HOURS = (0, 6)  # [start, end) in the home's local time
BASELOAD_QUANTILE = 0.1
WEEK_H = 168

CONSUMPTION_COLUMNS = (
    *LAG_HOURS,
    *(f"kwh_{stat}_{window}" for window in STAT_WINDOWS_H for stat in WINDOW_STATS),
    *TOTAL_WINDOWS_H,
    "night_share_7d",
    "baseload_kwh_7d",
    "share_imputed_24h",
)
CONSUMPTION_SCHEMA = pa.schema(
    [
        pa.field(HOME_ID, pa.string(), nullable=False),
        pa.field("event_timestamp", pa.timestamp("ns", tz="UTC"), nullable=False),
        *(pa.field(name, pa.float32()) for name in CONSUMPTION_COLUMNS),
    ]
)


def min_hours(window_hours: int) -> int:
    """The fewest values a window of ``window_hours`` needs [h]."""
    return max(1, math.ceil(MIN_COVERAGE_SHARE * window_hours))


def lag_features(kwh: np.ndarray) -> dict[str, np.ndarray]:
    """``kwh_lag_<k>h``: the kWh of [E-k h, E-k h + 1 h) for a row ending at E.

    Invariants:
        The hour ending at E is column ``j``; lag ``k`` reads column ``j - (k - 1)``, an hour ending at E-(k-1) h.
    """
    return {name: lagged(kwh, hours - 1) for name, hours in LAG_HOURS.items()}


def window_stat_features(kwh: np.ndarray) -> dict[str, np.ndarray]:
    """``kwh_{mean,std,min,max}_{24h,7d}`` over the hours present in the window ending at E [kWh/h].

    Invariants:
        Every value ends at or before E: the window is the ``n`` hours ending at E.
    """
    out = {}
    for window, hours in STAT_WINDOWS_H.items():
        for stat in WINDOW_STATS:
            out[f"kwh_{stat}_{window}"] = trailing(kwh, hours, stat, min_hours(hours))
    return out


def total_features(kwh: np.ndarray) -> dict[str, np.ndarray]:
    """``kwh_total_24h`` and ``kwh_total_30d``: the energy of the window ending at E [kWh].

    The exact sum when every hour has a value; with missing hours, the mean of the hours present times the window's
    length (missing hours counted at the window's mean), so a gap does not read as low consumption.

    Invariants:
        Every value ends at or before E: the window is the 24 h (720 h) ending at E.
    """
    return {
        name: trailing(kwh, hours, "mean", min_hours(hours)) * hours
        for name, hours in TOTAL_WINDOWS_H.items()
    }


def night_mask(grid: HourlyGrid, timezones: pd.Series) -> np.ndarray:
    """True where the hour starts within :data:`NIGHT_LOCAL_HOURS` in the key's local time [bool, keys × hours].

    Args:
        grid: a grid keyed by ``home_id``.
        timezones: IANA zone by ``home_id``; a home absent or null is in UTC.
    """
    zones = timezones.reindex(grid.keys).fillna("UTC").astype(str).to_numpy()
    starts = grid.hour_starts()
    mask = np.zeros(grid.present.shape, dtype=bool)
    for zone in pd.unique(zones):  # a handful of distinct zones, never the rows
        local_hour = starts.tz_convert(_known_zone(str(zone))).hour.to_numpy()
        is_night = (local_hour >= NIGHT_LOCAL_HOURS[0]) & (local_hour < NIGHT_LOCAL_HOURS[1])
        mask[zones == zone] = is_night
    return mask


def _known_zone(zone: str) -> str:
    """``zone`` if it is an IANA zone, else ``UTC`` (the profile contract's default for an unusable zone)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return zone


def night_share_feature(kwh: np.ndarray, night: np.ndarray) -> np.ndarray:
    """``night_share_7d``: the night hours' share of the kWh of the 7 days ending at E, over hours present [0–1].

    Invariants:
        Both sums read the 168 hours ending at E only.
    """
    need = min_hours(WEEK_H)
    total = trailing(kwh, WEEK_H, "sum", need)
    at_night = trailing(np.where(night, kwh, np.where(np.isnan(kwh), np.nan, 0.0)), WEEK_H, "sum", need)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, at_night / total, np.nan)


def consumption_feature_table(hourly: pd.DataFrame, timezones: pd.Series) -> pd.DataFrame:
    """The consumption feature table of some homes (one bucket) from their curated hourly rows.

    Args:
        hourly: ``home_id``, ``ts`` (UTC hour start), ``kwh`` [kWh], ``share_imputed`` [0–1]; gaps and nulls allowed.
        timezones: IANA zone by ``home_id``, for the night share.

    Returns:
        ``home_id``, ``event_timestamp`` (hour end, UTC) and :data:`CONSUMPTION_COLUMNS` as float32, one row per
        home and hour from its first to its last hour, sorted by home and time.

    Invariants:
        Every value in a row ends at or before ``event_timestamp``; rows for missing hours exist, with the windows
        over the hours that are present.
    """
    grid = HourlyGrid.from_long(hourly, [HOME_ID], [KWH, SHARE_IMPUTED])
    kwh = grid.values[KWH]
    share = np.where(np.isnan(kwh), np.nan, grid.values[SHARE_IMPUTED])
    columns = {
        **lag_features(kwh),
        **window_stat_features(kwh),
        **total_features(kwh),
        "night_share_7d": night_share_feature(kwh, night_mask(grid, timezones)),
        "baseload_kwh_7d": trailing_quantile(kwh, WEEK_H, BASELOAD_QUANTILE, min_hours(WEEK_H)),
        "share_imputed_24h": trailing(share, 24, "mean", min_hours(24)),
    }
    homes = grid.key_values().astype(str).astype(object)
    table = grid.to_long(columns, grid.span(), {HOME_ID: homes}, offset_hours=1)
    return table.astype({name: np.float32 for name in CONSUMPTION_COLUMNS})[list(CONSUMPTION_SCHEMA.names)]
