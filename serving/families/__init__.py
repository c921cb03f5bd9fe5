"""Model families of the service: each is one module holding its endpoints and the model(s) it serves.

A family module defines a class following :class:`ModelFamily` and registers it in :data:`FAMILIES` by name. The
app mounts every registered family's router and the service loads every family at start-up, so adding a family
(usage breakdown, similar homes, solar) is one module and one line here. Family modules are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from fastapi import APIRouter

FAMILIES: dict[str, str] = {
    "forecast": "serving.families.forecast:ForecastFamily",
}
"""Family name → ``module:class`` of its implementation."""


class ModelFamily(Protocol):
    """What the service needs of a model family.

    The constructor takes the serving context (``ServingContext``) and only stores it; :meth:`refresh` loads.
    """

    name: str

    def __init__(self, context: Any) -> None: ...

    @classmethod
    def router(cls) -> APIRouter:
        """The family's endpoints; handlers find the loaded family in ``request.app.state.families[name]``."""
        ...

    def refresh(self, force: bool = False) -> bool:
        """Load the registered version(s) if they changed since the last load (or ``force``); return whether a
        model was (re)loaded. Never raises: a failure is reported by :meth:`status`."""
        ...

    def status(self) -> dict[str, Any]:
        """``ready`` (bool), the ``model`` name, ``alias`` and ``version`` loaded, and ``error`` when not ready."""
        ...


def family_class(name: str) -> type[ModelFamily]:
    """The class of the family registered as ``name``.

    Raises:
        KeyError: no family has that name.
    """
    module, _, attribute = FAMILIES[name].partition(":")
    cls: type[ModelFamily] = getattr(importlib.import_module(module), attribute)
    return cls


def family_classes() -> dict[str, type[ModelFamily]]:
    """Every registered family's class, by name."""
    return {name: family_class(name) for name in FAMILIES}
