"""Home features: the static profile encoded for models, the keys of the home's weather point and price area, and
the PV block (a separate feature view over the same table).

``event_timestamp`` is 1970-01-01 UTC: the attributes are taken as valid for all time, and a profile update
rewrites the table.

Invariants:
    A row depends only on the home's latest profile, never on meter data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from contracts.schemas import HOME_ID, LAT, LON, PRICE_AREA
from features.transforms.weather import WEATHER_POINT, weather_point_ids

STATIC_EVENT_TIMESTAMP = pd.Timestamp("1970-01-01", tz="UTC")
HOME_TYPE_CODES = {"apartment": 0, "terraced": 1, "semi_detached": 2, "detached": 3}
UNKNOWN_HOME_TYPE = -1
HEATING_FLAGS = ("heat_pump", "direct_electric", "district_heating", "gas")
PV_COLUMNS = ("pv_kwp", "pv_tilt_deg", "pv_azimuth_deg", "has_pv")
HOME_INPUT_COLUMNS = (
    HOME_ID, "client_id", LAT, LON, "country", PRICE_AREA, "floor_area_m2", "home_type", "build_year", "occupants",
    "heating_types", "has_ev", "ev_charger_kw", "pv_kwp", "pv_tilt_deg", "pv_azimuth_deg", "weather_lat",
    "weather_lon",
)  # fmt: skip

_F64, _I64, _STR = pa.float64(), pa.int64(), pa.string()
HOME_SCHEMA = pa.schema(
    [
        pa.field(HOME_ID, _STR, nullable=False),
        pa.field("event_timestamp", pa.timestamp("ns", tz="UTC"), nullable=False),
        *(pa.field(n, t) for n, t in [("floor_area_m2", _F64), ("build_year", _I64), ("occupants", _I64)]),
        pa.field("home_type_code", _I64, nullable=False),
        *(pa.field(flag, _I64, nullable=False) for flag in HEATING_FLAGS),
        pa.field("has_ev", _I64, nullable=False),
        *(pa.field(n, _F64) for n in ("ev_charger_kw", LAT, LON)),
        *(pa.field(n, _STR) for n in ("country", PRICE_AREA, WEATHER_POINT, "client_id")),
        *(pa.field(n, _F64) for n in PV_COLUMNS[:-1]),
        pa.field("has_pv", _I64, nullable=False),
    ]
)


def heating_flag_features(heating_types: pd.Series) -> dict[str, pd.Series]:
    """One 0/1 column per :data:`HEATING_FLAGS` type: 1 if the home's list holds it (null list: all 0)."""
    listed = heating_types.explode()  # one row per (home, type); index repeats the home's position
    out: dict[str, pd.Series] = {}
    for flag in HEATING_FLAGS:
        has = (listed == flag).groupby(level=0).any()
        out[flag] = has.reindex(heating_types.index, fill_value=False).astype(np.int64)
    return out


def home_type_codes(home_type: pd.Series) -> pd.Series:
    """``home_type_code``: apartment 0, terraced 1, semi_detached 2, detached 3; other or unknown -1 [int]."""
    return home_type.map(HOME_TYPE_CODES).fillna(UNKNOWN_HOME_TYPE).astype(np.int64)


def pv_features(homes: pd.DataFrame) -> dict[str, pd.Series | np.ndarray]:
    """The PV block: ``pv_kwp`` [kWp] (0 without PV), tilt and azimuth [degree] (null without PV), ``has_pv``."""
    kwp = _number(homes["pv_kwp"])
    has_pv = kwp.gt(0).to_numpy()
    return {
        "pv_kwp": np.where(has_pv, kwp, 0.0),
        "pv_tilt_deg": np.where(has_pv, _number(homes["pv_tilt_deg"]), np.nan),
        "pv_azimuth_deg": np.where(has_pv, _number(homes["pv_azimuth_deg"]), np.nan),
        "has_pv": has_pv.astype(np.int64),
    }


def _number(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce").astype(float)


def _text(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna(), None)


def home_feature_table(homes: pd.DataFrame) -> pd.DataFrame:
    """The home feature table from the curated homes; a column missing from the input reads as unknown.

    Returns:
        One row per home with the columns of :data:`HOME_SCHEMA`, sorted by ``home_id``. Whole numbers
        (``build_year``, ``occupants``) are nullable integers.
    """
    frame = homes.reindex(columns=list(HOME_INPUT_COLUMNS)).sort_values(HOME_ID, ignore_index=True)
    columns: dict[str, pd.Series | np.ndarray] = {
        HOME_ID: frame[HOME_ID].astype(str),
        "event_timestamp": pd.Series(STATIC_EVENT_TIMESTAMP, index=frame.index).dt.as_unit("ns"),
        "home_type_code": home_type_codes(frame["home_type"]),
        "has_ev": (frame["has_ev"].eq(True) | _number(frame["ev_charger_kw"]).gt(0)).astype(np.int64),
        WEATHER_POINT: weather_point_ids(frame["weather_lat"], frame["weather_lon"]),
    }
    columns |= {name: _number(frame[name]) for name in ("floor_area_m2", "ev_charger_kw", LAT, LON)}
    columns |= {name: _number(frame[name]).round().astype("Int64") for name in ("build_year", "occupants")}
    columns |= {name: _text(frame[name]) for name in ("country", PRICE_AREA, "client_id")}
    columns |= heating_flag_features(frame["heating_types"])
    columns |= pv_features(frame)
    return pd.DataFrame(columns)[list(HOME_SCHEMA.names)]
