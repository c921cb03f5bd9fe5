"""The consumption forecast family: ``POST /forecast`` with the registry's champion forecast model.

The family keeps the version behind ``serving.model_alias`` loaded (:class:`AliasedModelLoader`). A request reads
its homes' recent history (:mod:`serving.history`), calls the packaged model with the contract of
:mod:`contracts.forecast_model_io`, and returns the first ``horizon`` periods of the resolution asked for, the
quantiles asked for, and per home the cold-start flag and the freshness of its data.

Invariants:
    A client only ever gets forecasts of its own homes; a home it does not own is answered exactly like a home that
    does not exist (404, the same message), so existence never leaks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Request, status

from contracts.schemas import HOME_ID
from serving.families.forecast_schema import (
    FeatureFreshness,
    ForecastPoint,
    ForecastRequest,
    ForecastResponse,
    HomeForecast,
    ModelInfo,
    OnlineFreshness,
)
from serving.families.mlflow_models import AliasedModelLoader, LoadedModel
from serving.history import last_reading_before, profile_attributes
from serving.security import CurrentClient

log = logging.getLogger(__name__)

FAMILY = "forecast"
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "the batch is too large, or the issue time is outside the data"},
    401: {"description": "missing, unknown or revoked API key"},
    404: {"description": "a home that is not the caller's (or does not exist)"},
    503: {"description": "the model is not loaded yet"},
}


class ForecastFamily:
    """The forecast family of the serving context.

    Args:
        context: the :class:`serving.context.ServingContext`; read, never changed.
    """

    name = FAMILY

    def __init__(self, context: Any) -> None:
        self.context = context
        training = context.settings.training
        self.loader = AliasedModelLoader(
            f"{training.registry_prefix}-{FAMILY}", context.settings.serving.model_alias
        )

    @classmethod
    def router(cls) -> APIRouter:
        return _ROUTER

    def refresh(self, force: bool = False) -> bool:
        return self.loader.refresh(force)

    def status(self) -> dict[str, Any]:
        loaded = self.loader.current
        return {
            "ready": loaded is not None,
            "model": self.loader.name,
            "alias": self.loader.alias,
            "version": loaded.version if loaded else None,
            "error": self.loader.error,
        }

    def forecast(self, request: ForecastRequest, client_id: str) -> ForecastResponse:
        """Forecast ``request.home_ids`` for ``client_id``.

        Raises:
            HTTPException: 400 (batch too large, issue time outside the data), 404 (a home not the client's),
                503 (no model loaded).
        """
        ids = request.home_ids
        limit = self.context.settings.serving.max_batch_homes
        if len(ids) > limit:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST, f"too many homes: {len(ids)}, at most {limit} per request"
            )
        foreign = [h for h in ids if self.context.homes.owner(h) != client_id]
        if foreign:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"homes not found: {foreign[:20]}")
        loaded = self.loader.current
        if loaded is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the forecast model is not loaded yet")
        history = self.context.history.read(
            ids, self._attributes(ids), request.issue_time, request.resolution
        )
        issue = _issue_parameter(request.issue_time, len(history.homes_without_rows) == len(ids))
        try:
            output = loaded.model.predict(
                history.frame, params={"issue_time": issue, "resolution": request.resolution}
            )
        except (
            ValueError
        ) as err:  # the model's own checks (e.g. an issue time outside the data): the caller's to fix
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(err).split("\n")[0][:300]) from err
        issue_utc = {
            str(h): pd.Timestamp(t, tz="UTC")
            for h, t in output.groupby(HOME_ID)["issue_time"].first().items()
        }
        last = last_reading_before(history.hourly, issue_utc)
        online = online_freshness(self.context.online_readers, ids)
        homes = [_home_forecast(h, output, request, last.get(h), online.get(h)) for h in ids]
        return ForecastResponse(
            model=_model_info(loaded),
            resolution=request.resolution,
            horizon=request.periods,
            quantiles=[float(q) for q in request.quantiles],
            homes=homes,
        )

    def _attributes(self, ids: Sequence[str]) -> pd.DataFrame:
        """Curated attributes, and for homes created through the API since the last prep run, their profile."""
        curated = self.context.homes.attributes(ids)
        missing = [h for h in ids if h not in set(curated[HOME_ID])]
        if not missing:
            return curated
        from serving.home_profiles import ProfileStore

        store = ProfileStore(self.context.lake)
        profiles = [p.model_dump() for p in (store.get(h) for h in missing) if p is not None]
        return pd.concat([curated, profile_attributes(profiles)], ignore_index=True) if profiles else curated


def online_freshness(readers: dict[str, Any], home_ids: Sequence[str]) -> dict[str, OnlineFreshness]:
    """Per home, what the online store holds (empty when the feature store is not applied or a read fails)."""
    features, live = readers.get("forecast_v1"), readers.get("live_v1")
    if features is None or live is None:
        return {}
    try:
        columns = features.read(home_ids)
        pushed = live.read(home_ids).get("reading_start_ts", [None] * len(home_ids))
    except Exception:  # freshness is informative: a failed read must not fail the forecast
        log.exception("reading the online store for freshness failed")
        return {}
    names = [c for c in columns if c != HOME_ID]
    return {
        home: OnlineFreshness(
            service=features.service,
            features_present=sum(columns[c][i] is not None for c in names),
            features_total=len(names),
            last_pushed_reading_start=_utc_datetime(pushed[i]),
        )
        for i, home in enumerate(home_ids)
    }


def _utc_datetime(value: Any) -> datetime | None:
    """An online store's time stamp (naive = UTC, or aware) as an aware UTC datetime; ``None`` stays ``None``."""
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")).to_pydatetime()


def _issue_parameter(issue_time: datetime | None, no_readings: bool) -> str:
    """The model's ``issue_time``: as asked; else its default (the latest reading's date), or now when none of the
    homes has a reading (the cold-start forecast needs no history but a date)."""
    if issue_time is not None:
        return issue_time.isoformat()
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0).isoformat() if no_readings else ""


def _home_forecast(
    home_id: str,
    output: pd.DataFrame,
    request: ForecastRequest,
    last_reading: pd.Timestamp | None,
    online: OnlineFreshness | None,
) -> HomeForecast:
    rows = output[output[HOME_ID] == home_id].sort_values("period_start").head(request.periods)
    hourly = request.resolution == "hourly"
    starts = pd.to_datetime(rows["period_start"])
    periods = [t.tz_localize("UTC").to_pydatetime() if hourly else t.date() for t in starts]
    quantiles = {q.label: rows[f"kwh_{q.label}"].to_numpy(dtype=float) for q in request.quantiles}
    points = [
        ForecastPoint(period_start=p, lead=int(lead), kwh={k: _finite(v[i]) for k, v in quantiles.items()})
        for i, (p, lead) in enumerate(zip(periods, rows["lead"].to_numpy(), strict=True))
    ]
    return HomeForecast(
        home_id=home_id,
        issue_time=pd.Timestamp(rows["issue_time"].iloc[0], tz="UTC").to_pydatetime()
        if len(rows)
        else datetime.now(UTC),
        cold_start=bool(rows["cold_start"].any()),
        freshness=FeatureFreshness(
            last_reading_start=None if last_reading is None else last_reading.to_pydatetime(), online=online
        ),
        forecast=points,
    )


def _finite(value: float) -> float | None:
    """JSON has no NaN: a missing value is null."""
    return float(value) if np.isfinite(value) else None


def _model_info(loaded: LoadedModel) -> ModelInfo:
    return ModelInfo(name=loaded.name, version=loaded.version, alias=loaded.alias)


def _family(request: Request) -> ForecastFamily:
    families = getattr(request.app.state, "families", None) or {}
    family = families.get(FAMILY)
    if family is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the forecast family is not loaded")
    return family  # type: ignore[no-any-return]


_ROUTER = APIRouter(tags=["insights"])


@_ROUTER.post(
    "/forecast",
    response_model=ForecastResponse,
    responses=ERROR_RESPONSES,
    summary="Forecast homes",
    operation_id="forecast",
)
def post_forecast(
    body: ForecastRequest, client: CurrentClient, family: Annotated[ForecastFamily, Depends(_family)]
) -> ForecastResponse:
    """Consumption forecasts of the caller's homes: hourly, daily or monthly, with the quantiles and horizon asked
    for, the model version used, each home's data freshness and whether the cold-start fallback was used."""
    return family.forecast(body, client.client_id)
