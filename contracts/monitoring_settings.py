"""Typed settings of monitoring (the ``monitoring:`` section of ``eliq.yaml``).

Nested keys follow the rest of the configuration: ``ELIQ_MONITORING__CURRENT_DAYS=14``,
``ELIQ_MONITORING__DRIFT__DRIFT_SHARE=0.3``. ``docs/monitoring.md`` explains every threshold.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DriftSettings(_Frozen):
    """How a feature is judged drifted, and when drift becomes an alert.

    The methods are Evidently's stat-test names (``wasserstein``, ``jensenshannon``, ``ks``, ``psi``, ``kl_div``,
    ``chisquare``, ``z``, ``anderson`` …). A distance (Wasserstein, Jensen-Shannon, PSI) drifts when it is at or
    above its threshold; a test with a p-value (``ks``, ``chisquare``, ``z``) drifts when the p-value is below it.

    Attributes:
        num_method: the method of numerical features; fixed here so that Evidently's automatic choice (which
            switches from KS to Wasserstein above 1,000 rows) cannot change between runs.
        cat_method: the method of categorical features.
        num_threshold: the drift threshold of ``num_method`` (a normed distance, or a p-value) [-].
        cat_threshold: the drift threshold of ``cat_method`` [-].
        per_feature_method: feature → method, overriding the two above.
        per_feature_threshold: feature → threshold, overriding the two above.
        drift_share: an alert when at least this share of the features drifts, all homes together [0-1].
        cohort_drift_share: an alert when at least this share of the features drifts within one cohort [0-1].
        ignore_features: features left out of the drift report: the calendar month of a recent week always
            differs from the months of a training window, so its drift says nothing.
        max_categories: an integer feature with at most this many distinct values is categorical (hour,
            weekday, flags); with more it is numerical (build year).
    """

    num_method: str = "wasserstein"
    cat_method: str = "jensenshannon"
    num_threshold: float = Field(default=0.1, gt=0)
    cat_threshold: float = Field(default=0.1, gt=0)
    per_feature_method: dict[str, str] = Field(default_factory=dict)
    per_feature_threshold: dict[str, float] = Field(default_factory=dict)
    drift_share: float = Field(default=0.5, gt=0, le=1)
    cohort_drift_share: float = Field(default=0.5, gt=0, le=1)
    ignore_features: tuple[str, ...] = ("month",)
    max_categories: int = Field(default=25, ge=2)


class PerformanceSettings(_Frozen):
    """When the stored forecasts, scored against the actuals, are an alert.

    Attributes:
        degradation_ratio: an alert when a lead day's MAE (a cohort's NRMSE) is more than this multiple of the
            backtest's value logged with the model version [-].
        coverage_min: an alert when the share of actuals inside the P10–P90 interval falls below this [0-1].
        coverage_max: an alert when it rises above this (the interval has grown too wide) [0-1].
        min_rows: a lead day or cohort with fewer scored hours is reported but never judged.
    """

    degradation_ratio: float = Field(default=1.3, gt=1)
    coverage_min: float = Field(default=0.65, ge=0, le=1)
    coverage_max: float = Field(default=0.95, ge=0, le=1)
    min_rows: int = Field(default=168, ge=1)


class QualitySettings(_Frozen):
    """Data-quality thresholds over the current window.

    Attributes:
        min_completeness: an alert when observed slots / grid slots falls below this [0-1].
        realtime_max_age_min: an alert when the newest reading sent through the API ended longer ago than this
            [min]; no alert when no reading ever came through the API.
        batch_max_age_h: an alert when the newest reading of the processed zone (batch files through
            ``eliq prep run``) ended longer ago than this [h].
        max_anomaly_share: an alert when anomalous slots / grid slots exceeds this; ``None`` reports only [0-1].
    """

    min_completeness: float = Field(default=0.95, ge=0, le=1)
    realtime_max_age_min: float = Field(default=15.0, gt=0)
    batch_max_age_h: float = Field(default=24.0, gt=0)
    max_anomaly_share: float | None = Field(default=0.02, ge=0, le=1)


class MonitoringSettings(_Frozen):
    """Drift, performance and data-quality monitoring.

    Attributes:
        workspace: the Evidently workspace, a local folder that ``evidently ui`` (``eliq monitor ui``) browses;
            one project per monitored model, named like the registered model (``eliq-forecast``).
        runs_dir: a folder of run folders (``<runs_dir>/<UTC time>/``: HTML reports, ``metrics.json``,
            ``alert.json``) unless a run is given its own folder.
        alerts_log: the JSON-lines file every alert record is appended to; ``None`` is
            ``<runs_dir>/alerts.jsonl``.
        model_alias: the registry alias of the monitored model; its training window is the drift reference
            (without that alias: ``challenger``, then the latest version).
        current_days: the current window: this many days of data up to the monitoring time [d].
        feature_source: ``feast`` (``forecast_v1``'s point-in-time features), ``curated`` (the curated hourly
            columns and home attributes the model reads when trained on ``curated``) or ``None`` (as training:
            ``training.forecast.source``).
        sample_rows: rows of each window in the all-homes drift report, a seeded sample stratified by cohort.
        cohort_sample_rows: rows of each window and cohort in the per-cohort drift report, at most.
        min_cohort_rows: a cohort with fewer rows in either window is reported as too small, not judged.
        seed: the seed of every sample.
        drift: drift methods and thresholds.
        performance: forecast accuracy thresholds.
        quality: data-quality thresholds.
    """

    workspace: str = "monitoring_workspace"
    runs_dir: str = "monitoring_runs"
    alerts_log: str | None = None
    model_alias: str = Field(default="champion", pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")
    current_days: int = Field(default=7, ge=1)
    feature_source: Literal["feast", "curated"] | None = None
    sample_rows: int = Field(default=50_000, ge=1_000)
    cohort_sample_rows: int = Field(default=5_000, ge=100)
    min_cohort_rows: int = Field(default=200, ge=10)
    seed: int = 0
    drift: DriftSettings = Field(default_factory=DriftSettings)
    performance: PerformanceSettings = Field(default_factory=PerformanceSettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)
