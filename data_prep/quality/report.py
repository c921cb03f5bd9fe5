"""The readable data-quality report: one HTML page that opens anywhere, the same content as Markdown, the
plots as PNG files and the figures as JSON.

The content is built once as a list of sections (text, one plot, tables) and written out twice by
:mod:`report_render`, so the HTML and the Markdown never disagree. :func:`render_quality_report` returns
bytes; the caller writes them to the lake.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Executor
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from data_prep.quality import report_plots as plots
from data_prep.quality.metrics import ANOMALY_TYPES, anomaly_column
from data_prep.quality.report_render import (
    ReportSection,
    ReportTable,
    fmt_int,
    fmt_pct,
    render_html,
    render_markdown,
)

if TYPE_CHECKING:
    from data_prep.quality.fault_evaluation import DetectionEvaluation

HOW_TO_READ: tuple[str, ...] = (
    "Every home's readings are laid on a regular grid, one slot per metering interval. A slot is observed "
    "(the meter's value, passed every check), imputed (a gap, or a masked anomaly, filled by the strategy "
    "chosen for that home and gap length) or missing (a gap longer than the limit, left empty on purpose).",
    "Completeness is observed slots over all slots. Validity is rows processed over rows read, per file. "
    "Consistency is 1 minus the share of rows that were duplicates, conflicting duplicates or off the grid.",
    "No row is dropped silently: a row that fails a rule goes to quarantine with exactly one reason, and "
    "every file must balance: rows read = rows processed + rows quarantined.",
    "Anomalies are flagged per reading. All but level shifts are masked and then imputed; a level shift may "
    "be a real change of behaviour, so it keeps its value.",
    "Where a fault log exists (sample data only), recall is the share of injected faults that were found "
    "and precision the share of flags that point at an injected fault.",
)
PLOT_CAPTIONS: dict[str, str] = {
    "completeness.png": "Completeness over homes",
    "quarantine_reasons.png": "Quarantined rows by reason and source",
    "anomalies.png": "Anomalies by type",
    "imputation_mae.png": "Imputation MAE by strategy and gap class",
    "detection.png": "Detection recall and precision",
    "imputation_truth.png": "Imputed values against the clean truth",
    "sample_series.png": "Sample homes: series, imputed points and anomalies",
}
_HOME_COLUMNS = ["home_id", "interval_min", "n_slots", "completeness", "share_imputed", "share_missing"]
_FILE_COLUMNS = [
    "source",
    "source_file",
    "rows_in",
    "rows_processed",
    "rows_quarantined",
    "rows_purged",
    "n_quarantine_rows",
]


def render_quality_report(
    run_metrics: dict[str, Any],
    home_metrics: pd.DataFrame,
    file_metrics: pd.DataFrame,
    quarantine_summary: pd.DataFrame,
    imputation_scores: pd.DataFrame,
    detection_eval: DetectionEvaluation | None = None,
    imputation_eval: pd.DataFrame | None = None,
    sample_series: pd.DataFrame | None = None,
    *,
    selection: pd.DataFrame | None = None,
    title: str = "eliq data-quality report",
    helper: Executor | None = None,
) -> dict[str, bytes]:
    """Render the quality report of one run.

    Args:
        run_metrics: the output of :func:`~data_prep.quality.metrics.run_quality_metrics`.
        home_metrics: per-home metrics (:func:`~data_prep.quality.metrics.home_quality_metrics`).
        file_metrics: per-file metrics (:func:`~data_prep.quality.metrics.file_quality_metrics`).
        quarantine_summary: rows per source and reason
            (:func:`~data_prep.quality.metrics.quarantine_summary`).
        imputation_scores: the selector's scores: ``home_id``, ``gap_class``, ``strategy``, ``mae_kwh``
            [kWh], ``n_points``.
        detection_eval: recall and precision against a fault log (sample data only).
        imputation_eval: error of imputed values against the clean truth per strategy (sample data only).
        sample_series: processed readings of 1–3 homes over about two weeks, to show what the flags look like.
        selection: the selector's choice per home and gap class (``home_id``, ``gap_class``, ``strategy``).
        title: the report's heading.
        helper: an executor that draws the plots, e.g. a process that has imported Matplotlib already
            (:func:`data_prep.quality_run.start_plot_helper`); None draws them here.

    Returns:
        File name → bytes: ``report.html`` (self-contained, plots embedded as base64 PNG), ``report.md``
        (links ``plots/*.png``), ``plots/<name>.png`` and ``metrics.json``.
    """
    images = _render_plots(
        home_metrics,
        quarantine_summary,
        imputation_scores,
        detection_eval,
        imputation_eval,
        sample_series,
        helper,
    )
    mae = plots.weighted_mae(imputation_scores) if not imputation_scores.empty else imputation_scores
    sections = [
        _key_figures(run_metrics),
        _completeness_section(home_metrics, images),
        _files_section(file_metrics, quarantine_summary, images),
        _anomaly_section(home_metrics, images),
        _imputation_section(mae, selection, images),
    ]
    if detection_eval is not None:
        sections.append(_detection_section(detection_eval, images))
    if imputation_eval is not None:
        sections.append(_imputation_truth_section(imputation_eval, images))
    if "sample_series.png" in images:
        sections.append(_section("Sample homes", _SAMPLE_TEXT, images, "sample_series.png"))
    metrics = _metrics_json(run_metrics, mae, detection_eval, imputation_eval)
    return {
        "report.html": render_html(title, HOW_TO_READ, sections, images).encode(),
        "report.md": render_markdown(title, HOW_TO_READ, sections).encode(),
        "metrics.json": metrics.encode(),
        **{f"plots/{name}": png for name, png in images.items()},
    }


_SAMPLE_TEXT = (
    "The processed series of a few homes. Orange dots are imputed values; red crosses are readings flagged "
    "as anomalies, drawn at the value the meter sent (clipped to the top edge when far off the scale); grey "
    "bands are slots left missing."
)


def _render_plots(
    home_metrics: pd.DataFrame,
    quarantine_summary: pd.DataFrame,
    imputation_scores: pd.DataFrame,
    detection_eval: DetectionEvaluation | None,
    imputation_eval: pd.DataFrame | None,
    sample_series: pd.DataFrame | None,
    helper: Executor | None = None,
) -> dict[str, bytes]:
    """Every plot that has something to draw, as PNG, in report order; drawn by ``helper`` if there is one."""
    jobs: dict[str, tuple[Callable[..., bytes | None], tuple[Any, ...]]] = {
        "completeness.png": (plots.plot_completeness, (home_metrics,)),
        "quarantine_reasons.png": (plots.plot_quarantine_reasons, (quarantine_summary,)),
        "anomalies.png": (plots.plot_anomalies, (home_metrics,)),
        "imputation_mae.png": (plots.plot_imputation_mae, (imputation_scores,)),
    }
    if detection_eval is not None:
        jobs["detection.png"] = (plots.plot_detection, (detection_eval.by_fault_type, detection_eval.by_code))
    if imputation_eval is not None:
        jobs["imputation_truth.png"] = (plots.plot_imputation_error, (imputation_eval,))
    if sample_series is not None:
        jobs["sample_series.png"] = (plots.plot_sample_series, (sample_series,))
    rendered = _run_jobs(jobs, helper)
    return {name: png for name, png in rendered.items() if png is not None}


def _run_jobs(
    jobs: dict[str, tuple[Callable[..., bytes | None], tuple[Any, ...]]], helper: Executor | None
) -> dict[str, bytes | None]:
    """Each job's result, run by ``helper``, or here when there is none or it has broken down."""
    if helper is not None:
        try:
            futures = {name: helper.submit(job, *args) for name, (job, args) in jobs.items()}
            return {name: future.result() for name, future in futures.items()}
        except BrokenExecutor:  # the helper process died (e.g. killed for memory): draw here instead
            pass
    return {name: job(*args) for name, (job, args) in jobs.items()}


def _section(
    title: str, text: str, images: dict[str, bytes], plot: str, tables: tuple[ReportTable, ...] = ()
) -> ReportSection:
    shown = plot if plot in images else None
    return ReportSection(title, text, shown, PLOT_CAPTIONS.get(plot, title) if shown else "", tables)


def _key_figures(run: dict[str, Any]) -> ReportSection:
    get = run.get
    bills = (
        f"{fmt_int(get('n_bills_agreeing'))} of {fmt_int(get('n_bills_checked'))} checked "
        f"({fmt_pct(get('bill_agreement_share'))})"
    )
    rows = [
        ("Homes", fmt_int(get("n_homes")), "homes with at least one grid slot"),
        ("Completeness", fmt_pct(get("completeness")), "observed slots / all slots, over all homes"),
        ("Imputed", fmt_pct(get("share_imputed")), "slots whose value was filled in"),
        ("Missing", fmt_pct(get("share_missing")), "slots left empty"),
        ("Validity", fmt_pct(get("validity")), "rows processed / rows read"),
        ("Consistency", fmt_pct(get("consistency")), "1 − (duplicate, conflicting, off-grid rows) / rows"),
        ("Rows read", fmt_int(get("rows_in")), f"in {fmt_int(get('n_files'))} files"),
        ("Rows quarantined", fmt_int(get("rows_quarantined")), "set aside with a reason, never dropped"),
        ("Files not balancing", fmt_int(get("n_files_unbalanced")), "rows read ≠ processed + quarantined"),
        ("Anomalies flagged", fmt_int(get("n_anomalies")), "readings, all types"),
        ("Bills agreeing", bills, f"within ±{fmt_pct(get('bill_tolerance'))} of the readings"),
    ]
    frame = pd.DataFrame(rows, columns=["figure", "value", "meaning"])
    status = "Every file balances." if get("rows_balance_ok") else "Some files do not balance: see below."
    return ReportSection("Key figures", status, tables=(ReportTable("The run at a glance", frame),))


def _completeness_section(home_metrics: pd.DataFrame, images: dict[str, bytes]) -> ReportSection:
    worst = home_metrics.sort_values(["completeness", "home_id"]).head(10)
    text = (
        "Left: how many homes reach each level of completeness. Right: each home's grid split into observed "
        "imputed and missing slots; a gap to 100 % is anomalies whose value could not be filled."
    )
    table = ReportTable("The 10 least complete homes", worst.loc[:, [*_HOME_COLUMNS, "n_anomaly"]])
    return _section("Completeness", text, images, "completeness.png", (table,))


def _files_section(
    file_metrics: pd.DataFrame, quarantine_summary: pd.DataFrame, images: dict[str, bytes]
) -> ReportSection:
    ok = file_metrics["rows_balance_ok"].astype(bool) & file_metrics["quarantine_rows_match"].astype(bool)
    if ok.all():
        caption, attention = "The 10 files with the lowest validity", file_metrics
    else:
        caption, attention = "Files that do not balance", file_metrics.loc[~ok]
    attention = attention.sort_values(["validity", "source_file"], na_position="first").head(10)
    columns = [*_FILE_COLUMNS, "validity", "consistency", "rows_balance_ok"]
    balanced = int(file_metrics["rows_balance_ok"].astype(bool).sum())
    text = f"{balanced} of {len(file_metrics)} files balance (rows read = rows processed + rows quarantined + rows of deleted homes purged)."
    mismatched = int((~file_metrics["quarantine_rows_match"].astype(bool)).sum())
    if mismatched:
        text += f" In {mismatched}, the quarantine holds a different number of rows than the manifest says."
    tables = (
        ReportTable("Quarantined rows by source and reason", quarantine_summary),
        ReportTable(caption, attention.loc[:, columns]),
    )
    return _section("Files and quarantine", text, images, "quarantine_reasons.png", tables)


def _anomaly_section(home_metrics: pd.DataFrame, images: dict[str, bytes]) -> ReportSection:
    counts = {k: home_metrics[anomaly_column(k)] for k in ANOMALY_TYPES}
    frame = pd.DataFrame(
        [(k, int(c.sum()), int(c.gt(0).sum())) for k, c in counts.items()],
        columns=["anomaly", "readings", "homes"],
    )
    text = "Readings flagged by each detector, and in how many homes. Level shifts are flagged, not masked."
    return _section("Anomalies", text, images, "anomalies.png", (ReportTable("Anomalies by type", frame),))


def _imputation_section(
    mae: pd.DataFrame, selection: pd.DataFrame | None, images: dict[str, bytes]
) -> ReportSection:
    table = mae
    if not mae.empty:
        rank = {c: i for i, c in enumerate(plots.natural_order(mae["gap_class"]))}
        table = mae.assign(_rank=mae["gap_class"].map(rank)).sort_values(["_rank", "mae_kwh"])
        table = table.drop(columns="_rank")
    tables = [ReportTable("Masked-gap MAE per strategy and gap class, weighted by points [kWh]", table)]
    if selection is not None and not selection.empty:
        chosen = selection.groupby(["gap_class", "strategy"]).size().rename("homes").reset_index()
        tables.append(ReportTable("Strategy chosen per gap class", chosen))
    text = (
        "Known readings are hidden in gaps of each length class and filled by every candidate strategy; the "
        "one with the lowest error is chosen per home and class. Lower bars are better."
    )
    return _section("Imputation", text, images, "imputation_mae.png", tuple(tables))


def _detection_section(evaluation: DetectionEvaluation, images: dict[str, bytes]) -> ReportSection:
    text = (
        "Injected faults of the sample data against what the pipeline flagged or quarantined, with one "
        "interval of tolerance. 'landed' is the share of late rows that reached the processed zone; "
        "'accepted' is the share of profiles with a missing optional field that were (rightly) not rejected."
    )
    tables = (
        ReportTable("Recall per fault type", evaluation.by_fault_type),
        ReportTable("Precision per detection code", evaluation.by_code),
    )
    return _section("Detection against the fault log", text, images, "detection.png", tables)


def _imputation_truth_section(evaluation: pd.DataFrame, images: dict[str, bytes]) -> ReportSection:
    text = "Every imputed value against the true value before the fault was injected; bias = imputed − true."
    table = ReportTable("Error per strategy [kWh]", evaluation)
    return _section("Imputation against the clean truth", text, images, "imputation_truth.png", (table,))


def _metrics_json(
    run_metrics: dict[str, Any],
    mae: pd.DataFrame,
    detection_eval: DetectionEvaluation | None,
    imputation_eval: pd.DataFrame | None,
) -> str:
    payload: dict[str, Any] = {
        "run": {k: _json_value(v) for k, v in run_metrics.items()},
        "imputation_mae": _records(mae),
    }
    if detection_eval is not None:
        payload["detection"] = {
            "by_fault_type": _records(detection_eval.by_fault_type),
            "by_code": _records(detection_eval.by_code),
        }
    if imputation_eval is not None:
        payload["imputation_vs_truth"] = _records(imputation_eval)
    return json.dumps(payload, indent=2, allow_nan=False) + "\n"


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): _json_value(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _json_value(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return None if value is pd.NaT or value is pd.NA else value
