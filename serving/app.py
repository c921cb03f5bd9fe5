"""The HTTP API as a FastAPI app: the model families' endpoints, the data-management API, health and admin.

:func:`create_app` builds the app; the BentoML service (:mod:`serving.service`) mounts it and binds the serving
context to it once at start-up (:func:`bind_context`), tests do the same in-process. :func:`openapi_spec` is the
spec committed as ``docs/openapi.json``.

``app.state`` holds (see :class:`serving.context.ServingContext`): ``settings``, ``clients``, ``homes``,
``families``, ``lake``, ``features`` and the ``context`` itself.

Invariants:
    No stack trace reaches a client: an unhandled error is logged with its trace and answered with a generic 500;
    validation errors keep FastAPI's 422 message, which names the field and the rule.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.security import admin_client

log = logging.getLogger(__name__)

TITLE = "eliq insights API"
API_VERSION = "1.0.0"
OPENAPI_FILE = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"
INTERNAL_ERROR = "internal server error; the service has logged it"


def create_app(context: Any = None) -> FastAPI:
    """The FastAPI app; with ``context`` (a ``ServingContext``) bound, else bind one later with :func:`bind_context`.

    Building the app does no I/O: routes and schemas only.
    """
    from serving.ast_lock import serialize_ast_parse
    from serving.families import family_classes
    from serving.routes_data import data_router

    serialize_ast_parse()  # schemas are built on request threads too: see serving.ast_lock

    app = FastAPI(
        title=TITLE,
        version=API_VERSION,
        description="Household energy insights: consumption forecasts, and the meter readings and home profiles "
        "they are made from. Every endpoint but /healthz and /readyz needs an API key (X-API-Key header, or "
        "Authorization: Bearer <key>); a client sees only its own homes.",
        lifespan=_lifespan,
    )
    app.add_middleware(ErrorShieldMiddleware)
    app.include_router(_PROBES)
    for family in family_classes().values():
        app.include_router(family.router())
    app.include_router(data_router())
    app.include_router(_ADMIN)
    if context is not None:
        bind_context(app, context)
    return app


def bind_context(app: FastAPI, context: Any) -> None:
    """Expose ``context``'s parts on ``app.state`` (the routers read them from there)."""
    state = app.state
    state.context = context
    state.settings, state.clients, state.homes = context.settings, context.clients, context.homes
    state.families, state.lake, state.features = context.families, context.lake, context.features


def openapi_spec() -> dict[str, Any]:
    """The OpenAPI document of the API (what ``docs/openapi.json`` holds)."""
    return create_app().openapi()


def write_openapi(path: str | Path = OPENAPI_FILE) -> Path:
    """Write :func:`openapi_spec` as indented JSON (keys in the app's order) to ``path``."""
    target = Path(path)
    target.write_text(json.dumps(openapi_spec(), indent=2, ensure_ascii=False) + "\n")
    return target


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    context = getattr(app.state, "context", None)
    if context is not None:
        context.start_polling()
    try:
        yield
    finally:
        if context is not None:
            context.stop_polling()


class ErrorShieldMiddleware:
    """Answers an unhandled exception with a generic 500 and logs its trace, so that no trace leaves the service.

    Pure ASGI (not ``BaseHTTPMiddleware``): it adds no task or copy per request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception:
            log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if not started:  # once the response has started, nothing more can be said to the client
                await JSONResponse({"detail": INTERNAL_ERROR}, status_code=500)(scope, receive, send)


class Health(BaseModel):
    """The process is alive."""

    status: str = Field(description="always ok")


class Readiness(BaseModel):
    """Whether the service can answer forecasts, and what it serves."""

    ready: bool
    families: dict[str, dict[str, Any]] = Field(
        description="per model family: ready, model, alias, version loaded, error"
    )
    lake: dict[str, Any] = Field(description="reached, and the curated homes known")
    online_store: dict[str, Any] = Field(
        description="applied and reached (null when the feature store is not applied: forecasts do not need it)"
    )


_PROBES = APIRouter(tags=["health"])


@_PROBES.get("/healthz", response_model=Health, summary="Liveness", operation_id="healthz")
async def healthz() -> Health:
    """The process is up (no key needed); answered on the event loop, without a hop to the thread pool."""
    return Health(status="ok")


@_PROBES.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "not ready: see which part"}},
    summary="Readiness",
    operation_id="readyz",
)
def readyz(request: Request) -> Any:
    """Model versions loaded per family, the lake and the online store reached (no key needed); 503 when not
    ready."""
    context = getattr(request.app.state, "context", None)
    if context is None:
        report = {"ready": False, "families": {}, "lake": {}, "online_store": {"detail": "starting"}}
    else:
        report = context.readiness()
    return JSONResponse(
        Readiness(**report).model_dump(mode="json"), status_code=200 if report["ready"] else 503
    )


_ADMIN = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(admin_client)])


class ReloadReport(BaseModel):
    """What a reload did."""

    families: dict[str, dict[str, Any]] = Field(description="per family: its status and whether it reloaded")
    homes: int = Field(description="homes known after the reload")


@_ADMIN.post(
    "/reload",
    response_model=ReloadReport,
    responses={401: {"description": "missing or invalid key"}, 403: {"description": "not an admin key"}},
    summary="Reload models whose alias moved",
    operation_id="reload_models",
)
def reload_models(
    request: Request,
    force: Annotated[bool, Query(description="reload every model even if its alias did not move")] = False,
) -> ReloadReport:
    """Ask the registry for each family's alias now and load the versions that moved (admin key)."""
    context = getattr(request.app.state, "context", None)
    if context is None:
        return ReloadReport(families={}, homes=0)
    return ReloadReport(**context.reload(force))


if __name__ == "__main__":  # python -m serving.app: rewrite docs/openapi.json after changing the API
    print(write_openapi())
