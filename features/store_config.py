"""From eliq's settings to a Feast ``RepoConfig`` (and the ``feature_store.yaml`` it is written to).

The offline data is always the lake's ``features/`` zone; the online store is SQLite by default or Redis, and the
registry a file by default or a SQL database (PostgreSQL), by configuration alone.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from contracts.feature_settings import FeatureStoreSettings
from contracts.storage import Lake

OFFLINE_STORE_TYPE = "features.store_offline.AsofFileOfflineStore"
FEATURES_ZONE = "features"


@dataclass(frozen=True)
class FeastRepoLayout:
    """Where one lake's feature store lives.

    Attributes:
        features_root: the lake's ``features/`` folder as Feast reads it: an absolute local path or an fsspec URI.
        repo_dir: a local folder holding the generated ``feature_store.yaml`` (and by default the registry and
            the SQLite online store).
    """

    features_root: str
    repo_dir: Path


def layout_for(lake: Lake, settings: FeatureStoreSettings) -> FeastRepoLayout:
    """The layout of ``lake``'s feature store.

    Raises:
        ValueError: the lake is not local and ``settings.repo_dir`` is not set.
    """
    local = _is_local(lake)
    if local:
        features_root = os.path.abspath(lake.path(FEATURES_ZONE))
    else:
        features_root = f"{lake.uri.rstrip('/')}/{FEATURES_ZONE}"
    if settings.repo_dir is not None:
        repo_dir = Path(settings.repo_dir).expanduser().resolve()
    elif local:
        repo_dir = Path(features_root) / "_feast"
    else:
        raise ValueError(
            f"the lake {lake.uri} is not a local folder: set features.repo_dir (ELIQ_FEATURES__REPO_DIR) to a "
            "local folder for the feature store's configuration"
        )
    return FeastRepoLayout(features_root=features_root, repo_dir=repo_dir)


def _is_local(lake: Lake) -> bool:
    protocol = lake.fs.protocol
    protocols = (protocol,) if isinstance(protocol, str) else tuple(protocol)
    return "file" in protocols or "local" in protocols


def repo_config_values(settings: FeatureStoreSettings, layout: FeastRepoLayout) -> dict[str, Any]:
    """The content of ``feature_store.yaml`` for these settings: plain values, paths absolute."""
    return {
        "project": settings.project,
        "provider": "local",
        "registry": _registry(settings, layout.repo_dir),
        "online_store": _online_store(settings, layout.repo_dir),
        "offline_store": {"type": OFFLINE_STORE_TYPE},
        # The offline store hands materialisation the latest row per key, not every row of the range.
        "materialization": {"pull_latest_features": True},
        "entity_key_serialization_version": 3,
    }


def _registry(settings: FeatureStoreSettings, repo_dir: Path) -> dict[str, Any]:
    if settings.registry == "sql":
        return {
            "registry_type": "sql",
            "path": settings.registry_url,
            "cache_ttl_seconds": settings.registry_cache_ttl_s,
            "sqlalchemy_config_kwargs": {"echo": False, "pool_pre_ping": True},
        }
    path = settings.registry_path or str(repo_dir / "registry.db")
    return {"registry_type": "file", "path": path, "cache_ttl_seconds": settings.registry_cache_ttl_s}


def _online_store(settings: FeatureStoreSettings, repo_dir: Path) -> dict[str, Any]:
    if settings.online_store == "redis":
        return {"type": "redis", "connection_string": redis_connection_string(settings.redis_url)}
    return {"type": "sqlite", "path": settings.sqlite_path or str(repo_dir / "online.db")}


def redis_connection_string(url: str) -> str:
    """Feast's ``host:port,db=N[,password=…][,ssl=true]`` from ``redis[s]://[:password@]host:port/db``.

    Raises:
        ValueError: not a ``redis://`` or ``rediss://`` URL.
    """
    parsed = urlparse(url)
    if parsed.scheme not in ("redis", "rediss"):
        raise ValueError(f"features.redis_url must look like redis://host:6379/0, got {url!r}")
    parts = [f"{parsed.hostname or '127.0.0.1'}:{parsed.port or 6379}"]
    db = parsed.path.strip("/")
    parts.append(f"db={int(db) if db else 0}")
    if parsed.password:
        parts.append(f"password={unquote(parsed.password)}")
    if parsed.scheme == "rediss":
        parts.append("ssl=true")
    return ",".join(parts)


def build_repo_config(settings: FeatureStoreSettings, layout: FeastRepoLayout) -> Any:
    """A Feast ``RepoConfig`` (imports Feast)."""
    from feast import RepoConfig

    return RepoConfig(repo_path=layout.repo_dir, **repo_config_values(settings, layout))


def write_feature_store_yaml(settings: FeatureStoreSettings, layout: FeastRepoLayout) -> Path:
    """Write ``<repo_dir>/feature_store.yaml`` so that ``feast -c <repo_dir> …`` can inspect the same store.

    Passwords are not written: they become ``${FEAST_REDIS_PASSWORD}`` and ``${FEAST_REGISTRY_PASSWORD}``, which
    Feast expands from the environment when it reads the file.
    """
    import yaml

    values = repo_config_values(settings, layout)
    online, registry = values["online_store"], values["registry"]
    if "connection_string" in online:
        online["connection_string"] = re.sub(
            r"password=[^,]*", "password=${FEAST_REDIS_PASSWORD}", online["connection_string"]
        )
    if registry["registry_type"] == "sql":
        registry["path"] = re.sub(r"(://[^:/@]+:)[^@]*@", r"\1${FEAST_REGISTRY_PASSWORD}@", registry["path"])
    layout.repo_dir.mkdir(parents=True, exist_ok=True)
    path = layout.repo_dir / "feature_store.yaml"
    header = (
        "# Generated by eliq from its settings: edit eliq.yaml, not this file. For read-only Feast commands\n"
        "# (feast -c <this folder> feature-views list, feast ui); register definitions with `eliq features apply`.\n"
    )
    path.write_text(header + yaml.safe_dump(values, sort_keys=False))
    return path
