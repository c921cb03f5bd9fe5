"""Tuning the forecast's global LightGBM with Optuna, logged to MLflow.

The study lives in ``training.tuning.storage_url`` (by default ``optuna.db`` beside MLflow's SQLite file), so a
second call resumes it. The MLflow run holds a metric per finished trial (``trial_nrmse`` by trial number), the
best parameters and the trials table; the best parameters are also written as JSON for
``eliq train forecast --params-file``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from training.steps.forecast_train import FAMILY, load_frames

STUDY_NAME = "forecast-global-lightgbm-hourly"


def tuning_storage(training: Any) -> str:
    """The Optuna storage URL: the configured one, or ``optuna.db`` beside MLflow's SQLite file."""
    if training.tuning.storage_url:
        return str(training.tuning.storage_url)
    uri = str(training.tracking_uri)
    folder = Path(uri.removeprefix("sqlite:///")).parent if uri.startswith("sqlite:///") else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'optuna.db'}"


def tune_forecast(
    settings: Any,
    n_trials: int | None,
    timeout_s: float | None,
    params_out: str | Path | None = None,
    on_trial: Callable[[Any], None] | None = None,
) -> Any:
    """Run (or resume) the study; returns the adapter's ``TuningResult``.

    Args:
        settings: the eliq settings.
        n_trials: trials to run now; ``None`` runs until the timeout.
        timeout_s: no trial starts after this long [s].
        params_out: where the best forecaster parameters are written (JSON).
        on_trial: called with each finished trial's summary.
    """
    import mlflow

    from training.forecast.frames import HourlyPanel
    from training.forecast.training_run import ForecastTrainingConfig
    from training.integrations.mlflow_tracking import configure_tracking, experiment_id, git_commit
    from training.integrations.optuna_tuning import tune_forecaster

    config = ForecastTrainingConfig.from_settings(settings.training.forecast)
    tuning = settings.training.tuning
    storage = tuning_storage(settings.training)
    panel = HourlyPanel.from_frames(*load_frames(settings))
    configure_tracking(settings.training)
    with mlflow.start_run(experiment_id=experiment_id(settings.training, FAMILY), run_name="tune-forecast"):
        mlflow.set_tags(
            {
                "family": FAMILY,
                "step": "tune",
                "study": STUDY_NAME,
                "storage": storage,
                "git_commit": git_commit(),
            }
        )

        def logged(trial: Any) -> None:
            if trial.value is not None:
                mlflow.log_metric("trial_nrmse", trial.value, step=trial.number)
            if on_trial:
                on_trial(trial)

        result = tune_forecaster(
            panel,
            n_trials=n_trials,
            timeout_s=timeout_s,
            storage_url=storage,
            study_name=STUDY_NAME,
            base_params=dict(config.params),
            windows=config.windows("hourly"),
            validation_days=tuning.validation_days,
            seed=tuning.seed,
            on_trial=logged,
        )
        mlflow.log_params({f"best.{k}": v for k, v in result.best_params.items()})
        mlflow.log_metrics(
            {
                "best_nrmse": result.best_value,
                "trials_complete": result.n_complete,
                "trials_pruned": result.n_pruned,
            }
        )
        mlflow.log_text(result.trials.to_csv(index=False), "tuning/trials.csv")
        mlflow.log_dict(result.forecaster_params, "tuning/best_params.json")
    if params_out:
        Path(params_out).parent.mkdir(parents=True, exist_ok=True)
        Path(params_out).write_text(json.dumps(result.forecaster_params, indent=2, default=str))
    return result
