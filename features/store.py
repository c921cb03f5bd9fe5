"""The feature store as the rest of eliq sees it: a thin adapter over Feast.

Training asks for a point-in-time correct training set, serving for the latest features of a few homes, and the
meter gateway pushes fresh readings; none of them imports Feast. Feast is imported on first use, never at import
of this module. The Feast objects themselves are in ``features/definitions.py``.

Invariants:
    ``training_set`` returns, for each label row, only values whose ``event_timestamp`` is at or before the row's
    ``event_timestamp`` (the label's cut-off); a home or hour without data gets nulls, never a later value.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

import pandas as pd

from contracts.feature_settings import FeatureStoreSettings
from contracts.storage import Lake, home_bucket
from features.store_config import FeastRepoLayout, build_repo_config, layout_for, write_feature_store_yaml

if TYPE_CHECKING:
    from features.online_reader import OnlineFeatureReader

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PUSH_SOURCE = "consumption_push"
KEY_VIEW = "home_profile"  # holds each home's weather point and price area, the keys of the other views
CONSUMPTION_VIEW = "consumption"


class FeatureStoreError(RuntimeError):
    """A feature store request that cannot be served; the message says what to do."""


class FeaturesNotAppliedError(FeatureStoreError):
    """The registry lacks the requested service or view: the definitions were never applied."""


class FeatureTableMissingError(FeatureStoreError, FileNotFoundError):
    """A feature table (or one bucket of it) that a request needs is not in the lake."""


@dataclass(frozen=True)
class _ServicePlan:
    feature_service: Any
    features: list[str]
    view_keys: list[str]  # join keys other than home_id, looked up from the home's profile
    needs_target_ts: bool
    read_at: float  # time.monotonic() [s]


class FeatureStoreAdapter:
    """eliq's feature store: one lake's ``features/`` zone, a registry and an online store.

    Args:
        lake: the lake whose ``features/`` zone holds the offline feature tables.
        settings: where the registry and the online store are.
        n_buckets: home buckets of the consumption table (``prep.n_buckets``).
    """

    def __init__(self, lake: Lake, settings: FeatureStoreSettings | None = None, n_buckets: int = 16) -> None:
        self.lake = lake
        self.settings = settings or FeatureStoreSettings()
        self.n_buckets = n_buckets
        self._plans: dict[str, _ServicePlan] = {}

    @classmethod
    def from_settings(
        cls, settings: Any, features: FeatureStoreSettings | None = None
    ) -> FeatureStoreAdapter:
        """From eliq's :class:`contracts.config.Settings`; ``features`` overrides its ``features`` section."""
        return cls(
            Lake.from_settings(settings.storage), features or settings.features, settings.prep.n_buckets
        )

    @cached_property
    def layout(self) -> FeastRepoLayout:
        return layout_for(self.lake, self.settings)

    @cached_property
    def store(self) -> Any:
        """The Feast ``FeatureStore`` (built on first use)."""
        import warnings

        from feast import FeatureStore

        # Feast warns on every use of an on-demand view; ours are small calendar columns, so it is noise here.
        warnings.filterwarnings("ignore", message="On demand feature view is an experimental feature")
        self.layout.repo_dir.mkdir(parents=True, exist_ok=True)  # Feast creates one missing level only
        return FeatureStore(config=build_repo_config(self.settings, self.layout))

    # --- registry -------------------------------------------------------------------------------------------

    def apply(self) -> list[str]:
        """Register every definition of ``features/definitions.py`` for this lake; drop registered ones no longer
        defined. Also writes ``<repo_dir>/feature_store.yaml``.

        Returns:
            The names of the applied objects, in apply order.
        """
        from features.definitions import build_definitions

        definitions = build_definitions(self.layout.features_root)
        objects = definitions.objects()
        write_feature_store_yaml(self.settings, self.layout)
        stale = self._registered_objects_not_in(objects)
        self.store.apply(objects, objects_to_delete=stale, partial=not stale)
        self._plans.clear()
        return [str(getattr(o, "name", o)) for o in objects]

    def _registered_objects_not_in(self, objects: Sequence[Any]) -> list[Any]:
        wanted = {(type(o).__name__, o.name) for o in objects}
        registered = [
            *self.store.list_feature_services(),
            *self.store.list_on_demand_feature_views(),
            *self.store.list_feature_views(),
        ]
        return [o for o in registered if (type(o).__name__, o.name) not in wanted]

    def service(self, name: str) -> Any:
        """The registered feature service ``name``.

        Raises:
            FeaturesNotAppliedError: it is not registered.
        """
        from feast.errors import FeastObjectNotFoundException

        try:
            return self.store.get_feature_service(name)
        except FeastObjectNotFoundException as err:
            raise FeaturesNotAppliedError(self._not_applied(f"feature service {name!r}")) from err

    def _view(self, name: str) -> Any:
        from feast.errors import FeastObjectNotFoundException

        try:
            return self.store.get_feature_view(name)
        except FeastObjectNotFoundException as err:
            raise FeaturesNotAppliedError(self._not_applied(f"feature view {name!r}")) from err

    def _not_applied(self, what: str) -> str:
        return (
            f"{what} is not registered in project {self.settings.project!r} of the feature registry "
            f"({self.settings.registry}); run `eliq features apply` first"
        )

    def list_features(self) -> pd.DataFrame:
        """Every registered feature: ``view``, ``feature``, ``dtype``, ``description``, ``owner``, ``services``.

        Raises:
            FeaturesNotAppliedError: nothing is registered.
        """
        from features.store_catalog import feature_catalog

        catalog = feature_catalog(self.store)
        if catalog.empty:
            raise FeaturesNotAppliedError(self._not_applied("no feature view"))
        return catalog

    # --- offline --------------------------------------------------------------------------------------------

    def training_set(self, entity_df: pd.DataFrame, service: str = "forecast_v1") -> pd.DataFrame:
        """The features of ``service`` for each label row, as known at the row's cut-off.

        Args:
            entity_df: ``home_id`` and ``event_timestamp`` (the cut-off [UTC]; naive values are taken as UTC),
                optionally ``target_ts`` (the hour the request-time features describe; defaults to the cut-off),
                and any label columns, which are passed through.
            service: the feature service, e.g. ``forecast_v1``.

        Returns:
            ``entity_df``'s rows in their order and columns, then ``target_ts`` (when it was not given) and one
            column per feature of the service; null where a view has no row for the home at or before the cut-off
            (within the view's TTL).

        Raises:
            FeaturesNotAppliedError: the service is not registered.
            FeatureTableMissingError: a table, or the consumption bucket of a requested home, is missing.
            ValueError: ``entity_df`` lacks ``home_id`` or ``event_timestamp``.
        """
        from features.store_offline import ENTITY_TS

        missing = {"home_id", ENTITY_TS} - set(entity_df.columns)
        if missing:
            raise ValueError(f"the entity frame lacks {sorted(missing)}: it needs home_id and {ENTITY_TS}")
        feature_service = self.service(service)
        self.check_sources(self._service_views(feature_service), entity_df["home_id"].unique())
        entities = entity_df.reset_index(drop=True).copy()
        entities[ENTITY_TS] = pd.to_datetime(entities[ENTITY_TS], utc=True)
        if "target_ts" not in entities:
            entities["target_ts"] = entities[ENTITY_TS]
        columns = [*entities.columns, *_service_features(feature_service)]
        self._add_view_keys(entities, feature_service)
        job = self.store.get_historical_features(
            entity_df=entities, features=feature_service, filter_by_created_timestamp=True
        )
        return job.to_df()[columns]

    def _service_views(self, feature_service: Any) -> list[Any]:
        """The batch views a service reads, including the sources of its on-demand views."""
        names = {p.name for p in feature_service.feature_view_projections}
        for odfv in self.store.list_on_demand_feature_views():
            if odfv.name in names:
                names |= set(odfv.source_feature_view_projections)
        return [v for v in self.store.list_feature_views() if v.name in names]

    def _add_view_keys(self, entities: pd.DataFrame, feature_service: Any) -> None:
        """Add each home's weather point and price area (as of the cut-off) when the service needs them."""
        needed = [k for k in self._service_join_keys(feature_service) if k != "home_id" and k not in entities]
        if needed:
            refs = [f"{KEY_VIEW}:{k}" for k in needed]
            probe = entities[["home_id", "event_timestamp"]].assign(entity_row=range(len(entities)))
            keys = self.store.get_historical_features(entity_df=probe, features=refs).to_df()
            keys = keys.sort_values("entity_row")
            for key in needed:
                entities[key] = keys[key].to_numpy()

    def _service_join_keys(self, feature_service: Any) -> list[str]:
        names = {p.name for p in feature_service.feature_view_projections}
        keys: list[str] = []
        for view in self.store.list_feature_views():
            if view.name in names:
                keys += [c.name for c in view.entity_columns if c.name not in keys]
        return keys

    def check_sources(self, views: Iterable[Any], home_ids: Iterable[str] | None = None) -> None:
        """Fail early, naming the file, when a view's table (or a known home's consumption bucket) is missing.

        A home the home table does not list is not an error: its features are null, as online.

        Raises:
            FeatureTableMissingError: naming the missing path and the command that builds it.
        """
        views = list(views)
        paths = {v.name: self._source_path(v) for v in views}
        for view in views:
            if not _exists(paths[view.name]):
                raise FeatureTableMissingError(_missing(paths[view.name], view.name))
        if home_ids is None or CONSUMPTION_VIEW not in paths:
            return
        known = set(self._known_homes()) & {str(h) for h in home_ids}
        for bucket in sorted({home_bucket(h, self.n_buckets) for h in known}):
            part = f"{paths[CONSUMPTION_VIEW].rstrip('/')}/bucket={bucket:03d}.parquet"
            if not _exists(part):
                raise FeatureTableMissingError(_missing(part, CONSUMPTION_VIEW))

    def _source_path(self, view: Any) -> str:
        from feast.infra.offline_stores.file_source import FileSource

        return str(FileSource.get_uri_for_file_path(self.layout.repo_dir, view.batch_source.path))

    def _known_homes(self) -> list[str]:
        """The homes of the home table (empty when it is missing)."""
        import fsspec
        import pyarrow.parquet as pq

        path = self._source_path(self._view(KEY_VIEW))
        if not _exists(path):
            return []
        fs, local = fsspec.core.url_to_fs(path)
        table = pq.read_table(local, columns=["home_id"], filesystem=fs)
        return [str(h) for h in table.column("home_id").to_pylist()]

    # --- online ---------------------------------------------------------------------------------------------

    def materialize(
        self, end: datetime | None = None, start: datetime | None = None, incremental: bool = False
    ) -> pd.DataFrame:
        """Load the latest feature values up to ``end`` into the online store.

        Static views (home profile, PV) are always loaded whole, since a profile update rewrites them with the
        same timestamp. Incremental runs load each other view from where its last run ended (a view never loaded
        is loaded whole); push-only views are never materialised.

        Args:
            end: the latest event time to load [UTC]; defaults to now.
            start: the earliest event time of a full run [UTC]; defaults to 1970-01-01 (everything).
            incremental: continue from each view's last run instead of ``start``.

        Returns:
            One row per view: ``view``, ``start``, ``end``, ``mode`` (``full`` or ``incremental``).
        """
        from features.store_online import materialize_views

        end = _utc(end) if end is not None else datetime.now(UTC)
        views = [v for v in self.store.list_feature_views() if v.tags.get("refresh") != "push"]
        if not views:
            raise FeaturesNotAppliedError(self._not_applied("no feature view"))
        self.check_sources(views)
        return materialize_views(self.store, views, end, _utc(start) if start else EPOCH, incremental)

    def online_features(
        self, home_ids: Sequence[str], service: str = "forecast_v1", target_ts: datetime | None = None
    ) -> pd.DataFrame:
        """The latest features of ``service`` for each home, from the online store.

        Args:
            home_ids: the homes, in the order of the result's rows.
            service: the feature service.
            target_ts: the hour the request-time features describe [UTC]; defaults to the current hour.

        Returns:
            ``home_id`` and one column per feature of the service. A home the store does not know (or a view not
            materialised yet) gets nulls: ``NaN`` in numeric columns, ``None`` in the others.

        Raises:
            FeaturesNotAppliedError: the service is not registered.
        """
        return pd.DataFrame(self.online_columns(home_ids, service, target_ts))

    def online_columns(
        self, home_ids: Sequence[str], service: str = "forecast_v1", target_ts: datetime | None = None
    ) -> dict[str, list[Any]]:
        """:meth:`online_features` as lists, through Feast: ``home_id`` and one list per feature, ``None`` where a
        home has no value.

        Raises:
            FeaturesNotAppliedError: the service is not registered.
        """
        plan = self._plan(service)
        ids = [str(h) for h in home_ids]
        rows: dict[str, list[Any]] = {"home_id": ids}
        if plan.view_keys:
            keys = self.store.get_online_features([f"{KEY_VIEW}:{k}" for k in plan.view_keys], rows).to_dict()
            rows |= {
                k: ["" if v is None else v for v in keys[k]] for k in plan.view_keys
            }  # "" is never a key
        if plan.needs_target_ts:
            when = (
                _utc(target_ts) if target_ts else datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
            )
            rows["target_ts"] = [when] * len(ids)
        response = self.store.get_online_features(plan.feature_service, rows).to_dict()
        return {"home_id": ids} | {f: response[f] for f in plan.features}

    def online_reader(self, service: str = "forecast_v1") -> OnlineFeatureReader:
        """A reader of ``service``'s online features to hold for the life of a server.

        On SQLite it reads the online store directly, with everything resolved once: the same values as
        :meth:`online_features`, 10-40x faster (``docs/features.md``). On another store, or for a service the direct
        reader does not reproduce, it reads through Feast (its ``backend`` is ``"feast"`` and ``reason`` says why).
        Build a new reader after ``apply``.

        Raises:
            FeaturesNotAppliedError: the service is not registered, or its online tables do not exist.
        """
        from features.online_reader import build_online_reader

        return build_online_reader(self, service)

    def _plan(self, service: str) -> _ServicePlan:
        """What serving ``service`` needs, read from the registry at most once per registry cache period.

        Reading the registry costs milliseconds per call (Feast rebuilds its objects from protobuf), more than the
        online lookup itself, so serving keeps the answer as long as Feast keeps its registry cache.
        """
        cached = self._plans.get(service)
        if cached is not None and time.monotonic() - cached.read_at < self.settings.registry_cache_ttl_s:
            return cached
        feature_service = self.service(service)
        plan = _ServicePlan(
            feature_service=feature_service,
            features=_service_features(feature_service),
            view_keys=[k for k in self._service_join_keys(feature_service) if k != "home_id"],
            needs_target_ts=_needs_request_time(feature_service, self.store),
            read_at=time.monotonic(),
        )
        self._plans[service] = plan
        return plan

    def push_readings(self, frame: pd.DataFrame, interval_min: int | None = None) -> pd.DataFrame:
        """Push the latest meter reading of each home to the online store (view ``consumption_live``).

        Args:
            frame: ``home_id``, ``ts`` (interval start [UTC]), ``kwh``, optionally ``interval_min``.
            interval_min: the reading interval when ``frame`` has no ``interval_min`` column [min].

        Returns:
            The rows pushed, one per home, ``event_timestamp`` the end of the reading (when it became known).

        Raises:
            ValueError: a required column is missing, or the interval is unknown.
            FeaturesNotAppliedError: the push source is not registered.
        """
        from feast.data_source import PushMode
        from feast.errors import FeastObjectNotFoundException, PushSourceNotFoundException

        from features.store_online import live_rows

        rows = live_rows(frame, interval_min)
        try:
            self.store.push(PUSH_SOURCE, rows, to=PushMode.ONLINE)
        except (FeastObjectNotFoundException, PushSourceNotFoundException) as err:
            raise FeaturesNotAppliedError(self._not_applied(f"push source {PUSH_SOURCE!r}")) from err
        return rows

    def teardown(self) -> None:
        """Delete the online tables or keys and the registry content of this project (tests, decommissioning)."""
        self.store.teardown()


def _service_features(feature_service: Any) -> list[str]:
    return [f.name for p in feature_service.feature_view_projections for f in p.features]


def _needs_request_time(feature_service: Any, store: Any) -> bool:
    names = {p.name for p in feature_service.feature_view_projections}
    return any(o.name in names and o.source_request_sources for o in store.list_on_demand_feature_views())


def _utc(moment: datetime) -> datetime:
    stamp = pd.Timestamp(moment)
    return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")).to_pydatetime()


def _exists(path: str) -> bool:
    import fsspec

    fs, local = fsspec.core.url_to_fs(path)
    return bool(fs.exists(local))


def _missing(path: str, view: str) -> str:
    return f"feature table {path} (view {view!r}) is missing; build the feature tables with `eliq features build`"
