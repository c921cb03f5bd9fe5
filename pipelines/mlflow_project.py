"""Running under ``mlflow run`` (the ``MLproject`` entry points).

``mlflow run`` creates a run and hands its id to the command in ``MLFLOW_RUN_ID``; the first ``mlflow.start_run``
of the process would then continue that run instead of the step's own (the training run in its experiment, the
promotion run …). The id is therefore taken out of the environment before a step starts, and once it ends the
project run is tagged with what the step did: its status, its record file and the identifiers of its own runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

RUN_ID_VAR = "MLFLOW_RUN_ID"
TRACKING_URI_VAR = "MLFLOW_TRACKING_URI"
TAG_PREFIX = "eliq."
MAX_TAG_CHARS = 5000


@dataclass(frozen=True)
class ProjectRun:
    """The run ``mlflow run`` created for this entry point.

    Attributes:
        run_id: its id.
        tracking_uri: the tracking server it lives in (``mlflow run``'s, not necessarily eliq's).
    """

    run_id: str
    tracking_uri: str | None


def detach_project_run() -> ProjectRun | None:
    """Take ``mlflow run``'s run out of the environment (``None`` when not launched by ``mlflow run``)."""
    run_id = os.environ.pop(RUN_ID_VAR, None)
    if not run_id:
        return None
    return ProjectRun(run_id, os.environ.get(TRACKING_URI_VAR))


def project_tags(
    kind: str, status: str, record_path: str, outputs: Mapping[str, Mapping[str, Any]]
) -> dict[str, str]:
    """Tags describing a step (or a whole run): status, record file and each step's scalar outputs.

    Args:
        kind: ``step:<name>`` or ``run:<run id>``.
        status: how it ended.
        record_path: the record file.
        outputs: step name → its output.
    """
    tags = {f"{TAG_PREFIX}kind": kind, f"{TAG_PREFIX}status": status, f"{TAG_PREFIX}record": record_path}
    for step, output in outputs.items():
        for key, value in output.items():
            if isinstance(value, str | int | float | bool):
                tags[f"{TAG_PREFIX}{step}.{key}"] = str(value)[:MAX_TAG_CHARS]
    return tags


def tag_project_run(project: ProjectRun, tags: Mapping[str, str]) -> None:
    """Set ``tags`` on the project run."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=project.tracking_uri)
    for key, value in tags.items():
        client.set_tag(project.run_id, key, value)
