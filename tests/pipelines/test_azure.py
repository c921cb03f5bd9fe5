"""The Azure ML pipeline compiled offline and loaded back with azure-ai-ml's own loaders; the workspace
configuration and ``submit --azure`` without one (no network anywhere)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from contracts.config import load_settings
from pipelines.azure.compile import compile_azure, load_compiled
from pipelines.azure.components import ScheduleError, build_schedule
from pipelines.azure.environment import locked_requirements
from pipelines.azure.submit import WorkspaceConfigError, ml_client, workspace_identity
from pipelines.cli import app
from pipelines.workflow import WORKFLOW
from tests.pipelines.pipeline_fixtures import flat

pytestmark = pytest.mark.xdist_group("azure")

REPO = Path(__file__).resolve().parents[2]
AZURE = {
    "default_compute": "cpu-small",
    "compute": {"train": "cpu-train-large", "evaluate": "cpu-train-large"},
    "environment": {
        "name": "eliq-env",
        "version": "7",
        "image": "mcr.microsoft.com/azureml/minimal-ubuntu22.04-py311-cpu-inference:latest",
    },
    "input_uri": "azureml://datastores/lake/paths/eliq/input/",
}
SCHEDULE = {"name": "eliq-nightly", "cron": "30 4 * * *", "time_zone": "Central Europe Standard Time"}


def settings_with(**pipeline: object):
    return load_settings(pipeline={"azure": AZURE, "schedule": SCHEDULE, **pipeline})


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    out = tmp_path_factory.mktemp("azureml")
    config = out.parent / "cloud.yaml"
    config.write_text("storage:\n  root: abfs://lake@account.dfs.core.windows.net/eliq\n")
    result = compile_azure(
        settings_with(), out, config_path=config, code_dir=REPO, lock_file=REPO / "uv.lock"
    )
    return result, load_compiled(result)


def test_the_pipeline_has_one_job_per_step_wired_as_the_workflow(compiled):
    _, loaded = compiled
    jobs = loaded.job.jobs
    assert set(jobs) == set(WORKFLOW.names)
    for spec in WORKFLOW:
        wired = {kw: jobs[spec.name].inputs[kw].path for kw in spec.inputs}
        assert wired == {kw: f"${{{{parent.jobs.{up}.outputs.record}}}}" for kw, up in spec.inputs.items()}
        assert jobs[spec.name].inputs["config"].path == "${{parent.inputs.config}}"
    assert jobs["prep"].inputs["raw_input"].path == "${{parent.inputs.raw_input}}"
    assert loaded.job.inputs["raw_input"].path == AZURE["input_uri"]
    assert loaded.job.experiment_name == "eliq-pipeline"


def test_compute_names_come_from_the_config(compiled):
    _, loaded = compiled
    computes = {name: job.compute for name, job in loaded.job.jobs.items()}
    assert computes["train"] == computes["evaluate"] == "cpu-train-large"
    assert {computes[n] for n in ("prep", "features", "register", "score", "monitor")} == {"cpu-small"}
    assert loaded.job.settings.default_compute == "cpu-small"


def test_each_component_runs_the_same_step_through_the_eliq_cli(compiled):
    result, loaded = compiled
    for name, component in loaded.components.items():
        assert component.is_deterministic is False  # the lake changes between runs: no cached outputs
        assert "record" in component.outputs
        args = shlex.split(re.sub(r"\$\{\{[^}]+\}\}", "PLACEHOLDER", component.command))
        assert args[:3] == ["python", "-m", "pipelines.cli"]
        assert args[5:8] == ["pipeline", "step", name]
        cli = CliRunner().invoke(app, [*args[3:], "--help"])  # the command line parses with the real CLI
        assert cli.exit_code == 0, cli.output
        assert Path(result.out_dir / "components", component.code).resolve() == REPO


def test_the_environment_is_the_image_and_the_locked_requirements(compiled):
    result, loaded = compiled
    assert loaded.environment.image == AZURE["environment"]["image"]
    assert (loaded.environment.name, loaded.environment.version) == ("eliq-env", "7")
    for component in loaded.components.values():
        assert str(component.environment) in ("eliq-env:7", "azureml:eliq-env:7")
    conda = yaml.safe_load(result.conda.read_text())
    pip = next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict))
    locked = {p["name"]: p["version"] for p in tomllib.loads((REPO / "uv.lock").read_text())["package"]}
    assert f"lightgbm=={locked['lightgbm']}" in pip and f"mlflow=={locked['mlflow']}" in pip
    assert not [line for line in pip if line.startswith(("pytest==", "ruff==", "eliq=="))]  # no dev tools
    assert "python=3.11" in conda["dependencies"]


def test_the_schedule_is_daily_with_the_configured_cron_and_time_zone(compiled):
    _, loaded = compiled
    schedule = loaded.schedule
    assert schedule.name == "eliq-nightly"
    assert schedule.trigger.expression == "30 4 * * *"
    assert schedule.trigger.time_zone == "Central Europe Standard Time"
    assert set(schedule.create_job.jobs) == set(WORKFLOW.names)


def test_the_cloud_config_is_a_local_file_input_relative_to_the_yaml(compiled):
    result, loaded = compiled
    path = loaded.job.inputs["config"].path
    assert not str(path).startswith("azureml:")
    assert (result.out_dir / path).resolve() == (result.out_dir.parent / "cloud.yaml").resolve()


def test_a_subset_of_steps_is_wired_to_what_runs(tmp_path):
    settings = settings_with(steps=["train", "evaluate"])
    config = tmp_path / "cloud.yaml"
    config.write_text("{}")
    loaded = load_compiled(
        compile_azure(
            settings, tmp_path / "out", config_path=config, code_dir=REPO, lock_file=REPO / "uv.lock"
        )
    )
    assert set(loaded.job.jobs) == {"train", "evaluate"}
    assert "featured" not in loaded.job.jobs["train"].inputs
    assert loaded.job.jobs["evaluate"].inputs["trained"].path == "${{parent.jobs.train.outputs.record}}"


def test_an_unknown_time_zone_is_refused_with_examples():
    from contracts.pipeline_settings import ScheduleSettings

    with pytest.raises(ScheduleError, match=r"W\. Europe Standard Time"):
        build_schedule(ScheduleSettings(time_zone="Europe/Oslo"), "./pipeline.yml")


def test_locked_requirements_follow_extras_and_markers(tmp_path):
    lock = tmp_path / "uv.lock"
    lock.write_text(
        """
version = 1
[[package]]
name = "eliq"
version = "0.1.0"
source = { editable = "." }
dependencies = [{ name = "feast", extra = ["redis"] }, { name = "tqdm" }]
[package.dev-dependencies]
dev = [{ name = "pytest" }]
[[package]]
name = "feast"
version = "1.0"
dependencies = [{ name = "numpy" }]
[package.optional-dependencies]
redis = [{ name = "redis" }]
postgres = [{ name = "psycopg" }]
[[package]]
name = "tqdm"
version = "4.0"
dependencies = [{ name = "colorama", marker = "sys_platform == 'win32'" }]
[[package]]
name = "numpy"
version = "2.0"
[[package]]
name = "redis"
version = "5.0"
[[package]]
name = "psycopg"
version = "3.0"
[[package]]
name = "colorama"
version = "0.4"
[[package]]
name = "pytest"
version = "8.0"
"""
    )
    assert locked_requirements(lock) == [
        "colorama==0.4 ; (sys_platform == 'win32')",
        "feast==1.0",
        "numpy==2.0",
        "redis==5.0",
        "tqdm==4.0",
    ]


def test_submit_without_a_workspace_config_says_what_is_missing(tmp_path, monkeypatch):
    for key in ("SUBSCRIPTION_ID", "RESOURCE_GROUP", "WORKSPACE_NAME", "CONFIG_PATH"):
        monkeypatch.delenv(f"ELIQ_PIPELINE__AZURE__WORKSPACE__{key}", raising=False)
    config = tmp_path / "eliq.yaml"
    config.write_text("pipeline:\n  azure:\n    workspace:\n      resource_group: rg-eliq\n")
    result = CliRunner().invoke(
        app, ["--config", str(config), "pipeline", "submit", "--azure", "--out", str(tmp_path / "b")]
    )
    assert result.exit_code == 1
    output = flat(result.output)
    assert "no Azure ML workspace configured" in output
    assert (
        "pipeline.azure.workspace.subscription_id" in output
        and "pipeline.azure.workspace.workspace_name" in output
    )
    assert "resource_group," not in output  # the one that is set is not reported missing
    assert "config_path" in output
    assert not (tmp_path / "b").exists()  # nothing compiled, nothing sent


def test_submit_with_a_missing_workspace_config_file_names_it(tmp_path):
    config = tmp_path / "eliq.yaml"
    config.write_text(f"pipeline:\n  azure:\n    workspace:\n      config_path: {tmp_path / 'config.json'}\n")
    result = CliRunner().invoke(app, ["--config", str(config), "pipeline", "submit", "--azure"])
    assert result.exit_code == 1
    assert "workspace config file not found" in flat(result.output) and "config.json" in flat(result.output)


def test_compile_and_submit_need_a_target(tmp_path):
    result = CliRunner().invoke(app, ["pipeline", "compile", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--azure" in flat(result.output)


def test_a_workspace_config_json_gives_the_client_offline(tmp_path):
    from contracts.pipeline_settings import AzureWorkspaceSettings

    path = tmp_path / "config.json"
    path.write_text(
        json.dumps({"subscription_id": "0000-sub", "resource_group": "rg-eliq", "workspace_name": "ws-eliq"})
    )
    identity = workspace_identity(AzureWorkspaceSettings(config_path=str(path)))
    assert (identity.subscription_id, identity.resource_group, identity.workspace_name) == (
        "0000-sub",
        "rg-eliq",
        "ws-eliq",
    )
    client = ml_client(identity)  # no call is made: the credential is used on the first request
    assert (client.subscription_id, client.resource_group_name, client.workspace_name) == (
        "0000-sub",
        "rg-eliq",
        "ws-eliq",
    )
    path.write_text(json.dumps({"subscription_id": "0000-sub"}))
    with pytest.raises(WorkspaceConfigError, match="has no resource_group, workspace_name"):
        workspace_identity(AzureWorkspaceSettings(config_path=str(path)))


def test_the_cli_compiles_offline(tmp_path):
    config = tmp_path / "eliq.yaml"
    config.write_text(
        json.dumps(
            {
                "pipeline": {
                    "azure": {
                        **AZURE,
                        "code_dir": str(REPO),
                        "config_file": str(tmp_path / "eliq.yaml"),
                        "environment": {**AZURE["environment"], "lock_file": str(REPO / "uv.lock")},
                    }
                }
            }
        )
    )
    result = CliRunner().invoke(
        app, ["--config", str(config), "pipeline", "compile", "--azure", "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    assert "compiled and validated 7 components" in flat(result.output)
    assert sorted(p.name for p in (tmp_path / "out" / "components").iterdir()) == sorted(
        f"{n}.yml" for n in WORKFLOW.names
    )


def test_python_dash_m_runs_the_cli_as_the_components_do():
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "pipeline", "step", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "--upstream" in done.stdout and "--out" in done.stdout
