"""Each part of a monitoring run, from the lake to its result: drift, performance and data quality.

These functions read (the lake, the feature store, the registry) and hand plain frames to the pure parts
(:mod:`monitoring.sampling`, :mod:`monitoring.drift`, :mod:`monitoring.performance`, :mod:`monitoring.quality`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from contracts.schemas import HOME_ID, KWH, TS
from contracts.storage import Lake
from monitoring import performance as perf
from monitoring.cohorts import COHORTS, with_cohorts
from monitoring.drift import DriftResult, analyse_drift
from monitoring.evidently_reports import Snapshot, performance_snapshot
from monitoring.feature_frames import read_features, window_rows
from monitoring.model_reference import MonitoredModel, version_info
from monitoring.quality import (
    QualityResult,
    newest_reading_ends,
    processed_window,
    quality_result,
    realtime_newest_end,
)
from monitoring.sampling import WindowSample, plan_sample, take_sample
from monitoring.windows import MonitoringWindows, Window


@dataclass(frozen=True)
class PerformanceResult:
    """Forecast accuracy of the current window.

    Attributes:
        rows: scored hourly forecasts (forecasts whose actual is known).
        by_lead: per model version and lead day, with the backtest's MAE and the ratio.
        by_cohort: per model version and cohort value (``day+1`` rows), with the backtest's NRMSE and the ratio.
        overall: per model version, every lead.
        snapshot: the Evidently report, or ``None`` without scored rows.
        note: why there is nothing to score, when there is not.
    """

    rows: int
    by_lead: pd.DataFrame
    by_cohort: pd.DataFrame
    overall: pd.DataFrame
    snapshot: Snapshot | None
    note: str = ""


def sampled_window(
    settings: Any, lake: Lake, window: Window, homes: pd.DataFrame, cohorts: pd.DataFrame, source: str
) -> WindowSample:
    """A window's two samples (all homes, per cohort) with their features.

    Raises:
        ValueError: the window holds no curated hour.
    """
    rows = window_rows(lake, window)
    if rows.empty:
        raise ValueError(
            f"no curated hours from {window.start.isoformat()} to {window.end.isoformat()}: "
            "choose other dates (reference) or a later --as-of"
        )
    labelled = with_cohorts(rows, cohorts)
    monitoring = settings.monitoring
    plan = plan_sample(
        labelled[list(COHORTS)], monitoring.sample_rows, monitoring.cohort_sample_rows, monitoring.seed
    )
    chosen = labelled.iloc[plan.union].set_axis(plan.union)
    features = read_features(settings, chosen[[HOME_ID, TS]], homes, source)
    return take_sample(pd.concat([chosen, features], axis=1), plan)


def collect_drift(
    settings: Any,
    lake: Lake,
    windows: MonitoringWindows,
    homes: pd.DataFrame,
    cohorts: pd.DataFrame,
    source: str,
    metadata: dict[str, str],
) -> DriftResult:
    """Sample both windows, read their features and judge the drift."""
    reference = sampled_window(settings, lake, windows.reference, homes, cohorts, source)
    current = sampled_window(settings, lake, windows.current, homes, cohorts, source)
    excluded = {HOME_ID, TS, *COHORTS}
    features = [c for c in current.overall.columns if c not in excluded]
    return analyse_drift(
        reference, current, features, settings.monitoring, timestamp=snapshot_time(windows), metadata=metadata
    )


def collect_performance(
    lake: Lake,
    windows: MonitoringWindows,
    homes: pd.DataFrame,
    cohorts: pd.DataFrame,
    model: MonitoredModel | None,
    metadata: dict[str, str],
    min_rows: int,
) -> PerformanceResult:
    """Score the stored hourly forecasts of the current window and, for the prediction drift, of the window before
    (used when it has at least ``min_rows`` scored hours)."""
    current = _scored(lake, windows.current, homes, cohorts)
    if current.empty:
        note = "no stored hourly forecast of the current window has an actual yet (run `eliq score forecast`)"
        empty = pd.DataFrame()
        return PerformanceResult(0, empty, empty, empty, None, note)
    previous = _scored(lake, windows.previous, homes, cohorts)
    by_lead, by_cohort, overall = [], [], []
    for version, rows in current.groupby("model_version", sort=True):
        backtest = _backtest_of(model, str(version))
        lead = perf.compare_with_backtest(perf.accuracy_table(rows, ["lead_day"]), backtest)
        cohort = perf.compare_cohorts_with_backtest(perf.cohort_accuracy(rows, COHORTS), backtest)
        by_lead.append(lead.assign(model_version=str(version)))
        by_cohort.append(cohort.assign(model_version=str(version)))
        overall.append(perf.accuracy_table(rows, []).assign(model_version=str(version)))
    earlier = previous if len(previous) >= min_rows else None
    snapshot = performance_snapshot(current, earlier, timestamp=snapshot_time(windows), metadata=metadata)
    return PerformanceResult(
        len(current),
        _first(pd.concat(by_lead, ignore_index=True), "model_version"),
        _first(pd.concat(by_cohort, ignore_index=True), "model_version"),
        _first(pd.concat(overall, ignore_index=True), "model_version"),
        snapshot,
    )


def _scored(lake: Lake, window: Window, homes: pd.DataFrame, cohorts: pd.DataFrame) -> pd.DataFrame:
    from monitoring.forecast_store import stored_forecasts

    forecasts = stored_forecasts(lake, window)
    if forecasts.empty:
        return pd.DataFrame()
    actuals = window_rows(lake, window, (HOME_ID, TS, KWH))
    scored = perf.scored_forecasts(forecasts, actuals, homes)
    return with_cohorts(scored, cohorts) if not scored.empty else scored


def _backtest_of(model: MonitoredModel | None, version: str) -> dict[str, float]:
    """The backtest metrics of ``version``: the monitored model's, or read from the registry."""
    if model is not None and model.version == version:
        return model.backtest
    if model is None:
        return {}
    try:
        return version_info(model.name, version, "stored forecasts").backtest
    except Exception:  # a version deleted from the registry: its forecasts are still scored
        return {}


def _first(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    return frame[[column, *[c for c in frame.columns if c != column]]]


def collect_quality(lake: Lake, windows: MonitoringWindows, batch_max_age_h: float) -> QualityResult:
    """Completeness and anomalies per day of the current window, and both freshness ages at ``as_of``."""
    processed = processed_window(lake, windows.current)
    newest = newest_reading_ends(processed) if not processed.empty else pd.Series(dtype="datetime64[ns, UTC]")
    realtime = realtime_newest_end(lake, windows.as_of)
    return quality_result(processed, newest, realtime, windows.as_of, batch_max_age_h)


def snapshot_time(windows: MonitoringWindows) -> datetime:
    """The time snapshots are filed under: the end of the current window, naive UTC (Evidently's convention)."""
    return windows.current.end.tz_convert("UTC").tz_localize(None).to_pydatetime()
