"""Typed settings of the feature store (the ``features:`` section of ``eliq.yaml``).

Nested keys follow the rest of the configuration: ``ELIQ_FEATURES__ONLINE_STORE=redis``,
``ELIQ_FEATURES__REDIS_URL=redis://cache.internal:6379/0``. Passwords in ``redis_url`` or ``registry_url`` belong in
the environment, never in the YAML file.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class FeatureStoreSettings(BaseModel):
    """Where the Feast registry and online store live; the offline data is always the lake's ``features/`` zone.

    Attributes:
        project: the Feast project; a registry or a Redis server can hold several (one per environment).
        repo_dir: a local folder for the generated ``feature_store.yaml`` and, unless set below, the registry file
            and the SQLite online store. ``None`` puts it at ``<lake root>/features/_feast`` (a local lake only).
        online_store: ``sqlite`` (a file, one machine) or ``redis`` (shared, low-latency serving).
        sqlite_path: the SQLite online store file; ``None`` is ``<repo_dir>/online.db``.
        redis_url: the Redis server, ``redis://[:password@]host:port/db``.
        registry: ``file`` (a protobuf file, one writer) or ``sql`` (a database, many writers and readers).
        registry_path: the registry file; ``None`` is ``<repo_dir>/registry.db``.
        registry_url: the SQL registry as a SQLAlchemy URL, e.g. ``postgresql+psycopg://user@host:5432/feast``.
        registry_cache_ttl_s: how long a reader trusts its cached copy of the registry [s].
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    project: str = Field(default="eliq", pattern=r"^[A-Za-z0-9][A-Za-z0-9_]*$")
    repo_dir: str | None = None
    online_store: Literal["sqlite", "redis"] = "sqlite"
    sqlite_path: str | None = None
    redis_url: str = "redis://127.0.0.1:6379/0"
    registry: Literal["file", "sql"] = "file"
    registry_path: str | None = None
    registry_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/eliq_feast"
    registry_cache_ttl_s: int = Field(default=60, ge=0)
