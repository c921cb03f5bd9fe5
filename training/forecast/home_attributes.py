"""Home attributes as model inputs (numbers per home) and as evaluation segments (labels per home).

Inputs come from the curated home attributes (``curated/homes/homes.parquet``). A home without a profile has NaN
inputs (LightGBM routes missing values), a home with a profile but no PV or EV entry has zero capacity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

HEATING_TYPES = ("direct_electric", "heat_pump", "district_heating", "gas", "oil", "wood", "other")
HOME_TYPES = ("apartment", "terraced", "semi_detached", "detached", "other")
_NUMERIC = ("floor_area_m2", "build_year", "occupants", "lat")


def home_attribute_table(homes: pd.DataFrame) -> pd.DataFrame:
    """Numeric inputs per home (rows in ``homes`` order): size [m²], build year, occupants, latitude [degree],
    home type code, one flag per heating type, EV flag and charger power [kW], PV capacity [kWp]."""
    has_profile = _column(homes, "client_id").notna().to_numpy()
    out = pd.DataFrame(index=range(len(homes)))
    for name in _NUMERIC:
        out[name] = pd.to_numeric(_column(homes, name), errors="coerce").to_numpy(dtype=float)
    codes = pd.Categorical(_column(homes, "home_type"), categories=list(HOME_TYPES)).codes
    out["home_type_code"] = np.where(codes >= 0, codes, np.nan)
    heating = _column(homes, "heating_types").map(_listed)
    for kind in HEATING_TYPES:
        flag = heating.map(lambda types, k=kind: np.nan if types is None else float(k in types))
        out[f"heating_{kind}"] = flag.to_numpy(dtype=float)
    out["has_ev"] = _zero_if_profiled(_column(homes, "has_ev").astype(float), has_profile)
    out["ev_charger_kw"] = _zero_if_profiled(_column(homes, "ev_charger_kw"), has_profile)
    out["pv_kwp"] = _zero_if_profiled(_column(homes, "pv_kwp"), has_profile)
    return out


def home_segments(homes: pd.DataFrame) -> pd.DataFrame:
    """Evaluation segments per home: ``heating`` (the first listed heating type, ``none`` or ``unknown``),
    ``pv`` and ``ev`` (``yes`` / ``no``)."""
    heating = _column(homes, "heating_types").map(_listed)
    heating = heating.map(lambda types: "unknown" if types is None else (str(types[0]) if types else "none"))
    table = home_attribute_table(homes)
    return pd.DataFrame(
        {
            "home_id": _column(homes, "home_id").to_numpy(),
            "heating": heating.to_numpy(),
            "pv": np.where(table["pv_kwp"] > 0, "yes", "no"),
            "ev": np.where(table["has_ev"] > 0, "yes", "no"),
        }
    )


def _column(homes: pd.DataFrame, name: str) -> pd.Series:
    if name in homes.columns:
        return homes[name].reset_index(drop=True)
    return pd.Series([None] * len(homes), dtype=object)


def _listed(value: object) -> list[str] | None:
    """A heating-type list as a Python list; ``None`` when the home has no profile (null or NaN)."""
    if isinstance(value, list | tuple | np.ndarray):
        return [str(v) for v in value]
    return None


def _zero_if_profiled(values: pd.Series, has_profile: np.ndarray) -> np.ndarray:
    array = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    return np.where(np.isnan(array) & has_profile, 0.0, array)
