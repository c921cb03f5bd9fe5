"""Typed settings of the workflow runner (the ``pipeline:`` section of ``eliq.yaml``).

Nested keys follow the rest of the configuration: ``ELIQ_PIPELINE__RUNS_DIR=/srv/eliq/runs``,
``ELIQ_PIPELINE__AZURE__WORKSPACE__SUBSCRIPTION_ID=…``. The workspace identifiers are not secrets, but they differ per
deployment, so they usually come from the environment or a workspace ``config.json``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

WORKFLOW_STEPS = ("prep", "features", "train", "evaluate", "register", "score", "monitor")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ScheduleSettings(_Frozen):
    """When the whole workflow runs by itself (the Azure ML schedule; locally, the cron line in the docs).

    Attributes:
        name: the schedule's name in the workspace.
        cron: a five-field cron expression (minute hour day month weekday), read in ``time_zone``.
        time_zone: Azure ML's time-zone name (Windows names, e.g. ``W. Europe Standard Time``, ``UTC``).
        enabled: ``False`` creates the schedule disabled.
    """

    name: str = "eliq-daily"
    cron: str = "0 5 * * *"
    time_zone: str = "W. Europe Standard Time"
    enabled: bool = True


class AzureWorkspaceSettings(_Frozen):
    """Which Azure ML workspace ``eliq pipeline submit --azure`` talks to: the three identifiers, or a workspace
    ``config.json`` (as downloaded from the portal or written by ``az ml``).

    Attributes:
        subscription_id: the Azure subscription.
        resource_group: the workspace's resource group.
        workspace_name: the workspace.
        config_path: a workspace ``config.json``; used when the three identifiers are not all set.
    """

    subscription_id: str | None = None
    resource_group: str | None = None
    workspace_name: str | None = None
    config_path: str | None = None


class AzureEnvironmentSettings(_Frozen):
    """The Azure ML environment every component runs in: a base image plus a conda file whose pip list is the
    project's locked dependencies.

    Attributes:
        name: the environment's name in the workspace.
        version: its version; bump it when the lock file changes.
        image: the base Docker image.
        lock_file: the uv lock file the pinned pip requirements are read from (relative to the working folder).
        python: the Python version of the conda environment.
    """

    name: str = "eliq"
    version: str = "1"
    image: str = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
    lock_file: str = "uv.lock"
    python: str = "3.11"


class AzurePipelineSettings(_Frozen):
    """The workflow as an Azure ML pipeline job and its daily schedule.

    Attributes:
        workspace: the workspace to submit to.
        experiment_name: the experiment the pipeline jobs are filed under.
        default_compute: the compute cluster of every step without its own entry in ``compute``.
        compute: step name → compute cluster (e.g. a bigger one for ``train``).
        environment: the components' environment.
        code_dir: the project folder uploaded as the components' code (its ``.gitignore`` keeps data out).
        config_file: the eliq config the cloud steps read (a pipeline input, uploaded at submit); its
            ``storage.root`` should be the ``abfs://`` lake and ``training.tracking_uri`` a shared server.
        input_uri: the raw input folder ``prep`` reads, as an Azure ML path
            (``azureml://datastores/<store>/paths/<folder>/``).
        environment_variables: set in every component, e.g. ``ELIQ_ENVIRONMENT: azure``; no secrets here (use the
            compute's managed identity).
    """

    workspace: AzureWorkspaceSettings = Field(default_factory=AzureWorkspaceSettings)
    experiment_name: str = "eliq-pipeline"
    default_compute: str = "cpu-cluster"
    compute: dict[str, str] = Field(default_factory=dict)
    environment: AzureEnvironmentSettings = Field(default_factory=AzureEnvironmentSettings)
    code_dir: str = "."
    config_file: str = "eliq.yaml"
    input_uri: str = "azureml://datastores/workspaceblobstore/paths/eliq/input/"
    environment_variables: dict[str, str] = Field(default_factory=lambda: {"ELIQ_ENVIRONMENT": "azure"})

    def compute_for(self, step: str) -> str:
        """The compute cluster ``step`` runs on."""
        return self.compute.get(step, self.default_compute)


class PipelineSettings(_Frozen):
    """The workflow prep → features → train → evaluate → register → score → monitor, run locally, as MLflow projects
    or on Azure ML.

    Attributes:
        runs_dir: where local runs keep their run records (``<runs_dir>/<run id>/run.json``) and step outputs.
        steps: the steps ``eliq pipeline run`` runs when ``--steps`` is not given, in workflow order.
        input_uri: the raw input folder ``prep`` reads when ``--input`` is not given.
        truth_uri: the sample data's ``_truth`` folder, to score the quality framework (sample data only).
        score_clients: the clients batch-scored by ``score``; empty = every client of the curated homes.
        score_alias: the registry alias ``score`` forecasts with.
        evaluate_reuses_training: when ``train`` ran in the same run on the same data, ``evaluate`` records its
            backtest (the same configuration on the same rows) instead of computing it again; ``False`` always
            backtests.
        schedule: the daily schedule.
        azure: the Azure ML pipeline.
    """

    runs_dir: str = "pipeline_runs"
    steps: tuple[str, ...] = WORKFLOW_STEPS
    input_uri: str | None = None
    truth_uri: str | None = None
    score_clients: tuple[str, ...] = ()
    score_alias: str = "champion"
    evaluate_reuses_training: bool = True
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    azure: AzurePipelineSettings = Field(default_factory=AzurePipelineSettings)

    @field_validator("steps")
    @classmethod
    def _known_steps(cls, steps: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [s for s in steps if s not in WORKFLOW_STEPS]
        if unknown:
            raise ValueError(f"unknown steps {unknown}; the workflow's steps are {', '.join(WORKFLOW_STEPS)}")
        return steps
