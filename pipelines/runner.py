"""The local runner: ``eliq pipeline run``. Runs the selected steps of the workflow in order, resumably, and keeps
a run record (:mod:`pipelines.run_record`).

Resuming: ``run_workflow`` continues the latest run when it did not succeed (or the run named by ``run_id``), and
skips every step that already succeeded in that run with the same key. A step's key digests its params (and the
listing of any input folder they name), the outputs of the upstream steps it reads, and the settings, so a step
whose inputs changed runs again, and so does everything downstream of it.

Invariants:
    Steps run in workflow order and the run stops at the first failure; the record is written before and after
    each step, so a crash or ``Ctrl-C`` leaves the completed steps recorded.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from contracts.config import Settings
from pipelines.run_record import (
    STEP_RECORD_FILE,
    Invocation,
    RunRecord,
    RunStore,
    StepError,
    StepRecord,
    utc_now,
    write_atomic,
)
from pipelines.step_keys import settings_digest, step_inputs, step_key
from pipelines.steps.context import StepContext, StepOutput, StepProgress
from pipelines.workflow import RUN_PARAMS, WORKFLOW, StepSpec, Workflow, execute_step

SKIPPED_SAME_INPUTS = "succeeded earlier in this run with the same inputs"


class RunObserver(StepProgress, Protocol):
    """Progress of a whole run: the step events, and each step's own progress."""

    def step_started(self, name: str, index: int, total: int) -> None: ...

    def step_skipped(self, name: str, reason: str) -> None: ...

    def step_finished(self, name: str, seconds: float, output: StepOutput) -> None: ...

    def step_failed(self, name: str, error: BaseException) -> None: ...


class SilentObserver:
    """An observer that drops everything."""

    def update(self, stage: str, done: int, total: int) -> None:
        return None

    def note(self, message: str) -> None:
        return None

    def step_started(self, name: str, index: int, total: int) -> None:
        return None

    def step_skipped(self, name: str, reason: str) -> None:
        return None

    def step_finished(self, name: str, seconds: float, output: StepOutput) -> None:
        return None

    def step_failed(self, name: str, error: BaseException) -> None:
        return None


class StepFailedError(RuntimeError):
    """A step raised; the run record (marked failed) is saved. The original exception is the ``__cause__``.

    Attributes:
        step: the step that failed.
        record: the saved run record.
        record_path: where it is.
    """

    def __init__(self, step: str, record: RunRecord, record_path: str, error: BaseException) -> None:
        super().__init__(f"step {step!r} failed: {type(error).__name__}: {error}")
        self.step, self.record, self.record_path = step, record, record_path


class RunInProgressError(RuntimeError):
    """The run to resume is still running in another live process."""


def resolve_params(settings: Settings, params: Mapping[str, str | None] | None) -> dict[str, str | None]:
    """The run parameters with the configured defaults filled in (``pipeline.input_uri``, ``pipeline.truth_uri``).

    Raises:
        ValueError: an unknown parameter.
    """
    given = dict(params or {})
    unknown = [k for k in given if k not in RUN_PARAMS]
    if unknown:
        raise ValueError(f"unknown run parameters {unknown}; known: {', '.join(RUN_PARAMS)}")
    pipeline = settings.pipeline
    return {
        "input_uri": given.get("input_uri") or pipeline.input_uri,
        "truth_uri": given.get("truth_uri") or pipeline.truth_uri,
    }


def open_run(
    store: RunStore,
    settings: Settings,
    run_id: str | None,
    restart: bool,
    given: Mapping[str, str],
    config: str | None,
) -> RunRecord:
    """The record to run in: the named run, else the latest unfinished one (unless ``restart``), else a new one.

    A new run's params are ``given`` with the configured defaults; a resumed run keeps its params, except those
    ``given`` again.

    Raises:
        RunInProgressError: that run's latest invocation is still alive on this machine.
    """
    record: RunRecord | None = None
    if run_id is not None and store.record_path(run_id).is_file():
        record = store.load(run_id)
    elif run_id is None and not restart:
        latest = store.latest()
        record = latest if latest is not None and latest.status != "succeeded" else None
    if record is None:
        return RunRecord(
            run_id=run_id or store.new_run_id(),
            params={k: v for k, v in resolve_params(settings, given).items() if v is not None},
            config=config,
            settings_digest=settings_digest(settings),
            git_commit=_git_commit(),
        )
    if record.invocations and _alive(record.current):
        raise RunInProgressError(
            f"run {record.run_id} is still running (pid {record.current.pid}); wait, or pass --restart"
        )
    _mark_dead_invocation(record)
    record.params.update(given)
    record.settings_digest = settings_digest(settings)
    return record


def _mark_dead_invocation(record: RunRecord) -> None:
    """A record left ``running`` by a process that died (killed, power loss) is marked interrupted."""
    if record.invocations and record.current.status == "running":
        record.current.status = "interrupted"
        record.status = "interrupted"
        for step in record.steps.values():
            if step.status == "running":
                step.status = "interrupted"


def run_workflow(
    settings: Settings,
    *,
    steps: Sequence[str] | None = None,
    params: Mapping[str, str | None] | None = None,
    run_id: str | None = None,
    restart: bool = False,
    workflow: Workflow = WORKFLOW,
    observer: RunObserver | None = None,
    config: str | None = None,
) -> RunRecord:
    """Run (or resume) the workflow's selected steps locally and keep the run record.

    Args:
        settings: the eliq settings.
        steps: step names; ``None`` = ``pipeline.steps``.
        params: run parameters (:data:`pipelines.workflow.RUN_PARAMS`); on resume, unset ones keep the run's.
        run_id: resume (or create) this run; ``None`` = the latest unfinished run, or a new one.
        restart: start a new run even if the latest did not finish.
        workflow: the steps' registry (tests swap a step in).
        observer: progress and step events.
        config: the config file the settings came from (recorded).

    Returns:
        The saved record, status ``succeeded``.

    Raises:
        StepFailedError: a step raised; the record is saved with the step and the run marked failed.
        RunInProgressError: the run to resume is alive in another process.
    """
    observer = observer or SilentObserver()
    given = {k: v for k, v in (params or {}).items() if v is not None}
    resolve_params(settings, given)  # refuses unknown names before anything is written
    selected = workflow.select(list(steps) if steps else list(settings.pipeline.steps))
    store = RunStore(settings.pipeline.runs_dir)
    record = open_run(store, settings, run_id, restart, given, config)
    record.status = "running"
    record.invocations.append(Invocation(started_at=utc_now(), requested=[s.name for s in selected]))
    store.save(record)
    base = settings_digest(settings)
    for index, spec in enumerate(selected):
        _run_or_skip(spec, index, len(selected), settings, record, store, observer, base, workflow)
    record.status = record.current.status = "succeeded"
    record.current.finished_at = utc_now()
    store.save(record)
    return record


def _run_or_skip(
    spec: StepSpec,
    index: int,
    total: int,
    settings: Settings,
    record: RunRecord,
    store: RunStore,
    observer: RunObserver,
    base: str,
    workflow: Workflow,
) -> None:
    upstream = recorded_outputs(record, spec, workflow)
    key = step_key(spec, record.params, upstream, base)
    previous = record.steps.get(spec.name)
    if previous is not None and previous.status == "succeeded" and previous.key == key:
        previous.skipped_reason = SKIPPED_SAME_INPUTS
        record.current.skipped.append(spec.name)
        store.save(record)
        observer.step_skipped(spec.name, SKIPPED_SAME_INPUTS)
        return
    step = StepRecord(
        name=spec.name,
        status="running",
        key=key,
        inputs=step_inputs(spec, record.params, upstream),
        out_dir=str(store.run_dir(record.run_id) / spec.name),
        started_at=utc_now(),
        attempts=(previous.attempts if previous else 0) + 1,
    )
    record.steps[spec.name] = step
    record.steps = {name: record.steps[name] for name in workflow.names if name in record.steps}
    record.current.ran.append(spec.name)
    store.save(record)
    observer.step_started(spec.name, index, total)
    _execute(spec, step, settings, record, store, observer, upstream)


def _execute(
    spec: StepSpec,
    step: StepRecord,
    settings: Settings,
    record: RunRecord,
    store: RunStore,
    observer: RunObserver,
    upstream: Mapping[str, StepOutput],
) -> None:
    try:
        output = _attempt(spec, step, settings, observer, upstream, record.params)
    except BaseException as err:
        record.status = record.current.status = step.status
        record.current.finished_at = step.finished_at
        path = store.save(record)
        if isinstance(err, Exception):
            raise StepFailedError(spec.name, record, str(path), err) from err
        raise
    store.save(record)
    observer.step_finished(spec.name, step.duration_s or 0.0, output)


def _attempt(
    spec: StepSpec,
    step: StepRecord,
    settings: Settings,
    observer: RunObserver,
    upstream: Mapping[str, StepOutput],
    params: Mapping[str, Any],
) -> StepOutput:
    """Execute ``spec`` and fill ``step`` with the outcome: outputs, or the error (then re-raised)."""
    started = time.perf_counter()
    ctx = StepContext(settings, Path(step.out_dir), observer)
    try:
        output = execute_step(spec, ctx, upstream, params)
    except BaseException as err:
        interrupted = not isinstance(err, Exception)  # KeyboardInterrupt, SystemExit
        _finish(step, started, "interrupted" if interrupted else "failed")
        step.error = StepError(
            type=type(err).__name__,
            message=str(err),
            traceback="".join(traceback.format_exception(err)[-6:]),
        )
        observer.step_failed(spec.name, err)
        raise
    step.outputs = output.model_dump(mode="json")
    _finish(step, started, "succeeded")
    return output


def run_step(
    spec: StepSpec,
    settings: Settings,
    upstream: Mapping[str, StepOutput],
    params: Mapping[str, Any],
    out_dir: Path,
    observer: RunObserver | None = None,
) -> StepRecord:
    """Run one step on its own (``eliq pipeline step``: the MLflow project entry points, the Azure ML components)
    and write its record to ``<out_dir>/record.json``.

    Returns:
        The record; a step that raised has status ``failed`` and its error (an interrupt is re-raised).
    """
    observer = observer or SilentObserver()
    step = StepRecord(
        name=spec.name,
        status="running",
        key=step_key(spec, params, upstream, settings_digest(settings)),
        inputs=step_inputs(spec, params, upstream),
        out_dir=str(out_dir),
        started_at=utc_now(),
        attempts=1,
    )
    observer.step_started(spec.name, 0, 1)
    try:
        output = _attempt(spec, step, settings, observer, upstream, params)
    except Exception:
        return _write_step_record(step)
    except BaseException:
        _write_step_record(step)
        raise
    observer.step_finished(spec.name, step.duration_s or 0.0, output)
    return _write_step_record(step)


def _write_step_record(step: StepRecord) -> StepRecord:
    write_atomic(Path(step.out_dir) / STEP_RECORD_FILE, step.model_dump_json(indent=2))
    return step


def read_step_records(folders: Sequence[Path], workflow: Workflow = WORKFLOW) -> dict[str, StepOutput]:
    """The outputs in the step records of ``folders`` (``--upstream``), by step name.

    Raises:
        FileNotFoundError: a folder has no record.
        ValueError: a record is not of a succeeded step.
    """
    found: dict[str, StepOutput] = {}
    for folder in folders:
        path = Path(folder) / STEP_RECORD_FILE
        if not path.is_file():
            raise FileNotFoundError(f"no step record in {folder} (expected {path.name})")
        step = StepRecord.model_validate_json(path.read_text())
        if step.status != "succeeded" or step.outputs is None:
            raise ValueError(f"upstream step {step.name!r} in {folder} did not succeed ({step.status})")
        found[step.name] = workflow.get(step.name).output.model_validate(step.outputs)
    return found


def _finish(step: StepRecord, started: float, status: Any) -> None:
    step.status = status
    step.finished_at = utc_now()
    step.duration_s = round(time.perf_counter() - started, 3)


def recorded_outputs(record: RunRecord, spec: StepSpec, workflow: Workflow) -> dict[str, StepOutput]:
    """The outputs of ``spec``'s upstream steps that succeeded in this run, typed."""
    found: dict[str, StepOutput] = {}
    for step in spec.inputs.values():
        state = record.steps.get(step)
        if state is not None and state.status == "succeeded" and state.outputs is not None:
            found[step] = workflow.get(step).output.model_validate(state.outputs)
    return found


def _alive(invocation: Invocation) -> bool:
    """The invocation is still running in a live process of this machine."""
    if invocation.status != "running" or invocation.host != socket.gethostname():
        return False
    if invocation.pid == os.getpid():
        return False
    try:
        os.kill(invocation.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _git_commit() -> str | None:
    from training.integrations.mlflow_tracking import git_commit

    commit = git_commit()
    return commit if commit and commit != "unknown" else None
