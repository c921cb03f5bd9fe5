"""``eliq pipeline compile --azure``: the Azure ML pipeline written to YAML offline (no workspace, no network) and
validated by loading it back with azure-ai-ml's own loaders.

Layout of the output folder (every file is what ``az ml … create -f`` takes)::

    pipeline.yml          the pipeline job: one command component per step, inline, wired by record folders
    schedule.yml          the daily schedule (cron trigger) of ./pipeline.yml
    environment.yml       the environment: base image + conda.yml
    conda.yml             Python, pip and the locked runtime requirements (from uv.lock)
    components/<step>.yml each step's command component, for registering them on their own

Paths inside (the project folder uploaded as code, the eliq config) are relative to the output folder.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from contracts.config import Settings
from pipelines.azure.components import CONFIG_INPUT, build_pipeline_job, build_schedule
from pipelines.azure.environment import conda_spec

SCHEMAS = {
    "pipeline": "https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json",
    "component": "https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json",
    "environment": "https://azuremlschemas.azureedge.net/latest/environment.schema.json",
    "schedule": "https://azuremlschemas.azureedge.net/latest/schedule.schema.json",
}


class CompileError(ValueError):
    """An input of the compilation is missing, or azure-ai-ml rejected what was written."""


@dataclass(frozen=True)
class CompiledPipeline:
    """The files written by :func:`compile_azure`.

    Attributes:
        out_dir: the output folder.
        pipeline: the pipeline job.
        schedule: the schedule.
        environment: the environment.
        conda: its conda file.
        components: step name → its component file.
    """

    out_dir: Path
    pipeline: Path
    schedule: Path
    environment: Path
    conda: Path
    components: dict[str, Path] = field(default_factory=dict)


def compile_azure(
    settings: Settings,
    out_dir: str | Path,
    *,
    config_path: str | Path | None = None,
    code_dir: str | Path | None = None,
    lock_file: str | Path | None = None,
    steps: Sequence[str] | None = None,
) -> CompiledPipeline:
    """Write the pipeline, its components, environment and schedule to ``out_dir`` and validate them.

    Args:
        settings: the eliq settings (``pipeline.azure`` and ``pipeline.schedule`` are read).
        out_dir: the output folder (created).
        config_path: the eliq config of the cloud steps; ``None`` = ``pipeline.azure.config_file``.
        code_dir: the project folder; ``None`` = ``pipeline.azure.code_dir``.
        lock_file: the uv lock file; ``None`` = ``pipeline.azure.environment.lock_file``.
        steps: the steps; ``None`` = ``pipeline.steps``.

    Raises:
        CompileError: the config, project folder or lock file is missing, or a written file does not load.
    """
    with quiet_sdk():
        return _compile(settings, Path(out_dir).resolve(), config_path, code_dir, lock_file, steps)


def _compile(
    settings: Settings,
    out: Path,
    config_path: str | Path | None,
    code_dir: str | Path | None,
    lock_file: str | Path | None,
    steps: Sequence[str] | None,
) -> CompiledPipeline:
    azure = settings.pipeline.azure
    config = _existing(config_path or azure.config_file, "the cloud steps' eliq config")
    code = _existing(code_dir or azure.code_dir, "the project folder")
    lock = _existing(lock_file or azure.environment.lock_file, "the lock file")
    (out / "components").mkdir(parents=True, exist_ok=True)
    conda = out / "conda.yml"
    _write_yaml(conda, conda_spec(azure.environment, lock))
    environment = out / "environment.yml"
    _write_yaml(environment, _environment_dict(settings, conda.name))
    job = build_pipeline_job(settings, config_path=str(config), code_dir=str(code), steps=steps)
    pipeline = out / "pipeline.yml"
    job.dump(pipeline)
    _relocate(pipeline, "pipeline", code, out, config)
    components: dict[str, Path] = {}
    for name, node in job.jobs.items():
        components[name] = out / "components" / f"{name}.yml"
        node.component.dump(components[name])
        _relocate(components[name], "component", code, out / "components", None)
    schedule = out / "schedule.yml"
    build_schedule(settings.pipeline.schedule, f"./{pipeline.name}").dump(schedule)
    _patch_yaml(schedule, lambda d: d.update(create_job=f"./{pipeline.name}"), SCHEMAS["schedule"])
    compiled = CompiledPipeline(out, pipeline, schedule, environment, conda, components)
    load_compiled(compiled)
    return compiled


@dataclass(frozen=True)
class LoadedPipeline:
    """The compiled files as azure-ai-ml loads them (what ``az ml`` or ``MLClient`` would submit).

    Attributes:
        job: the pipeline job (``PipelineJob``).
        schedule: the schedule (``JobSchedule``), its ``create_job`` loaded from ``pipeline.yml``.
        environment: the environment.
        components: step name → its component (``CommandComponent``).
    """

    job: Any
    schedule: Any
    environment: Any
    components: dict[str, Any]


def load_compiled(compiled: CompiledPipeline) -> LoadedPipeline:
    """Load every compiled file back with azure-ai-ml's loaders (schema validation, offline).

    Raises:
        CompileError: a file does not load; the message names it and azure-ai-ml's reason.
    """
    from azure.ai.ml import load_component, load_environment, load_job
    from azure.ai.ml.entities._load_functions import load_schedule

    def load(loader: Any, path: Path) -> Any:
        try:
            return loader(source=path)
        except Exception as err:  # azure-ai-ml raises marshmallow and its own validation errors
            raise CompileError(f"{path} does not validate: {err}") from err

    with quiet_sdk():
        return LoadedPipeline(
            job=load(load_job, compiled.pipeline),
            schedule=load(load_schedule, compiled.schedule),
            environment=load(load_environment, compiled.environment),
            components={name: load(load_component, path) for name, path in compiled.components.items()},
        )


@contextmanager
def quiet_sdk() -> Iterator[None]:
    """azure-ai-ml logs a warning per experimental schema class and per anonymous asset name; errors still show."""
    import azure.ai.ml  # noqa: F401  (its import sets the logger's level, so it comes first)

    logger = logging.getLogger("azure.ai.ml")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _existing(path: str | Path, what: str) -> Path:
    found = Path(path).resolve()
    if not found.exists():
        raise CompileError(f"{what} not found: {found}")
    return found


def _environment_dict(settings: Settings, conda_name: str) -> dict[str, Any]:
    env = settings.pipeline.azure.environment
    return {
        "$schema": SCHEMAS["environment"],
        "name": env.name,
        "version": env.version,
        "image": env.image,
        "conda_file": conda_name,
        "description": "eliq: the locked runtime dependencies of the project (uv.lock)",
    }


def _relocate(path: Path, kind: str, code: Path, base: Path, config: Path | None) -> None:
    """Make the code folder (and the config input) relative to ``base``, as ``az ml`` resolves them.

    azure-ai-ml dumps a local input path with an ``azureml:`` prefix (an asset reference), which would not load as
    the local file it is; the path is rewritten here.
    """
    code_rel = os.path.relpath(code, base)

    def fix(data: dict[str, Any]) -> None:
        if kind == "component":
            data["code"] = code_rel
            return
        if config is not None:
            data["inputs"][CONFIG_INPUT]["path"] = os.path.relpath(config, base)
        for node in data["jobs"].values():
            node["component"]["code"] = code_rel

    _patch_yaml(path, fix, SCHEMAS[kind])


def _patch_yaml(path: Path, change: Any, schema: str | None = None) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    _write_yaml(path, {"$schema": schema, **data} if schema else data)


def _write_yaml(path: Path, data: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
