"""The Azure ML environment of the components: a base image and a conda file whose pip list is the project's
runtime dependencies exactly as locked in ``uv.lock`` (no dev tools), so the cloud runs what the tests ran."""

from __future__ import annotations

import tomllib
from collections import deque
from pathlib import Path
from typing import Any

from contracts.pipeline_settings import AzureEnvironmentSettings

PROJECT = "eliq"
Conditions = frozenset[str] | None  # ``None``: needed on every platform; else any of these markers


class LockFileError(ValueError):
    """The lock file is missing or does not hold the project."""


def locked_requirements(lock_file: str | Path, project: str = PROJECT) -> list[str]:
    """The pip requirements (``name==version`` with environment markers) of ``project``'s runtime closure.

    Args:
        lock_file: a uv lock file (``uv.lock``).
        project: the project whose non-dev dependencies (with their extras) are followed.

    Returns:
        One line per package, sorted by name, e.g. ``colorama==0.4.6 ; sys_platform == 'win32'``.

    Raises:
        LockFileError: the file is missing or has no package ``project``.
    """
    path = Path(lock_file)
    if not path.is_file():
        raise LockFileError(f"lock file not found: {path}")
    packages = {p["name"]: p for p in tomllib.loads(path.read_text())["package"]}
    if project not in packages:
        raise LockFileError(f"{path} has no package {project!r}")
    conditions = _closure(packages, project)
    lines = []
    for name in sorted(conditions):
        line = f"{name}=={packages[name]['version']}"
        marker = conditions[name]
        if marker:
            line += " ; " + " or ".join(f"({m})" for m in sorted(marker))
        lines.append(line)
    return lines


def _closure(packages: dict[str, dict[str, Any]], project: str) -> dict[str, Conditions]:
    """Every package reachable from ``project``'s dependencies, with the markers under which it is needed."""
    found: dict[str, Conditions] = {}
    queue: deque[tuple[dict[str, Any], Conditions]] = deque(
        (edge, None) for edge in packages[project].get("dependencies", [])
    )
    while queue:
        edge, parent = queue.popleft()
        name = edge["name"]
        needed = _and(parent, edge.get("marker"))
        merged = _or(found.get(name, frozenset()) if name in found else frozenset(), needed)
        if name in found and merged == found[name]:
            continue
        found[name] = merged
        package = packages[name]
        edges = list(package.get("dependencies", []))
        for extra in edge.get("extra", []):
            edges += package.get("optional-dependencies", {}).get(extra, [])
        queue.extend((child, merged) for child in edges)
    return found


def _and(parent: Conditions, marker: str | None) -> Conditions:
    if marker is None:
        return parent
    if parent is None:
        return frozenset({marker})
    return frozenset(f"({p}) and ({marker})" for p in parent)


def _or(current: Conditions, new: Conditions) -> Conditions:
    if current is None or new is None:
        return None
    return current | new


def conda_spec(settings: AzureEnvironmentSettings, lock_file: str | Path) -> dict[str, Any]:
    """The conda file: Python, pip, and the locked requirements."""
    return {
        "name": settings.name,
        "channels": ["conda-forge"],
        "dependencies": [
            f"python={settings.python}",
            "pip",
            {"pip": locked_requirements(lock_file)},
        ],
    }


def environment_reference(settings: AzureEnvironmentSettings) -> str:
    """How components name the environment: ``azureml:<name>:<version>``."""
    return f"azureml:{settings.name}:{settings.version}"


def build_environment(settings: AzureEnvironmentSettings, conda_file: str | Path) -> Any:
    """The ``azure.ai.ml.entities.Environment`` (image + conda file) that ``submit`` creates in the workspace."""
    from azure.ai.ml.entities import Environment

    return Environment(
        name=settings.name,
        version=settings.version,
        image=settings.image,
        conda_file=str(conda_file),
        description="eliq: the locked runtime dependencies of the project (uv.lock)",
    )
