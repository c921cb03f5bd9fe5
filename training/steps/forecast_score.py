"""Batch scoring: forecast every home of a client and store the forecasts in the curated zone.

Layout (read by :mod:`serving.export`, which keeps its own copy of the pattern because serving does not import
training)::

    curated/forecasts/client=<client_id>/issue_date=<YYYY-MM-DD>/forecasts-<model_version>.parquet

One file per client, local issue date and model version: scoring the same issue date with the same version again
replaces the file (atomically, through :meth:`contracts.storage.Lake.write_table`); another version sits beside it.
The columns are the model output (:data:`contracts.forecast_model_io.OUTPUT_COLUMNS`) plus ``model_name``,
``model_version``, ``client_id`` and ``generated_at``. The two instants, ``issue_time`` and ``generated_at``, are
UTC-aware; ``period_start`` keeps the model's meaning (hourly: the UTC hour start; daily and monthly: the local
date, written as a naive midnight).

Invariants:
    A stored file is complete or absent: a crash mid-write leaves the previous version of that file (or none).
    Each file holds the homes of one client only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from contracts.schemas import HOME_ID
from contracts.storage import Lake, Zone

FORECASTS_DATASET = "forecasts"
CLIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # safe as one path segment


@dataclass(frozen=True)
class ScoreOutcome:
    """What a scoring run stored.

    Attributes:
        client_id: the client scored.
        path: the lake path of the stored file.
        issue_date: the local issue date (``YYYY-MM-DD``).
        model_name: the registered model.
        model_version: its version.
        alias: the alias it was loaded through.
        n_homes: homes of the client with forecasts.
        n_rows: rows stored.
        homes_without_forecast: homes of the client the model returned nothing for (no curated readings near the
            issue time).
        generated_at: when the forecasts were made [UTC].
        replaced: a file for this issue date and version existed and was replaced.
    """

    client_id: str
    path: str
    issue_date: str
    model_name: str
    model_version: str
    alias: str
    n_homes: int
    n_rows: int
    homes_without_forecast: tuple[str, ...]
    generated_at: pd.Timestamp
    replaced: bool


def forecasts_path(lake: Lake, client_id: str, issue_date: str, model_version: str) -> str:
    """The lake path of a client's stored forecasts for one local issue date and model version."""
    return lake.path(
        Zone.CURATED,
        FORECASTS_DATASET,
        f"client={client_id}",
        f"issue_date={issue_date}",
        f"forecasts-{model_version}.parquet",
    )


def client_homes(lake: Lake, client_id: str) -> pd.DataFrame:
    """The curated attributes of a client's homes (``curated/homes/homes.parquet`` rows with its ``client_id``).

    Raises:
        FileNotFoundError: the curated zone has no homes yet.
        KeyError: the client id is malformed or no home belongs to it.
    """
    if not CLIENT_ID_PATTERN.match(client_id):
        raise KeyError(f"malformed client id {client_id!r}: letters, digits, '_', '.', '-' only")
    path = lake.path(Zone.CURATED, "homes", "homes.parquet")
    if not lake.exists(path):
        raise FileNotFoundError(f"no curated homes at {path}: run `eliq prep run` first")
    homes = lake.read_table(path).to_pandas()
    if "client_id" not in homes.columns:
        raise KeyError("the curated homes have no client_id column: no home belongs to any client")
    mine = homes[homes["client_id"].astype(str) == client_id]
    if mine.empty:
        raise KeyError(f"unknown client {client_id!r}: no home of the curated zone belongs to it")
    return mine.drop_duplicates(HOME_ID, keep="last").reset_index(drop=True)


def score_forecast(
    settings: Any,
    client_id: str,
    issue_time: str | None = None,
    alias: str = "champion",
    progress: Callable[[int, int], None] | None = None,
) -> ScoreOutcome:
    """Forecast every home of ``client_id`` with the version behind ``alias`` and store the forecasts.

    Args:
        settings: the eliq settings.
        client_id: the client (tenant) whose homes to score.
        issue_time: ISO 8601 (naive = each home's local time); ``None`` = the trained issue time on the local date
            of the last reading (see :func:`training.steps.forecast_predict.predict_forecast`).
        alias: ``champion`` or ``challenger``.
        progress: called with (homes done, homes in all) after each chunk of homes.

    Raises:
        KeyError: unknown client, or a client without homes.
        RegistryError: no version behind ``alias``.
        ValueError: no curated readings near the issue time.
    """
    from training.steps.forecast_predict import predict_forecast
    from training.steps.forecast_train import lake_of

    lake = lake_of(settings)
    homes = client_homes(lake, client_id)
    home_ids = sorted(homes[HOME_ID].astype(str))
    prediction = predict_forecast(
        settings, homes=home_ids, issue_time=issue_time, alias=alias, progress=progress
    )
    generated_at = pd.Timestamp.now(tz="UTC")
    frame = stored_frame(prediction.forecasts, client_id, generated_at)
    issue_date = local_issue_date(frame, homes)
    path = forecasts_path(lake, client_id, issue_date, prediction.version)
    replaced = lake.exists(path)
    _write(lake, path, frame)
    scored = set(frame[HOME_ID])
    return ScoreOutcome(
        client_id=client_id,
        path=path,
        issue_date=issue_date,
        model_name=prediction.model_name,
        model_version=prediction.version,
        alias=alias,
        n_homes=len(scored),
        n_rows=len(frame),
        homes_without_forecast=tuple(h for h in home_ids if h not in scored),
        generated_at=generated_at,
        replaced=replaced,
    )


def stored_frame(forecasts: pd.DataFrame, client_id: str, generated_at: pd.Timestamp) -> pd.DataFrame:
    """The model's long output as stored: UTC-aware instants, ``client_id`` and ``generated_at`` added."""
    frame = forecasts.copy()
    frame["issue_time"] = pd.to_datetime(frame["issue_time"], utc=True)
    frame["model_version"] = frame["model_version"].astype(str)
    frame["client_id"] = client_id
    frame["generated_at"] = generated_at
    frame["generated_at"] = frame["generated_at"].astype("datetime64[us, UTC]")
    return frame.sort_values([HOME_ID, "resolution", "period_start"], ignore_index=True)


def local_issue_date(frame: pd.DataFrame, homes: pd.DataFrame) -> str:
    """The local issue date of the forecasts (``YYYY-MM-DD``): the latest over the homes.

    The model issues every home on the same local date (a naive issue time is local to each home; an aware one or
    none resolves to one date), so the latest is that date.
    """
    zones = homes.set_index(HOME_ID)["timezone"] if "timezone" in homes.columns else pd.Series(dtype=object)
    issues = frame.drop_duplicates(HOME_ID)[[HOME_ID, "issue_time"]]
    dates = [
        stamp.tz_convert(_zone(zones.get(home))).date()
        for home, stamp in zip(issues[HOME_ID], issues["issue_time"], strict=True)
    ]
    return max(dates).isoformat()


def _zone(value: object) -> str:
    return value if isinstance(value, str) and value else "UTC"


def _write(lake: Lake, path: str, frame: pd.DataFrame) -> None:
    import pyarrow as pa

    lake.write_table(path, pa.Table.from_pandas(frame, preserve_index=False))
