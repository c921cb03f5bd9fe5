"""FastAPI dependencies that turn a request's API key into a :class:`~serving.clients.Client`.

The key travels in the ``X-API-Key`` header, or as ``Authorization: Bearer <key>``. Both schemes are declared to
FastAPI, so the OpenAPI spec documents them and every route that depends on :func:`current_client` shows as
secured. The key store is ``request.app.state.clients`` (a :class:`~serving.clients.ApiKeyStore`).

Usage::

    @router.get("/homes/{home_id}")
    def read_home(home_id: str, client: CurrentClient) -> ...

    @router.post("/admin/reload", dependencies=[Depends(admin_client)])
    def reload(...) -> ...
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from serving.clients import ApiKeyStore, Client

API_KEY_HEADER = "X-API-Key"

_API_KEY_SCHEME = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, scheme_name="ApiKey", description="The client's API key."
)
_BEARER_SCHEME = HTTPBearer(
    auto_error=False, scheme_name="Bearer", description="The client's API key as a bearer token."
)
_CHALLENGE = {"WWW-Authenticate": f'Bearer realm="eliq", header="{API_KEY_HEADER}"'}

MISSING_KEY = f"missing API key: send it in the {API_KEY_HEADER} header or as 'Authorization: Bearer <key>'"
INVALID_KEY = "invalid or revoked API key"
NOT_ADMIN = "this endpoint needs an admin API key"


def presented_key(request: Request) -> str | None:
    """The API key a request carries: ``X-API-Key`` first, else a bearer token; ``None`` when there is neither."""
    key = request.headers.get(API_KEY_HEADER, "").strip()
    if key:
        return key
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


async def current_client(
    request: Request,
    _api_key: Annotated[str | None, Security(_API_KEY_SCHEME)] = None,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER_SCHEME)] = None,
) -> Client:
    """The client whose key the request carries.

    The two security parameters only declare the schemes to OpenAPI; the key is read by :func:`presented_key`,
    so awaiting ``current_client(request)`` directly behaves the same. It is a coroutine because the lookup is one
    indexed SQLite read: run on the event loop, it saves each request a hop to the thread pool.

    Raises:
        HTTPException: 401 when the key is missing, unknown or revoked; the body is ``{"detail": "..."}``.
    """
    raw_key = presented_key(request)
    if raw_key is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=MISSING_KEY, headers=_CHALLENGE)
    store: ApiKeyStore = request.app.state.clients
    # The store looks the key up by its SHA-256, so timing reveals nothing about how much of a guess was right.
    client = store.authenticate(raw_key)
    if client is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=INVALID_KEY, headers=_CHALLENGE)
    return client


async def admin_client(
    request: Request,
    _api_key: Annotated[str | None, Security(_API_KEY_SCHEME)] = None,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER_SCHEME)] = None,
) -> Client:
    """The client of an admin key.

    Raises:
        HTTPException: 401 as :func:`current_client`; 403 when the key is valid but not an admin key.
    """
    client = await current_client(request)
    if not client.admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=NOT_ADMIN)
    return client


CurrentClient = Annotated[Client, Depends(current_client)]
"""A route parameter of this type receives the caller's :class:`~serving.clients.Client` (or the route 401s)."""
AdminClient = Annotated[Client, Depends(admin_client)]
"""A route parameter of this type receives an admin :class:`~serving.clients.Client` (or the route 401s / 403s)."""
