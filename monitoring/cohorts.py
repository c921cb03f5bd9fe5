"""The cohorts monitoring reports by: heating type, PV (yes / no) and region (the price area).

Heating and PV are the evaluation segments of training (:func:`training.forecast.home_attributes.home_segments`),
so a cohort's live accuracy is compared with the backtest figure logged under the same name
(``hourly_day1_heating_<value>_nrmse_global_lightgbm``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contracts.schemas import HOME_ID, PRICE_AREA

HEATING = "heating"
PV = "pv"
REGION = "region"
COHORTS = (HEATING, PV, REGION)
UNKNOWN = "unknown"


def home_cohorts(homes: pd.DataFrame) -> pd.DataFrame:
    """The cohort labels of each home.

    Args:
        homes: curated home attributes (``home_id``, ``heating_types``, ``pv_kwp``, ``price_area``; missing
            columns give ``unknown``).

    Returns:
        One row per home: ``home_id``, ``heating`` (the first listed heating type, ``none`` or ``unknown``),
        ``pv`` (``yes`` / ``no``) and ``region`` (the price area, ``unknown`` without one).
    """
    from training.forecast.home_attributes import home_segments

    unique = homes.drop_duplicates(HOME_ID, keep="last").reset_index(drop=True)
    segments = home_segments(unique)
    area = unique[PRICE_AREA] if PRICE_AREA in unique.columns else pd.Series([None] * len(unique))
    region = [str(a) if isinstance(a, str) and a else UNKNOWN for a in area]
    return pd.DataFrame(
        {
            HOME_ID: segments[HOME_ID].astype(str).to_numpy(),
            HEATING: segments[HEATING].astype(str).to_numpy(),
            PV: segments[PV].astype(str).to_numpy(),
            REGION: np.asarray(region, dtype=object),
        }
    )


def with_cohorts(frame: pd.DataFrame, cohorts: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (one row per home and hour) with its home's cohort columns; ``unknown`` for a home not listed.

    Invariants:
        The rows of ``frame`` keep their order and index.
    """
    labels = cohorts.set_index(HOME_ID)
    out = frame.copy()
    homes = out[HOME_ID].astype(str)
    for column in COHORTS:
        out[column] = homes.map(labels[column]).fillna(UNKNOWN).astype(str).to_numpy()
    return out
