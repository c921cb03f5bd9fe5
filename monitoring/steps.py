"""The monitoring steps the CLI, the MLproject entry points and the pipelines call.

- :func:`monitor_forecast`: one monitoring run of the forecast: data drift (all homes and per cohort), accuracy
  of the stored forecasts against the actuals, data quality; HTML reports and ``metrics.json`` in a run folder,
  snapshots in the Evidently workspace; returns the breached thresholds.
- :func:`check_forecast`: a monitoring run that writes an alert record when a threshold is crossed and, asked to,
  retrains (:func:`training.steps.forecast_train.train_forecast`) and lets the promotion gate decide
  (:func:`training.steps.forecast_promote.promote_forecast`).

``docs/monitoring.md`` describes what is measured and how to read it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from monitoring.thresholds import RETRAIN_KINDS, Breach
from monitoring.windows import MonitoringWindows

Progress = Callable[[str], None]


@dataclass(frozen=True)
class MonitoringOutcome:
    """What a monitoring run produced.

    Attributes:
        report_html: the run's summary report (links the Evidently reports).
        metrics_json: every number of the run.
        breaches: the thresholds crossed.
        workspace: the Evidently workspace the snapshots were added to.
        run_folder: the folder of the run's files.
        reports: report name (``drift``, ``performance``, ``quality``) → its Evidently HTML file.
        model_name: the monitored registered model (``None``: none registered).
        model_version: its version.
        windows: the reference and current windows.
        snapshot_ids: the snapshots added to the workspace.
        seconds: wall time per part [s].
    """

    report_html: str
    metrics_json: str
    breaches: tuple[Breach, ...]
    workspace: str
    run_folder: str
    reports: dict[str, str]
    model_name: str | None
    model_version: str | None
    windows: MonitoringWindows
    snapshot_ids: tuple[str, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def alerting(self) -> bool:
        return bool(self.breaches)


@dataclass(frozen=True)
class RetrainOutcome:
    """What retraining after an alert did.

    Attributes:
        run_id: the training run.
        version: the new version (made challenger).
        promoted: whether the promotion gate made it champion.
        champion_version: the champion after the gate.
        reasons: the gate's reasons.
    """

    run_id: str
    version: str | None
    promoted: bool
    champion_version: str | None
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class CheckOutcome:
    """A check: the monitoring run, the alert record (``None`` without breaches) and any retraining.

    Attributes:
        monitoring: the monitoring run.
        alert_path: the run's ``alert.json``, or ``None`` when no threshold was crossed.
        retraining: what retraining did, or ``None`` when it did not run.
        retrain_skipped: why retraining did not run although asked (only data-quality breaches), else ``None``.
    """

    monitoring: MonitoringOutcome
    alert_path: str | None
    retraining: RetrainOutcome | None = None
    retrain_skipped: str | None = None


def monitor_forecast(
    settings: Any,
    *,
    as_of: pd.Timestamp | None = None,
    out_dir: str | None = None,
    progress: Progress | None = None,
    reference: tuple[pd.Timestamp, pd.Timestamp] | None = None,
) -> MonitoringOutcome:
    """Monitor the forecast: drift, accuracy against actuals, data quality; reports, workspace, breaches.

    Args:
        settings: the eliq settings (``monitoring``, ``storage``, ``training``, ``features``).
        as_of: the monitoring time [UTC; naive is UTC]; ``None`` is now. The current window ends here, or at the
            last curated hour when that is earlier; freshness is measured at this time.
        out_dir: the run folder; ``None`` is a new ``<monitoring.runs_dir>/<UTC time>/``.
        progress: called with a short description as each part starts.
        reference: explicit reference window (start, end exclusive) instead of the model's training window.

    Raises:
        FileNotFoundError: the lake has no curated hourly data.
        ValueError: a window holds no curated hour.
        FeatureStoreError: the features come from Feast and the store is not built or applied.
    """
    from monitoring.run_monitoring import run_monitoring

    return run_monitoring(settings, as_of=as_of, out_dir=out_dir, progress=progress, reference=reference)


def check_forecast(
    settings: Any,
    *,
    retrain: bool = False,
    as_of: pd.Timestamp | None = None,
    out_dir: str | None = None,
    progress: Progress | None = None,
    reference: tuple[pd.Timestamp, pd.Timestamp] | None = None,
) -> CheckOutcome:
    """Monitor, write an alert record when a threshold is crossed and, with ``retrain``, retrain and promote.

    Retraining runs only for drift or performance breaches: data that is late, incomplete or anomalous is not
    fixed by a new model. The promotion gate decides whether the new version replaces the champion. When retraining
    fails, the alert record says so and the error is raised after it is written.

    Args:
        settings: the eliq settings.
        retrain: retrain (then run the promotion gate) when drift or performance crossed a threshold.
        as_of: as :func:`monitor_forecast`.
        out_dir: as :func:`monitor_forecast`.
        progress: as :func:`monitor_forecast`.
        reference: as :func:`monitor_forecast`.
    """
    from monitoring.alerts import alert_record, alerts_log_path, write_alert

    say = progress or (lambda _: None)
    outcome = monitor_forecast(settings, as_of=as_of, out_dir=out_dir, progress=progress, reference=reference)
    if not outcome.breaches:
        return CheckOutcome(outcome, None)
    retraining, skipped, failure = None, None, None
    if retrain and any(b.kind in RETRAIN_KINDS for b in outcome.breaches):
        try:
            retraining = _retrain(settings, say)
        except Exception as err:  # the alert is recorded all the same, with the failure; then it propagates
            failure = err
    elif retrain:
        skipped = "only data-quality thresholds were crossed: retraining would not fix late or missing data"
    model = {"name": outcome.model_name, "version": outcome.model_version} if outcome.model_name else None
    record = alert_record(
        [b.as_dict() for b in outcome.breaches],
        outcome.windows.as_of.isoformat(),
        model,
        outcome.run_folder,
        _retrain_record(retraining, skipped, failure),
    )
    path = write_alert(record, Path(outcome.run_folder), alerts_log_path(settings.monitoring))
    if failure is not None:
        raise failure
    return CheckOutcome(outcome, str(path), retraining, skipped)


def _retrain(settings: Any, say: Progress) -> RetrainOutcome:
    from training.steps.forecast_promote import promote_forecast
    from training.steps.forecast_train import train_forecast

    started = time.perf_counter()
    say("retraining the forecast")
    trained = train_forecast(settings, progress=say)
    say("promotion gate: challenger against champion and baselines")
    promoted = promote_forecast(settings, progress=say)
    say(f"retrained and judged in {time.perf_counter() - started:.0f} s")
    return RetrainOutcome(
        run_id=trained.run_id,
        version=trained.version,
        promoted=promoted.decision.promote,
        champion_version=promoted.champion_version,
        reasons=tuple(str(r) for r in promoted.decision.reasons),
    )


def _retrain_record(
    retraining: RetrainOutcome | None, skipped: str | None, failure: Exception | None
) -> dict[str, Any] | None:
    if retraining is not None:
        from dataclasses import asdict

        return asdict(retraining)
    if failure is not None:
        return {"failed": f"{type(failure).__name__}: {failure}"}
    return {"skipped": skipped} if skipped else None
