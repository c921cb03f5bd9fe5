"""Session fixtures of the workflow tests: one tiny world on which the whole workflow ran once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from contracts.config import Settings
from pipelines.run_record import RunRecord
from tests.pipelines.pipeline_fixtures import make_input, monitoring_available, world_settings

MODEL_STEPS = ["prep", "features", "train", "evaluate", "register", "score"]


@dataclass(frozen=True)
class PipelineWorld:
    """A world after one full run.

    Attributes:
        root: its folder (``eliq.yaml`` inside).
        input_dir: the sample input files.
        settings: its settings.
        record: the record of the full run.
    """

    root: Path
    input_dir: Path
    settings: Settings
    record: RunRecord

    @property
    def config(self) -> Path:
        return self.root / "eliq.yaml"


@pytest.fixture(scope="session")
def tiny_input(tmp_path_factory) -> Path:
    return make_input(tmp_path_factory.mktemp("pipeline_input") / "input")


@pytest.fixture(scope="session")
def pipeline_world(tmp_path_factory, tiny_input) -> PipelineWorld:
    """Every step (the monitor step too once ``monitoring.steps`` exists) run once by the local runner."""
    from pipelines.runner import run_workflow

    root = tmp_path_factory.mktemp("pipeline_world")
    settings = world_settings(root)
    steps = MODEL_STEPS + (["monitor"] if monitoring_available() else [])
    record = run_workflow(settings, steps=steps, params={"input_uri": str(tiny_input)})
    return PipelineWorld(root, tiny_input, settings, record)
