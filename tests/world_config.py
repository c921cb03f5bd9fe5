"""The config of a test world: everything it writes lives under one folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def world_config(root: Path, *, n_buckets: int, forecast: dict[str, Any], **sections: Any) -> dict[str, Any]:
    """The settings values of a world under ``root``: the lake, Feast repo, MLflow store, serving state, monitoring
    and pipeline folders inside it, in-process prep, and ``forecast`` as ``training.forecast``.

    Args:
        root: the world's folder.
        n_buckets: the lake's home buckets.
        forecast: the ``training.forecast`` section (small models in tests).
        **sections: keys merged over a section's defaults, e.g. ``serving={"max_batch_homes": 5}``.
    """
    values: dict[str, Any] = {
        "storage": {"root": str(root / "lake")},
        "prep": {"n_buckets": n_buckets, "workers": 1},
        "features": {"repo_dir": str(root / "feast")},
        "training": {
            "tracking_uri": f"sqlite:///{root / 'mlflow' / 'mlflow.db'}",
            "artifact_root": str(root / "mlflow" / "artifacts"),
            "forecast": forecast,
        },
        "serving": {"state_dir": str(root / "serving_state")},
        "monitoring": {
            "workspace": str(root / "monitoring" / "workspace"),
            "runs_dir": str(root / "monitoring" / "runs"),
        },
        "pipeline": {"runs_dir": str(root / "pipeline_runs")},
    }
    for name, overrides in sections.items():
        values[name] = {**values.get(name, {}), **overrides}
    return values
