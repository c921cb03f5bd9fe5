"""Data drift of the model's features: the current window against the reference window, for all homes and per
cohort.

The inputs are the sampled windows of :mod:`monitoring.sampling` (features and cohort columns); the statistics are
Evidently's (:mod:`monitoring.evidently_reports`). A cohort value is judged only when it has at least
``min_cohort_rows`` rows in both windows' per-cohort samples; smaller ones are listed as too small.

Invariants:
    The reference and the current window are judged with one method and one threshold per feature, fixed in the
    settings, whatever the windows' sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from contracts.monitoring_settings import MonitoringSettings
from monitoring.cohorts import COHORTS
from monitoring.evidently_reports import (
    COHORT_DRIFT_COLUMNS,
    Snapshot,
    cohort_drift_table,
    column_kinds,
    drift_snapshot,
)
from monitoring.sampling import WindowSample

COHORT_SUMMARY_COLUMNS = [
    "cohort",
    "value",
    "rows_reference",
    "rows_current",
    "judged",
    "n_features",
    "n_drifted",
    "share_drifted",
]


@dataclass(frozen=True)
class DriftResult:
    """The drift of one monitoring run.

    Attributes:
        features: one row per judged feature, all homes: ``feature``, ``kind``, ``method``, ``threshold``,
            ``score``, ``drifted``.
        empty_features: features with no value in one of the windows (not judged).
        n_drifted: drifted features, all homes.
        share_drifted: drifted / judged features, all homes [0-1].
        cohorts: one row per cohort value and feature (``cohort``, ``value``, then as ``features``).
        cohort_summary: one row per cohort value: ``rows_reference``, ``rows_current`` (in the per-cohort
            samples), ``judged``, ``n_features``, ``n_drifted``, ``share_drifted``.
        rows: rows per window before sampling and in the all-homes samples.
        snapshot: the Evidently run of the all-homes report.
    """

    features: pd.DataFrame
    empty_features: tuple[str, ...]
    n_drifted: int
    share_drifted: float
    cohorts: pd.DataFrame
    cohort_summary: pd.DataFrame
    rows: dict[str, int]
    snapshot: Snapshot


def analyse_drift(
    reference: WindowSample,
    current: WindowSample,
    features: list[str],
    settings: MonitoringSettings,
    *,
    timestamp: datetime,
    metadata: dict[str, str],
) -> DriftResult:
    """Judge each feature's drift between the windows, for all homes and within each cohort value.

    Args:
        reference: the reference window's samples (features and the cohort columns).
        current: the current window's samples.
        features: the features to judge (``settings.drift.ignore_features`` are left out).
        settings: the monitoring settings (methods, thresholds, cohort sizes).
        timestamp: the time the snapshot is filed under (the end of the current window) [UTC, naive].
        metadata: stored with the Evidently snapshot (model, version, windows).
    """
    drift = settings.drift
    wanted = [f for f in features if f not in set(drift.ignore_features)]
    kinds = column_kinds(reference.overall, current.overall, wanted, drift.max_categories)
    snapshot, table = drift_snapshot(
        reference.overall, current.overall, kinds, drift, timestamp=timestamp, metadata=metadata
    )
    cohort_tables, summaries = [], []
    for cohort in COHORTS:
        ref, cur = reference.by_cohort.get(cohort), current.by_cohort.get(cohort)
        if ref is None or cur is None:
            continue
        summary = _cohort_sizes(ref, cur, cohort, settings.min_cohort_rows)
        values = summary.loc[summary["judged"], "value"].tolist()
        cohort_tables.append(cohort_drift_table(ref, cur, kinds, drift, cohort, values))
        summaries.append(summary)
    cohorts = _concat(cohort_tables, COHORT_DRIFT_COLUMNS)
    n_drifted = int(table["drifted"].sum())
    return DriftResult(
        features=table,
        empty_features=kinds.empty,
        n_drifted=n_drifted,
        share_drifted=n_drifted / len(table) if len(table) else 0.0,
        cohorts=cohorts,
        cohort_summary=_with_shares(_concat(summaries, COHORT_SUMMARY_COLUMNS), cohorts),
        rows={
            "reference_rows": reference.rows_in_window,
            "current_rows": current.rows_in_window,
            "reference_sampled": len(reference.overall),
            "current_sampled": len(current.overall),
        },
        snapshot=snapshot,
    )


def _cohort_sizes(ref: pd.DataFrame, cur: pd.DataFrame, cohort: str, min_rows: int) -> pd.DataFrame:
    sizes = pd.DataFrame(
        {
            "rows_reference": ref[cohort].astype(str).value_counts(),
            "rows_current": cur[cohort].astype(str).value_counts(),
        }
    ).fillna(0)
    sizes = sizes.astype(int).rename_axis("value").reset_index().sort_values("value", ignore_index=True)
    sizes.insert(0, "cohort", cohort)
    sizes["judged"] = (sizes["rows_reference"] >= min_rows) & (sizes["rows_current"] >= min_rows)
    return sizes


def _with_shares(summary: pd.DataFrame, cohorts: pd.DataFrame) -> pd.DataFrame:
    """The summary with each cohort value's count and share of drifted features."""
    counts = cohorts.groupby(["cohort", "value"]).agg(
        n_features=("feature", "size"), n_drifted=("drifted", "sum")
    )
    out = summary.drop(columns=["n_features", "n_drifted", "share_drifted"], errors="ignore")
    out = out.merge(counts.reset_index(), on=["cohort", "value"], how="left")
    out["n_features"] = out["n_features"].fillna(0).astype(int)
    out["n_drifted"] = out["n_drifted"].fillna(0).astype(int)
    out["share_drifted"] = (out["n_drifted"] / out["n_features"].where(out["n_features"] > 0)).fillna(0.0)
    return out[COHORT_SUMMARY_COLUMNS]


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    parts = [f for f in frames if not f.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
