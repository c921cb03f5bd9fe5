"""The plots of the quality report, each rendered to PNG bytes on its own Agg canvas (:mod:`data_prep.quality.figures`).

matplotlib is imported inside the functions (the CLI must start fast). Each function returns ``None`` when it has
nothing to draw.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from contracts.schemas import HOME_ID, INTERVAL_MIN, KWH, TS
from data_prep.quality.figures import fitted_png, new_figure
from data_prep.quality.metrics import ANOMALY_TYPES, anomaly_column

_MAX_STEPS = 2000  # steps of an area over homes: more than its panel is pixels wide
_PERCENT_TICKS = range(0, 101, 20)  # the axes of shares reach past 100 %, to leave room for bar labels
_BLUE, _ORANGE, _RED, _GREY, _GREEN = "#1f77b4", "#ff7f0e", "#d62728", "#7f7f7f", "#2ca02c"


def natural_order(values: Any) -> list[Any]:
    """Values sorted by the first number they contain, then as text (``3h`` before ``24h`` before ``72h``)."""

    def key(value: Any) -> tuple[float, str]:
        match = re.search(r"-?\d+(\.\d+)?", str(value))
        return (float(match.group()) if match else float("inf"), str(value))

    return sorted(pd.unique(pd.Series(list(values))), key=key)


def plot_completeness(home_metrics: pd.DataFrame) -> bytes | None:
    """Histogram of completeness over homes, with the share imputed alongside [%]."""
    if home_metrics.empty:
        return None
    fig = new_figure(9, 3.6, layout=None)
    left, right = fig.subplots(1, 2)
    completeness = 100 * home_metrics["completeness"].dropna()
    # One filled outline rather than a bar per bin: the same picture with one artist.
    counts, edges = np.histogram(completeness, bins=min(30, max(5, len(completeness) // 2)))
    left.stairs(counts, edges, fill=True, color=_BLUE)
    median = float(completeness.median())
    left.axvline(median, color=_RED, linestyle="--", label=f"median {median:.1f} %")
    left.set(xlabel="completeness: observed / grid slots [%]", ylabel="homes", title="Completeness per home")
    left.legend(loc="upper left")
    _draw_grid_shares(right, home_metrics.sort_values(["completeness", "home_id"]))
    return fitted_png(fig)


def _draw_grid_shares(ax: Any, homes: pd.DataFrame) -> None:
    # One filled area per share, not one bar per home: a thousand homes would mean three thousand artists.
    # Beyond _MAX_STEPS homes, neighbours are averaged in groups: a pixel column already shows their mean.
    columns = ["completeness", "share_imputed", "share_missing"]
    edges = np.linspace(0, len(homes), min(len(homes), _MAX_STEPS) + 1).round().astype(int)
    shares = 100 * homes[columns].fillna(0).to_numpy(dtype=float)
    shares = np.add.reduceat(shares, edges[:-1], axis=0) / np.diff(edges)[:, None]
    x, bottom = edges - 0.5, np.zeros(len(edges))
    styles = ((_BLUE, "observed"), (_ORANGE, "imputed"), (_GREY, "missing"))
    for height, (color, label) in zip(shares.T, styles, strict=True):
        height = np.append(height, height[-1:])
        ax.fill_between(x, bottom, bottom + height, step="post", color=color, label=label, linewidth=0)
        bottom = bottom + height
    # Most homes are nearly complete: start the axis just below the least complete one so differences show.
    floor = float(np.floor(max(0.0, 100 * homes["completeness"].min() - 2) / 10) * 10)
    ylabel = "share of slots [%]" if floor == 0 else f"share of slots [%], axis from {floor:.0f}"
    ax.set(
        xlabel="homes, least complete first", ylabel=ylabel, ylim=(floor, 100), title="What fills each grid"
    )
    ax.set_xticks([])
    ax.legend(loc="lower right")


def plot_quarantine_reasons(quarantine_summary: pd.DataFrame) -> bytes | None:
    """Quarantined rows per reason, stacked by source."""
    if quarantine_summary.empty:
        return None
    table = quarantine_summary.pivot_table(index="reason", columns="source", values="n_rows", aggfunc="sum")
    table = table.fillna(0).loc[lambda t: t.sum(axis=1).sort_values().index]
    fig = new_figure(8, max(2.4, 0.8 + 0.35 * len(table)), layout=None)
    ax = fig.subplots()
    left = np.zeros(len(table))
    for source in table.columns:
        ax.barh(table.index, table[source], left=left, label=str(source))
        left += table[source].to_numpy()
    ax.set(xlabel="quarantined rows", title="Why rows went to quarantine")
    ax.legend(loc="lower right")
    return fitted_png(fig)


def plot_anomalies(home_metrics: pd.DataFrame) -> bytes | None:
    """Flagged readings per anomaly type, and in how many homes each type occurs."""
    if home_metrics.empty:
        return None
    counts = pd.Series({k: int(home_metrics[anomaly_column(k)].sum()) for k in ANOMALY_TYPES})
    homes = pd.Series({k: int(home_metrics[anomaly_column(k)].gt(0).sum()) for k in ANOMALY_TYPES})
    fig = new_figure(9, 3.4, layout=None)
    left, right = fig.subplots(1, 2)
    left.bar(counts.index, counts.to_numpy(), color=_RED)
    left.set(ylabel="flagged readings", title="Anomalies by type")
    right.bar(homes.index, homes.to_numpy(), color=_GREY)
    right.set(ylabel="homes", title="Homes with at least one")
    for ax in (left, right):
        ax.tick_params(axis="x", labelrotation=30)
    return fitted_png(fig)


def plot_imputation_mae(imputation_scores: pd.DataFrame) -> bytes | None:
    """Masked-gap MAE of each candidate strategy per gap class, weighted by points over homes [kWh]."""
    scores = imputation_scores.dropna(subset=["mae_kwh"])
    if scores.empty:
        return None
    table = weighted_mae(scores)
    classes = natural_order(table["gap_class"])
    strategies = sorted(table["strategy"].unique())
    wide = table.pivot_table(index="gap_class", columns="strategy", values="mae_kwh").reindex(classes)
    fig = new_figure(9, 3.8, layout=None)
    ax = fig.subplots()
    width = 0.8 / max(1, len(strategies))
    x = np.arange(len(classes))
    for i, strategy in enumerate(strategies):
        ax.bar(x + (i - (len(strategies) - 1) / 2) * width, wide[strategy].to_numpy(), width, label=strategy)
    ax.set_xticks(x, [str(c) for c in classes])
    ax.set(
        xlabel="gap class",
        ylabel="MAE on masked gaps [kWh]",
        title="Imputation error by strategy and gap length",
    )
    ax.legend(fontsize="small", ncols=min(3, len(strategies)))
    return fitted_png(fig)


def weighted_mae(imputation_scores: pd.DataFrame) -> pd.DataFrame:
    """Mean MAE per strategy and gap class over homes, weighted by each home's scored points [kWh]."""
    scores = imputation_scores.dropna(subset=["mae_kwh"])
    weight = scores["n_points"].clip(lower=0).astype(float)
    weighted = scores.assign(w=weight, w_mae=weight * scores["mae_kwh"])
    table = weighted.groupby(["strategy", "gap_class"], sort=True).agg(
        n_homes=(HOME_ID, "nunique"), n_points=("n_points", "sum"), w=("w", "sum"), w_mae=("w_mae", "sum")
    )
    table["mae_kwh"] = table["w_mae"] / table["w"].where(table["w"] > 0)
    return table.drop(columns=["w", "w_mae"]).reset_index()


def plot_detection(by_fault_type: pd.DataFrame, by_code: pd.DataFrame) -> bytes | None:
    """Recall (or landed / accepted share) per fault type, and precision per detection code [%]."""
    if by_fault_type.empty and by_code.empty:
        return None
    fig = new_figure(10, 0.9 + 0.32 * max(len(by_fault_type), len(by_code), 3), layout=None)
    left, right = fig.subplots(1, 2)
    recall = by_fault_type.sort_values("fault_type", ascending=False)
    labels = [
        f"{t} ({m})" if m != "recall" else t
        for t, m in zip(recall["fault_type"], recall["metric"], strict=True)
    ]
    bars = left.barh(labels, 100 * recall["recall"], color=_GREEN)
    left.bar_label(bars, fmt="%.0f %%", padding=2, fontsize="small")
    left.set(xlim=(0, 125), xticks=_PERCENT_TICKS, xlabel="[%]", title="Recall per injected fault type")
    precision = by_code.sort_values("code", ascending=False)
    bars = right.barh(precision["code"], 100 * precision["precision"], color=_BLUE)
    right.bar_label(bars, fmt="%.0f %%", padding=2, fontsize="small")
    right.set(xlim=(0, 125), xticks=_PERCENT_TICKS, xlabel="[%]", title="Precision per detection code")
    return fitted_png(fig)


def plot_imputation_error(imputation_eval: pd.DataFrame) -> bytes | None:
    """MAE and bias of imputed values against the clean truth per strategy [kWh]."""
    if imputation_eval.empty:
        return None
    table = imputation_eval.sort_values("mae_kwh")
    label_col = "imputation_strategy" if "imputation_strategy" in table.columns else table.columns[0]
    fig = new_figure(8, 0.9 + 0.35 * len(table), layout=None)
    ax = fig.subplots()
    y = np.arange(len(table))
    ax.barh(y - 0.2, table["mae_kwh"], 0.4, color=_BLUE, label="MAE")
    ax.barh(y + 0.2, table["bias_kwh"], 0.4, color=_ORANGE, label="bias (imputed − true)")
    ax.set_yticks(y, table[label_col].astype(str))
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set(xlabel="[kWh]", title="Imputed values against the clean truth")
    ax.legend(loc="lower right")
    return fitted_png(fig)


def plot_sample_series(sample_series: pd.DataFrame, max_homes: int = 3) -> bytes | None:
    """One panel per home: the processed series, imputed points, anomalies at their raw value, gaps."""
    if sample_series.empty:
        return None
    homes = sorted(sample_series[HOME_ID].unique())[:max_homes]
    fig = new_figure(11, 2.8 * len(homes), layout=None)
    axes = np.atleast_1d(fig.subplots(len(homes), 1, squeeze=False)[:, 0])
    for ax, home in zip(axes, homes, strict=True):
        _draw_home(ax, sample_series.loc[sample_series[HOME_ID].eq(home)].sort_values(TS), str(home))
    # One legend for all panels: a home without missing slots must not hide the "missing" entry.
    legend: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    fig.legend(legend.values(), legend.keys(), loc="upper center", ncols=len(legend), fontsize="small")
    axes[-1].set_xlabel("time [UTC]")
    return fitted_png(fig)


def _draw_home(ax: Any, home: pd.DataFrame, home_id: str) -> None:
    ts = home[TS].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    kwh = home[KWH].to_numpy(dtype=float)
    imputed = home["imputation_strategy"].notna().to_numpy() & np.isfinite(kwh)
    anomaly = home["anomaly"].notna().to_numpy()
    missing = ~np.isfinite(kwh)
    finite = kwh[np.isfinite(kwh)]
    top = float(np.nanmax(finite)) * 1.3 if finite.size and np.nanmax(finite) > 0 else 1.0
    ax.plot(ts, kwh, color=_BLUE, linewidth=0.8, label="kwh (processed)")
    ax.scatter(ts[imputed], kwh[imputed], s=10, color=_ORANGE, zorder=3, label="imputed")
    # A spike can be 100x the usual level: clip it to the top edge so the series stays readable.
    raw = np.clip(home["kwh_raw"].to_numpy(dtype=float)[anomaly], None, top)
    raw = np.where(np.isfinite(raw), raw, top)
    ax.scatter(ts[anomaly], raw, s=28, marker="x", color=_RED, zorder=4, label="anomaly (raw value)")
    if missing.any():
        ax.broken_barh(
            _missing_spans(ts, missing, interval=np.timedelta64(int(home[INTERVAL_MIN].iloc[0]), "m")),
            (0.0, 1.0),
            transform=ax.get_xaxis_transform(),
            color=_GREY,
            alpha=0.3,
            linewidth=0,
            label="missing",
        )
    ax.set(
        ylabel="[kWh]", title=f"home {home_id}", ylim=(min(0.0, float(np.nanmin(finite, initial=0.0))), top)
    )


def _missing_spans(
    ts: np.ndarray, missing: np.ndarray, interval: np.timedelta64
) -> list[tuple[float, float]]:
    """(start, width) in Matplotlib date units of each run of missing slots, each slot covering
    ``[ts, ts + interval)``; slots merge into one band only when they follow each other on the grid."""
    from matplotlib.dates import date2num

    starts, ends = ts[missing], ts[missing] + interval
    new_run = np.r_[True, starts[1:] != ends[:-1]]
    last = np.r_[new_run[1:], True]
    left, right = date2num(starts[new_run]), date2num(ends[last])
    return list(zip(left.tolist(), (right - left).tolist(), strict=True))
