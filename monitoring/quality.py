"""Data quality over time: completeness and anomaly counts per day of the current window, and freshness.

Read from what data_prep leaves in the lake (``docs/data-quality.md``):

- the processed readings (``processed/readings/bucket=NNN.parquet``, one row per grid slot at the home's native
  interval) give, per UTC day, the slots, the observed slots (flag ``ok`` with a raw value), the imputed and
  missing ones and the anomalies by type: the definitions of ``data_prep.quality.metrics.home_quality_metrics``,
  counted per day instead of per home;
- **batch freshness**: how long before the monitoring time the newest processed reading ended (files arrive
  through ``eliq prep run``);
- **real-time freshness**: how long before it the newest reading sent through the API ended
  (``raw/api_readings/client=*/date=*/*.parquet``, written by the service); ``None`` when none ever came.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

import numpy as np
import pandas as pd

from contracts.api_zone import API_READINGS
from contracts.schemas import HOME_ID, INTERVAL_MIN, TS, Anomaly, QualityFlag
from contracts.storage import Lake, Zone
from monitoring.windows import Window

ANOMALY_TYPES = tuple(a.value for a in Anomaly)
DAILY_COLUMNS = [
    "day",
    "homes",
    "n_slots",
    "n_observed",
    "n_imputed",
    "n_missing",
    "n_anomaly",
    *(f"n_anomaly_{a}" for a in ANOMALY_TYPES),
    "completeness",
    "share_imputed",
    "share_missing",
    "anomaly_share",
]
PROCESSED_COLUMNS = [
    HOME_ID,
    TS,
    "kwh",
    "kwh_raw",
    INTERVAL_MIN,
    "quality_flag",
    "anomaly",
    "imputation_strategy",
]


@dataclass(frozen=True)
class QualityResult:
    """Data quality of the current window.

    Attributes:
        daily: one row per UTC day (:data:`DAILY_COLUMNS`).
        completeness: observed / grid slots over the window [0-1] (NaN without slots).
        anomaly_share: anomalous / grid slots over the window [0-1].
        anomalies: anomaly type → slots flagged in the window.
        batch_age_h: hours from the end of the newest processed reading to the monitoring time [h].
        realtime_age_min: minutes from the end of the newest API reading to it [min]; ``None``: no API readings.
        stale_homes: homes whose newest processed reading ended more than the batch threshold before it.
    """

    daily: pd.DataFrame
    completeness: float
    anomaly_share: float
    anomalies: dict[str, int]
    batch_age_h: float | None
    realtime_age_min: float | None
    stale_homes: int


def processed_window(lake: Lake, window: Window) -> pd.DataFrame:
    """The processed readings (every grid slot) with ``window.start <= ts < window.end``."""
    import pyarrow.dataset as ds

    folder = lake.path(Zone.PROCESSED, "readings")
    if not lake.exists(folder) or not lake.glob(f"{folder}/*.parquet"):
        return pd.DataFrame(columns=PROCESSED_COLUMNS)
    condition = (ds.field(TS) >= window.start) & (ds.field(TS) < window.end)
    frame = lake.read_table(folder, columns=PROCESSED_COLUMNS, filters=condition).to_pandas()
    frame[TS] = pd.to_datetime(frame[TS], utc=True)
    return frame


def daily_quality(processed: pd.DataFrame) -> pd.DataFrame:
    """Slot counts and shares per UTC day of processed readings (:data:`DAILY_COLUMNS`)."""
    if processed.empty:
        return pd.DataFrame(columns=DAILY_COLUMNS)
    flag = processed["quality_flag"].astype("string")
    anomaly = processed["anomaly"].astype("string")
    has_value = processed["kwh"].notna()
    filled = flag.eq(QualityFlag.IMPUTED.value).fillna(False) | processed["imputation_strategy"].notna()
    counts = pd.DataFrame(
        {
            "n_slots": 1,
            "n_observed": (flag.eq(QualityFlag.OK.value).fillna(False) & processed["kwh_raw"].notna()),
            "n_imputed": has_value & filled,
            "n_missing": ~has_value,
            "n_anomaly": anomaly.notna(),
            **{f"n_anomaly_{a}": anomaly.eq(a).fillna(False) for a in ANOMALY_TYPES},
        }
    ).astype(np.int64)
    counts["day"] = processed[TS].dt.floor("D").dt.strftime("%Y-%m-%d").to_numpy()
    counts[HOME_ID] = processed[HOME_ID].to_numpy()
    daily = counts.drop(columns=HOME_ID).groupby("day", sort=True).sum()
    daily["homes"] = counts.groupby("day")[HOME_ID].nunique()
    return _with_shares(daily.reset_index())[DAILY_COLUMNS]


def _with_shares(daily: pd.DataFrame) -> pd.DataFrame:
    slots = daily["n_slots"].where(daily["n_slots"] > 0)
    return daily.assign(
        completeness=daily["n_observed"] / slots,
        share_imputed=daily["n_imputed"] / slots,
        share_missing=daily["n_missing"] / slots,
        anomaly_share=daily["n_anomaly"] / slots,
    )


def newest_reading_ends(processed: pd.DataFrame) -> pd.Series:
    """The end of each home's newest processed reading (``ts`` + its interval) [UTC], indexed by home."""
    ends = processed[TS] + pd.to_timedelta(processed[INTERVAL_MIN].astype(np.int64), unit="min")
    return ends.groupby(processed[HOME_ID]).max()


def realtime_newest_end(lake: Lake, before: pd.Timestamp) -> pd.Timestamp | None:
    """The end of the newest reading sent through the API before ``before`` [UTC]; ``None`` when there is none.

    Only the newest ingestion-date folders are read (a reading is ingested after it ends).
    """
    import pyarrow.dataset as ds

    root = lake.path(Zone.RAW, API_READINGS)
    if not lake.exists(root):
        return None
    folders = lake.glob(f"{root}/client=*/date=*")
    day = before.date().isoformat()
    dates = sorted(
        {posixpath.basename(f).removeprefix("date=") for f in folders if f.rsplit("date=", 1)[-1] <= day}
    )
    if not dates:
        return None
    newest = [f for f in folders if posixpath.basename(f) in {f"date={d}" for d in dates[-2:]}]
    files = [p for folder in newest for p in lake.glob(f"{folder}/*.parquet")]
    if not files:
        return None
    table = ds.dataset(files, filesystem=lake.fs, format="parquet").to_table(columns=[TS, INTERVAL_MIN])
    frame = table.to_pandas()
    ends = pd.to_datetime(frame[TS], utc=True) + pd.to_timedelta(
        frame[INTERVAL_MIN].astype(np.int64), unit="min"
    )
    ends = ends[ends <= before]
    return None if ends.empty else pd.Timestamp(ends.max())


def quality_result(
    processed: pd.DataFrame,
    newest_batch: pd.Series,
    realtime_end: pd.Timestamp | None,
    as_of: pd.Timestamp,
    batch_max_age_h: float,
) -> QualityResult:
    """The window's quality from its processed readings, each home's newest reading end and the newest API one.

    Args:
        processed: the window's processed readings.
        newest_batch: each home's newest processed reading end [UTC] (:func:`newest_reading_ends`).
        realtime_end: the newest API reading's end [UTC], or ``None``.
        as_of: the monitoring time [UTC].
        batch_max_age_h: the batch freshness threshold, for counting stale homes [h].
    """
    daily = daily_quality(processed)
    slots = int(daily["n_slots"].sum()) if len(daily) else 0
    completeness = float(daily["n_observed"].sum() / slots) if slots else float("nan")
    anomaly_share = float(daily["n_anomaly"].sum() / slots) if slots else 0.0
    anomalies = {a: int(daily[f"n_anomaly_{a}"].sum()) for a in ANOMALY_TYPES} if len(daily) else {}
    hour = pd.Timedelta(hours=1)
    batch_age = float((as_of - newest_batch.max()) / hour) if len(newest_batch) else None
    ages_h = (as_of - newest_batch).dt.total_seconds() / 3600 if len(newest_batch) else pd.Series(dtype=float)
    stale = int((ages_h > batch_max_age_h).sum())
    realtime_age = (
        float((as_of - realtime_end) / pd.Timedelta(minutes=1)) if realtime_end is not None else None
    )
    return QualityResult(daily, completeness, anomaly_share, anomalies, batch_age, realtime_age, stale)
