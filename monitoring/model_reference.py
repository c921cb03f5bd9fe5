"""The monitored model as the MLflow registry knows it: its version, its training window and its backtest levels.

A thin reader over :mod:`training.integrations` (the registry aliases) and MLflow's client (the run's tags and
metrics). The training window is the run's ``data_first_date`` / ``data_last_date`` tags, which
:func:`training.steps.forecast_train.train_forecast` sets; the backtest levels are the run's metrics, named as
:meth:`training.forecast.evaluation.ForecastEvaluation.metrics_flat` names them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

FAMILY = "forecast"
FALLBACK_ALIAS = "challenger"


@dataclass(frozen=True)
class MonitoredModel:
    """A registered model version and what its training run recorded.

    Attributes:
        name: the registered model (``eliq-forecast``).
        version: the version.
        found_by: how it was chosen: an alias (``champion``, ``challenger``), ``latest`` or ``explicit``.
        run_id: the MLflow run that logged it.
        train_first_date: the first local date of its training data, or ``None`` when the run has no tag.
        train_last_date: the last local date of its training data, or ``None``.
        backtest: the run's metrics (backtest levels by lead day and segment).
    """

    name: str
    version: str
    found_by: str
    run_id: str
    train_first_date: pd.Timestamp | None = None
    train_last_date: pd.Timestamp | None = None
    backtest: dict[str, float] = field(default_factory=dict)


def model_name(settings: Any) -> str:
    """The registry name of the forecast (``<registry_prefix>-forecast``), also the workspace project's name."""
    from training.integrations.mlflow_tracking import registered_model_name

    return registered_model_name(settings.training, FAMILY)


def monitored_model(settings: Any, alias: str) -> MonitoredModel | None:
    """The version behind ``alias``; without it, the challenger; without one, the latest version; ``None`` when the
    model is not registered at all."""
    from training.integrations.mlflow_registry import aliased
    from training.integrations.mlflow_tracking import configure_tracking

    configure_tracking(settings.training)
    name = model_name(settings)
    for candidate in dict.fromkeys((alias, FALLBACK_ALIAS)):
        found = aliased(name, candidate)
        if found is not None:
            return version_info(name, found.version, candidate, found.run_id)
    latest = _latest_version(name)
    if latest is None:
        return None
    return version_info(name, latest[0], "latest", latest[1])


def version_info(name: str, version: str, found_by: str, run_id: str | None = None) -> MonitoredModel:
    """A version's training window and backtest metrics (``run_id`` is looked up when not given)."""
    from mlflow import MlflowClient

    client = MlflowClient()
    if run_id is None:
        run_id = str(client.get_model_version(name, version).run_id)
    run = client.get_run(run_id)
    tags = run.data.tags
    return MonitoredModel(
        name=name,
        version=str(version),
        found_by=found_by,
        run_id=run_id,
        train_first_date=_date(tags.get("data_first_date")),
        train_last_date=_date(tags.get("data_last_date")),
        backtest={k: float(v) for k, v in run.data.metrics.items()},
    )


def _latest_version(name: str) -> tuple[str, str] | None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        versions = MlflowClient().search_model_versions(f"name='{name}'")
    except MlflowException:
        return None
    if not versions:
        return None
    latest = max(versions, key=lambda v: int(v.version))
    return str(latest.version), str(latest.run_id)


def _date(value: str | None) -> pd.Timestamp | None:
    if not value:
        return None
    try:
        return pd.Timestamp(value).normalize()
    except ValueError:
        return None
