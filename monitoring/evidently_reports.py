"""The thin adapter to Evidently (0.7): every report monitoring builds, and their results as plain tables.

Nothing else in eliq imports Evidently's report API; the workspace is :mod:`monitoring.evidently_workspace`.
Evidently is imported inside the functions, never at import of this module.

- :func:`drift_snapshot`: ``DataDriftPreset`` over the features (all homes), with the methods and thresholds of
  :class:`contracts.monitoring_settings.DriftSettings` fixed per column kind;
- :func:`cohort_drift_table`: Evidently's stat tests per feature and cohort value, without a report (see
  there why); the share of drifted features per cohort is counted by the caller (``GroupBy(DriftedColumnsCount)``
  in Evidently 0.7.23 counts over the whole dataset, not the group, so it cannot be used);
- :func:`performance_snapshot`: ``RegressionPreset`` of the P50 forecast against the actual, the P10–P90
  coverage and, given an earlier window, the drift of the forecast itself (prediction drift);
- :func:`quality_snapshot`: daily completeness and anomaly counts, so the workspace plots them over time.

A feature drifts when Evidently's own test of its ``ValueDrift`` fails (``include_tests=True``), so the
direction of each method's threshold (a distance above, a p-value below) is Evidently's.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from contracts.monitoring_settings import DriftSettings

VALUE_DRIFT = "evidently:metric_v2:ValueDrift"
DRIFT_COLUMNS = ["feature", "kind", "method", "threshold", "score", "drifted"]
COHORT_DRIFT_COLUMNS = ["cohort", "value", *DRIFT_COLUMNS]
MISSING_CATEGORY = "missing"


def import_evidently(module: str = "evidently") -> Any:
    """Import an Evidently module without the deprecation warnings its import raises (numpy.core, litestar):
    noise for a user, nothing to act on. Later imports of the same modules are cached."""
    import importlib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return importlib.import_module(module)


@dataclass(frozen=True)
class ColumnKinds:
    """The features of a drift report by kind (what Evidently's ``DataDefinition`` is told).

    Attributes:
        numerical: features compared with the numerical method.
        categorical: features compared with the categorical method.
        empty: features with no value in one of the windows: reported, never judged.
    """

    numerical: tuple[str, ...]
    categorical: tuple[str, ...]
    empty: tuple[str, ...] = ()

    @property
    def judged(self) -> tuple[str, ...]:
        return (*self.numerical, *self.categorical)


@dataclass(frozen=True)
class Snapshot:
    """An Evidently run (``evidently.Snapshot``) with the name and tags it is stored under."""

    name: str
    run: Any
    tags: tuple[str, ...]

    def save_html(self, path: str) -> None:
        self.run.save_html(path)


def column_kinds(
    reference: pd.DataFrame, current: pd.DataFrame, features: list[str], max_categories: int
) -> ColumnKinds:
    """Numerical, categorical and empty features of two windows.

    A text, boolean or category column is categorical; an integer one is categorical when both windows together
    hold at most ``max_categories`` distinct values (hour, weekday, flags); every other one is numerical.
    """
    numerical, categorical, empty = [], [], []
    for feature in features:
        both = pd.concat([reference[feature], current[feature]], ignore_index=True)
        if reference[feature].isna().all() or current[feature].isna().all():
            empty.append(feature)
        elif _is_categorical(both, max_categories):
            categorical.append(feature)
        else:
            numerical.append(feature)
    return ColumnKinds(tuple(numerical), tuple(categorical), tuple(empty))


def _is_categorical(values: pd.Series, max_categories: int) -> bool:
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return True
    return pd.api.types.is_integer_dtype(values) and values.nunique(dropna=True) <= max_categories


def evidently_frame(frame: pd.DataFrame, kinds: ColumnKinds, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """The judged features as Evidently reads them: numerical as float (nulls NaN), categorical as text
    (nulls ``missing``); ``extra`` columns (cohort labels) as text."""
    out = pd.DataFrame(index=frame.index)
    for column in kinds.numerical:
        out[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    for column in (*kinds.categorical, *extra):
        values = frame[column].astype(object)
        out[column] = values.where(values.notna(), MISSING_CATEGORY).astype(str)
    return out.reset_index(drop=True)


def _dataset(frame: pd.DataFrame, kinds: ColumnKinds, extra: tuple[str, ...] = ()) -> Any:
    import_evidently()
    from evidently import DataDefinition, Dataset

    definition = DataDefinition(
        numerical_columns=list(kinds.numerical), categorical_columns=[*kinds.categorical, *extra]
    )
    return Dataset.from_pandas(evidently_frame(frame, kinds, extra), data_definition=definition)


def _method(feature: str, kinds: ColumnKinds, drift: DriftSettings) -> tuple[str, float]:
    numerical = feature in kinds.numerical
    method = drift.per_feature_method.get(feature, drift.num_method if numerical else drift.cat_method)
    threshold = drift.per_feature_threshold.get(
        feature, drift.num_threshold if numerical else drift.cat_threshold
    )
    return method, threshold


def drift_snapshot(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    kinds: ColumnKinds,
    drift: DriftSettings,
    *,
    timestamp: datetime,
    metadata: dict[str, str],
) -> tuple[Snapshot, pd.DataFrame]:
    """Evidently's ``DataDriftPreset`` over the judged features of two windows (all homes).

    Returns:
        The snapshot and one row per judged feature: ``feature``, ``kind``, ``method``, ``threshold``,
        ``score``, ``drifted``.
    """
    import_evidently()
    from evidently import Report
    from evidently.presets import DataDriftPreset

    columns = list(kinds.judged)
    methods = {c: _method(c, kinds, drift) for c in columns}
    preset = DataDriftPreset(
        columns=columns,
        drift_share=drift.drift_share,
        per_column_method={c: m for c, (m, _) in methods.items()},
        per_column_threshold={c: t for c, (_, t) in methods.items()},
    )
    report = Report([preset], include_tests=True, metadata=dict(metadata), tags=["drift"])
    run = report.run(_dataset(current, kinds), _dataset(reference, kinds), timestamp=timestamp)
    return Snapshot("data drift: all homes", run, ("drift",)), _value_drift_rows(run, kinds)


def cohort_drift_table(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    kinds: ColumnKinds,
    drift: DriftSettings,
    cohort: str,
    values: list[str],
) -> pd.DataFrame:
    """The drift of every judged feature within each value of the cohort dimension ``cohort``.

    Runs Evidently's stat tests (the functions ``DataDriftPreset`` runs, with the same methods and thresholds)
    without a report: a report renders a plot per feature, about 0.2 s each, which for 50 features × 10 cohort
    values would be most of the run; the tables go to ``metrics.json`` and ``report.html`` instead.

    Args:
        reference: the reference window's per-cohort sample, with the ``cohort`` column.
        current: the current window's, likewise.
        kinds: the features (judged over all homes).
        drift: methods and thresholds.
        cohort: the cohort dimension (``heating``, ``pv``, ``region``).
        values: the cohort values to judge (those with enough rows in both windows).

    Returns:
        One row per value and feature (``cohort``, ``value``, then the columns of :func:`drift_snapshot`'s
        table); a feature with no value within a cohort in one window is left out of that cohort.
    """
    import_evidently()
    from evidently.legacy.calculations.stattests import get_stattest
    from evidently.legacy.core import ColumnType

    ref_frame = evidently_frame(reference, kinds, (cohort,))
    cur_frame = evidently_frame(current, kinds, (cohort,))
    records = []
    for value in values:
        ref_rows, cur_rows = ref_frame[ref_frame[cohort] == value], cur_frame[cur_frame[cohort] == value]
        for feature in kinds.judged:
            numerical = feature in kinds.numerical
            ref, cur = _finite(ref_rows[feature], numerical), _finite(cur_rows[feature], numerical)
            if ref.empty or cur.empty:
                continue
            method, threshold = _method(feature, kinds, drift)
            column_type = ColumnType.Numerical if numerical else ColumnType.Categorical
            test = get_stattest(ref, cur, column_type, method)
            result = test(ref, cur, column_type, threshold)
            records.append(
                {
                    "cohort": cohort,
                    "value": value,
                    "feature": feature,
                    "kind": "numerical" if numerical else "categorical",
                    "method": method,
                    "threshold": float(result.actual_threshold),
                    "score": float(result.drift_score),
                    "drifted": bool(result.drifted),
                }
            )
    return pd.DataFrame(records, columns=COHORT_DRIFT_COLUMNS)


def _finite(values: pd.Series, numerical: bool) -> pd.Series:
    """The values a stat test reads: numerical without NaN or infinities (as Evidently cleans them)."""
    return values.replace([-np.inf, np.inf], np.nan).dropna() if numerical else values


def _value_drift_rows(run: Any, kinds: ColumnKinds) -> pd.DataFrame:
    """One row per ``ValueDrift`` result of a run, drifted = its test failed."""
    records = []
    for result in run.metric_results.values():
        record = result.to_dict()
        config = record["config"]
        if config.get("type") != VALUE_DRIFT:
            continue
        feature = config["column"]
        records.append(
            {
                "feature": feature,
                "kind": "numerical" if feature in kinds.numerical else "categorical",
                "method": str(config.get("method")),
                "threshold": float(config.get("threshold") or np.nan),
                "score": float(record["value"]),
                "drifted": any(_failed(test) for test in result.tests),
            }
        )
    return pd.DataFrame(records, columns=DRIFT_COLUMNS)


def _failed(test: Any) -> bool:
    return str(getattr(test.status, "value", test.status)) == "FAIL"


def performance_snapshot(
    current: pd.DataFrame, previous: pd.DataFrame | None, *, timestamp: datetime, metadata: dict[str, str]
) -> Snapshot:
    """The P50 forecast against the actual (``RegressionPreset``), the P10–P90 coverage (mean of ``inside``)
    and, when an earlier window's forecasts are given, the drift of the P50 forecast (prediction drift).

    Args:
        current: scored forecast rows: ``actual``, ``kwh_p50`` [kWh], ``inside`` (1 when the actual is within
            P10–P90, else 0).
        previous: the same for the window before, or ``None``.
        timestamp: the snapshot's time.
        metadata: stored with the snapshot.
    """
    import_evidently()
    from evidently import DataDefinition, Dataset, Regression, Report
    from evidently.metrics import MeanValue, ValueDrift
    from evidently.presets import RegressionPreset

    columns = ["actual", "kwh_p50", "inside"]
    definition = DataDefinition(
        numerical_columns=columns, regression=[Regression(target="actual", prediction="kwh_p50")]
    )

    def dataset(frame: pd.DataFrame) -> Any:
        return Dataset.from_pandas(
            frame[columns].astype(float).reset_index(drop=True), data_definition=definition
        )

    metrics: list[Any] = [RegressionPreset(), MeanValue(column="inside")]
    if previous is not None and len(previous):
        metrics.append(ValueDrift(column="kwh_p50", method="wasserstein"))
    report = Report(metrics, metadata=dict(metadata), tags=["performance"])
    reference = dataset(previous) if previous is not None and len(previous) else None
    with warnings.catch_warnings():  # scikit-learn's R² warns on a window of one scored hour
        warnings.filterwarnings("ignore", message="R\\^2 score is not well-defined")
        run = report.run(dataset(current), reference, timestamp=timestamp)
    return Snapshot("forecast performance", run, ("performance",))


def quality_snapshot(daily: pd.DataFrame, *, timestamp: datetime, metadata: dict[str, str]) -> Snapshot:
    """Daily completeness, share imputed and anomaly counts of the current window (one row per day)."""
    import_evidently()
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import MeanValue, MinValue, SumValue

    columns = ["completeness", "share_imputed", "n_anomaly"]
    frame = daily[columns].astype(float).reset_index(drop=True)
    dataset = Dataset.from_pandas(frame, data_definition=DataDefinition(numerical_columns=columns))
    metrics = [
        MeanValue(column="completeness"),
        MinValue(column="completeness"),
        MeanValue(column="share_imputed"),
        SumValue(column="n_anomaly"),
    ]
    report = Report(metrics, metadata=dict(metadata), tags=["quality"])
    return Snapshot("data quality", report.run(dataset, None, timestamp=timestamp), ("quality",))
