"""The BentoML service: ``bentoml serve serving.service:EliqService`` (or ``eliq serve``).

BentoML runs the server (workers, ``bentoml build``, ``/metrics``); the HTTP API is the FastAPI app of
:mod:`serving.app`, mounted at ``/``. Each worker builds the serving context once, in ``__init__``: settings from
``$ELIQ_CONFIG`` (or ``./eliq.yaml``), the key store, the home directory, the feature store's readers and the
champion models; a background poll then follows the registry's aliases.

This module is BentoML's adapter: importing it builds the app's routes (no I/O); only BentoML instantiates the
service.
"""

from __future__ import annotations

from typing import Any, cast

import bentoml
from starlette.types import ASGIApp, Receive, Scope, Send

from serving.app import bind_context, create_app

API = create_app()
PROBE_PATHS = frozenset({"/healthz", "/readyz"})


class ProbeRoutesMiddleware:
    """Sends ``/healthz`` and ``/readyz`` to the API's own probes.

    BentoML's server answers those two paths itself, ahead of any mounted app, with an empty body; the API's probes
    report the model versions loaded and the online store reached, so they take the paths over.

    Args:
        app: BentoML's server app.
        api: the FastAPI app.
    """

    def __init__(self, app: ASGIApp, api: ASGIApp) -> None:
        self.app = app
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") in PROBE_PATHS:
            await self.api(scope, receive, send)
            return
        await self.app(scope, receive, send)


@bentoml.service(name="eliq", traffic={"timeout": 120})
@bentoml.asgi_app(API, path="/")
class EliqService:
    """eliq's prediction and data-management API."""

    def __init__(self) -> None:
        from contracts.config import load_settings
        from serving.context import ServingContext

        self.context = ServingContext.start(load_settings())
        bind_context(API, self.context)

    def __is_ready__(self) -> bool:
        """BentoML's own readiness (used by its probes when the API's are not reached)."""
        return bool(self.context.readiness()["ready"])


# BentoML's decorator made the class a ``bentoml.Service``; its stubs do not say so
cast(Any, EliqService).add_asgi_middleware(ProbeRoutesMiddleware, api=API)
