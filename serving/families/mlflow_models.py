"""The MLflow registry as the service sees it: which version an alias points at, and that version's pyfunc model.

A thin adapter: the model families call it and never import MLflow themselves. MLflow is imported on first use.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from contracts.training_settings import TrainingSettings

log = logging.getLogger(__name__)


def configure_registry(training: TrainingSettings) -> str:
    """Point MLflow's tracking and registry at the settings' backend (``training.backend_uri()``)."""
    import mlflow

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri = training.backend_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


@dataclass(frozen=True)
class LoadedModel:
    """A registered model version loaded into this process.

    Attributes:
        name: the registered model.
        alias: the alias it was loaded through.
        version: the version number.
        model: the MLflow pyfunc model.
        loaded_at: when it was loaded [s since the epoch].
    """

    name: str
    alias: str
    version: str
    model: Any
    loaded_at: float


class AliasedModelLoader:
    """Keeps the version behind one alias of one registered model loaded, and reloads it when the alias moves.

    Args:
        name: the registered model (``eliq-forecast``).
        alias: the alias served (``champion``).

    Attributes:
        current: the loaded model; ``None`` before the first successful load.
        error: why the last load or registry lookup failed; ``None`` after a success.
    """

    def __init__(self, name: str, alias: str) -> None:
        self.name = name
        self.alias = alias
        self.current: LoadedModel | None = None
        self.error: str | None = None
        self._lock = threading.Lock()  # one reload at a time; requests keep using ``current`` meanwhile

    def registered_version(self) -> str | None:
        """The version the alias points at now; ``None`` when the model or the alias does not exist."""
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        try:
            return str(MlflowClient().get_model_version_by_alias(self.name, self.alias).version)
        except MlflowException:
            return None

    def refresh(self, force: bool = False) -> bool:
        """Load the alias's version if it differs from the loaded one (or ``force``); returns whether it did.

        A failure keeps the model loaded before (if any) and is recorded in :attr:`error`; it never raises.
        """
        with self._lock:
            try:
                version = self.registered_version()
            except Exception as err:  # the registry database is unreachable: keep serving what is loaded
                return self._failed(f"the model registry cannot be read: {type(err).__name__}")
            if version is None:
                return self._failed(f"{self.name} has no {self.alias!r} version in the registry")
            if not force and self.current is not None and self.current.version == version:
                self.error = None
                return False
            try:
                model = self._load(version)
            except Exception as err:
                log.exception("loading %s version %s failed", self.name, version)
                return self._failed(
                    f"{self.name} version {version} could not be loaded: {type(err).__name__}"
                )
            previous = self.current.version if self.current else None
            self.current = LoadedModel(self.name, self.alias, version, model, time.time())
            self.error = None
            log.info("serving %s version %s (%s; was %s)", self.name, version, self.alias, previous)
            return True

    def _load(self, version: str) -> Any:
        import mlflow.pyfunc

        return mlflow.pyfunc.load_model(f"models:/{self.name}/{version}")

    def _failed(self, message: str) -> bool:
        self.error = message
        log.warning(message)
        return False
