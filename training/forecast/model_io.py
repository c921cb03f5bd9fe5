"""Reading the packaged forecast model's input and writing its output (the contract is
:mod:`contracts.forecast_model_io`): input frame → panel, issue time → local issue date, forecasts → output frame.

Invariants:
    Converting curated frames to the input and back gives the same panel values and home attributes, so a
    packaged model forecasts the same numbers as the model used directly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contracts.forecast_model_io import (
    ATTRIBUTE_COLUMNS,
    HISTORY_COLUMNS,
    LIST_SEPARATOR,
    OUTPUT_COLUMNS,
    RESOLUTIONS,
)
from contracts.schemas import HOME_ID, TS
from training.forecast.frames import HourlyPanel
from training.forecast.quantiles import DEFAULT_QUANTILES, quantile_columns
from training.forecast.resolutions import ResolutionForecasts


def panel_from_model_input(frame: pd.DataFrame) -> HourlyPanel:
    """The panel of a model input frame; raises ``ValueError`` naming what is wrong with it."""
    missing = [c for c in (HOME_ID, TS) if c not in frame.columns]
    if missing:
        raise ValueError(f"the model input needs the columns {missing}")
    if frame.empty:
        raise ValueError("the model input has no rows")
    hourly = frame[[c for c in HISTORY_COLUMNS if c in frame.columns]].copy()
    hourly[TS] = pd.to_datetime(hourly[TS], utc=True)
    homes = frame.drop_duplicates(HOME_ID, keep="first")
    attributes = pd.DataFrame({HOME_ID: homes[HOME_ID].to_numpy()})
    for column in ATTRIBUTE_COLUMNS:
        if column not in homes.columns:
            continue
        values = homes[column].to_numpy()
        if column == "heating_types":
            attributes[column] = pd.Series([_split(v) for v in values], dtype=object)
        else:
            attributes[column] = values
    if "timezone" in attributes.columns:
        attributes["timezone"] = attributes["timezone"].fillna("UTC")
    return HourlyPanel.from_frames(hourly, attributes)


def _split(value: object) -> list[str] | None:
    if not isinstance(value, str):
        return None
    return [part for part in value.split(LIST_SEPARATOR) if part]


def issue_of(panel: HourlyPanel, issue_time: str | pd.Timestamp | None) -> tuple[int, float | None]:
    """The local issue date [days since 1970-01-01] and clock time [h] of ``issue_time``.

    A naive time is read as local time in every home's zone; an aware one is converted to the zone of the first
    home. ``None`` or ``""``: the schedule's time on the local date of the last reading (``None`` clock time).
    """
    if issue_time is None or (isinstance(issue_time, str) and not issue_time.strip()):
        return int(panel.calendar.local_date[:, panel.last_reading_hour()].max()), None
    try:
        stamp = pd.Timestamp(issue_time)
    except ValueError as err:
        raise ValueError(f"issue_time {issue_time!r} is not an ISO 8601 time") from err
    if stamp.tzinfo is not None:
        zone = str(panel.homes["timezone"].iloc[0]) if "timezone" in panel.homes.columns else "UTC"
        stamp = stamp.tz_convert(zone).tz_localize(None)
    date = (stamp.normalize() - pd.Timestamp(0)).days
    return int(date), stamp.hour + stamp.minute / 60


def forecast_output_frame(
    forecasts: ResolutionForecasts, resolutions: tuple[str, ...] = RESOLUTIONS
) -> pd.DataFrame:
    """The long output frame of ``forecasts`` for ``resolutions``."""
    quantiles = list(quantile_columns(DEFAULT_QUANTILES))
    parts = []
    if "hourly" in resolutions:
        h = forecasts.hourly
        parts.append(_part(h, "hourly", h["ts"], h["lead_h"], quantiles))
    if "daily" in resolutions:
        d = forecasts.daily
        parts.append(_part(d, "daily", d["local_date"], d["lead_d"], quantiles))
    if "monthly" in resolutions:
        m = forecasts.monthly
        lead = np.where(m["period"].to_numpy() == "current", 0, 1)
        parts.append(_part(m, "monthly", m["month"], pd.Series(lead, index=m.index), quantiles))
    out = pd.concat(parts, ignore_index=True)
    return out[list(OUTPUT_COLUMNS)]


def _part(
    frame: pd.DataFrame, resolution: str, start: pd.Series, lead: pd.Series, quantiles: list[str]
) -> pd.DataFrame:
    stamps = pd.to_datetime(start)
    stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None) if stamps.dt.tz is not None else stamps
    return pd.DataFrame(
        {
            HOME_ID: frame[HOME_ID].astype(str).to_numpy(),
            "resolution": resolution,
            "issue_time": pd.to_datetime(frame["issue_time"], utc=True).dt.tz_localize(None).to_numpy(),
            "period_start": stamps.to_numpy(),
            "lead": lead.to_numpy(dtype=np.int64),
            "cold_start": frame["cold_start"].to_numpy(dtype=bool),
            **{q: frame[q].to_numpy(dtype=float) for q in quantiles},
        }
    )
