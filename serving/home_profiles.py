"""Home profiles sent through the API: validated JSON documents in the lake, and what deleting a home does.

Layout:
    ``raw/api_profiles/<home_id>.json``: the current document of each home created or updated through the API
    (:class:`contracts.home_profile.HomeProfile`; unknown fields kept, unset fields left out).
    ``raw/api_profiles/_deleted/<home_id>.json``: the tombstone of a deleted home: ``deleted_at``, ``purge_after``
    and the retention rule.

A file name is the home id percent-encoded (``/`` becomes ``%2F``), so any id is one file of this folder.

Invariants:
    - A document's ``client_id`` is always its writer's: a body naming another client is rejected, never stored.
    - A tombstoned home is gone for the API (no owner, no profile) even while its lake data is retained.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pyarrow as pa
from pydantic import ValidationError

from contracts.api_zone import API_PROFILES, DELETED, RETENTION_DAYS, RETENTION_RULE
from contracts.home_profile import HomeProfile
from contracts.schemas import HOME_ID
from contracts.storage import Lake, Zone
from data_prep.ingest.profiles import explain_validation_error

_MAX_NAME = 200  # encoded id length that stays a valid file name on every filesystem the lake runs on [chars]


class ProfileRejectedError(ValueError):
    """The body contradicts the request: another client's ``client_id``, or a ``home_id`` not the path's (400)."""


class ProfileInvalidError(ValueError):
    """The document fails :class:`HomeProfile` validation; the message names each field and why (422).

    Attributes:
        errors: one ``{"loc": [...], "msg": ..., "type": ...}`` per problem, as pydantic and FastAPI give them.
    """

    def __init__(self, message: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.errors = errors

    @classmethod
    def of(cls, err: ValidationError) -> ProfileInvalidError:
        problems = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in err.errors()]
        return cls(explain_validation_error(err), problems)

    @classmethod
    def home_id(cls, msg: str) -> ProfileInvalidError:
        return cls(f"home_id: {msg}", [{"loc": [HOME_ID], "msg": msg, "type": "value_error"}])


class ProfileConflictError(RuntimeError):
    """The home id is taken: an existing home, or a deleted one within its retention period (409)."""


class ProfileStore:
    """Create, read, replace and tombstone home profiles in the lake's raw zone.

    Args:
        lake: the lake; documents live under ``raw/api_profiles/``.
    """

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def document_path(self, home_id: str) -> str:
        return self.lake.path(Zone.RAW, API_PROFILES, f"{quote(home_id, safe='')}.json")

    def tombstone_path(self, home_id: str) -> str:
        return self.lake.path(Zone.RAW, API_PROFILES, DELETED, f"{quote(home_id, safe='')}.json")

    def tombstone(self, home_id: str) -> dict[str, Any] | None:
        """The tombstone of a deleted home, ``None`` when it was not deleted."""
        return self._read_json(self.tombstone_path(home_id))

    def read(self, home_id: str) -> dict[str, Any] | None:
        """The home's API document; ``None`` when there is none or the home is deleted."""
        if self.tombstone(home_id) is not None:
            return None
        return self._read_json(self.document_path(home_id))

    def owner(self, home_id: str) -> str | None:
        """The client of the home's API document; ``None`` when there is none or the home is deleted."""
        document = self.read(home_id)
        return None if document is None else str(document.get("client_id"))

    def get(self, home_id: str) -> HomeProfile | None:
        """The home's profile: its API document, else its row of ``curated/homes`` (from ``eliq prep run``);
        ``None`` when the home has neither or is deleted."""
        if self.tombstone(home_id) is not None:
            return None
        document = self._read_json(self.document_path(home_id)) or self._curated(home_id)
        if document is None:
            return None
        try:
            return HomeProfile.model_validate(document)
        except ValidationError:  # a curated row from before a contract change: its keys still identify it
            keys = {k: document.get(k) for k in (HOME_ID, "client_id")}
            return (
                HomeProfile.model_validate(keys) if all(isinstance(v, str) for v in keys.values()) else None
            )

    def validate(
        self, client_id: str, document: Mapping[str, Any], home_id: str | None = None
    ) -> HomeProfile:
        """``document`` as a profile of ``client_id`` (and of ``home_id`` when given).

        Raises:
            ProfileRejectedError: it names another client, or another home than ``home_id``.
            ProfileInvalidError: it fails :class:`HomeProfile`.
        """
        body = dict(document)
        named = body.get("client_id")
        if named is not None and named != client_id:
            raise ProfileRejectedError(
                f"client_id {named!r} is not the caller's: a profile belongs to the client whose key sends it; "
                "leave client_id out"
            )
        if home_id is not None and body.get(HOME_ID, home_id) != home_id:
            raise ProfileRejectedError(
                f"home_id {body[HOME_ID]!r} in the body differs from {home_id!r} in the path"
            )
        body["client_id"] = client_id
        if home_id is not None:
            body[HOME_ID] = home_id
        try:
            profile = HomeProfile.model_validate(body)
        except ValidationError as err:
            raise ProfileInvalidError.of(err) from err
        if len(quote(profile.home_id, safe="")) > _MAX_NAME:
            raise ProfileInvalidError.home_id(f"longer than {_MAX_NAME} characters once URL-encoded")
        if re.search(r"[\x00-\x1f\x7f]", profile.home_id):
            raise ProfileInvalidError.home_id("holds control characters")
        return profile

    def create(
        self,
        client_id: str,
        document: Mapping[str, Any],
        owner: Callable[[str], str | None],
        claim: Callable[[str, str], Any] | None = None,
    ) -> HomeProfile:
        """Store a new home's profile.

        Args:
            owner: the client of a home the platform already knows (the home directory), ``None`` when unknown.
            claim: records ``(home_id, client_id)`` in the home directory, atomically, before the document is
                written; it raises when another client got there first (the document is then not written).

        Raises:
            ProfileConflictError: the id is taken, by any client (the message does not say which).
            ProfileRejectedError, ProfileInvalidError: as :meth:`validate`.
        """
        profile = self.validate(client_id, document)
        home_id = profile.home_id
        taken = self.tombstone(home_id) is not None or self.lake.exists(self.document_path(home_id))
        if taken or owner(home_id) is not None:
            raise ProfileConflictError(
                f"home_id {home_id!r} is taken (an existing home, or one deleted less than {RETENTION_DAYS} days "
                f"ago); update an existing home with PUT /homes/{{home_id}}"
            )
        if claim is not None:
            claim(home_id, client_id)
        self._write(profile)
        return profile

    def replace(self, client_id: str, home_id: str, document: Mapping[str, Any]) -> HomeProfile:
        """Replace the profile of a home the caller owns (the caller checks ownership) with ``document``."""
        profile = self.validate(client_id, document, home_id)
        self._write(profile)
        return profile

    def mark_deleted(self, home_id: str, client_id: str, now: datetime | None = None) -> dict[str, Any]:
        """Write the home's tombstone; its documents stay until the purge the retention rule names."""
        deleted_at = (now or datetime.now(UTC)).astimezone(UTC)
        tombstone = {
            HOME_ID: home_id,
            "client_id": client_id,
            "deleted_at": deleted_at.isoformat(),
            "purge_after": (deleted_at + timedelta(days=RETENTION_DAYS)).isoformat(),
            "retention_rule": RETENTION_RULE,
        }
        self.lake.write_bytes(self.tombstone_path(home_id), json.dumps(tombstone, indent=1).encode())
        return tombstone

    def _write(self, profile: HomeProfile) -> None:
        text = profile.model_dump_json(exclude_unset=True, indent=1)
        self.lake.write_bytes(self.document_path(profile.home_id), text.encode())

    def _read_json(self, path: str) -> dict[str, Any] | None:
        if not self.lake.exists(path):
            return None
        value = json.loads(self.lake.read_bytes(path))
        return value if isinstance(value, dict) else None

    def _curated(self, home_id: str) -> dict[str, Any] | None:
        path = self.lake.path(Zone.CURATED, "homes", "homes.parquet")
        if not self.lake.exists(path):
            return None
        try:
            rows = self.lake.read_table(path, filters=[(HOME_ID, "=", home_id)]).to_pylist()
        except (pa.ArrowException, ValueError):  # an empty table has untyped columns
            return None
        if not rows:
            return None
        row = rows[0]
        if isinstance(row.get("document"), str):  # the document as data_prep received it
            return dict(json.loads(row["document"]))
        return {k: row[k] for k in HomeProfile.model_fields if k in row and not _is_null(row[k])}


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def erase_online_homes(adapter: Any, home_ids: Sequence[str]) -> int:
    """Delete the homes from the online store: every row (SQLite) or key (Redis) of a view keyed by ``home_id``.

    Feast 0.67 has no API to delete one entity's rows, so this removes them where its stores keep them: the SQLite
    store's tables ``<project>_<view>`` keyed by the serialised entity key, Redis's hash per entity key and project.

    Args:
        adapter: a :class:`features.store.FeatureStoreAdapter`.
        home_ids: the homes.

    Returns:
        The rows (SQLite) or keys (Redis) deleted.

    Raises:
        NotImplementedError: the online store is neither SQLite nor Redis.
    """
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    config = adapter.store.config
    version = int(config.entity_key_serialization_version)
    keys = [
        serialize_entity_key(EntityKey(join_keys=[HOME_ID], entity_values=[Value(string_val=h)]), version)
        for h in home_ids
    ]
    kind = str(config.online_store.type)
    if kind == "sqlite" or kind.endswith("SqliteOnlineStore"):
        return _erase_sqlite(adapter.store, keys)
    if kind == "redis" or kind.endswith("RedisOnlineStore"):
        import redis

        client = redis.Redis.from_url(adapter.settings.redis_url)
        try:
            deleted: Any = client.delete(*[key + config.project.encode() for key in keys]) if keys else 0
            return int(deleted)
        finally:
            client.close()
    raise NotImplementedError(f"deleting homes from a {kind!r} online store")


def _erase_sqlite(store: Any, keys: list[bytes]) -> int:
    import sqlite3

    from feast.infra.online_stores.helpers import compute_table_id
    from feast.infra.online_stores.sqlite import SqliteOnlineStore

    config = store.config
    versioned = config.registry.enable_online_feature_view_versioning
    tables = [
        compute_table_id(config.project, view, versioned)
        for view in store.list_feature_views()
        if HOME_ID in view.join_keys
    ]
    conn = sqlite3.connect(SqliteOnlineStore._get_db_path(config), timeout=30.0)
    try:
        existing = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        deleted = 0
        with conn:
            for table in (t for t in tables if t in existing):
                quoted = '"' + table.replace('"', '""') + '"'
                deleted += conn.executemany(
                    f"DELETE FROM {quoted} WHERE entity_key = ?", [(k,) for k in keys]
                ).rowcount
        return deleted
    finally:
        conn.close()
