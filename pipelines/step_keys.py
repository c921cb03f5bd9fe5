"""The key of a step execution: what a resumed run compares to decide that a succeeded step need not run again.

A key digests the step's params (and the listing of any input folder they name: new files change it), the outputs
of the upstream steps it reads (a re-executed upstream step changes them), and the settings that can change a
result (everything but the ``pipeline`` section).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from contracts.config import Settings
from pipelines.steps.context import StepOutput
from pipelines.workflow import StepSpec


def digest(value: Any) -> str:
    """A short, stable digest of JSON-able ``value``."""
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def settings_digest(settings: Settings) -> str:
    """Digest of every setting that can change a step's result (the ``pipeline`` section cannot)."""
    return digest(settings.model_dump(mode="json", exclude={"pipeline"}))


def listing_digest(uri: str) -> str | None:
    """Digest of the names and sizes of the files under ``uri`` (``None``: not an existing path)."""
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(uri)
        if not fs.exists(root):
            return None
        found = fs.find(root, detail=True)
    except (OSError, ValueError, ImportError):
        return None
    return digest(sorted((name.removeprefix(root), info.get("size")) for name, info in found.items()))


def step_key(spec: StepSpec, params: Mapping[str, Any], upstream: Mapping[str, StepOutput], base: str) -> str:
    """The key of one execution of ``spec``: its params (with their input listings), upstream outputs, settings."""
    return digest({"step": spec.name, "settings": base, **step_inputs(spec, params, upstream)})


def step_inputs(
    spec: StepSpec, params: Mapping[str, Any], upstream: Mapping[str, StepOutput]
) -> dict[str, Any]:
    """What the step reads, as recorded: its params, their input listings, and a digest per upstream output."""
    own = {name: params.get(name) for name in spec.params}
    listings = {name: listing_digest(str(v)) for name, v in own.items() if v}
    ups = {
        step: digest(upstream[step].model_dump(mode="json"))
        for step in spec.inputs.values()
        if step in upstream
    }
    return {"params": own, "listings": listings, "upstream": ups}
