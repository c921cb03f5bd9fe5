"""Typed settings of training, tracking, tuning and the model registry (the ``training:`` section of ``eliq.yaml``).

Nested keys follow the rest of the configuration: ``ELIQ_TRAINING__TRACKING_URI=postgresql+psycopg://mlflow@db/mlflow``,
``ELIQ_TRAINING__FORECAST__PROMOTION_MARGIN=0.05``. A password in ``tracking_uri`` belongs in the environment.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ForecastTrainingSettings(_Frozen):
    """The consumption forecast: what is trained, how it is backtested and when it may be promoted.

    Attributes:
        source: where training reads the hourly history: ``feast`` (``forecast_v1``'s point-in-time historical
            features; needs ``eliq features build`` and ``apply``) or ``curated`` (the curated tables those
            features are built from, read directly: faster, and no feature store needed).
        issue_time_h: local clock time forecasts are issued at [h after midnight], e.g. 10.0.
        min_history_days: homes with less history at issue get the cold-start forecast [d].
        backtest_days: the rolling-origin backtest covers the last this many days of data [d].
        step_days: days between backtest origins [d].
        refit_every_days: refit within the backtest every this many days [d]; ``None`` fits once.
        calibration_days: the conformal calibration window before each fit [d].
        max_train_rows: hourly training rows sampled at most per fit.
        params: parameters of the global LightGBM (see ``GlobalLightGbmForecaster``); unset keys keep its defaults.
        prophet_homes: homes in the Prophet baseline's sample (0 skips Prophet).
        promotion_margin: a challenger is promoted only if its day-ahead NRMSE is at least this share below the
            champion's and every baseline's on the same backtest [0-1].
        report_homes: homes plotted in the evaluation report.
    """

    source: Literal["feast", "curated"] = "curated"
    issue_time_h: float = Field(default=10.0, ge=0, lt=24)
    min_history_days: float = Field(default=14.0, ge=0)
    backtest_days: int = Field(default=28, ge=2)
    step_days: int = Field(default=1, ge=1)
    refit_every_days: int | None = Field(default=None, ge=1)
    calibration_days: int = Field(default=28, ge=1)
    max_train_rows: int = Field(default=2_000_000, ge=1_000)
    params: dict[str, Any] = Field(default_factory=dict)
    prophet_homes: int = Field(default=5, ge=0)
    promotion_margin: float = Field(default=0.02, ge=0, lt=1)
    report_homes: int = Field(default=4, ge=1)


class TuningSettings(_Frozen):
    """Optuna studies.

    Attributes:
        storage_url: where studies are stored (SQLAlchemy URL); ``None`` puts ``optuna.db`` beside MLflow's
            SQLite file, or in the working folder when tracking is not on SQLite.
        validation_days: the days scored by each trial [d].
        seed: seed of the TPE sampler.
    """

    storage_url: str | None = None
    validation_days: int = Field(default=14, ge=2)
    seed: int = 0


class TrainingSettings(_Frozen):
    """MLflow tracking and registry, and the model families' training settings.

    Attributes:
        tracking_uri: MLflow's backend store: ``sqlite:///path/mlflow.db`` (default, a file) or
            ``postgresql+psycopg://user@host:5432/db`` for a shared server.
        artifact_root: a folder (or fsspec-style URI MLflow supports) for run artifacts and models.
        experiment_prefix: experiments are named ``<prefix>-<family>`` (``eliq-forecast``).
        registry_prefix: registered models are named ``<prefix>-<family>`` (``eliq-forecast``).
        forecast: the consumption forecast.
        tuning: Optuna.
    """

    tracking_uri: str = "sqlite:///mlflow/mlflow.db"
    artifact_root: str = "mlflow/artifacts"
    experiment_prefix: str = "eliq"
    registry_prefix: str = "eliq"
    forecast: ForecastTrainingSettings = Field(default_factory=ForecastTrainingSettings)
    tuning: TuningSettings = Field(default_factory=TuningSettings)

    def backend_uri(self) -> str:
        """``tracking_uri`` as MLflow's SQLAlchemy store needs it: a plain ``postgresql://`` gets the psycopg 3 driver
        this project ships (SQLAlchemy would look for psycopg2, which is not installed); other URIs unchanged."""
        if self.tracking_uri.startswith("postgresql://"):
            return "postgresql+psycopg://" + self.tracking_uri.removeprefix("postgresql://")
        return self.tracking_uri
