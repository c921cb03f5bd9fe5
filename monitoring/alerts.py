"""Alert records: one JSON document per check that crossed a threshold, in its run folder (``alert.json``) and
appended as one line to the alerts log (``monitoring.alerts_log``, default ``<runs_dir>/alerts.jsonl``).

A record holds the time, the monitoring time, the model version, the run folder, every breach and, when the check
retrained, what training and the promotion gate did.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

ALERT = "alert.json"
ALERTS_LOG = "alerts.jsonl"


def alerts_log_path(monitoring: Any) -> Path:
    """The alerts log of the settings' ``monitoring`` section."""
    return Path(monitoring.alerts_log) if monitoring.alerts_log else Path(monitoring.runs_dir) / ALERTS_LOG


def alert_record(
    breaches: list[dict[str, Any]],
    as_of: str,
    model: dict[str, Any] | None,
    run_folder: str,
    retraining: dict[str, Any] | None,
) -> dict[str, Any]:
    """The alert record of a check (plain JSON values)."""
    return {
        "created_at": pd.Timestamp.now(tz="UTC").isoformat(),
        "as_of": as_of,
        "model": model,
        "run_folder": run_folder,
        "n_breaches": len(breaches),
        "kinds": sorted({b["kind"] for b in breaches}),
        "breaches": breaches,
        "retraining": retraining,
    }


def write_alert(record: dict[str, Any], run_folder: Path, log: Path) -> Path:
    """Write ``alert.json`` into the run folder and append the record to the log; returns the alert's path."""
    path = run_folder / ALERT
    path.write_text(json.dumps(record, indent=2, default=str))
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, default=str) + "\n")
    return path
