"""The run record of a local workflow run: one JSON file per run, ``<runs_dir>/<run id>/run.json``, written
atomically after every change, so a crash leaves the last consistent state for ``--resume`` and ``eliq pipeline
show``.

Invariants:
    A reader never sees half a record: each write goes to a temporary file in the same folder, is flushed to disk
    and renamed over the old one.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

RECORD_FILE = "run.json"
STEP_RECORD_FILE = (
    "record.json"  # one step run by ``eliq pipeline step`` (MLflow projects, Azure ML components)
)
StepStatus = Literal["running", "succeeded", "failed", "interrupted"]
RunStatus = Literal["running", "succeeded", "failed", "interrupted"]


def utc_now() -> datetime:
    return datetime.now(UTC)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder, flushed, then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class StepError(BaseModel):
    """Why a step failed.

    Attributes:
        type: the exception's class.
        message: its message.
        traceback: the last frames of the traceback.
    """

    type: str
    message: str
    traceback: str = ""


class StepRecord(BaseModel):
    """The latest state of one step in a run.

    Attributes:
        name: the step.
        status: ``running``, ``succeeded``, ``failed`` or ``interrupted``.
        key: digest of the step's inputs (params, upstream outputs, settings) when it last ran; a resumed run skips a
            succeeded step whose key is unchanged.
        inputs: the params it received and the upstream steps it read (name → their output digest).
        outputs: its output (identifiers, versions, paths), once succeeded.
        out_dir: its folder of files (reports).
        started_at: when it last started [UTC].
        finished_at: when it last finished [UTC].
        duration_s: how long its last execution took [s].
        attempts: how many times it was executed in this run.
        skipped_reason: why the latest invocation did not execute it (``None``: it executed).
        error: why it failed.
    """

    name: str
    status: StepStatus
    key: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] | None = None
    out_dir: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_s: float | None = None
    attempts: int = 0
    skipped_reason: str | None = None
    error: StepError | None = None


class Invocation(BaseModel):
    """One ``eliq pipeline run`` (or resume) of the run.

    Attributes:
        started_at: when it started [UTC].
        finished_at: when it ended [UTC].
        requested: the steps asked for, in workflow order.
        ran: the steps it executed.
        skipped: the steps it skipped (already succeeded with the same inputs).
        status: how it ended.
        host: the machine.
        pid: its process id (a ``running`` record whose process is alive is not resumed).
    """

    started_at: datetime
    finished_at: datetime | None = None
    requested: list[str]
    ran: list[str] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)
    status: RunStatus = "running"
    host: str = Field(default_factory=socket.gethostname)
    pid: int = Field(default_factory=os.getpid)


class RunRecord(BaseModel):
    """Everything about one run of the workflow.

    Attributes:
        run_id: the run's id (``<UTC time>-<random>``, sorts by creation).
        created_at: when it was created [UTC].
        updated_at: when the record was last written [UTC].
        status: the status of its latest invocation.
        params: the run parameters (``input_uri``, ``truth_uri``).
        config: the config file the settings came from (``None``: defaults and environment).
        settings_digest: digest of the settings (without the ``pipeline`` section).
        git_commit: the code's commit, when known.
        steps: step name → its latest state, in workflow order.
        invocations: every invocation, oldest first.
    """

    run_id: str
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now)
    status: RunStatus = "running"
    params: dict[str, Any] = Field(default_factory=dict)
    config: str | None = None
    settings_digest: str = ""
    git_commit: str | None = None
    steps: dict[str, StepRecord] = Field(default_factory=dict)
    invocations: list[Invocation] = Field(default_factory=list)

    @property
    def current(self) -> Invocation:
        """The latest invocation."""
        return self.invocations[-1]


class RunStore:
    """The run records under one folder.

    Args:
        runs_dir: the folder (``pipeline.runs_dir``); created on first write.
    """

    def __init__(self, runs_dir: str | Path) -> None:
        self.runs_dir = Path(runs_dir).resolve()

    @staticmethod
    def new_run_id() -> str:
        return f"{utc_now():%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def record_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / RECORD_FILE

    def save(self, record: RunRecord) -> Path:
        """Write ``record`` atomically; returns its path."""
        record.updated_at = utc_now()
        path = self.record_path(record.run_id)
        write_atomic(path, record.model_dump_json(indent=2))
        return path

    def steps_dir(self) -> Path:
        """Where ``eliq pipeline step`` keeps a step's files when no ``--out`` is given."""
        return self.runs_dir / "steps"

    def load(self, run_id: str) -> RunRecord:
        """The record of ``run_id``.

        Raises:
            FileNotFoundError: there is no such run.
        """
        path = self.record_path(run_id)
        if not path.is_file():
            known = ", ".join(self.run_ids()[-5:]) or "none"
            raise FileNotFoundError(f"no run {run_id!r} in {self.runs_dir} (latest runs: {known})")
        return RunRecord.model_validate(json.loads(path.read_text()))

    def run_ids(self) -> list[str]:
        """Every run id with a record, oldest first."""
        if not self.runs_dir.is_dir():
            return []
        return sorted(p.parent.name for p in self.runs_dir.glob(f"*/{RECORD_FILE}"))

    def latest(self) -> RunRecord | None:
        """The newest run's record (``None``: no run yet)."""
        ids = self.run_ids()
        return self.load(ids[-1]) if ids else None
