"""The workflow as an Azure ML pipeline: one command component per step, wired by their record folders, and the
daily schedule.

A component runs ``python -m pipelines.cli --config <config> pipeline step <name> --upstream <record folder>… --out
<record folder>`` in the uploaded project folder: the step function of :mod:`pipelines.workflow`, with the upstream
steps' output records as its explicit inputs and its own record as its output. The pipeline only connects those
folders. The data itself moves through the lake (``storage.root``, an ``abfs://`` URI in the cloud config) and the
MLflow registry, as it does locally.

Invariants:
    Components are not deterministic for Azure ML (``is_deterministic=False``): the lake and the registry change
    between runs without the pipeline's inputs changing, so a cached step output would be stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from contracts.config import Settings
from contracts.pipeline_settings import AzurePipelineSettings, ScheduleSettings
from pipelines.azure.environment import environment_reference
from pipelines.workflow import WORKFLOW, StepSpec, Workflow

CONFIG_INPUT = "config"
RAW_INPUT = "raw_input"
RECORD_OUTPUT = "record"
PIPELINE_NAME = "eliq_workflow"
COMPONENT_PREFIX = "eliq_"


def step_command(spec: StepSpec, wired: Sequence[str]) -> str:
    """The component's command line: the step through the ``eliq`` CLI, inputs and output as paths.

    Args:
        spec: the step.
        wired: the keyword inputs of ``spec`` whose upstream step is in the pipeline.
    """
    parts = [f"python -m pipelines.cli --config ${{{{inputs.{CONFIG_INPUT}}}}} pipeline step {spec.name}"]
    if "input_uri" in spec.params:
        parts.append(f"--input ${{{{inputs.{RAW_INPUT}}}}}")
    parts += [f"--upstream ${{{{inputs.{kw}}}}}" for kw in wired]
    parts.append(f"--out ${{{{outputs.{RECORD_OUTPUT}}}}}")
    return " ".join(parts)


def step_component(spec: StepSpec, wired: Sequence[str], azure: AzurePipelineSettings, code: str) -> Any:
    """The command component of one step (an ``azure.ai.ml`` command builder).

    Args:
        spec: the step.
        wired: its keyword inputs fed by upstream steps of the pipeline.
        azure: the Azure settings (environment, compute, variables).
        code: the project folder uploaded as the component's code.
    """
    from azure.ai.ml import Input, Output, command

    inputs: dict[str, Any] = {CONFIG_INPUT: Input(type="uri_file", description="the eliq config (eliq.yaml)")}
    if "input_uri" in spec.params:
        inputs[RAW_INPUT] = Input(type="uri_folder", description="the raw input folder")
    for kw in wired:
        inputs[kw] = Input(type="uri_folder", description=f"the record of step {spec.inputs[kw]!r}")
    return command(
        name=f"{COMPONENT_PREFIX}{spec.name}",
        display_name=spec.name,
        description=spec.summary,
        command=step_command(spec, wired),
        inputs=inputs,
        outputs={RECORD_OUTPUT: Output(type="uri_folder", description=f"the record of step {spec.name!r}")},
        environment=environment_reference(azure.environment),
        environment_variables=dict(azure.environment_variables),
        compute=azure.compute_for(spec.name),
        code=code,
        is_deterministic=False,
    )


def build_pipeline_job(
    settings: Settings,
    *,
    config_path: str,
    code_dir: str,
    steps: Sequence[str] | None = None,
    workflow: Workflow = WORKFLOW,
) -> Any:
    """The pipeline job (``azure.ai.ml.entities.PipelineJob``) of the selected steps, wired as in the workflow.

    Args:
        settings: the eliq settings (``pipeline.azure`` is read).
        config_path: the eliq config the cloud steps read (a local file, uploaded at submit).
        code_dir: the project folder uploaded as the components' code.
        steps: the steps; ``None`` = ``pipeline.steps``.
        workflow: the workflow definition.
    """
    from azure.ai.ml import Input, dsl

    azure = settings.pipeline.azure
    specs = workflow.select(list(steps or settings.pipeline.steps))
    names = {s.name for s in specs}
    wiring = {s.name: [kw for kw, up in s.inputs.items() if up in names] for s in specs}
    components = {s.name: step_component(s, wiring[s.name], azure, code_dir) for s in specs}

    def eliq_workflow(config: Any, raw_input: Any) -> dict[str, Any]:
        nodes: dict[str, Any] = {}
        for spec in specs:
            kwargs: dict[str, Any] = {CONFIG_INPUT: config}
            if "input_uri" in spec.params:
                kwargs[RAW_INPUT] = raw_input
            for kw in wiring[spec.name]:
                kwargs[kw] = nodes[spec.inputs[kw]].outputs[RECORD_OUTPUT]
            node = components[spec.name](**kwargs)
            node.name = spec.name
            nodes[spec.name] = node
        return {f"{specs[-1].name}_record": nodes[specs[-1].name].outputs[RECORD_OUTPUT]}

    # the annotations dsl reads must be the classes, not the strings of postponed evaluation
    eliq_workflow.__annotations__ = {"config": Input, "raw_input": Input}
    pipeline = dsl.pipeline(
        eliq_workflow,
        name=PIPELINE_NAME,
        display_name="eliq workflow",
        description=" → ".join(s.name for s in specs),
        experiment_name=azure.experiment_name,
        default_compute=azure.default_compute,
    )
    job = pipeline(
        config=Input(type="uri_file", path=config_path),
        raw_input=Input(type="uri_folder", path=azure.input_uri),
    )
    return job


class ScheduleError(ValueError):
    """The schedule's settings are not valid for Azure ML; the message says which and what is."""


def build_schedule(schedule: ScheduleSettings, create_job: Any) -> Any:
    """The daily schedule (``azure.ai.ml.entities.JobSchedule`` with a ``CronTrigger``) of ``create_job``.

    Args:
        schedule: the cron expression, Azure ML time zone and name.
        create_job: the pipeline job, or the path of its YAML file.

    Raises:
        ScheduleError: an unknown time zone or a cron expression without five fields.
    """
    from azure.ai.ml.constants import TimeZone
    from azure.ai.ml.entities import CronTrigger, JobSchedule

    zones = {z.value for z in TimeZone}
    if schedule.time_zone not in zones:
        raise ScheduleError(
            f"pipeline.schedule.time_zone {schedule.time_zone!r} is not an Azure ML time zone; use a Windows name "
            "such as 'UTC', 'W. Europe Standard Time' or 'GMT Standard Time'"
        )
    if len(schedule.cron.split()) != 5:
        raise ScheduleError(
            f"pipeline.schedule.cron {schedule.cron!r} needs five fields: min hour day month wday"
        )
    return JobSchedule(
        name=schedule.name,
        display_name="eliq daily workflow",
        description=f"eliq workflow at '{schedule.cron}' ({schedule.time_zone})",
        trigger=CronTrigger(expression=schedule.cron, time_zone=schedule.time_zone),
        create_job=create_job,
        is_enabled=schedule.enabled,
    )
