"""MLflow tracking: where runs go, and what every training run records about its code and data.

The backend store is ``training.tracking_uri``: a SQLite file by default (no server), PostgreSQL by configuration.
Experiments are created with their artifact location under ``training.artifact_root``, so runs and models of one
deployment stay together whatever folder a command runs from.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

from contracts.storage import Lake, Zone


def configure_tracking(training: Any) -> str:
    """Point MLflow's tracking and registry at ``training.tracking_uri`` (creating a SQLite file's folder)."""
    import mlflow

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # a bar per tiny download is noise
    uri = str(training.backend_uri())
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def experiment_id(training: Any, family: str) -> str:
    """The id of the family's experiment (``<prefix>-<family>``), created on first use."""
    import mlflow

    name = f"{training.experiment_prefix}-{family}"
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = Path(training.artifact_root).resolve() / name
    return str(mlflow.create_experiment(name, artifact_location=location.as_uri()))


def registered_model_name(training: Any, family: str) -> str:
    """The registry name of a model family (``eliq-forecast``)."""
    return f"{training.registry_prefix}-{family}"


def git_commit(folder: str | Path | None = None) -> str:
    """The commit of the code (``-dirty`` when the work tree has changes), or ``unknown`` outside git."""
    cwd = Path(folder) if folder else Path(__file__).resolve().parents[2]
    try:
        commit = _git(cwd, "rev-parse", "HEAD")
        dirty = bool(_git(cwd, "status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=10)
    return done.stdout.strip()


def data_snapshot_id(lake: Lake, folders: tuple[str, ...] = ("consumption_hourly", "homes")) -> str:
    """A hash of the curated inputs: every file's path (relative to the lake) and bytes, in sorted order.

    Two runs with the same id read the same bytes; any rewritten partition changes it.
    """
    digest = hashlib.blake2b(digest_size=16)
    for folder in folders:
        root = lake.path(Zone.CURATED, folder)
        for path in sorted(lake.glob(f"{root}/**/*.parquet")):
            digest.update(path.removeprefix(lake.root).encode())
            with lake.fs.open(path, "rb") as file:
                while block := file.read(1 << 22):
                    digest.update(block)
    return digest.hexdigest()
