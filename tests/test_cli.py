"""The eliq command line: fast help, lazy imports, clear errors."""

from __future__ import annotations

import json
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
    "feast",
    "bentoml",
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
    [pytest.param(["prep", "--help"], id="prep"), pytest.param(["demo-data", "--help"], id="demo-data")],
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
