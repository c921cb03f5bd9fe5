"""The thresholds of ``monitoring:`` applied to a run's results: each crossed one is a :class:`Breach`.

Three kinds: ``drift`` (the share of drifted features, all homes and per cohort), ``performance`` (MAE against the
backtest per lead day, NRMSE against the backtest per cohort, P10–P90 coverage per lead day) and ``quality``
(completeness, anomaly share, batch and real-time freshness). A group with fewer scored hours than
``performance.min_rows``, or a cohort too small to judge, is never a breach.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from contracts.monitoring_settings import MonitoringSettings
from monitoring.drift import DriftResult
from monitoring.quality import QualityResult

DRIFT, PERFORMANCE, QUALITY = "drift", "performance", "quality"
RETRAIN_KINDS = (DRIFT, PERFORMANCE)  # retraining answers these; it cannot fix late or missing data


@dataclass(frozen=True)
class Breach:
    """A threshold crossed.

    Attributes:
        kind: ``drift``, ``performance`` or ``quality``.
        metric: what was measured (``share_drifted_features``, ``mae_ratio``, ``coverage``, ``completeness`` …).
        value: its value.
        threshold: the threshold it crossed.
        cohort: where: ``all``, a cohort (``pv=yes``), a lead day (``day+1``), with the model version for
            performance (``v3 day+1``).
        message: one line for a person.
    """

    kind: str
    metric: str
    value: float
    threshold: float
    cohort: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def drift_breaches(result: DriftResult, settings: MonitoringSettings) -> list[Breach]:
    """The all-homes and per-cohort drift shares at or above their thresholds."""
    drift = settings.drift
    breaches = []
    if len(result.features) and result.share_drifted >= drift.drift_share:
        names = ", ".join(result.features.loc[result.features["drifted"], "feature"].head(8))
        breaches.append(
            Breach(
                DRIFT,
                "share_drifted_features",
                result.share_drifted,
                drift.drift_share,
                "all",
                f"{result.n_drifted} of {len(result.features)} features drifted ({names} …)",
            )
        )
    judged = result.cohort_summary[result.cohort_summary["judged"]]
    for row in _rows(judged):
        where = f"{row['cohort']}={row['value']}"
        if row["n_features"] and row["share_drifted"] >= drift.cohort_drift_share:
            breaches.append(
                Breach(
                    DRIFT,
                    "share_drifted_features",
                    float(row["share_drifted"]),
                    drift.cohort_drift_share,
                    where,
                    f"{row['n_drifted']} of {row['n_features']} features drifted for {where}",
                )
            )
    return breaches


def performance_breaches(
    by_lead: pd.DataFrame, by_cohort: pd.DataFrame, settings: MonitoringSettings
) -> list[Breach]:
    """MAE ratio and coverage per model version and lead day; NRMSE ratio per model version and cohort.

    Args:
        by_lead: ``model_version``, ``lead_day``, ``rows``, ``mae``, ``coverage``, ``backtest_mae``, ``mae_ratio``.
        by_cohort: ``model_version``, ``cohort``, ``value``, ``rows``, ``nrmse``, ``backtest_nrmse``,
            ``nrmse_ratio``.
        settings: the thresholds.
    """
    limits = settings.performance
    breaches: list[Breach] = []
    for row in _rows(by_lead, limits.min_rows):
        breaches += _lead_breaches(row, settings)
    for row in _rows(by_cohort, limits.min_rows):
        ratio = row["nrmse_ratio"]
        if _finite(ratio) and ratio > limits.degradation_ratio:
            where = f"v{row['model_version']} {row['cohort']}={row['value']}"
            message = (
                f"day-ahead NRMSE {row['nrmse']:.3f} is {ratio:.2f}× the backtest's "
                f"{row['backtest_nrmse']:.3f} ({where})"
            )
            breaches.append(
                Breach(PERFORMANCE, "nrmse_ratio", float(ratio), limits.degradation_ratio, where, message)
            )
    return breaches


def _lead_breaches(row: dict[str, Any], settings: MonitoringSettings) -> list[Breach]:
    """The MAE ratio and the coverage of one version and lead day."""
    limits = settings.performance
    where = f"v{row['model_version']} {row['lead_day']}"
    ratio, coverage = row["mae_ratio"], float(row["coverage"])
    breaches = []
    if _finite(ratio) and ratio > limits.degradation_ratio:
        message = (
            f"MAE {row['mae']:.3f} kWh is {ratio:.2f}× the backtest's {row['backtest_mae']:.3f} kWh ({where})"
        )
        breaches.append(
            Breach(PERFORMANCE, "mae_ratio", float(ratio), limits.degradation_ratio, where, message)
        )
    if not limits.coverage_min <= coverage <= limits.coverage_max:
        bound = limits.coverage_min if coverage < limits.coverage_min else limits.coverage_max
        message = (
            f"P10–P90 coverage {coverage:.1%} is outside "
            f"[{limits.coverage_min:.0%}, {limits.coverage_max:.0%}] ({where})"
        )
        breaches.append(Breach(PERFORMANCE, "coverage", coverage, bound, where, message))
    return breaches


def quality_breaches(result: QualityResult, settings: MonitoringSettings) -> list[Breach]:
    """Completeness, anomaly share and the two freshness ages against their thresholds."""
    limits = settings.quality
    breaches = []
    if _finite(result.completeness) and result.completeness < limits.min_completeness:
        breaches.append(
            Breach(
                QUALITY,
                "completeness",
                result.completeness,
                limits.min_completeness,
                "all",
                f"completeness {result.completeness:.1%} is below {limits.min_completeness:.0%}",
            )
        )
    if limits.max_anomaly_share is not None and result.anomaly_share > limits.max_anomaly_share:
        breaches.append(
            Breach(
                QUALITY,
                "anomaly_share",
                result.anomaly_share,
                limits.max_anomaly_share,
                "all",
                f"{result.anomaly_share:.2%} of the slots are anomalies (at most {limits.max_anomaly_share:.2%})",
            )
        )
    if result.batch_age_h is not None and result.batch_age_h > limits.batch_max_age_h:
        breaches.append(
            Breach(
                QUALITY,
                "batch_age_h",
                result.batch_age_h,
                limits.batch_max_age_h,
                "all",
                f"the newest batch reading ended {result.batch_age_h:,.1f} h ago (at most {limits.batch_max_age_h:g} h)",
            )
        )
    if result.realtime_age_min is not None and result.realtime_age_min > limits.realtime_max_age_min:
        breaches.append(
            Breach(
                QUALITY,
                "realtime_age_min",
                result.realtime_age_min,
                limits.realtime_max_age_min,
                "all",
                f"the newest API reading ended {result.realtime_age_min:,.0f} min ago "
                f"(at most {limits.realtime_max_age_min:g} min)",
            )
        )
    return breaches


def _rows(frame: pd.DataFrame, min_rows: int = 0) -> list[dict[str, Any]]:
    """The records of ``frame`` (those with at least ``min_rows`` in its ``rows`` column, when given)."""
    if frame.empty:
        return []
    if min_rows:
        frame = frame[frame["rows"] >= min_rows]
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
