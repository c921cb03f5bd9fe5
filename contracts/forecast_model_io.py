"""The forecast model's input and output as flat long frames: the contract between the packaged forecast model
(MLflow pyfunc, built in ``training/``) and its callers (the CLI, batch scoring, the serving layer).

**Input**: one long frame, a row per home and UTC hour: ``home_id``, ``ts`` (the hour start, naive UTC: MLflow
signatures take naive times only), ``kwh`` [kWh], ``temp_c`` [°C], ``ghi_w_m2`` [W/m²] (values may be missing),
and the home's attributes repeated on each of its rows (:data:`ATTRIBUTE_COLUMNS`; ``heating_types`` joined by
``|``). It holds the history known at issue (70 days are enough for every feature) and, for hours after the
issue, the weather forecast where there is one.

**Parameters**: ``issue_time`` (ISO 8601; naive = each home's local time; ``""`` = the trained clock time on the
local date of the last reading) and ``resolution`` (``hourly``, ``daily``, ``monthly`` or ``all``).

**Output**: one long frame over the three resolutions: ``home_id``, ``resolution``, ``issue_time``,
``period_start`` (hourly: the UTC hour start; daily and monthly: the local date, or the first local date of the
month, written as midnight UTC of that date), ``lead`` (hours, days or months after the issue), ``cold_start`` and
the quantiles ``kwh_p10``, ``kwh_p50``, ``kwh_p90`` [kWh per period]. Times are naive UTC.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contracts.schemas import GHI_W_M2, HOME_ID, KWH, TEMP_C, TS

HISTORY_COLUMNS = (HOME_ID, TS, KWH, TEMP_C, GHI_W_M2)
ATTRIBUTE_COLUMNS = (
    "timezone",
    "country",
    "lat",
    "floor_area_m2",
    "home_type",
    "build_year",
    "occupants",
    "heating_types",
    "has_ev",
    "ev_charger_kw",
    "pv_kwp",
    "client_id",
)
_STRINGS = ("timezone", "country", "home_type", "heating_types", "client_id")
RESOLUTIONS = ("hourly", "daily", "monthly")
OUTPUT_COLUMNS = (
    HOME_ID,
    "resolution",
    "issue_time",
    "period_start",
    "lead",
    "cold_start",
    "kwh_p10",
    "kwh_p50",
    "kwh_p90",
)
LIST_SEPARATOR = "|"


def model_input_frame(hourly: pd.DataFrame, homes: pd.DataFrame) -> pd.DataFrame:
    """The model input of curated hourly rows and curated home attributes (homes without rows are left out)."""
    history = pd.DataFrame({c: hourly[c] if c in hourly.columns else np.nan for c in HISTORY_COLUMNS})
    history[TS] = pd.to_datetime(history[TS], utc=True).dt.tz_localize(
        None
    )  # MLflow schemas take naive times
    for column in (KWH, TEMP_C, GHI_W_M2):
        history[column] = history[column].astype(float)
    attributes = pd.DataFrame({HOME_ID: homes[HOME_ID]})
    for column in ATTRIBUTE_COLUMNS:
        values = homes[column] if column in homes.columns else pd.Series(None, index=homes.index)
        attributes[column] = _encoded(column, values)
    attributes = attributes.drop_duplicates(HOME_ID, keep="last")
    return history.merge(attributes, on=HOME_ID, how="left")


def _encoded(column: str, values: pd.Series) -> pd.Series:
    if column == "heating_types":
        return values.map(_joined).astype(object)
    if column in _STRINGS:
        return values.map(lambda v: None if _missing(v) else str(v)).astype(object)
    return pd.to_numeric(values, errors="coerce").astype(float)


def _joined(value: object) -> str | None:
    if isinstance(value, list | tuple | np.ndarray):
        return LIST_SEPARATOR.join(str(v) for v in value)
    return None


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))
