"""A run folder's files: ``metrics.json`` (every number of the run), ``report.html`` (the summary a person reads
first, linking the Evidently reports) and the Evidently reports themselves (``drift.html``,
``performance.html``, ``quality.html``).
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from monitoring.evidently_reports import Snapshot

REPORT = "report.html"
METRICS = "metrics.json"


def records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    """A frame as JSON-able records (NaN → ``None``, numpy scalars → Python)."""
    if frame is None or frame.empty:
        return []
    return [{str(k): _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _plain(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def write_evidently_reports(folder: Path, snapshots: dict[str, Snapshot | None]) -> dict[str, str]:
    """Each snapshot as ``<name>.html`` in ``folder``; returns name → file name."""
    written = {}
    for name, snapshot in snapshots.items():
        if snapshot is not None:
            snapshot.save_html(str(folder / f"{name}.html"))
            written[name] = f"{name}.html"
    return written


def write_metrics(folder: Path, metrics: dict[str, Any]) -> Path:
    """``metrics.json``: strict JSON (a NaN or an infinity is written as ``null``)."""
    path = folder / METRICS
    path.write_text(json.dumps(_clean(metrics), indent=2, default=_plain, allow_nan=False))
    return path


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return _plain(value)


def write_summary(folder: Path, metrics: dict[str, Any], reports: dict[str, str]) -> Path:
    """``report.html``: the breaches, the windows, the drift, accuracy and quality tables, links to the reports."""
    model = metrics.get("model") or {}
    windows = metrics["windows"]
    breaches = metrics["breaches"]
    parts = [
        f"<h1>Monitoring: {_e(model.get('name', 'no registered model'))} v{_e(model.get('version', '-'))}</h1>",
        f"<p>As of {_e(metrics['as_of'])}. Current window {_span(windows['current'])}; reference "
        f"{_span(windows['reference'])} ({_e(windows['reference_source'])}). Features: "
        f"{_e(metrics['feature_source'])}.</p>",
        "<p>Evidently reports: "
        + (" · ".join(f'<a href="{_e(f)}">{_e(n)}</a>' for n, f in reports.items()) or "none")
        + f". History: <code>eliq monitor ui</code> (workspace {_e(metrics['workspace'])}).</p>",
        _breach_section(breaches),
        "<h2>Data drift</h2>",
        _drift_paragraph(metrics["drift"]),
        _table(metrics["drift"]["cohorts"], "Drift per cohort (per-cohort samples)"),
        _table(metrics["drift"]["features"], "Drift per feature, all homes"),
        "<h2>Forecast accuracy against actuals</h2>",
        f"<p>{_e(metrics['performance'].get('note') or '')}</p>",
        _table(metrics["performance"]["overall"], "Every lead"),
        _table(metrics["performance"]["by_lead"], "By lead day, against the backtest"),
        _table(metrics["performance"]["by_cohort"], "By cohort (day+1), against the backtest"),
        "<h2>Data quality</h2>",
        _quality_paragraph(metrics["quality"]),
        _table(metrics["quality"]["daily"], "Per UTC day"),
    ]
    path = folder / REPORT
    path.write_text(_page("eliq monitoring", "\n".join(parts)))
    return path


def _breach_section(breaches: list[dict[str, Any]]) -> str:
    if not breaches:
        return '<p class="ok">No threshold crossed.</p>'
    items = "".join(f"<li><b>{_e(b['kind'])}</b> {_e(b['message'])}</li>" for b in breaches)
    return f'<h2 class="alert">{len(breaches)} threshold(s) crossed</h2><ul>{items}</ul>'


def _drift_paragraph(drift: dict[str, Any]) -> str:
    rows = drift["rows"]
    return (
        f"<p>{drift['n_drifted']} of {drift['n_features']} features drifted "
        f"(share {drift['share_drifted']:.2f}). Rows: reference {rows['reference_rows']:,} "
        f"(sampled {rows['reference_sampled']:,}), current {rows['current_rows']:,} "
        f"(sampled {rows['current_sampled']:,}). Not judged (no values in a window): "
        f"{_e(', '.join(drift['empty_features']) or 'none')}.</p>"
    )


def _quality_paragraph(quality: dict[str, Any]) -> str:
    def age(value: Any, unit: str) -> str:
        return "no data" if value is None else f"{value:,.1f} {unit}"

    completeness = quality["completeness"]
    return (
        f"<p>Completeness {'n/a' if completeness is None else f'{completeness:.2%}'}, anomaly share "
        f"{quality['anomaly_share']:.3%} ({_e(json.dumps(quality['anomalies']))}). Batch data age "
        f"{age(quality['batch_age_h'], 'h')}, real-time age {age(quality['realtime_age_min'], 'min')}, "
        f"stale homes {quality['stale_homes']}.</p>"
    )


def _table(rows: list[dict[str, Any]], title: str) -> str:
    if not rows:
        return f"<h3>{_e(title)}</h3><p>none</p>"
    frame = pd.DataFrame(rows)
    body = frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="", border=0)
    return f"<h3>{_e(title)}</h3>{body}"


def _span(window: dict[str, str]) -> str:
    return f"{_e(window['start'])} – {_e(window['end'])}"


def _e(value: Any) -> str:
    return html.escape(str(value))


def _page(title: str, body: str) -> str:
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:80em}"
        "table{border-collapse:collapse;font-size:.85em;margin-bottom:1em}"
        "td,th{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:right}"
        ".alert{color:#b00}.ok{color:#070}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(title)}</title>"
        f"<style>{style}</style></head><body>{body}</body></html>"
    )
