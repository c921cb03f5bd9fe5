"""Online reads of a feature service for serving: the SQLite online store read directly, or Feast's path.

Feast's ``get_online_features`` spends most of a one-home read outside the store: it runs the on-demand views
through Arrow and pandas, builds response protobufs, and resolves the service against the registry on every call.
A server asks for the same service all its life, so :class:`SqliteOnlineFeatureReader` resolves the service once
(tables, join keys, the features each view must yield) and then, per read, runs one SQL statement over the views
keyed by home and one over the views keyed by the home's weather point and price area (Feast's tables, as its
SQLite store writes them), decodes the stored values, and computes the on-demand features with the plain-Python
twins of ``features/on_demand_online.py``.

:func:`build_online_reader` gives that reader when the online store is SQLite and every on-demand view of the service
has a twin, and otherwise a :class:`FeastOnlineFeatureReader` over Feast's own path (Redis keeps Feast's path).
Both return the same columns; ``tests/features/test_online_reader.py`` checks them value by value.

Invariants:
    A read returns, for each home, the row the online store holds now for each view (the latest materialised or
    pushed one), like Feast's online read: no TTL is applied. Request-time features describe ``request_time``,
    truncated to the second as Feast does, and depend on nothing else of the home than its profile.
"""

from __future__ import annotations

import sqlite3
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from features.on_demand_online import ON_DEMAND_TWINS, OnDemandTwin
from features.store import KEY_VIEW, FeaturesNotAppliedError, FeatureStoreError

if TYPE_CHECKING:
    from features.store import FeatureStoreAdapter

HOME_KEY = "home_id"
REQUEST_TIME_FIELD = "target_ts"
CHUNK_HOMES = 500  # homes per SQL statement: 3 views x 500 keys stays far below SQLite's 32,766 parameters
_F32, _F64 = struct.Struct("<f"), struct.Struct("<d")
# Tags of ValueProto's float_val (field 6, fixed32), double_val (5, fixed64), int64_val (4, varint), string_val (2)
_FLOAT_TAG, _DOUBLE_TAG, _INT64_TAG, _STRING_TAG = 0x35, 0x29, 0x20, 0x12
_PLAIN_KINDS = frozenset(
    {"double_val", "float_val", "int64_val", "int32_val", "string_val", "bool_val", "bytes_val"}
)
_STRING, _INT64 = 2, 4  # feast.ValueType.STRING, feast.ValueType.INT64
_NOTHING: dict[str, Any] = {}


class OnlineFeatureReader(Protocol):
    """Reads one feature service's latest features for a few homes; hold one for the life of a server."""

    service: str
    features: tuple[str, ...]
    backend: str  # "sqlite" (direct) or "feast"
    reason: str  # why Feast's path is used; empty for the direct reader

    def read(self, home_ids: Sequence[str], request_time: datetime | None = None) -> dict[str, list[Any]]:
        """``home_id`` and one list per feature (service order), ``None`` where a home has no value."""
        ...

    def read_frame(self, home_ids: Sequence[str], request_time: datetime | None = None) -> pd.DataFrame:
        """The same as a frame: what :meth:`FeatureStoreAdapter.online_features` returns."""
        ...


class FastReadUnsupportedError(FeatureStoreError):
    """The service uses something the direct SQLite reader does not reproduce; it is read through Feast."""


@dataclass(frozen=True)
class ViewRead:
    """One batch view of a service read: its SQLite table, its key, and the features the read needs from it."""

    view: str
    table: str
    join_key: str
    key_type: int  # feast.ValueType of the entity
    features: frozenset[str]


@dataclass(frozen=True)
class OnDemandRead:
    """One on-demand view: its twin, the features requested from it and its inputs as (view, feature)."""

    view: str
    twin: OnDemandTwin
    features: tuple[str, ...]
    inputs: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ServiceReadPlan:
    """Everything a read of one service needs, resolved from the registry once.

    Attributes:
        columns: (view, feature) of each output feature, in the service's order.
        home_views: the batch views keyed by ``home_id`` (with the key view when the others need it).
        keyed_views: the batch views keyed by a feature of the home's profile (weather point, price area).
    """

    service: str
    columns: tuple[tuple[str, str], ...]
    home_views: tuple[ViewRead, ...]
    keyed_views: tuple[ViewRead, ...]
    on_demand: tuple[OnDemandRead, ...]

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(feature for _, feature in self.columns)


def plan_service_read(store: Any, feature_service: Any) -> ServiceReadPlan:
    """Resolve ``feature_service`` against the registry of the Feast ``store``.

    Raises:
        FastReadUnsupportedError: a projection renames a view or its keys, an on-demand view has no twin (or
            stores its output), a view has several entities or a key type other than string or int64.
    """
    from feast.infra.online_stores.helpers import compute_table_id

    views = {v.name: v for v in store.list_feature_views()}
    odfvs = {v.name: v for v in store.list_on_demand_feature_views()}
    needed: dict[str, set[str]] = {}
    columns: list[tuple[str, str]] = []
    on_demand: list[OnDemandRead] = []
    for projection in feature_service.feature_view_projections:
        if projection.name_alias or projection.join_key_map:
            raise FastReadUnsupportedError(f"projection {projection.name!r} renames its view or join keys")
        names = tuple(f.name for f in projection.features)
        if projection.name in views:
            needed.setdefault(projection.name, set()).update(names)
        elif projection.name in odfvs:
            on_demand.append(_on_demand_read(odfvs[projection.name], names, views, needed))
        else:
            raise FastReadUnsupportedError(f"{projection.name!r} is not a registered view")
        columns += [(projection.name, n) for n in names]
    keys = _view_keys(needed, views, {e.name: e for e in store.list_entities()})
    versioned = store.config.registry.enable_online_feature_view_versioning
    reads = [
        ViewRead(
            name, compute_table_id(store.project, views[name], versioned), *keys[name], frozenset(features)
        )
        for name, features in needed.items()
    ]
    return ServiceReadPlan(
        service=feature_service.name,
        columns=tuple(columns),
        home_views=tuple(r for r in reads if r.join_key == HOME_KEY),
        keyed_views=tuple(r for r in reads if r.join_key != HOME_KEY),
        on_demand=tuple(on_demand),
    )


def _view_keys(
    needed: dict[str, set[str]], views: dict[str, Any], entities: dict[str, Any]
) -> dict[str, tuple[str, int]]:
    """The join key and key type of each needed view; adds the key view (and the keys it must yield) to ``needed``
    when a view is keyed by something else than the home."""
    keys = {name: _join_key(views[name], entities) for name in needed}
    looked_up = {key for key, _ in keys.values() if key != HOME_KEY}  # found in each home's profile
    if looked_up:
        profile = views.get(KEY_VIEW)
        if profile is None or looked_up - {f.name for f in profile.features}:
            raise FastReadUnsupportedError(f"view {KEY_VIEW!r} does not give each home's {sorted(looked_up)}")
        needed.setdefault(KEY_VIEW, set()).update(looked_up)
        keys[KEY_VIEW] = _join_key(profile, entities)
        if keys[KEY_VIEW][0] != HOME_KEY:
            raise FastReadUnsupportedError(f"view {KEY_VIEW!r} is not keyed by {HOME_KEY}")
    return keys


def _join_key(view: Any, entities: dict[str, Any]) -> tuple[str, int]:
    """The join key of a one-entity view and its ``ValueType`` (string or int64)."""
    if len(view.entities) != 1:
        raise FastReadUnsupportedError(f"view {view.name!r} has {len(view.entities)} entities, not one")
    entity = entities[view.entities[0]]
    if int(entity.value_type.value) not in (_STRING, _INT64):
        raise FastReadUnsupportedError(f"entity {entity.name!r} is keyed by {entity.value_type}")
    return str(entity.join_key), int(entity.value_type.value)


def _on_demand_read(
    odfv: Any, names: tuple[str, ...], views: dict[str, Any], needed: dict[str, set[str]]
) -> OnDemandRead:
    twin = ON_DEMAND_TWINS.get(odfv.name)
    if twin is None or not set(names) <= twin[1]:
        raise FastReadUnsupportedError(
            f"on-demand view {odfv.name!r} has no twin in features/on_demand_online.py"
        )
    if odfv.write_to_online_store:
        raise FastReadUnsupportedError(f"on-demand view {odfv.name!r} stores its output")
    if set(odfv.get_request_data_schema()) - {REQUEST_TIME_FIELD}:
        raise FastReadUnsupportedError(
            f"on-demand view {odfv.name!r} needs request data besides {REQUEST_TIME_FIELD}"
        )
    inputs: list[tuple[str, str]] = []
    for source in odfv.source_feature_view_projections.values():
        if source.name not in views:
            raise FastReadUnsupportedError(
                f"on-demand view {odfv.name!r} reads {source.name!r}, not a batch view"
            )
        needed.setdefault(source.name, set()).update(f.name for f in source.features)
        inputs += [(source.name, f.name) for f in source.features]
    return OnDemandRead(odfv.name, twin[0], names, tuple(inputs))


class SqliteOnlineFeatureReader:
    """Reads a service straight from Feast's SQLite online store; one connection per thread.

    Args:
        db_path: the SQLite online store file.
        plan: the resolved service (:func:`plan_service_read`).
        key_version: the repository's ``entity_key_serialization_version``.

    Raises:
        FeaturesNotAppliedError: the store file or one of the service's tables does not exist.
    """

    backend = "sqlite"
    reason = ""

    def __init__(self, db_path: str, plan: ServiceReadPlan, key_version: int) -> None:
        self.db_path = db_path
        self.plan = plan
        self.key_version = key_version
        self.service = plan.service
        self.features = plan.features
        self._local = threading.local()
        self._check_tables()

    def read(self, home_ids: Sequence[str], request_time: datetime | None = None) -> dict[str, list[Any]]:
        """The service's features of each home, as Feast's online read returns them.

        Args:
            home_ids: the homes, in the order of the result.
            request_time: the hour the request-time features describe [UTC; naive is UTC]; defaults to the
                current hour.

        Returns:
            ``home_id`` and one list per feature in the service's order; ``None`` where the store has no value (an
            unknown home, a view not materialised yet).
        """
        ids = [str(h) for h in home_ids]
        rows: dict[str, list[dict[str, Any]]] = {
            v.view: [] for v in (*self.plan.home_views, *self.plan.keyed_views)
        }
        for start in range(0, len(ids), CHUNK_HOMES):
            for view, chunk in self._rows(ids[start : start + CHUNK_HOMES]).items():
                rows[view].extend(chunk)
        computed: dict[tuple[str, str], list[Any]] = {}
        if self.plan.on_demand:
            target_ns = _request_ns(request_time)
            for odfv in self.plan.on_demand:
                inputs = {feature: [r.get(feature) for r in rows[view]] for view, feature in odfv.inputs}
                output = odfv.twin(target_ns, inputs)
                computed |= {(odfv.view, f): output[f] for f in odfv.features}
        columns: dict[str, list[Any]] = {HOME_KEY: ids}
        for view, feature in self.plan.columns:
            values = computed.get((view, feature))
            columns[feature] = values if values is not None else [r.get(feature) for r in rows[view]]
        return columns

    def read_frame(self, home_ids: Sequence[str], request_time: datetime | None = None) -> pd.DataFrame:
        """:meth:`read` as a frame, equal to ``FeatureStoreAdapter.online_features`` (costs about 1 ms more)."""
        return pd.DataFrame(self.read(home_ids, request_time))

    def _rows(self, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """Each view's values for each home: view -> one {feature: value} per home (empty when absent)."""
        home_keys = [_entity_key(HOME_KEY, h, _STRING, self.key_version) for h in ids]
        views = self.plan.home_views
        found = self._fetch(views, [home_keys] * len(views))
        rows = {v.view: [f.get(k, _NOTHING) for k in home_keys] for v, f in zip(views, found, strict=True)}
        if self.plan.keyed_views:
            profiles = rows[KEY_VIEW]
            keys = [[self._key(v, p.get(v.join_key)) for p in profiles] for v in self.plan.keyed_views]
            found = self._fetch(
                self.plan.keyed_views, [list(dict.fromkeys(k for k in ks if k)) for ks in keys]
            )
            for view, per_home, values in zip(self.plan.keyed_views, keys, found, strict=True):
                rows[view.view] = [_NOTHING if k is None else values.get(k, _NOTHING) for k in per_home]
        return rows

    def _key(self, view: ViewRead, value: Any) -> bytes | None:
        """The entity key of ``view`` for a value from a home's profile; ``None`` when the profile has none."""
        return None if value is None else _entity_key(view.join_key, value, view.key_type, self.key_version)

    def _fetch(
        self, views: Sequence[ViewRead], keys: Sequence[list[bytes]]
    ) -> list[dict[bytes, dict[str, Any]]]:
        """One statement over ``views``: for each view, entity key -> {feature: value} of the keys found."""
        found: list[dict[bytes, dict[str, Any]]] = [{} for _ in views]
        sql = _union_sql(tuple(v.table for v in views), tuple(len(k) for k in keys))
        if sql:
            wanted = [v.features for v in views]
            for i, key, feature, blob in self._connection().execute(sql, [k for ks in keys for k in ks]):
                if feature in wanted[i]:  # in Python: SQL on (entity_key, feature_name) costs a lookup each
                    found[i].setdefault(key, {})[feature] = decode_value(blob)
        return found

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            try:  # mode=rw: never create an empty store where Feast's should be
                uri = f"{Path(self.db_path).resolve().as_uri()}?mode=rw"
                connection = sqlite3.connect(uri, uri=True, check_same_thread=False, cached_statements=256)
            except sqlite3.OperationalError as err:
                raise FeaturesNotAppliedError(
                    f"the SQLite online store {self.db_path} cannot be opened ({err}); run `eliq features apply` "
                    "and `eliq features materialize` first"
                ) from err
            self._local.connection = connection
        return connection

    def _check_tables(self) -> None:
        tables = {v.table for v in (*self.plan.home_views, *self.plan.keyed_views)}
        rows = self._connection().execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        missing = sorted(tables - {r[0] for r in rows})
        if missing:
            raise FeaturesNotAppliedError(
                f"the online store {self.db_path} lacks the tables {missing} of service {self.service!r}; "
                "run `eliq features apply` first"
            )


class FeastOnlineFeatureReader:
    """Reads a service through Feast's ``get_online_features`` (any online store, e.g. Redis).

    Args:
        adapter: the feature store.
        service: the feature service.
        reason: why the direct SQLite reader is not used.
    """

    backend = "feast"

    def __init__(self, adapter: FeatureStoreAdapter, service: str, reason: str) -> None:
        self.adapter = adapter
        self.service = service
        self.reason = reason
        projections = adapter.service(service).feature_view_projections
        self.features = tuple(f.name for p in projections for f in p.features)

    def read(self, home_ids: Sequence[str], request_time: datetime | None = None) -> dict[str, list[Any]]:
        """See :meth:`SqliteOnlineFeatureReader.read`."""
        return self.adapter.online_columns(home_ids, self.service, request_time)

    def read_frame(self, home_ids: Sequence[str], request_time: datetime | None = None) -> pd.DataFrame:
        """See :meth:`SqliteOnlineFeatureReader.read_frame`."""
        return self.adapter.online_features(home_ids, self.service, request_time)


def build_online_reader(adapter: FeatureStoreAdapter, service: str) -> OnlineFeatureReader:
    """The fastest reader of ``service`` this store allows: direct SQLite, else Feast's path (see ``.reason``).

    Raises:
        FeaturesNotAppliedError: the service is not registered, or (SQLite) its tables do not exist.
    """
    from feast.infra.online_stores.sqlite import SqliteOnlineStore

    feature_service = adapter.service(service)
    config = adapter.store.config
    kind = str(config.online_store.type)
    if kind != "sqlite" and not kind.endswith("SqliteOnlineStore"):
        return FeastOnlineFeatureReader(adapter, service, f"the online store is {kind!r}, not SQLite")
    try:
        plan = plan_service_read(adapter.store, feature_service)
    except FastReadUnsupportedError as err:
        return FeastOnlineFeatureReader(adapter, service, str(err))
    return SqliteOnlineFeatureReader(
        SqliteOnlineStore._get_db_path(config), plan, int(config.entity_key_serialization_version)
    )


def decode_value(blob: bytes) -> Any:
    """A stored ``ValueProto`` as the Python value Feast's online response gives (``None`` when unset)."""
    size = len(blob)  # the common cases first, read from the wire format without building a message
    if size == 5 and blob[0] == _FLOAT_TAG:
        return _F32.unpack_from(blob, 1)[0]
    if size == 9 and blob[0] == _DOUBLE_TAG:
        return _F64.unpack_from(blob, 1)[0]
    if size == 2 and blob[0] == _INT64_TAG and blob[1] < 0x80:  # an int64 in 0..127: a one-byte varint
        return blob[1]
    if size > 1 and blob[0] == _STRING_TAG and blob[1] == size - 2:  # a string shorter than 128 bytes
        return blob[2:].decode()
    from feast.protos.feast.types.Value_pb2 import Value
    from feast.type_map import feast_value_type_to_python_type

    proto = Value.FromString(blob)
    kind = proto.WhichOneof("val")
    if kind is None:
        return None
    return getattr(proto, kind) if kind in _PLAIN_KINDS else feast_value_type_to_python_type(proto)


@lru_cache(maxsize=1 << 16)
def _entity_key(join_key: str, value: Any, key_type: int, version: int) -> bytes:
    """Feast's serialised entity key of a one-key entity, as its SQLite store keys rows."""
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    proto_value = Value(string_val=str(value)) if key_type == _STRING else Value(int64_val=int(value))
    key = EntityKey(join_keys=[join_key], entity_values=[proto_value])
    return serialize_entity_key(key, entity_key_serialization_version=version)


@lru_cache(maxsize=1024)
def _union_sql(tables: tuple[str, ...], counts: tuple[int, ...]) -> str:
    """``SELECT view index, entity_key, feature_name, value`` over ``counts`` keys of each table (through its
    ``entity_key`` index); empty when there is no key at all."""
    parts = [
        f'SELECT {i}, entity_key, feature_name, value FROM "{table.replace(chr(34), chr(34) * 2)}" '
        f"WHERE entity_key IN ({','.join('?' * n)})"
        for i, (table, n) in enumerate(zip(tables, counts, strict=True))
        if n
    ]
    return " UNION ALL ".join(parts)


def _request_ns(request_time: datetime | None) -> int:
    """The request time as Feast passes it to on-demand views: whole seconds since the epoch [ns]."""
    if request_time is None:
        request_time = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    elif request_time.tzinfo is None:
        request_time = request_time.replace(tzinfo=UTC)
    return int(request_time.timestamp()) * 10**9
