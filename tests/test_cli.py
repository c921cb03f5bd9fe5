"""The eliq command line: fast help, lazy imports, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from pipelines.cli import app

HEAVY = [
    "pandas",
    "pyarrow",
    "sklearn",
    "lightgbm",
    "pvlib",
    "matplotlib",
    "mlflow",
    "optuna",
    "prophet",
    "feast",
    "bentoml",
    "fastapi",
    "openpyxl",
    "evidently",
    "azure.ai.ml",
]


def test_help_imports_no_heavy_library():
    code = (
        "import sys, json\n"
        "from pipelines.cli import main\n"
        "sys.argv = ['eliq', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
    assert "demo-data" in out.stdout and "prep" in out.stdout


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["prep", "--help"], id="prep"),
        pytest.param(["demo-data", "--help"], id="demo-data"),
        pytest.param(["train", "forecast", "--help"], id="train-forecast"),
        pytest.param(["tune", "forecast", "--help"], id="tune-forecast"),
        pytest.param(["predict", "forecast", "--help"], id="predict-forecast"),
        pytest.param(["models", "promote", "--help"], id="models-promote"),
    ],
)
def test_subcommand_help(args):

    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_missing_input_is_a_clear_error(tmp_path):

    config = tmp_path / "eliq.yaml"
    config.write_text(f"storage:\n  root: {tmp_path / 'lake'}\n")
    result = CliRunner().invoke(
        app, ["--config", str(config), "prep", "run", "--input", str(tmp_path / "nowhere")]
    )
    assert result.exit_code == 1
    assert "input path does not exist" in result.output


def test_prep_with_neither_input_nor_the_api_is_a_clear_error(tmp_path):
    config = tmp_path / "eliq.yaml"
    config.write_text(f"storage:\n  root: {tmp_path / 'lake'}\n")
    result = CliRunner().invoke(app, ["--config", str(config), "prep", "run", "--no-api"])
    assert result.exit_code == 1 and "nothing to ingest" in result.output
    assert not (tmp_path / "lake").exists()


def test_training_before_prep_is_a_clear_error(tmp_path):
    config = tmp_path / "eliq.yaml"
    config.write_text(
        f"storage:\n  root: {tmp_path / 'lake'}\n"
        f"training:\n  tracking_uri: sqlite:///{tmp_path / 'mlflow.db'}\n  artifact_root: {tmp_path / 'art'}\n"
    )
    result = CliRunner().invoke(app, ["--config", str(config), "train", "forecast"])
    assert result.exit_code == 1
    assert "no curated hourly data" in result.output


def test_an_unknown_model_family_is_refused(tmp_path):
    result = CliRunner().invoke(app, ["models", "promote", "solar-panels"])
    assert result.exit_code == 2
    assert "unknown model family" in result.output


def test_serve_passes_the_worker_count_and_the_config_to_bentoml(tmp_path):
    from pipelines.cli.serve import serve_environment

    config = tmp_path / "eliq.yaml"
    env = serve_environment(config, workers=2)
    assert env["BENTOML_CONFIG_OPTIONS"] == "services.eliq.workers=2"
    assert env["ELIQ_CONFIG"] == str(config.resolve()) and env["BENTOML_DO_NOT_TRACK"] == "true"
    unchanged = serve_environment(None)  # without --workers, BentoML's own setting (or its default) stands
    assert unchanged.get("BENTOML_CONFIG_OPTIONS") == os.environ.get("BENTOML_CONFIG_OPTIONS")
