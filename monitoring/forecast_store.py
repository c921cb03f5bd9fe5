"""The stored forecasts of a window, read from the curated zone where batch scoring writes them.

Layout (:mod:`training.steps.forecast_score`)::

    curated/forecasts/client=<client_id>/issue_date=<YYYY-MM-DD>/forecasts-<model_version>.parquet

A window's forecasts are the hourly rows whose hour starts inside it. They were issued at most
``ISSUE_LOOKBACK_DAYS`` before the window starts (the hourly horizon is 48 h), so only those issue-date folders are
read. A forecast stored twice (the same version scored again for the same issue date) is one file; the same home
and hour forecast from two issue times are two rows, with two lead times.
"""

from __future__ import annotations

import posixpath

import pandas as pd

from contracts.storage import Lake, Zone
from monitoring.windows import Window

FORECASTS_DATASET = "forecasts"
ISSUE_LOOKBACK_DAYS = 3
COLUMNS = (
    "home_id",
    "resolution",
    "issue_time",
    "period_start",
    "lead",
    "kwh_p10",
    "kwh_p50",
    "kwh_p90",
    "model_version",
    "client_id",
)


def forecast_files(lake: Lake, window: Window) -> list[str]:
    """The stored forecast files whose local issue date can hold hours of ``window``."""
    root = lake.path(Zone.CURATED, FORECASTS_DATASET)
    if not lake.exists(root):
        return []
    first = (window.start - pd.Timedelta(days=ISSUE_LOOKBACK_DAYS)).date().isoformat()
    last = (window.end + pd.Timedelta(days=1)).date().isoformat()
    files = []
    for path in lake.glob(f"{root}/client=*/issue_date=*/forecasts-*.parquet"):
        issue_date = posixpath.basename(posixpath.dirname(path)).removeprefix("issue_date=")
        if first <= issue_date <= last:
            files.append(path)
    return files


def stored_forecasts(lake: Lake, window: Window) -> pd.DataFrame:
    """The hourly stored forecasts of hours starting in ``window``; ``period_start`` and ``issue_time`` in UTC."""
    import pyarrow.parquet as pq

    parts = []
    for path in forecast_files(lake, window):
        with lake.fs.open(path, "rb") as handle:
            table = pq.read_table(handle, columns=list(COLUMNS), filters=[("resolution", "=", "hourly")])
        parts.append(table.to_pandas())
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=list(COLUMNS))
    frame = pd.concat(parts, ignore_index=True)
    frame["period_start"] = _utc(frame["period_start"])
    frame["issue_time"] = _utc(frame["issue_time"])
    frame["model_version"] = frame["model_version"].astype(str)
    inside = (frame["period_start"] >= window.start) & (frame["period_start"] < window.end)
    return frame[inside].reset_index(drop=True)


def _utc(values: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(values)
    return stamps.dt.tz_localize("UTC") if stamps.dt.tz is None else stamps.dt.tz_convert("UTC")
