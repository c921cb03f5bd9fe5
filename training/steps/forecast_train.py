"""The forecast's training and evaluation steps: explicit inputs (settings, the lake) and outputs (an MLflow run).

- :func:`train_forecast`: backtest the configuration with the baselines, fit the deployable model on all data,
  log everything to MLflow, register the model and make it ``challenger``;
- :func:`evaluate_forecast`: backtest a registered version's configuration on the lake's current data and log an
  evaluation run.

The CLI, the MLproject entry points and the pipelines call these functions and nothing below them.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from contracts.schemas import HOME_ID, TS
from contracts.storage import Lake
from training.forecast.frames import PANEL_VALUES, HourlyPanel, load_homes, load_hourly_frame

FAMILY = "forecast"
FEATURE_SERVICE = "forecast_v1"
PARAMS_ARTIFACT = "config/model_params.json"
EXAMPLE_HOMES = 2
EXAMPLE_DAYS = 21
PROPHET_REFIT_DAYS = 7
Progress = Callable[[str], None]
HOURLY_COLUMNS = (HOME_ID, TS, *PANEL_VALUES)


@dataclass
class ForecastRunOutcome:
    """What a training or evaluation step produced.

    Attributes:
        run_id: the MLflow run.
        experiment: the experiment's name.
        comparison: the day-ahead headline table (one row per forecaster: NRMSE, MAE, MASE, coverage …).
        metrics: every scalar metric logged.
        report_dir: the local copy of the evaluation report.
        model_name: the registered model (training only).
        version: the registered version, now ``challenger`` (training only).
        seconds: wall time per phase [s].
        sample_comparisons: forecasters run on a sample of homes (Prophet) → their table against the others on
            the same homes and rows.
    """

    run_id: str
    experiment: str
    comparison: pd.DataFrame
    metrics: dict[str, float]
    report_dir: str
    model_name: str | None = None
    version: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    sample_comparisons: dict[str, pd.DataFrame] = field(default_factory=dict)


def lake_of(settings: Any) -> Lake:
    return Lake.from_settings(settings.storage)


def load_frames(settings: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The hourly long frame (from ``training.forecast.source``: the feature store or the curated zone) and the home
    attributes; raises ``FileNotFoundError`` before ``eliq prep run``."""
    lake = lake_of(settings)
    through_feast = settings.training.forecast.source == "feast"
    hourly = load_hourly_frame(lake, columns=(HOME_ID, TS) if through_feast else HOURLY_COLUMNS)
    if hourly.empty:
        raise FileNotFoundError(
            f"no curated hourly data under {lake.root}: run `eliq prep run --input …` first"
        )
    if through_feast:
        from training.integrations.feast_history import hourly_frame_from_feature_store

        hourly = hourly_frame_from_feature_store(settings, hourly)
    return hourly, load_homes(lake)


def train_forecast(
    settings: Any,
    params: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    report_dir: str | None = None,
) -> ForecastRunOutcome:
    """Train, backtest, log and register the forecast; the new version becomes ``challenger``.

    Args:
        settings: the eliq settings (storage, training).
        params: global LightGBM parameters overriding ``training.forecast.params`` (e.g. tuned ones).
        progress: called with a short description as each phase starts.
        report_dir: where the evaluation report is written; a temporary folder when ``None``.
    """
    import mlflow

    from training.forecast.training_run import ForecastTrainingConfig, fit_deployable
    from training.integrations.mlflow_forecast_model import log_forecast_model
    from training.integrations.mlflow_registry import make_challenger
    from training.integrations.mlflow_tracking import (
        configure_tracking,
        experiment_id,
        registered_model_name,
    )

    say = progress or (lambda _: None)
    config = ForecastTrainingConfig.from_settings(settings.training.forecast)
    if params:
        config = ForecastTrainingConfig(**{**asdict(config), "params": {**config.params, **params}})
    lake = lake_of(settings)
    say("loading the curated data")
    hourly, homes = load_frames(settings)
    panel = HourlyPanel.from_frames(hourly, homes)
    config = config.fitted_to(panel)
    configure_tracking(settings.training)
    name = registered_model_name(settings.training, FAMILY)
    experiment = experiment_id(settings.training, FAMILY)
    with mlflow.start_run(experiment_id=experiment, run_name="train-forecast") as run:
        _log_context(lake, panel, config, "train", settings.training.forecast.source)
        outcome = _backtest_and_report(settings, panel, config.params, config, say, report_dir)
        started = time.perf_counter()
        say("fitting the deployable model on all data")
        model = fit_deployable(panel, config)
        outcome.seconds["fit_deployable_s"] = time.perf_counter() - started
        say("logging and registering the model")
        info = log_forecast_model(
            model,
            input_example(hourly, homes),
            metadata={"feature_service": FEATURE_SERVICE, "issue_time_h": config.issue_time_h},
            registered_model_name=name,
        )
        version = str(info.registered_model_version)
        make_challenger(name, version)
        mlflow.set_tag("registered_version", version)
        mlflow.log_metrics({k: v for k, v in outcome.seconds.items()})
    outcome.run_id, outcome.model_name, outcome.version = run.info.run_id, name, version
    return outcome


def evaluate_forecast(
    settings: Any, alias: str = "challenger", progress: Progress | None = None, report_dir: str | None = None
) -> ForecastRunOutcome:
    """Backtest the configuration of the version behind ``alias`` on the lake's current data and log the run."""
    import mlflow

    from training.forecast.training_run import ForecastTrainingConfig
    from training.integrations.mlflow_registry import RegistryError, aliased
    from training.integrations.mlflow_tracking import (
        configure_tracking,
        experiment_id,
        registered_model_name,
    )

    say = progress or (lambda _: None)
    configure_tracking(settings.training)
    name = registered_model_name(settings.training, FAMILY)
    version = aliased(name, alias)
    if version is None:
        raise RegistryError(f"{name} has no {alias!r} version: run `eliq train forecast` first")
    params = model_params(version.run_id)
    config = ForecastTrainingConfig.from_settings(settings.training.forecast)
    config = ForecastTrainingConfig(**{**asdict(config), "params": params})
    lake = lake_of(settings)
    say("loading the curated data")
    panel = HourlyPanel.from_frames(*load_frames(settings))
    config = config.fitted_to(panel)
    with mlflow.start_run(
        experiment_id=experiment_id(settings.training, FAMILY), run_name="evaluate-forecast"
    ) as run:
        _log_context(lake, panel, config, "evaluate", settings.training.forecast.source)
        mlflow.set_tags(
            {"evaluated_model": name, "evaluated_version": version.version, "evaluated_alias": alias}
        )
        outcome = _backtest_and_report(settings, panel, params, config, say, report_dir)
    outcome.run_id, outcome.model_name, outcome.version = run.info.run_id, name, version.version
    return outcome


def model_params(run_id: str) -> dict[str, Any]:
    """The global LightGBM parameters a training run used (its ``config/model_params.json``)."""
    import mlflow.artifacts

    return dict(mlflow.artifacts.load_dict(f"runs:/{run_id}/{PARAMS_ARTIFACT}"))


def _log_context(lake: Lake, panel: HourlyPanel, config: Any, kind: str, source: str) -> None:
    """Parameters, lineage tags and the model parameters' artifact of the active run."""
    import mlflow

    from training.forecast.fitting import panel_dates
    from training.integrations.mlflow_tracking import data_snapshot_id, git_commit

    first, last = panel_dates(panel)
    flat = {k: v for k, v in asdict(config).items() if k != "params"}
    mlflow.log_params({**flat, **{f"model.{k}": v for k, v in config.params.items()}})
    mlflow.set_tags(
        {
            "family": FAMILY,
            "step": kind,
            "feature_service": FEATURE_SERVICE,
            "training_source": source,
            "git_commit": git_commit(),
            "data_snapshot": data_snapshot_id(lake),
            "lake": lake.root,
            "homes": str(panel.n_homes),
            "data_first_date": str(pd.Timestamp(first, unit="D").date()),
            "data_last_date": str(pd.Timestamp(last, unit="D").date()),
        }
    )
    mlflow.log_dict(dict(config.params), PARAMS_ARTIFACT)


def _backtest_and_report(
    settings: Any,
    panel: HourlyPanel,
    params: Mapping[str, Any],
    config: Any,
    say: Progress,
    report_dir: str | None,
) -> ForecastRunOutcome:
    """Backtests (with Prophet on a sample), the evaluation, its report, all logged to the active run."""
    import mlflow

    from training.forecast.evaluation import evaluate_backtests
    from training.forecast.evaluation_report import write_evaluation_report
    from training.forecast.training_run import run_forecast_backtests

    seconds: dict[str, float] = {}
    started = time.perf_counter()
    backtests = run_forecast_backtests(panel, config, progress=say)
    seconds["backtest_s"] = time.perf_counter() - started
    hourly = backtests.hourly
    prophet_homes = settings.training.forecast.prophet_homes
    if prophet_homes > 0:
        say(f"Prophet baseline on {prophet_homes} homes")
        started = time.perf_counter()
        hourly = _with_prophet(panel, config, backtests.hourly, prophet_homes)
        seconds["prophet_s"] = time.perf_counter() - started
    say("evaluating")
    evaluation = evaluate_backtests(hourly, backtests.daily, panel.homes)
    metrics = evaluation.metrics_flat()
    mlflow.log_metrics(metrics)
    folder = report_dir or tempfile.mkdtemp(prefix="eliq-forecast-report-")
    run = mlflow.active_run()
    context = {"run_id": run.info.run_id if run else "", "homes": panel.n_homes, **dict(params)}
    write_evaluation_report(
        evaluation,
        hourly.forecasts,
        backtests.daily.forecasts,
        out_dir=folder,
        title="Consumption forecast: backtest evaluation",
        context=context,
    )
    mlflow.log_artifacts(folder, "evaluation")
    mlflow.log_text(json.dumps(metrics, indent=2, sort_keys=True), "evaluation/metrics.json")
    return ForecastRunOutcome(
        "",
        "",
        evaluation.headline,
        metrics,
        folder,
        seconds=seconds,
        sample_comparisons=evaluation.sample_tables,
    )


def _with_prophet(panel: HourlyPanel, config: Any, hourly: Any, n_homes: int) -> Any:
    """The hourly backtest with the Prophet baseline's rows for a seeded sample of homes added."""
    from dataclasses import replace

    from training.forecast.forecast_sets import HourlyResolution
    from training.forecast.prophet_baseline import run_prophet_backtest, sample_homes

    homes = sample_homes(panel, n_homes, seed=config.seed)
    # Prophet has no recent-consumption inputs: it follows the level only by refitting (weekly here)
    rows = run_prophet_backtest(
        panel,
        config.plan(panel),
        HourlyResolution(config.schedule()),
        homes,
        refit_every_days=PROPHET_REFIT_DAYS,
    ).forecasts
    return replace(hourly, forecasts=pd.concat([hourly.forecasts, rows], ignore_index=True))


def input_example(hourly: pd.DataFrame, homes: pd.DataFrame) -> pd.DataFrame:
    """A small model input: the last ``EXAMPLE_DAYS`` days of the first ``EXAMPLE_HOMES`` homes."""
    from contracts.forecast_model_io import model_input_frame

    chosen = sorted(hourly["home_id"].unique())[:EXAMPLE_HOMES]
    rows = hourly[hourly["home_id"].isin(chosen)]
    end = pd.to_datetime(rows["ts"], utc=True).max()
    rows = rows[pd.to_datetime(rows["ts"], utc=True) > end - pd.Timedelta(days=EXAMPLE_DAYS)]
    return model_input_frame(rows, homes[homes["home_id"].isin(chosen)])


def write_outcome(outcome: ForecastRunOutcome, path: str | Path) -> None:
    """The outcome's identifiers and metrics as JSON (for pipelines and scripts)."""
    record = {k: v for k, v in asdict(outcome).items() if k not in ("comparison", "sample_comparisons")}
    record["comparison"] = outcome.comparison.to_dict("records")
    record["sample_comparisons"] = {k: t.to_dict("records") for k, t in outcome.sample_comparisons.items()}
    Path(path).write_text(json.dumps(record, indent=2, default=str))
