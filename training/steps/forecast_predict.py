"""Forecasts from a registered model version for homes of the lake, at an issue time.

The step reads each chunk of homes' curated history (and the weather of the horizon where the lake has it), turns it
into the packaged model's input (:mod:`training.forecast.model_io`) and calls the MLflow pyfunc model behind an
alias, so what it returns is what any other caller of that model version gets.

Invariants:
    The model sees the curated rows from ``history_days`` before the issue date on; its features use only the
    readings before the issue time (see :mod:`training.forecast.origins`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from contracts.forecast_model_io import model_input_frame
from contracts.schemas import HOME_ID
from training.forecast.frames import load_homes, load_hourly_frame
from training.steps.forecast_train import FAMILY, lake_of

HISTORY_DAYS = (
    70  # the longest lookback of any feature (4 weeks of weekly lags, the month so far) and a margin [d]
)
HORIZON_DAYS = 66  # the daily product reaches the end of next month [d]


@dataclass(frozen=True)
class PredictionOutcome:
    """Forecasts and where they came from.

    Attributes:
        forecasts: the model's long output frame plus ``model_name`` and ``model_version``.
        model_name: the registered model.
        version: its version.
        alias: the alias it was loaded through.
    """

    forecasts: pd.DataFrame
    model_name: str
    version: str
    alias: str


def predict_forecast(
    settings: Any,
    homes: Sequence[str] | None = None,
    issue_time: str | None = None,
    alias: str = "champion",
    resolution: str = "all",
    chunk_homes: int = 2_000,
    progress: Callable[[int, int], None] | None = None,
) -> PredictionOutcome:
    """Forecast ``homes`` (every home of the lake when ``None``) at ``issue_time`` with the version behind ``alias``.

    Args:
        settings: the eliq settings.
        homes: home ids; unknown ids raise ``KeyError`` naming them.
        issue_time: ISO 8601 (naive = each home's local time); ``None`` = the trained issue time on the local date
            of the last reading.
        alias: ``champion`` or ``challenger``.
        resolution: ``hourly``, ``daily``, ``monthly`` or ``all``.
        chunk_homes: homes per model call (bounds memory).
        progress: called with (homes done, homes in all) after each chunk.
    """
    from training.integrations.mlflow_forecast_model import load_forecast_model
    from training.integrations.mlflow_registry import RegistryError, aliased
    from training.integrations.mlflow_tracking import configure_tracking, registered_model_name

    configure_tracking(settings.training)
    name = registered_model_name(settings.training, FAMILY)
    version = aliased(name, alias)
    if version is None:
        hint = "promote one with `eliq models promote forecast`" if alias == "champion" else "train one first"
        raise RegistryError(f"{name} has no {alias!r} version: {hint}")
    lake = lake_of(settings)
    attributes = load_homes(lake)
    requested = None if homes is None else list(dict.fromkeys(homes))
    start, end = _window(issue_time) if issue_time else (_recent_start(lake), None)
    history = load_hourly_frame(
        lake, homes=requested, start=start, end=end
    )  # one read; chunks are slices of it
    with_readings = set(pd.unique(history[HOME_ID]))
    if requested is not None:
        _check_known(requested, set(attributes[HOME_ID]) | with_readings)
    chosen = sorted(with_readings) if requested is None else requested  # homes without a profile included
    model = load_forecast_model(f"models:/{name}@{alias}")
    starts = sorted(chosen)[::chunk_homes]  # the history is sorted by home: chunk k starts at its first home
    bounds = np.searchsorted(history[HOME_ID].to_numpy(), [*starts, chr(0x10FFFF)])
    parts = []
    for index, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        hourly = history.iloc[lo:hi]
        if not hourly.empty:
            chunk = pd.unique(hourly[HOME_ID])
            frame = model_input_frame(hourly, attributes[attributes[HOME_ID].isin(chunk)])
            params = {"issue_time": issue_time or "", "resolution": resolution}
            parts.append(model.predict(frame, params=params))
        if progress:
            progress(min((index + 1) * chunk_homes, len(chosen)), len(chosen))
    if not parts:
        raise ValueError(f"no curated readings for the homes asked for between {start} and {end}")
    forecasts = pd.concat(parts, ignore_index=True)
    forecasts["model_name"], forecasts["model_version"] = name, version.version
    return PredictionOutcome(forecasts, name, version.version, alias)


def _check_known(homes: list[str], known: set[str]) -> None:
    unknown = [h for h in homes if h not in known]
    if unknown:
        raise KeyError(f"unknown homes: {unknown[:10]}{' …' if len(unknown) > 10 else ''}")


def _recent_start(lake: Any) -> pd.Timestamp | None:
    """Three months before the latest month partition of the curated hourly zone: enough history for every
    feature when the forecast is issued on the date of the last reading."""
    months = [
        p.rsplit("month=", 1)[1][:7]
        for p in lake.glob(f"{lake.path('curated', 'consumption_hourly')}/*/month=*")
    ]
    if not months:
        return None
    return pd.Timestamp(max(months) + "-01", tz="UTC") - pd.DateOffset(months=3)


def _window(issue_time: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The UTC span of curated rows a forecast at ``issue_time`` reads."""
    stamp = pd.Timestamp(issue_time)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    day = stamp.normalize()
    return day - pd.Timedelta(days=HISTORY_DAYS), day + pd.Timedelta(days=HORIZON_DAYS)
