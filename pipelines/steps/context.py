"""What every workflow step receives besides its own inputs: the settings, its output folder and a progress sink."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from contracts.config import Settings


class StepProgress(Protocol):
    """Where a step reports progress: bars for counted work, notes for phases."""

    def update(self, stage: str, done: int, total: int) -> None:
        """``done`` of ``total`` units of ``stage`` are finished."""

    def note(self, message: str) -> None:
        """A phase starts (a short line, e.g. "fitting the deployable model")."""


class SilentProgress:
    """A progress sink that drops everything (tests, scripts)."""

    def update(self, stage: str, done: int, total: int) -> None:
        return None

    def note(self, message: str) -> None:
        return None


@dataclass(frozen=True)
class StepContext:
    """The environment of one step run.

    Attributes:
        settings: the eliq settings (the lake, the feature store, MLflow …).
        out_dir: a folder of this step's own files (reports, records); created on demand.
        progress: where progress goes.
    """

    settings: Settings
    out_dir: Path
    progress: StepProgress = field(default_factory=SilentProgress)

    def folder(self, name: str) -> Path:
        """A sub-folder of ``out_dir``, created."""
        path = self.out_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path


class StepOutput(BaseModel):
    """The explicit output of a step: plain JSON values (identifiers, versions, counts, paths), written into the run
    record and read back by the steps wired to it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
