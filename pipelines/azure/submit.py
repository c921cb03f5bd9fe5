"""``eliq pipeline submit --azure``: the compiled pipeline (and, on request, its schedule) sent to a workspace.

The workspace comes from ``pipeline.azure.workspace``: its three identifiers, or a workspace ``config.json``.
Authentication is azure-identity's ``DefaultAzureCredential`` (``az login``, a managed identity or the
``AZURE_CLIENT_ID``/``AZURE_TENANT_ID``/``AZURE_CLIENT_SECRET`` variables). Nothing here touches the network until
:func:`submit_azure` sends the job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.pipeline_settings import AzureWorkspaceSettings
from pipelines.azure.compile import CompiledPipeline, load_compiled

WORKSPACE_KEYS = ("subscription_id", "resource_group", "workspace_name")
ENV_PREFIX = "ELIQ_PIPELINE__AZURE__WORKSPACE__"


class WorkspaceConfigError(RuntimeError):
    """No usable workspace configuration; the message says exactly what is missing and where to set it."""


@dataclass(frozen=True)
class WorkspaceIdentity:
    """Which workspace to talk to.

    Attributes:
        subscription_id: the subscription.
        resource_group: the resource group.
        workspace_name: the workspace.
        source: where these came from (settings or a config file).
    """

    subscription_id: str
    resource_group: str
    workspace_name: str
    source: str


def workspace_identity(workspace: AzureWorkspaceSettings) -> WorkspaceIdentity:
    """The workspace from the settings' identifiers, else from the ``config.json`` at ``config_path``.

    Raises:
        WorkspaceConfigError: neither is complete; the message names each missing key or file.
    """
    given = {k: getattr(workspace, k) for k in WORKSPACE_KEYS}
    if all(given.values()):
        return WorkspaceIdentity(**given, source="settings")
    if workspace.config_path is None:
        missing = [k for k, v in given.items() if not v]
        raise WorkspaceConfigError(
            "no Azure ML workspace configured: missing "
            + ", ".join(f"pipeline.azure.workspace.{k}" for k in missing)
            + f" (e.g. {ENV_PREFIX}{missing[0].upper()}=…), or set pipeline.azure.workspace.config_path to a "
            "workspace config.json (download it from the workspace's page in the Azure portal)"
        )
    return _from_config_file(Path(workspace.config_path), given)


def _from_config_file(path: Path, given: dict[str, str | None]) -> WorkspaceIdentity:
    if not path.is_file():
        raise WorkspaceConfigError(
            f"workspace config file not found: {path} (pipeline.azure.workspace.config_path); download config.json "
            "from the workspace's page in the Azure portal, or set the three identifiers instead"
        )
    try:
        values = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise WorkspaceConfigError(f"workspace config file {path} is not JSON: {err}") from err
    merged = {k: given[k] or values.get(k) for k in WORKSPACE_KEYS}
    missing = [k for k, v in merged.items() if not v]
    if missing:
        raise WorkspaceConfigError(f"workspace config file {path} has no {', '.join(missing)}")
    return WorkspaceIdentity(**{k: str(v) for k, v in merged.items()}, source=str(path))


def ml_client(identity: WorkspaceIdentity, credential: Any = None) -> Any:
    """An ``azure.ai.ml.MLClient`` for the workspace (built offline; the credential is used on the first call)."""
    from azure.ai.ml import MLClient

    if credential is None:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    return MLClient(
        credential,
        subscription_id=identity.subscription_id,
        resource_group_name=identity.resource_group,
        workspace_name=identity.workspace_name,
    )


@dataclass(frozen=True)
class SubmitOutcome:
    """What was created in the workspace.

    Attributes:
        job_name: the pipeline job's name.
        studio_url: its page in Azure ML studio.
        schedule_name: the schedule created or updated (``None``: not asked).
    """

    job_name: str
    studio_url: str | None
    schedule_name: str | None


def submit_azure(client: Any, compiled: CompiledPipeline, *, schedule: bool) -> SubmitOutcome:
    """Create the environment, submit the pipeline job and, if asked, create or update the daily schedule.

    Args:
        client: an ``MLClient`` (:func:`ml_client`).
        compiled: the compiled files (what was validated is what is sent).
        schedule: also create or update the schedule.
    """
    loaded = load_compiled(compiled)
    client.environments.create_or_update(loaded.environment)
    job = client.jobs.create_or_update(loaded.job, experiment_name=loaded.job.experiment_name)
    schedule_name = None
    if schedule:
        created = client.schedules.begin_create_or_update(loaded.schedule).result()
        schedule_name = created.name
    return SubmitOutcome(job.name, getattr(job, "studio_url", None), schedule_name)
