"""Everything the service holds for its lifetime, built once at start-up: settings, the lake, the API key store, the
home directory, the history reader, the feature store's online readers and the loaded model families.

A background poll (:class:`AliasPollerThread`) asks the registry every ``serving.reload_interval_s`` which version
each family's alias points at and reloads a model whose alias moved, so a promotion or a rollback reaches the
service without a restart; ``POST /admin/reload`` does the same at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from contracts.storage import Lake, Zone
from serving.history import HistoryReader
from serving.home_directory import HomeDirectory, curated_homes

log = logging.getLogger(__name__)

ONLINE_SERVICES = (
    "forecast_v1",
    "live_v1",
)  # read for feature freshness: the model's features, the live reading


@dataclass
class ServingContext:
    """The service's long-lived state; the FastAPI app exposes its parts on ``app.state``.

    Attributes:
        settings: the eliq settings.
        lake: the lake.
        clients: the API key store (``serving.clients.ApiKeyStore``).
        homes: which client owns which home.
        history: reads the model input of a few homes.
        features: the feature store adapter; ``None`` when the feature store is not applied (or unreachable at
            start-up; ``feature_store_error`` says why).
        online_readers: long-lived online feature readers by feature service (empty without ``features``).
        families: the loaded model families by name.
    """

    settings: Any
    lake: Lake
    clients: Any
    homes: HomeDirectory
    history: HistoryReader
    features: Any = None
    online_readers: dict[str, Any] = field(default_factory=dict)
    families: dict[str, Any] = field(default_factory=dict)
    feature_store_error: str | None = None
    _homes_signature: Any = None
    _poller: AliasPollerThread | None = None

    @classmethod
    def start(cls, settings: Any, family_names: Sequence[str] | None = None) -> ServingContext:
        """Build the context of ``settings`` and load every family's model (or those named).

        A family whose model cannot be loaded yet (no champion) is still created; ``/readyz`` reports it and the
        poll loads it once the registry has it.
        """
        from serving.ast_lock import serialize_ast_parse
        from serving.clients import ApiKeyStore
        from serving.data_management import recent_readings
        from serving.families import family_class
        from serving.families.mlflow_models import configure_registry

        serialize_ast_parse()  # before the service's threads start: see serving.ast_lock
        serving = settings.serving
        lake = Lake.from_settings(settings.storage)
        recent = partial(recent_readings, serving.state_dir)
        context = cls(
            settings=settings,
            lake=lake,
            clients=ApiKeyStore.from_settings(settings),
            homes=HomeDirectory.from_lake(lake, serving.state_dir),
            history=HistoryReader(lake, settings.prep.n_buckets, serving.history_days, recent),
        )
        context._homes_signature = context._curated_signature()
        context.features, context.online_readers, context.feature_store_error = open_feature_store(settings)
        configure_registry(settings.training)
        for name in family_names or _all_families():
            family = family_class(name)(context)
            family.refresh()
            context.families[name] = family
        context.warm()
        return context

    @property
    def lake_token(self) -> Any:
        """Changes whenever ``eliq prep run`` rewrote the curated zone (checked at each poll and reload)."""
        return self._homes_signature

    def warm(self) -> None:
        """Let each family that stores its forecasts compute them in the background (``serving.warm_forecasts``)."""
        if not self.settings.serving.warm_forecasts:
            return
        for family in self.families.values():
            warm = getattr(family, "warm_in_background", None)
            if warm is not None:
                warm()

    def reload(self, force: bool = False) -> dict[str, Any]:
        """Reload every family whose alias moved (all when ``force``) and the curated homes if they changed.

        Returns:
            ``families``: each family's status plus ``reloaded``; ``homes``: the number of homes known.
        """
        report = {}
        for name, family in self.families.items():
            reloaded = family.refresh(force)
            report[name] = {**family.status(), "reloaded": reloaded}
        lake_changed = self._refresh_homes(force)
        if lake_changed or any(r["reloaded"] for r in report.values()):
            self.warm()
        return {"families": report, "homes": len(self.homes)}

    def readiness(self) -> dict[str, Any]:
        """Whether the service can answer: each family's loaded version, the lake and the online store reached."""
        families = {name: family.status() for name, family in self.families.items()}
        lake = self._lake_status()
        online = self._online_status()
        ready = bool(families) and all(f["ready"] for f in families.values()) and lake["reached"]
        ready = ready and online["reached"] is not False
        return {"ready": ready, "families": families, "lake": lake, "online_store": online}

    def start_polling(self) -> None:
        """Start the background alias poll (no-op when ``serving.reload_interval_s`` is 0 or it runs already)."""
        interval = float(self.settings.serving.reload_interval_s)
        if interval <= 0 or (self._poller is not None and self._poller.is_alive()):
            return
        self._poller = AliasPollerThread(interval, self.reload)
        self._poller.start()

    def stop_polling(self) -> None:
        if self._poller is not None:
            self._poller.stop()
            self._poller = None

    def _refresh_homes(self, force: bool) -> bool:
        """Re-read the curated homes when the lake changed (or ``force``); returns whether they changed."""
        try:
            signature = self._curated_signature()
            if force or signature != self._homes_signature:
                self.homes.refresh(curated_homes(self.lake))
                changed = signature != self._homes_signature
                self._homes_signature = signature
                return changed
        except Exception:  # the lake is unreachable for a moment: keep the homes known
            log.exception("refreshing the curated homes failed")
        return False

    def _curated_signature(self) -> Any:
        path = self.lake.path(Zone.CURATED, "homes", "homes.parquet")
        if not self.lake.exists(path):
            return None
        info = self.lake.fs.info(path)
        return info.get("size"), info.get("mtime") or info.get("last_modified") or info.get("etag")

    def _lake_status(self) -> dict[str, Any]:
        try:
            present = self.lake.exists(self.lake.path(Zone.CURATED, "homes", "homes.parquet"))
        except Exception as err:
            return {"reached": False, "detail": f"the lake cannot be read: {type(err).__name__}"}
        return {"reached": True, "curated_homes": present, "homes": len(self.homes)}

    def _online_status(self) -> dict[str, Any]:
        """``reached`` is ``None`` when the feature store is not applied: forecasts do not need it."""
        reader = self.online_readers.get("live_v1")
        if reader is None:
            return {"applied": False, "reached": None, "detail": self.feature_store_error}
        try:
            reader.read(["readyz-probe"])
        except Exception as err:
            return {"applied": True, "reached": False, "detail": f"online read failed: {type(err).__name__}"}
        return {"applied": True, "reached": True, "backend": reader.backend}


def open_feature_store(settings: Any) -> tuple[Any, dict[str, Any], str | None]:
    """The feature store adapter and its online readers, or ``(None, {}, why)`` when it is not applied.

    A file registry that does not exist means ``eliq features apply`` never ran: Feast is then not even imported.
    """
    features = settings.features
    try:
        from features.store_config import layout_for

        lake = Lake.from_settings(settings.storage)
        if features.registry == "file":
            registry = Path(features.registry_path or layout_for(lake, features).repo_dir / "registry.db")
            if not registry.is_file():
                return None, {}, "the feature store is not applied (run `eliq features apply`)"
        from features.store import FeatureStoreAdapter

        adapter = FeatureStoreAdapter.from_settings(settings)
        readers = {service: adapter.online_reader(service) for service in ONLINE_SERVICES}
    except Exception as err:  # forecasts do not need Feast: serve without it and say why in /readyz
        log.warning("serving without the feature store: %s", err)
        return None, {}, f"the feature store is unavailable: {err}"
    return adapter, readers, None


def _all_families() -> list[str]:
    from serving.families import FAMILIES

    return list(FAMILIES)


class AliasPollerThread(threading.Thread):
    """Calls ``reload`` every ``interval_s`` seconds until stopped (a daemon: it never holds the process up).

    Args:
        interval_s: seconds between polls [s].
        reload: what each poll calls; an exception is logged and the poll goes on.
    """

    def __init__(self, interval_s: float, reload: Callable[[], Any]) -> None:
        super().__init__(name="eliq-alias-poll", daemon=True)
        self.interval_s = interval_s
        self.reload = reload
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval_s):
            try:
                self.reload()
            except Exception:
                log.exception("the alias poll failed")

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)
