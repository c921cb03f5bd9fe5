"""A tiny world for the workflow tests: sample input files from the project's generator and an eliq config whose
lake, Feast repository, MLflow store and run records all live in one temporary folder.

The model is small and single-threaded (LightGBM ``n_jobs: 1``), the backtest short, Prophet off, so that the whole
workflow runs in well under a minute on two shared cores.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from contracts.config import Settings, load_settings
from tests.serving.service_fixtures import SMALL_PARAMS
from tests.world_config import world_config

FORECAST = {
    "source": "feast",
    "backtest_days": 4,
    "calibration_days": 10,
    "max_train_rows": 30_000,
    "prophet_homes": 0,
    "report_homes": 1,
    "params": SMALL_PARAMS,
}
HOMES, DAYS, SEED = 6, 40, 3


def make_input(folder: Path) -> Path:
    """Sample input files (every source, with the default faults) in ``folder``."""
    from data_prep.sample_data import generate_demo_data

    generate_demo_data(str(folder), homes=HOMES, days=DAYS, seed=SEED, start="2025-01-01")
    return folder


def config_values(root: Path, **pipeline: Any) -> dict[str, Any]:
    """The config of a world under ``root``; ``pipeline`` keys override the ``pipeline:`` section."""
    return world_config(
        root,
        n_buckets=2,
        forecast=FORECAST,
        monitoring={"workspace": str(root / "monitoring_workspace")},
        pipeline={"runs_dir": str(root / "runs"), **pipeline},
    )


def write_config(root: Path, **pipeline: Any) -> Path:
    """``root/eliq.yaml`` (JSON is YAML) for subprocesses and the CLI."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "eliq.yaml"
    path.write_text(json.dumps(config_values(root, **pipeline)))
    return path


def world_settings(root: Path, **pipeline: Any) -> Settings:
    return load_settings(write_config(root, **pipeline))


def monitoring_available() -> bool:
    """Whether ``monitoring.steps`` (written alongside this layer) can be imported yet."""
    try:
        import monitoring.steps  # noqa: F401
    except ImportError:
        return False
    return True


def flat(text: str) -> str:
    """CLI output on one line: rich wraps long lines at the terminal width."""
    return " ".join(text.split())
