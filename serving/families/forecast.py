"""The consumption forecast family: ``POST /forecast`` with the registry's champion forecast model.

The family keeps the version behind ``serving.model_alias`` loaded (:class:`AliasedModelLoader`). A home's forecast
is computed once per set of inputs and then served from memory (:mod:`serving.families.forecast_cache`): a request
takes the stored forecasts of its homes, and for the others reads their recent history (:mod:`serving.history`) and
calls the packaged model with the contract of :mod:`contracts.forecast_model_io`
(:mod:`serving.families.forecast_compute`). After start-up and every reload, every home's hourly forecast is computed
in the background. A response holds the first ``horizon`` periods of the resolution asked for, the quantiles asked
for, and per home the cold-start flag and the freshness of its data, the online store's read on every request.

Invariants:
    A client only ever gets forecasts of its own homes; a home it does not own is answered exactly like a home that
    does not exist (404, the same message), so existence never leaks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from contracts.schemas import HOME_ID
from serving.families.forecast_cache import ForecastCache, StoredForecast
from serving.families.forecast_compute import compute_forecasts
from serving.families.forecast_render import render_response
from serving.families.forecast_schema import (
    ForecastRequest,
    ForecastResponse,
    ModelInfo,
    OnlineFreshness,
)
from serving.families.mlflow_models import AliasedModelLoader, LoadedModel
from serving.history import profile_attributes
from serving.input_versions import HomeInputVersions
from serving.readings_ledger import LEDGER_FILE
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
        serving = context.settings.serving
        self.loader = AliasedModelLoader(f"{training.registry_prefix}-{FAMILY}", serving.model_alias)
        self.cache = ForecastCache(serving.forecast_cache_entries)
        self.versions = HomeInputVersions(Path(serving.state_dir) / LEDGER_FILE)
        self._warmer: threading.Thread | None = None  # the background pass; None when none runs
        self._warm_pending = False  # another pass was asked for while one ran (e.g. a reload mid-pass)
        self._warm_lock = threading.Lock()
        self._warm_idle = threading.Event()
        self._warm_idle.set()

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
            "stored_forecasts": {
                **self.cache.stats(),
                "warming": not self._warm_idle.is_set(),
            },
        }

    def respond(self, request: ForecastRequest, client_id: str, compute: bool = True) -> bytes | None:
        """The JSON response document of ``request`` for ``client_id``.

        Args:
            request: the request.
            client_id: the caller.
            compute: ``False``: answer only if every home's forecast is stored, else return ``None`` (the route
                calls it so on the event loop first, and again with ``True`` on a worker thread).

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
        try:
            stored = self.stored(ids, request.resolution, request.issue_time, loaded, compute)
        except ValueError as err:  # the model's own checks (e.g. an issue time outside the data)
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(err).split("\n")[0][:300]) from err
        if stored is None:
            return None
        online = online_freshness(self.context.online_readers, ids)
        return render_response(_model_info(loaded), request, stored, online)

    def stored(
        self,
        ids: Sequence[str],
        resolution: str,
        issue_time: datetime | None,
        loaded: LoadedModel,
        compute: bool = True,
    ) -> dict[str, StoredForecast] | None:
        """The forecasts of ``ids``: those stored under their current inputs, the others computed and stored
        (``compute=False``: ``None`` when any is not stored).

        Raises:
            ValueError: the model rejected the input (e.g. an issue time outside the data).
        """
        versions = self.versions.of(ids)
        issue_key = None if issue_time is None else issue_time.isoformat()
        lake = self.context.lake_token
        keys = {h: (h, resolution, issue_key, loaded.version, lake, versions[h]) for h in ids}
        found = {h: self.cache.get(key, count_miss=compute) for h, key in keys.items()}
        missing = [h for h, entry in found.items() if entry is None]
        if missing and not compute:
            return None
        if missing:
            history = self.context.history.read(missing, self._attributes(missing), issue_time, resolution)
            computed = compute_forecasts(loaded.model, history, issue_time, resolution)
            for home in missing:
                self.cache.put(keys[home], computed[home])
                found[home] = computed[home]
        return found  # type: ignore[return-value]

    def warm(self) -> int:
        """Compute and store every known home's hourly forecast, a batch at a time; returns the homes done.

        A batch that fails is logged and skipped: its homes are computed when a client asks for them.
        """
        loaded = self.loader.current
        if loaded is None:
            return 0
        homes = self.context.homes.all_homes()
        size = self.context.settings.serving.max_batch_homes
        done = 0
        for start in range(0, len(homes), size):
            batch = homes[start : start + size]
            try:
                self.stored(batch, "hourly", None, loaded)
                done += len(batch)
            except Exception:
                log.exception("storing the forecasts of %d homes failed", len(batch))
        log.info("stored the hourly forecasts of %d of %d homes", done, len(homes))
        return done

    def warm_in_background(self) -> None:
        """Run :meth:`warm` in a daemon thread; asked while a pass runs, one more pass follows it, so that a model
        reloaded or a lake rewritten mid-pass has its forecasts stored too."""
        with self._warm_lock:
            self._warm_pending = True
            if self._warmer is not None:
                return
            self._warm_idle.clear()
            self._warmer = threading.Thread(target=self._warm_passes, name="eliq-forecast-warm", daemon=True)
            self._warmer.start()

    def wait_until_warm(self, timeout_s: float | None = None) -> bool:
        """Wait until no background pass runs; returns whether that happened within ``timeout_s`` [s]."""
        return self._warm_idle.wait(timeout_s)

    def _warm_passes(self) -> None:
        while True:
            with self._warm_lock:
                if not self._warm_pending:
                    self._warmer = None
                    self._warm_idle.set()
                    return
                self._warm_pending = False
            self.warm()

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


def _model_info(loaded: LoadedModel) -> ModelInfo:
    return ModelInfo(name=loaded.name, version=loaded.version, alias=loaded.alias)


async def _family(request: Request) -> ForecastFamily:
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
async def post_forecast(
    body: ForecastRequest, client: CurrentClient, family: Annotated[ForecastFamily, Depends(_family)]
) -> Response:
    """Consumption forecasts of the caller's homes: hourly, daily or monthly, with the quantiles and horizon asked
    for, the model version used, each home's data freshness and whether the cold-start fallback was used."""
    # Stored forecasts are answered on the event loop (a few SQLite reads); computing one runs the model on a
    # worker thread. The document is rendered here: FastAPI would validate it against the response model again.
    document = family.respond(body, client.client_id, compute=False)
    if document is None:
        document = await run_in_threadpool(family.respond, body, client.client_id)
    return Response(content=document, media_type="application/json")
