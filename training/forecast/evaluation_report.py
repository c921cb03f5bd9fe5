"""The readable evaluation report of a forecast backtest: an HTML page that opens anywhere, the same content as
Markdown, the plots as PNG files beside them, and the scalar metrics as JSON.

The content is a list of sections rendered twice by :mod:`data_prep.quality.report_render` (shared with the
data-quality report), so the HTML and the Markdown never disagree. Plots are plain matplotlib ``Figure`` objects
on their own Agg canvas (no pyplot, no global state), imported inside the functions.

Every file is written atomically (:meth:`contracts.storage.Lake.write_bytes`: a temporary file renamed into
place), the plots first and ``report.html`` last, so a crash never leaves a half-written file and a report never
links a plot that is not there.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from data_prep.quality.figures import new_figure, png_bytes
from data_prep.quality.report_render import (
    ReportSection,
    ReportTable,
    fmt_pct,
    render_html,
    render_markdown,
)
from training.forecast.evaluation import HEADLINE_GROUP, ForecastEvaluation
from training.forecast.quantiles import P50

if TYPE_CHECKING:
    from matplotlib.axes import Axes

BASELINE = "seasonal_naive"
SAMPLE_HOMES = 4
SAMPLE_DAYS = 4
HOW_TO_READ: tuple[str, ...] = (
    "Every forecast was made in a rolling-origin backtest: fitted on the data before its origin, issued at the "
    "scheduled time, and compared with what the meter read afterwards.",
    f"The headline is the hourly forecast of the next local day (group {HEADLINE_GROUP}, the 24-h day-ahead "
    "horizon). day+0 is the rest of the issue day; week+N groups the daily forecasts by lead week.",
    "Point metrics use the P50. NRMSE = RMSE / mean actual, pooled over the rows scored; MASE = MAE / MAE of the "
    "seasonal naive (same hour last week) on the same rows, below 1 beats it.",
    "Pinball is the mean quantile loss over the levels; coverage is the share of actuals inside P10–P90 "
    "(nominal 80 %). Portfolio MAPE sums every home per interval first, then compares the totals.",
    "Forecasters are compared on the same rows: a row counts where every forecaster has a forecast and the "
    "actual is known. A forecaster run on a sample of homes is compared on those homes only, in its own table.",
)
_PLOTS = {
    "sample_homes.png": "Hourly forecast against actual for sample homes",
    "sample_homes_daily.png": "Daily forecast against actual for the same homes",
    "error_by_lead.png": "NRMSE by lead time",
    "calibration.png": "Calibration of the quantiles and interval coverage",
    "per_home_nrmse.png": "Per-home NRMSE distribution",
}
_COLUMNS = {
    "nrmse_model": "NRMSE model",
    "nrmse_baseline": "NRMSE baseline",
    "share_of_homes_improved": "homes improved",
    "mae": "MAE [kWh]",
    "rmse": "RMSE [kWh]",
    "nrmse": "NRMSE",
    "mase": "MASE",
    "pinball": "pinball [kWh]",
    "coverage": "P10–P90 coverage",
    "portfolio_mape": "portfolio MAPE [%]",
}
_PERCENT = ("coverage", "improvement", "share_of_homes_improved")
_MODEL_COLOUR = "#1f77b4"
_COLOURS = ("#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def write_evaluation_report(
    evaluation: ForecastEvaluation,
    hourly_forecasts: pd.DataFrame,
    daily_forecasts: pd.DataFrame | None,
    out_dir: str,
    title: str = "eliq forecast evaluation",
    context: Mapping[str, Any] | None = None,
) -> list[str]:
    """Render the evaluation and write it to ``out_dir``.

    Args:
        evaluation: the tables (:func:`training.forecast.evaluation.evaluate_backtests`).
        hourly_forecasts: the hourly backtest frame the evaluation was built from (for the sample plots).
        daily_forecasts: the daily backtest frame, or ``None``.
        out_dir: the folder (a local path or fsspec URI) the report is written to; created when missing.
        title: the page heading.
        context: run information shown at the top and stored in ``metrics.json`` (e.g. run id, homes, dates).

    Returns:
        The written paths: ``plots/*.png``, ``metrics.json``, ``report.md`` and ``report.html`` (self-contained,
        plots embedded), in that order.
    """
    from contracts.storage import Lake

    files = render_evaluation_report(evaluation, hourly_forecasts, daily_forecasts, title, context or {})
    lake = Lake(out_dir)
    written = []
    for name, data in files.items():  # report.html comes last: it appears only once everything else is there
        path = lake.path(name)
        lake.write_bytes(path, data)
        written.append(path)
    _remove_empty(lake, lake.path("_tmp"))
    return written


def render_evaluation_report(
    evaluation: ForecastEvaluation,
    hourly_forecasts: pd.DataFrame,
    daily_forecasts: pd.DataFrame | None,
    title: str,
    context: Mapping[str, Any],
) -> dict[str, bytes]:
    """The report's files as bytes, by name relative to the report folder (``report.html`` last)."""
    homes = sample_homes(evaluation)
    model = evaluation.model
    jobs: dict[str, Callable[[], bytes | None]] = {
        "sample_homes.png": lambda: plot_sample_homes(hourly_forecasts, homes, model, "ts"),
        "error_by_lead.png": lambda: plot_error_by_lead(evaluation),
        "calibration.png": lambda: plot_calibration(evaluation),
        "per_home_nrmse.png": lambda: plot_per_home_nrmse(evaluation.per_home_nrmse),
    }
    if daily_forecasts is not None and not daily_forecasts.empty:
        jobs["sample_homes_daily.png"] = lambda: plot_sample_homes(
            daily_forecasts, homes, model, "local_date"
        )
    images = {name: png for name, job in jobs.items() if (png := job()) is not None}
    sections = _sections(evaluation, context, images)
    run = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in context.items()}
    payload = {"context": run, "metrics": evaluation.metrics_flat()}
    return {
        **{f"plots/{name}": png for name, png in images.items()},
        "metrics.json": (json.dumps(payload, indent=2, default=str, allow_nan=False) + "\n").encode(),
        "report.md": render_markdown(title, HOW_TO_READ, sections).encode(),
        "report.html": render_html(title, HOW_TO_READ, sections, images).encode(),
    }


def sample_homes(evaluation: ForecastEvaluation, n: int = SAMPLE_HOMES) -> list[str]:
    """Homes spread over the model's per-home NRMSE, from a well forecast one to a hard one."""
    per_home = evaluation.per_home_nrmse
    if per_home.empty:
        return []
    column = evaluation.model if evaluation.model in per_home.columns else per_home.columns[0]
    ranked = per_home[column].dropna().sort_values(kind="stable")
    positions = np.unique(np.round(np.linspace(0.05, 0.95, n) * (len(ranked) - 1)).astype(int))
    return [str(h) for h in ranked.index[positions]] if len(ranked) else []


def _sections(
    evaluation: ForecastEvaluation, context: Mapping[str, Any], images: dict[str, bytes]
) -> list[ReportSection]:
    sections = [_headline_section(evaluation, context)]
    sections.append(_section("Forecasts against actuals", _SAMPLE_TEXT, images, "sample_homes.png"))
    if "sample_homes_daily.png" in images:
        text = "One daily forecast of each home (the latest with the most days read) over its whole horizon."
        sections.append(_section("Daily forecasts against actuals", text, images, "sample_homes_daily.png"))
    horizon = [ReportTable("Hourly, by lead day [kWh per hour]", _display(evaluation.hourly_by_group))]
    if evaluation.daily_by_group is not None and evaluation.daily_all is not None:
        horizon.append(ReportTable("Daily, by lead week [kWh per day]", _display(evaluation.daily_by_group)))
        horizon.append(ReportTable("Daily, every lead pooled [kWh per day]", _display(evaluation.daily_all)))
    sections.append(_section("Error by horizon", _HORIZON_TEXT, images, "error_by_lead.png", horizon))
    calibration = ReportTable("Observed share of actuals at or below each quantile", _calibration(evaluation))
    sections.append(_section("Calibration", _CALIBRATION_TEXT, images, "calibration.png", (calibration,)))
    homes = ReportTable(
        f"Per-home NRMSE over homes ({HEADLINE_GROUP})", _display(evaluation.per_home_quantiles)
    )
    sections.append(_section("Error per home", _HOMES_TEXT, images, "per_home_nrmse.png", (homes,)))
    segments = tuple(
        ReportTable(f"By {name} ({HEADLINE_GROUP})", _display(table))
        for name, table in evaluation.hourly_by_segment.items()
    )
    sections.append(ReportSection("Error by segment", _SEGMENT_TEXT, tables=segments))
    for name, table in evaluation.sample_tables.items():
        text = f"{name} ran on a sample of homes only; every forecaster is scored here on the rows of those homes."
        caption = f"{HEADLINE_GROUP}, the homes {name} forecast"
        sections.append(
            ReportSection(f"{name} on its sample", text, tables=(ReportTable(caption, _display(table)),))
        )
    return sections


_SAMPLE_TEXT = (
    f"The {HEADLINE_GROUP} forecasts of a few homes over their last days: the P50 (line) with the P10–P90 band, "
    "the seasonal naive for reference (dashed) and the meter readings (black). The homes range from a well "
    "forecast one to a hard one (by the model's per-home NRMSE)."
)
_HORIZON_TEXT = (
    "NRMSE of every lead hour (left) and lead day of the daily forecast (right). Hourly NRMSE follows the hour "
    "of day the lead falls on (night hours are easier), so compare the lines rather than the levels."
)
_CALIBRATION_TEXT = (
    "Left: the share of actuals at or below each quantile forecast against its level; a calibrated forecaster "
    "lies on the diagonal. Right: the share inside P10–P90 per lead group, against the nominal coverage."
)
_HOMES_TEXT = (
    f"How NRMSE ({HEADLINE_GROUP}) spreads over homes: the pooled figure hides homes that are much harder than "
    "the others (erratic loads, cold starts)."
)
_SEGMENT_TEXT = f"The headline metrics ({HEADLINE_GROUP}) per home segment, from the home profiles."


def _headline_section(evaluation: ForecastEvaluation, context: Mapping[str, Any]) -> ReportSection:
    model = evaluation.model
    headline = evaluation.headline.set_index("forecaster") if not evaluation.headline.empty else None
    if headline is None or model not in headline.index:
        text = f"No {HEADLINE_GROUP} forecast of {model} was scored."
    else:
        table = evaluation.improvement
        hourly = table[(table["resolution"] == "hourly") & (table["scope"] == HEADLINE_GROUP)]
        better = "; ".join(
            f"{fmt_pct(gain)} vs {baseline}"
            for gain, baseline in zip(hourly["improvement"], hourly["baseline"], strict=True)
        )
        nrmse, coverage = headline["nrmse"].astype(float)[model], headline["coverage"][model]
        text = (
            f"{model}: {HEADLINE_GROUP} NRMSE {nrmse:.3f}, P10–P90 coverage {fmt_pct(coverage)}. "
            f"NRMSE improvement: {better or 'no baseline'}."
        )
    improvement = evaluation.improvement.rename(columns={"scope": "group"})
    tables = [
        ReportTable(
            f"Hourly, next local day ({HEADLINE_GROUP}) [kWh per hour]", _display(evaluation.headline)
        ),
        ReportTable(
            "NRMSE improvement of the model: 1 − NRMSE model / NRMSE baseline", _display(improvement)
        ),
    ]
    if context:
        run = pd.DataFrame({"item": list(context), "value": [str(v) for v in context.values()]})
        tables.insert(0, ReportTable("Run", run))
    return ReportSection("Key figures", text, tables=tuple(tables))


def _section(title: str, text: str, images: dict[str, bytes], plot: str, tables: Any = ()) -> ReportSection:
    shown = plot if plot in images else None
    return ReportSection(title, text, shown, _PLOTS[plot] if shown else "", tuple(tables))


def _display(table: pd.DataFrame) -> pd.DataFrame:
    """A table for reading: shares as percentages, metric names with units, counts as integers."""
    out = table.copy()
    for column in _PERCENT:
        if column in out.columns:
            out[column] = out[column].map(fmt_pct)
    if "rows" in out.columns:
        out["rows"] = out["rows"].astype("Int64")
    return out.rename(columns=_COLUMNS)


def _calibration(evaluation: ForecastEvaluation) -> pd.DataFrame:
    table = evaluation.calibration
    keep = ((table["resolution"] == "hourly") & (table["group"] == HEADLINE_GROUP)) | (
        (table["resolution"] == "daily") & (table["group"] == "all")
    )
    table = table[keep].assign(level=lambda t: "≤ P" + (100 * t["nominal"]).round().astype(int).astype(str))
    wide = table.pivot_table(
        index=["resolution", "group", "forecaster"], columns="level", values="observed", sort=False
    )
    return wide.map(fmt_pct).reset_index()


def plot_sample_homes(forecasts: pd.DataFrame, homes: list[str], model: str, time_col: str) -> bytes | None:
    """One panel per home: the model's P50 and P10–P90 band, the seasonal naive's P50 and the actuals.

    Hourly (``time_col="ts"``): the ``day+1`` rows of the last :data:`SAMPLE_DAYS` days. Daily
    (``"local_date"``): the home's latest forecast with the most days read, over its whole horizon.
    """
    rows = forecasts[forecasts["home_id"].isin(homes)]
    if rows.empty or not homes:
        return None
    fig = new_figure(11, 2.6 * len(homes))
    axes = np.atleast_1d(fig.subplots(len(homes), 1, squeeze=False)[:, 0])
    for ax, home in zip(axes, homes, strict=True):
        part = _sample_rows(rows[rows["home_id"] == home], time_col)
        _draw_forecast(ax, part, model, time_col)
        ax.set(ylabel="[kWh]", title=f"home {home}")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=max(1, len(labels)), fontsize="small")
    axes[-1].set_xlabel("time [UTC]" if time_col == "ts" else "local date")
    return png_bytes(fig)


def _sample_rows(rows: pd.DataFrame, time_col: str) -> pd.DataFrame:
    """The rows drawn for one home: only periods with readings, so that there is an actual to compare with."""
    known = rows.dropna(subset=["actual"])
    if known.empty:
        return known
    if time_col == "ts":
        rows = rows[rows["group"] == HEADLINE_GROUP]
        last = known["ts"].max()
        return rows[(rows["ts"] > last - pd.Timedelta(days=SAMPLE_DAYS)) & (rows["ts"] <= last)]
    counts = known.groupby("issue_time").size()
    best = counts[counts == counts.max()].index.max()  # the latest of the issues with the most readings
    return rows[rows["issue_time"] == best]


def _draw_forecast(ax: Axes, rows: pd.DataFrame, model: str, time_col: str) -> None:
    def series(name: str, column: str) -> pd.Series:
        part = rows[rows["forecaster"] == name].drop_duplicates(time_col).set_index(time_col)[column]
        if time_col == "ts" and not part.empty:  # a regular hourly axis, so gaps between origins stay gaps
            part = part.reindex(pd.date_range(part.index.min(), part.index.max(), freq="h"))
        x = pd.DatetimeIndex(part.index)
        part.index = x.tz_convert("UTC").tz_localize(None) if x.tz is not None else x
        return part.astype(float)

    actual = series(model, "actual")
    low, p50, high = (series(model, c) for c in ("kwh_p10", P50, "kwh_p90"))
    ax.fill_between(low.index, low.to_numpy(), high.to_numpy(), color="#1f77b4", alpha=0.25, label="P10–P90")
    ax.plot(p50.index, p50.to_numpy(), color="#1f77b4", linewidth=1.2, label=f"{model} P50")
    if BASELINE in set(rows["forecaster"]):
        naive = series(BASELINE, P50)
        ax.plot(naive.index, naive.to_numpy(), color="#7f7f7f", linestyle="--", linewidth=0.9, label=BASELINE)
    ax.plot(actual.index, actual.to_numpy(), color="black", linewidth=1.0, label="actual")


def forecaster_colours(names: Any, model: str) -> dict[str, str]:
    """One colour per forecaster, the same in every plot: the model blue, the others in name order."""
    others = sorted({str(n) for n in names} - {model})
    return {model: _MODEL_COLOUR} | {n: _COLOURS[i % len(_COLOURS)] for i, n in enumerate(others)}


def plot_error_by_lead(evaluation: ForecastEvaluation) -> bytes | None:
    """NRMSE per lead hour of the hourly forecasts and per lead day of the daily ones, one line per forecaster."""
    panels = [(evaluation.hourly_by_lead, "lead_h", "lead time [h]", "Hourly forecast")]
    if evaluation.daily_by_lead is not None and not evaluation.daily_by_lead.empty:
        panels.append((evaluation.daily_by_lead, "lead_d", "lead time [d]", "Daily forecast"))
    if evaluation.hourly_by_lead.empty:
        return None
    colours = forecaster_colours(evaluation.hourly_by_lead["forecaster"], evaluation.model)
    fig = new_figure(5.5 * len(panels), 3.6)
    for ax, (table, lead, xlabel, title) in zip(
        np.atleast_1d(fig.subplots(1, len(panels))), panels, strict=True
    ):
        for name, part in table.groupby("forecaster", sort=False):
            marker = "." if lead == "lead_d" else None
            ax.plot(part[lead], part["nrmse"], marker=marker, color=colours.get(str(name)), label=str(name))
        ax.set(xlabel=xlabel, ylabel="NRMSE [-]", title=title, ylim=(0, None))
        ax.legend(fontsize="small")
    return png_bytes(fig)


def plot_calibration(evaluation: ForecastEvaluation) -> bytes | None:
    """Reliability of each quantile level (observed against nominal) and P10–P90 coverage per lead group."""
    table = evaluation.calibration
    if table.empty:
        return None
    colours = forecaster_colours(table["forecaster"], evaluation.model)
    fig = new_figure(11, 4.0)
    left, right = fig.subplots(1, 2)
    left.plot([0, 1], [0, 1], color="black", linewidth=0.6, label="nominal")
    for (resolution, group, name), part in table.groupby(["resolution", "group", "forecaster"], sort=False):
        if (resolution, group) in {("hourly", HEADLINE_GROUP), ("daily", "all")}:
            marker = "o-" if resolution == "hourly" else "s--"
            colour = colours.get(str(name))
            left.plot(part["nominal"], part["observed"], marker, color=colour, label=f"{name} ({resolution})")
    left.set(xlabel="nominal level", ylabel="observed share ≤ quantile", xlim=(0, 1), ylim=(0, 1))
    left.set_title("Reliability of the quantiles")
    left.legend(fontsize="x-small")
    _draw_coverage(right, evaluation, float(table["nominal"].max() - table["nominal"].min()), colours)
    return png_bytes(fig)


def _draw_coverage(ax: Axes, evaluation: ForecastEvaluation, nominal: float, colours: dict[str, str]) -> None:
    tables = [evaluation.hourly_by_group, evaluation.daily_by_group]
    groups = pd.concat([t for t in tables if t is not None and not t.empty], ignore_index=True)
    wide = groups.pivot_table(index="group", columns="forecaster", values="coverage", sort=False)
    x = np.arange(len(wide))
    width = 0.8 / max(1, len(wide.columns))
    for i, name in enumerate(wide.columns):
        offset = (i - (len(wide.columns) - 1) / 2) * width
        ax.bar(x + offset, 100 * wide[name], width, color=colours.get(str(name)), label=str(name))
    ax.axhline(
        100 * nominal, color="black", linewidth=0.9, linestyle=":", label=f"nominal {100 * nominal:.0f} %"
    )
    ax.set_xticks(x, [str(g) for g in wide.index])
    ax.set(ylabel="share inside P10–P90 [%]", ylim=(0, 100), title="Interval coverage by lead group")
    ax.legend(fontsize="x-small", loc="lower right")


def plot_per_home_nrmse(per_home: pd.DataFrame) -> bytes | None:
    """Box plot of per-home NRMSE per forecaster, every home drawn as a dot."""
    columns = [c for c in per_home.columns if per_home[c].notna().any()]
    if not columns:
        return None
    fig = new_figure(8, 0.9 + 0.6 * len(columns))
    ax = fig.subplots()
    values = [per_home[c].dropna().to_numpy() for c in columns]
    ax.boxplot(values, orientation="horizontal", showfliers=False)
    rng = np.random.default_rng(0)  # seeded jitter: the same report draws the same dots
    for i, v in enumerate(values, start=1):
        ax.scatter(v, i + rng.uniform(-0.15, 0.15, len(v)), s=8, color="#1f77b4", alpha=0.5, zorder=3)
    ax.set_yticks(range(1, len(columns) + 1), [str(c) for c in columns])
    ax.set(xlabel=f"NRMSE per home, {HEADLINE_GROUP} [-]", title="Per-home NRMSE")
    return png_bytes(fig)


def _remove_empty(lake: Any, folder: str) -> None:
    """Remove the lake's temporary folder when no other write is using it (it must not ship with the report)."""
    try:
        if lake.exists(folder) and not lake.fs.ls(folder):
            lake.fs.rmdir(folder)
    except OSError:
        pass
