"""``eliq pipeline step``: one step on its own, reading its upstream steps' records from folders and writing its
own, as the MLflow project entry points and the Azure ML components run it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from tests.pipelines.pipeline_fixtures import flat

pytestmark = pytest.mark.xdist_group("pipelines")


def write_record(folder, step) -> None:
    folder.mkdir(parents=True)
    (folder / "record.json").write_text(step.model_dump_json())


def score_after_register(config, upstream, *out: str):
    """``eliq pipeline step score --upstream <register's folder> [--out …]``."""
    arguments = ["--config", str(config), "pipeline", "step", "score", "--upstream", str(upstream), *out]
    return CliRunner().invoke(app, arguments)


def test_a_step_reads_its_upstream_record_and_writes_its_own(pipeline_world, tmp_path):
    write_record(tmp_path / "register", pipeline_world.record.steps["register"])
    out = tmp_path / "score"
    result = score_after_register(pipeline_world.config, tmp_path / "register", "--out", str(out))
    assert result.exit_code == 0, result.output
    record = json.loads((out / "record.json").read_text())
    assert record["status"] == "succeeded"
    assert set(record["inputs"]["upstream"]) == {"register"}  # the wiring of the Azure pipeline, as an input
    assert (
        record["outputs"]["model_version"]
        == pipeline_world.record.steps["register"].outputs["champion_version"]
    )


def test_a_failed_upstream_record_is_refused(pipeline_world, tmp_path):
    failed = pipeline_world.record.steps["register"].model_copy(update={"status": "failed"})
    write_record(tmp_path / "register", failed)
    result = score_after_register(pipeline_world.config, tmp_path / "register")
    assert result.exit_code == 1
    output = flat(result.output)
    assert "upstream step 'register'" in output and "did not succeed (failed)" in output


def test_a_failing_step_writes_a_failed_record_and_exits_1(tmp_path):
    from tests.pipelines.pipeline_fixtures import write_config

    config = write_config(tmp_path)  # an empty lake: training has nothing to read
    out = tmp_path / "train"
    result = CliRunner().invoke(
        app, ["--config", str(config), "pipeline", "step", "train", "--out", str(out)]
    )
    assert result.exit_code == 1
    assert "step 'train' failed" in flat(result.output)
    record = json.loads((out / "record.json").read_text())
    assert record["status"] == "failed" and record["error"]["type"] == "FileNotFoundError"


def test_an_unknown_step_name_is_a_usage_error():
    result = CliRunner().invoke(app, ["pipeline", "step", "deploy"])
    assert result.exit_code == 2
    assert "unknown step 'deploy'" in flat(result.output)
