"""Price features per bidding zone: the hour's day-ahead price, its local day's mean, min and max, and its rank.

``event_timestamp`` is the hour start ``ts``. The day statistics use every hour of the local day, later hours
included: day-ahead prices for a whole day are published together the day before (around noon CET), so each of them
is known well before ``ts``.

Invariants:
    Every value in a row comes from the day-ahead auction of the row's local day, published before that day starts.
    The local day of an area is its country's day (DST days have 23 or 25 hours), UTC for an unknown country.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from contracts.schemas import PRICE_AREA, PRICE_EUR_MWH, TS
from features.on_demand import COUNTRY_TIMEZONES

PRICE_COLUMNS = (PRICE_EUR_MWH, "price_day_mean", "price_day_min", "price_day_max", "price_rank_in_day")
PRICE_SCHEMA = pa.schema(
    [
        pa.field(PRICE_AREA, pa.string(), nullable=False),
        pa.field("event_timestamp", pa.timestamp("ns", tz="UTC"), nullable=False),
        *(pa.field(name, pa.float64()) for name in PRICE_COLUMNS[:-1]),
        pa.field("price_rank_in_day", pa.int64()),
    ]
)


def area_timezone(area: str) -> str:
    """The IANA zone of a bidding zone's local day, by its country prefix; ``UTC`` when unknown."""
    # An area's time zone is its country's (SE3 → SE); other areas use UTC days.
    return COUNTRY_TIMEZONES.get(str(area)[:2].upper(), "UTC")


def local_days(ts: pd.Series, areas: pd.Series) -> np.ndarray:
    """The local calendar day of each hour in its area's zone [datetime64[D]].

    Invariants:
        An hour belongs to the local day its start falls in.
    """
    zones = areas.map(area_timezone).to_numpy()
    days = np.empty(len(ts), dtype="datetime64[D]")
    for zone in pd.unique(zones):  # a handful of zones, never the rows
        rows = zones == zone
        local = pd.DatetimeIndex(ts[rows]).tz_convert(str(zone)).tz_localize(None)
        days[rows] = local.to_numpy().astype("datetime64[D]")
    return days


def price_feature_table(prices: pd.DataFrame) -> pd.DataFrame:
    """The price feature table from the processed prices (``price_area``, ``ts``, ``price_eur_mwh``).

    Returns:
        ``price_area``, ``event_timestamp`` (= ``ts``) and :data:`PRICE_COLUMNS` [EUR/MWh], one row per area and hour,
        sorted by area and time. ``price_rank_in_day`` is 1 for the cheapest hour of the local day; equal prices
        share the lower rank; null where the price is null.

    Invariants:
        Day statistics and the rank read only hours of the same area and local day (see the module docstring).
    """
    frame = prices[[PRICE_AREA, TS, PRICE_EUR_MWH]].dropna(subset=[PRICE_AREA, TS])
    frame = frame.assign(**{TS: pd.to_datetime(frame[TS], utc=True).dt.as_unit("ns")})
    frame = frame.sort_values([PRICE_AREA, TS], ignore_index=True)
    day = pd.Series(local_days(frame[TS], frame[PRICE_AREA]), index=frame.index)
    grouped = frame.groupby([frame[PRICE_AREA], day])[PRICE_EUR_MWH]
    out = pd.DataFrame(
        {
            PRICE_AREA: frame[PRICE_AREA].astype(str),
            "event_timestamp": frame[TS],
            PRICE_EUR_MWH: frame[PRICE_EUR_MWH].astype(float),
            "price_day_mean": grouped.transform("mean"),
            "price_day_min": grouped.transform("min"),
            "price_day_max": grouped.transform("max"),
            "price_rank_in_day": grouped.rank(method="min").astype("Int64"),
        }
    )
    return out[list(PRICE_SCHEMA.names)]
