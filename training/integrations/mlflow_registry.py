"""The MLflow model registry: the ``champion`` and ``challenger`` aliases of a model family, and their history.

- A newly trained model version becomes ``challenger``.
- A promotion moves ``champion`` to the challenger's version and appends the version to the registered model's
  ``champion_history`` tag, so that a rollback (one command) moves ``champion`` back to the version before.
- Every decision is also tagged on the challenger's version (``promotion.decision``, ``promotion.reasons``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

CHAMPION = "champion"
CHALLENGER = "challenger"
HISTORY_TAG = "champion_history"


class RegistryError(RuntimeError):
    """A registry operation that cannot be done (no challenger, nothing to roll back to); the message says why."""


@dataclass(frozen=True)
class AliasedVersion:
    """A model version behind an alias.

    Attributes:
        name: the registered model.
        alias: ``champion`` or ``challenger``.
        version: the version number.
        run_id: the run that logged it.
        source: the model's URI in its run.
    """

    name: str
    alias: str
    version: str
    run_id: str
    source: str

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def _client() -> Any:
    from mlflow import MlflowClient

    return MlflowClient()


def aliased(name: str, alias: str) -> AliasedVersion | None:
    """The version of ``name`` behind ``alias``, or ``None`` when the model or the alias does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        version = _client().get_model_version_by_alias(name, alias)
    except MlflowException:
        return None
    return AliasedVersion(name, alias, str(version.version), str(version.run_id), str(version.source))


def make_challenger(name: str, version: str) -> AliasedVersion:
    """Point ``challenger`` at ``version`` of ``name``."""
    client = _client()
    client.set_registered_model_alias(name, CHALLENGER, version)
    found = aliased(name, CHALLENGER)
    assert found is not None
    return found


def champion_history(name: str) -> list[str]:
    """The versions that have been champion, oldest first."""
    model = _client().get_registered_model(name)
    return [v for v in str(model.tags.get(HISTORY_TAG, "")).split(",") if v]


def record_decision(name: str, version: str, decision: dict[str, Any]) -> None:
    """Tag ``version`` with a promotion decision and its reasons."""
    client = _client()
    client.set_model_version_tag(
        name, version, "promotion.decision", "promoted" if decision["promote"] else "rejected"
    )
    client.set_model_version_tag(name, version, "promotion.reasons", json.dumps(decision["reasons"])[:5000])


def set_champion(name: str, version: str) -> AliasedVersion:
    """Make ``version`` the champion and append it to the history."""
    client = _client()
    history = champion_history(name)
    client.set_registered_model_alias(name, CHAMPION, version)
    client.set_registered_model_tag(name, HISTORY_TAG, ",".join([*history, version]))
    found = aliased(name, CHAMPION)
    assert found is not None
    return found


def rollback_champion(name: str) -> AliasedVersion:
    """Move ``champion`` back to the version that was champion before the current one.

    Raises:
        RegistryError: there is no earlier champion.
    """
    history = champion_history(name)
    current = aliased(name, CHAMPION)
    if current is None or len(history) < 2:
        raise RegistryError(f"{name} has no earlier champion to roll back to (history: {history or 'empty'})")
    client = _client()
    earlier = history[:-1]
    client.set_registered_model_alias(name, CHAMPION, earlier[-1])
    client.set_registered_model_tag(name, HISTORY_TAG, ",".join(earlier))
    found = aliased(name, CHAMPION)
    assert found is not None
    return found
