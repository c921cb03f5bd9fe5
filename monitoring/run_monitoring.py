"""One monitoring run, wired: windows → drift, performance, quality → thresholds → files and workspace.

Called through :func:`monitoring.steps.monitor_forecast`, which documents the arguments.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from contracts.storage import Lake
from monitoring import thresholds
from monitoring.collect import PerformanceResult, collect_drift, collect_performance, collect_quality
from monitoring.drift import DriftResult
from monitoring.evidently_reports import Snapshot
from monitoring.model_reference import MonitoredModel, model_name, monitored_model
from monitoring.quality import QualityResult
from monitoring.run_report import records, write_evidently_reports, write_metrics, write_summary
from monitoring.steps import MonitoringOutcome, Progress
from monitoring.windows import MonitoringWindows, choose_windows


@dataclass(frozen=True)
class _Parts:
    """The three analyses of a run and their Evidently snapshots."""

    drift: DriftResult
    performance: PerformanceResult
    quality: QualityResult
    snapshots: dict[str, Snapshot | None]
    seconds: dict[str, float]


def run_monitoring(
    settings: Any,
    *,
    as_of: pd.Timestamp | None,
    out_dir: str | None,
    progress: Progress | None,
    reference: tuple[pd.Timestamp, pd.Timestamp] | None,
) -> MonitoringOutcome:
    from monitoring.evidently_workspace import add_snapshots
    from monitoring.feature_frames import feature_source

    say = progress or (lambda _: None)
    lake = Lake.from_settings(settings.storage)
    monitoring = settings.monitoring
    say("reading the monitored model from the registry")
    model = monitored_model(settings, monitoring.model_alias)
    windows = _windows(lake, monitoring.current_days, as_of, model, reference)
    source = feature_source(settings)
    parts = _analyse(settings, lake, windows, model, source, say)
    breaches = thresholds.drift_breaches(parts.drift, monitoring)
    breaches += thresholds.performance_breaches(
        parts.performance.by_lead, parts.performance.by_cohort, monitoring
    )
    breaches += thresholds.quality_breaches(parts.quality, monitoring)
    say("writing the reports and the workspace snapshots")
    folder = _run_folder(out_dir, monitoring.runs_dir)
    reports = write_evidently_reports(folder, parts.snapshots)
    name = model.name if model else model_name(settings)
    stored = add_snapshots(monitoring.workspace, name, [s for s in parts.snapshots.values() if s is not None])
    metrics = _metrics(model, windows, source, parts, breaches, monitoring.workspace)
    metrics |= {"reports": reports, "snapshot_ids": [s.snapshot_id for s in stored], "seconds": parts.seconds}
    return MonitoringOutcome(
        report_html=str(write_summary(folder, metrics, reports)),
        metrics_json=str(write_metrics(folder, metrics)),
        breaches=tuple(breaches),
        workspace=monitoring.workspace,
        run_folder=str(folder),
        reports={k: str(folder / v) for k, v in reports.items()},
        model_name=model.name if model else None,
        model_version=model.version if model else None,
        windows=windows,
        snapshot_ids=tuple(s.snapshot_id for s in stored),
        seconds=parts.seconds,
    )


def _analyse(
    settings: Any,
    lake: Lake,
    windows: MonitoringWindows,
    model: MonitoredModel | None,
    source: str,
    say: Progress,
) -> _Parts:
    """Drift, performance and quality of the windows, each timed."""
    from monitoring.cohorts import home_cohorts
    from monitoring.evidently_reports import quality_snapshot
    from training.forecast.frames import load_homes

    monitoring = settings.monitoring
    homes = load_homes(lake)
    cohorts = home_cohorts(homes)
    metadata = _metadata(model, windows)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    say(f"data drift of the {source} features: reference and current samples")
    drift = collect_drift(settings, lake, windows, homes, cohorts, source, metadata)
    seconds["drift_s"] = time.perf_counter() - started
    say("forecast accuracy against the actuals")
    min_rows = monitoring.performance.min_rows
    performance = collect_performance(lake, windows, homes, cohorts, model, metadata, min_rows)
    seconds["performance_s"] = time.perf_counter() - started - seconds["drift_s"]
    say("data quality and freshness")
    quality = collect_quality(lake, windows, monitoring.quality.batch_max_age_h)
    daily = quality.daily
    stamp = _naive(windows.current.end)
    quality_run = quality_snapshot(daily, timestamp=stamp, metadata=metadata) if len(daily) else None
    seconds["quality_s"] = time.perf_counter() - started - seconds["drift_s"] - seconds["performance_s"]
    snapshots = {"drift": drift.snapshot, "performance": performance.snapshot, "quality": quality_run}
    return _Parts(drift, performance, quality, snapshots, seconds)


def _windows(
    lake: Lake,
    current_days: int,
    as_of: pd.Timestamp | None,
    model: MonitoredModel | None,
    reference: tuple[pd.Timestamp, pd.Timestamp] | None,
) -> MonitoringWindows:
    from monitoring.feature_frames import data_span

    first, end = data_span(lake)
    training = None
    if model is not None and model.train_first_date is not None and model.train_last_date is not None:
        training = (model.train_first_date, model.train_last_date)
    label = f"{model.name} v{model.version} ({model.found_by})" if model else "the model"
    windows = choose_windows(first, end, current_days, as_of, training, reference, label)
    if windows.reference.end <= windows.reference.start:
        raise ValueError(
            f"the reference window is empty ({windows.reference_source}): the lake holds no data before the "
            f"current window; give --reference-from/--reference-to or a shorter current window"
        )
    return windows


def _metadata(model: MonitoredModel | None, windows: MonitoringWindows) -> dict[str, str]:
    return {
        "model": model.name if model else "",
        "model_version": model.version if model else "",
        "as_of": windows.as_of.isoformat(),
        "current_start": windows.current.start.isoformat(),
        "current_end": windows.current.end.isoformat(),
        "reference_start": windows.reference.start.isoformat(),
        "reference_end": windows.reference.end.isoformat(),
    }


def _naive(stamp: pd.Timestamp) -> datetime:
    return stamp.tz_convert("UTC").tz_localize(None).to_pydatetime()


def _run_folder(out_dir: str | None, runs_dir: str) -> Path:
    if out_dir is not None:
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for attempt in range(1000):
        folder = Path(runs_dir) / (stamp if attempt == 0 else f"{stamp}-{attempt}")
        try:
            folder.mkdir(parents=True, exist_ok=False)
            return folder
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a new run folder under {runs_dir}")


def _metrics(
    model: MonitoredModel | None,
    windows: MonitoringWindows,
    source: str,
    parts: _Parts,
    breaches: list[thresholds.Breach],
    workspace: str,
) -> dict[str, Any]:
    drift, performance, quality = parts.drift, parts.performance, parts.quality
    model_record = None
    if model is not None:
        model_record = {k: v for k, v in asdict(model).items() if k != "backtest"}
        model_record = {
            k: (v.date().isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in model_record.items()
        }
    return {
        "model": model_record,
        "as_of": windows.as_of.isoformat(),
        "windows": {
            "reference": windows.reference.as_dict(),
            "current": windows.current.as_dict(),
            "reference_source": windows.reference_source,
        },
        "feature_source": source,
        "drift": {
            "share_drifted": drift.share_drifted,
            "n_drifted": drift.n_drifted,
            "n_features": len(drift.features),
            "empty_features": list(drift.empty_features),
            "rows": drift.rows,
            "features": records(drift.features),
            "cohorts": records(drift.cohort_summary),
            "cohort_features": records(drift.cohorts),
        },
        "performance": {
            "rows": performance.rows,
            "note": performance.note,
            "overall": records(performance.overall),
            "by_lead": records(performance.by_lead),
            "by_cohort": records(performance.by_cohort),
        },
        "quality": {
            "completeness": quality.completeness,
            "anomaly_share": quality.anomaly_share,
            "anomalies": quality.anomalies,
            "batch_age_h": quality.batch_age_h,
            "realtime_age_min": quality.realtime_age_min,
            "stale_homes": quality.stale_homes,
            "daily": records(quality.daily),
        },
        "breaches": [b.as_dict() for b in breaches],
        "workspace": workspace,
    }
