"""The local runner on a tiny world: every step, the run record, subsets, resume after a failure, clear errors.

Real parts only: the project's sample generator, prep into a local lake, Feast in a temp repo, MLflow on SQLite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contracts.storage import Lake
from pipelines.cli import app
from pipelines.run_record import Invocation, RunRecord, RunStore, StepRecord
from pipelines.runner import RunInProgressError, StepFailedError, open_run, run_workflow
from pipelines.step_keys import listing_digest, step_key
from pipelines.steps.data import PrepOutput
from pipelines.workflow import WORKFLOW, UnknownStepError
from tests.pipelines.conftest import MODEL_STEPS
from tests.pipelines.pipeline_fixtures import flat, world_settings

pytestmark = pytest.mark.xdist_group("pipelines")


def test_a_full_run_records_every_step_with_inputs_outputs_and_durations(pipeline_world):
    record = pipeline_world.record
    assert record.status == "succeeded"
    assert list(record.steps)[: len(MODEL_STEPS)] == MODEL_STEPS
    assert record.invocations[0].ran == list(record.steps) and record.invocations[0].skipped == []
    for step in record.steps.values():
        assert step.status == "succeeded" and step.error is None
        assert step.duration_s is not None and step.duration_s > 0
        assert step.started_at <= step.finished_at
    steps = record.steps
    assert steps["prep"].inputs["params"]["input_uri"] == str(pipeline_world.input_dir)
    assert steps["prep"].inputs["listings"]["input_uri"]  # the input folder's listing is part of the key
    assert steps["prep"].outputs["rows_processed"] > 0
    assert set(steps["features"].inputs["upstream"]) == {"prep"}
    assert sum(steps["features"].outputs["table_rows"].values()) > 0
    assert steps["train"].outputs["version"] == "1"
    assert steps["evaluate"].outputs["version"] == "1"
    assert steps["evaluate"].outputs["reused_training_run"] is True  # train backtested v1 on the same bytes
    assert steps["evaluate"].outputs["run_id"] == steps["train"].outputs["run_id"]
    assert set(steps["register"].inputs["upstream"]) == {"train", "evaluate"}
    assert steps["register"].outputs["challenger_version"] == "1"


def test_the_run_record_on_disk_is_the_returned_record(pipeline_world):
    store = RunStore(pipeline_world.settings.pipeline.runs_dir)
    on_disk = json.loads(store.record_path(pipeline_world.record.run_id).read_text())
    assert on_disk["run_id"] == pipeline_world.record.run_id
    assert on_disk["status"] == "succeeded"
    assert on_disk["steps"]["train"]["outputs"]["version"] == "1"
    assert not list(
        store.run_dir(pipeline_world.record.run_id).glob(".*.tmp")
    )  # atomic writes leave no temp file


def test_steps_write_their_files_under_the_run(pipeline_world):
    steps = pipeline_world.record.steps
    report = Path(steps["evaluate"].outputs["report_dir"]) / "report.html"
    assert report.is_file()
    assert Path(steps["train"].outputs["report_dir"]).parent == Path(steps["train"].out_dir)


def test_score_stores_the_forecasts_of_every_client_in_the_lake(pipeline_world):
    score = pipeline_world.record.steps["score"].outputs
    lake = Lake.from_settings(pipeline_world.settings.storage)
    assert score["files"] and score["rows"] > 0
    homes = lake.read_table(lake.path("curated", "homes", "homes.parquet")).to_pandas()
    clients = set(homes["client_id"].dropna().astype(str))
    assert set(score["files"]) | set(score["clients_without_forecast"]) == clients
    assert not set(score["files"]) & set(score["clients_without_forecast"])
    for path in score["files"].values():
        assert lake.exists(path)
    register = pipeline_world.record.steps["register"].outputs
    if register["promoted"]:
        assert score["model_version"] == register["champion_version"]


def test_running_a_succeeded_run_again_skips_every_step(pipeline_world):
    record = run_workflow(
        pipeline_world.settings, steps=["prep", "features"], run_id=pipeline_world.record.run_id
    )
    assert record.current.ran == []
    assert record.current.skipped == ["prep", "features"]
    assert record.steps["prep"].skipped_reason is not None
    assert record.steps["prep"].attempts == 1


def test_a_subset_runs_only_the_steps_asked_for(pipeline_world):
    record = run_workflow(pipeline_world.settings, steps=["score"], restart=True)
    assert record.run_id != pipeline_world.record.run_id
    assert list(record.steps) == ["score"]
    assert record.steps["score"].inputs["upstream"] == {}  # register did not run here: the registry's state
    assert record.steps["score"].outputs["rows"] > 0


def test_evaluate_without_train_in_the_run_backtests_the_challenger(pipeline_world):
    record = run_workflow(pipeline_world.settings, steps=["evaluate"], restart=True)
    evaluate = record.steps["evaluate"].outputs
    assert evaluate["reused_training_run"] is False
    assert evaluate["run_id"] != pipeline_world.record.steps["train"].outputs["run_id"]
    assert evaluate["version"] == pipeline_world.record.steps["train"].outputs["version"]
    assert (Path(evaluate["report_dir"]) / "report.html").is_file()
    assert {row["forecaster"] for row in evaluate["comparison"]} >= {"global_lightgbm", "seasonal_naive"}


def test_a_failed_step_is_recorded_and_the_resumed_run_skips_what_completed(tmp_path, tiny_input):
    settings = world_settings(tmp_path)
    calls = {"prep": 0, "features": 0}
    real_prep, real_features = WORKFLOW.get("prep").run, WORKFLOW.get("features").run

    def counted_prep(ctx, **kwargs):
        calls["prep"] += 1
        return real_prep(ctx, **kwargs)

    def fails_once(ctx, **kwargs):
        calls["features"] += 1
        if calls["features"] == 1:
            raise OSError("disk full")
        return real_features(ctx, **kwargs)

    flaky = WORKFLOW.with_step("prep", run=counted_prep).with_step("features", run=fails_once)
    steps = ["prep", "features"]
    with pytest.raises(StepFailedError, match="step 'features' failed: OSError: disk full") as failed:
        run_workflow(settings, steps=steps, params={"input_uri": str(tiny_input)}, workflow=flaky)
    record = RunStore(settings.pipeline.runs_dir).load(failed.value.record.run_id)
    assert record.status == "failed"
    assert record.steps["prep"].status == "succeeded"
    assert record.steps["features"].status == "failed"
    assert record.steps["features"].error.type == "OSError"
    assert "disk full" in record.steps["features"].error.traceback

    resumed = run_workflow(settings, steps=steps, workflow=flaky)  # no --input: the run keeps its params
    assert resumed.run_id == record.run_id
    assert resumed.status == "succeeded"
    assert resumed.current.skipped == ["prep"] and resumed.current.ran == ["features"]
    assert resumed.steps["features"].attempts == 2
    assert calls == {"prep": 1, "features": 2}
    assert [i.status for i in resumed.invocations] == ["failed", "succeeded"]


def test_a_failing_step_is_a_clear_cli_error(tmp_path):
    config = tmp_path / "eliq.yaml"
    world_settings(tmp_path)  # writes the config; the lake stays empty
    result = CliRunner().invoke(app, ["--config", str(config), "pipeline", "run", "--steps", "train"])
    assert result.exit_code == 1
    assert "step 'train' failed" in flat(result.output)
    assert "no curated hourly data" in flat(result.output)
    record = RunStore(tmp_path / "runs").latest()
    assert record is not None and record.status == "failed"
    assert record.steps["train"].error.type == "FileNotFoundError"


def test_an_unknown_step_is_refused_with_the_known_ones(tmp_path):
    config = tmp_path / "eliq.yaml"
    world_settings(tmp_path)
    result = CliRunner().invoke(app, ["--config", str(config), "pipeline", "run", "--steps", "prep,deploy"])
    assert result.exit_code == 1
    assert "unknown step 'deploy'" in flat(result.output) and "monitor" in flat(result.output)
    with pytest.raises(UnknownStepError):
        WORKFLOW.select(["deploy"])


def test_show_prints_the_latest_run_and_its_json(pipeline_world):
    runner = CliRunner()
    result = runner.invoke(
        app, ["--config", str(pipeline_world.config), "pipeline", "show", pipeline_world.record.run_id]
    )
    assert result.exit_code == 0, result.output
    assert pipeline_world.record.run_id in flat(result.output) and "evaluation report" in flat(result.output)
    as_json = runner.invoke(
        app,
        ["--config", str(pipeline_world.config), "pipeline", "show", pipeline_world.record.run_id, "--json"],
    )
    assert RunRecord.model_validate_json(as_json.stdout).run_id == pipeline_world.record.run_id


def _record_of_dead_process(store: RunStore, settings) -> RunRecord:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    record = RunRecord(run_id=store.new_run_id(), status="running")
    record.invocations.append(
        Invocation(started_at=record.created_at, requested=["prep"], pid=int(done.stdout.strip()))
    )
    record.steps["prep"] = StepRecord(name="prep", status="running", key="k")
    store.save(record)
    return record


def test_a_run_left_running_by_a_dead_process_is_resumed_as_interrupted(tmp_path):
    settings = world_settings(tmp_path)
    store = RunStore(settings.pipeline.runs_dir)
    dead = _record_of_dead_process(store, settings)
    reopened = open_run(store, settings, None, False, {}, None)
    assert reopened.run_id == dead.run_id
    assert reopened.current.status == "interrupted"
    assert reopened.steps["prep"].status == "interrupted"


def test_a_run_alive_in_another_process_is_not_resumed(tmp_path):
    settings = world_settings(tmp_path)
    store = RunStore(settings.pipeline.runs_dir)
    record = _record_of_dead_process(store, settings)
    record.current.pid = os.getppid()  # a live process that is not this one
    store.save(record)
    with pytest.raises(RunInProgressError, match="still running"):
        open_run(store, settings, None, False, {}, None)
    assert open_run(store, settings, None, True, {}, None).run_id != record.run_id  # --restart starts anew


def test_a_new_file_in_the_input_folder_changes_prep_s_key(tmp_path):
    folder = tmp_path / "input" / "readings"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text("home_id,ts,kwh\n")
    before = listing_digest(str(tmp_path / "input"))
    (folder / "b.csv").write_text("home_id,ts,kwh\n")
    assert listing_digest(str(tmp_path / "input")) != before
    assert listing_digest(str(tmp_path / "nowhere")) is None


def test_an_upstream_output_that_changed_changes_the_downstream_key():
    features = WORKFLOW.get("features")
    one = PrepOutput(
        lake_uri="l",
        input_uri="i",
        files_seen=1,
        files_new=1,
        rows_in=10,
        rows_processed=10,
        rows_quarantined=0,
        buckets_rebuilt=1,
        reports={},
    )
    two = one.model_copy(update={"rows_processed": 9})
    assert step_key(features, {}, {"prep": one}, "s") == step_key(features, {}, {"prep": one}, "s")
    assert step_key(features, {}, {"prep": one}, "s") != step_key(features, {}, {"prep": two}, "s")
    assert step_key(features, {}, {"prep": one}, "s") != step_key(features, {}, {"prep": one}, "t")


def test_pipeline_help_imports_no_heavy_library():
    heavy = ["pandas", "mlflow", "feast", "azure.ai.ml", "evidently", "lightgbm"]
    code = (
        "import sys, json\nfrom pipelines.cli import main\nsys.argv = ['eliq', 'pipeline', 'run', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
