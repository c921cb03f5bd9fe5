"""The evaluation of a backtest: every accuracy table of the forecast, and the scalar metrics logged with a run.

A pure function of the backtest frames (:class:`~training.forecast.backtest.BacktestResult`) and the home
attributes. It builds on :mod:`training.forecast.metrics` (pooled MAE, RMSE, NRMSE, MASE against the seasonal
naive, pinball loss, P10–P90 coverage, portfolio MAPE) and adds the views a reader needs:

- the headline: hourly forecasts of the next local day (group ``day+1``, the 24-h day-ahead horizon);
- error by lead (hourly lead days and lead hours, daily lead weeks and lead days) and by home segment (heating
  type, PV, EV, the meter's native resolution);
- the distribution of per-home NRMSE and the share of homes the model improves;
- the model's NRMSE improvement on each baseline, ``1 - nrmse_model / nrmse_baseline``;
- calibration: the observed share of actuals at or below each quantile forecast, against its nominal level.

A forecaster that covers fewer rows than the others (prophet, run on a sample of homes) is left out of the main
tables, which would otherwise shrink to its rows, and scored against the others on the rows of its homes in a
table of its own.

Invariants:
    Forecasters are compared on the same rows (:func:`training.forecast.metrics.common_rows`), so a table's rows
    differ between forecasters only in the forecast.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from training.forecast import metrics
from training.forecast.home_attributes import home_segments
from training.forecast.quantiles import P50

if TYPE_CHECKING:
    from training.forecast.backtest import BacktestResult

MODEL = "global_lightgbm"
HEADLINE_GROUP = "day+1"
SEGMENTS = ("heating", "pv", "ev", "resolution")
METRICS = ("mae", "rmse", "nrmse", "mase", "pinball", "coverage", "portfolio_mape")
HOME_QUANTILES = (10, 25, 50, 75, 90)
INTERVAL_MIN = "interval_min"
_QUANTILE_COLUMN = re.compile(r"^kwh_p(\d{2})$")


@dataclass(frozen=True)
class ForecastEvaluation:
    """Every accuracy table of a backtest (metric columns as in :func:`training.forecast.metrics.score`).

    Attributes:
        headline: hourly, group ``day+1``: one row per forecaster.
        hourly_by_group: hourly, per forecaster and lead day (``day+0``, ``day+1`` …).
        hourly_by_lead: hourly, per forecaster and lead hour ``lead_h`` [h]: ``rows``, ``nrmse``, ``coverage``.
        hourly_by_segment: segment name (``heating``, ``pv``, ``ev``, ``resolution``) → headline metrics per
            forecaster and segment value.
        per_home_nrmse: headline NRMSE per home (index ``home_id``), one column per forecaster [-].
        per_home_quantiles: per forecaster, the quantiles ``p10`` … ``p90`` of per-home NRMSE over homes [-].
        improvement: per resolution, scope and baseline: ``nrmse_model``, ``nrmse_baseline``, ``improvement``
            (``1 - nrmse_model / nrmse_baseline``) and ``share_of_homes_improved`` [0-1].
        calibration: per resolution, forecaster, group and quantile level: ``nominal`` and ``observed`` share of
            actuals at or below the quantile forecast [0-1]; group ``all`` pools every lead.
        daily_all: daily, every lead pooled, per forecaster; ``None`` without a daily backtest.
        daily_by_group: daily, per forecaster and lead week (``week+0`` …).
        daily_by_lead: daily, per forecaster and lead day ``lead_d`` [d]: ``rows``, ``nrmse``, ``coverage``.
        sample_tables: forecaster run on a sample of homes → the headline table of every forecaster on the
            common rows of those homes.
        model: the forecaster compared with the baselines.
    """

    headline: pd.DataFrame
    hourly_by_group: pd.DataFrame
    hourly_by_lead: pd.DataFrame
    hourly_by_segment: dict[str, pd.DataFrame]
    per_home_nrmse: pd.DataFrame
    per_home_quantiles: pd.DataFrame
    improvement: pd.DataFrame
    calibration: pd.DataFrame
    daily_all: pd.DataFrame | None = None
    daily_by_group: pd.DataFrame | None = None
    daily_by_lead: pd.DataFrame | None = None
    sample_tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    model: str = MODEL

    def metrics_flat(self) -> dict[str, float]:
        """Scalar metrics under MLflow-safe names, e.g. ``hourly_day1_nrmse_global_lightgbm``; finite values only.

        Names are ``{resolution}_{scope}_{metric}_{forecaster}`` (scope: ``day1``, ``day0`` …, ``all``,
        ``week0`` …), ``…_{segment}_{value}_{metric}_{forecaster}`` for segments, ``…_home_nrmse_p50_{forecaster}``
        for per-home quantiles, ``…_improvement_vs_{baseline}``, ``…_share_homes_improved_vs_{baseline}``,
        ``…_share_below_p10_{forecaster}`` for calibration and ``hourly_day1_{name}_homes_{metric}_{forecaster}``
        for a forecaster run on a sample of homes.
        """
        headline = _scope(HEADLINE_GROUP)
        out = _table_metrics(self.hourly_by_group, "hourly", "group")
        out |= _table_metrics(self.headline, f"hourly_{headline}")
        for segment, table in self.hourly_by_segment.items():
            for value, part in table.groupby(segment):
                out |= _table_metrics(
                    part, f"hourly_{headline}_{segment}_{value}", metric_names=("nrmse", "coverage")
                )
        for home in self.per_home_quantiles.to_dict("records"):
            for q in HOME_QUANTILES:
                out[_key("hourly", headline, "home_nrmse", f"p{q}", home["forecaster"])] = home[f"p{q}"]
        for gain in self.improvement.to_dict("records"):
            prefix = (gain["resolution"], _scope(gain["scope"]))
            out[_key(*prefix, "improvement_vs", gain["baseline"])] = gain["improvement"]
            out[_key(*prefix, "share_homes_improved_vs", gain["baseline"])] = gain["share_of_homes_improved"]
        for level in self.calibration.to_dict("records"):
            if (level["resolution"], level["group"]) in {("hourly", HEADLINE_GROUP), ("daily", "all")}:
                name = f"p{round(100 * level['nominal']):02d}"
                scope = (level["resolution"], _scope(level["group"]))
                out[_key(*scope, "share_below", name, level["forecaster"])] = level["observed"]
        out |= _table_metrics(self.daily_all, "daily_all")
        out |= _table_metrics(self.daily_by_group, "daily", "group")
        for sample, table in self.sample_tables.items():
            out |= _table_metrics(table, f"hourly_{headline}_{sample}_homes")
        scalars = {k: _as_float(v) for k, v in out.items()}
        return {k: v for k, v in scalars.items() if math.isfinite(v)}


def evaluate_backtests(
    hourly: BacktestResult, daily: BacktestResult | None, homes: pd.DataFrame, model: str = MODEL
) -> ForecastEvaluation:
    """Every accuracy table of an hourly (and optionally a daily) backtest.

    Args:
        hourly: the hourly backtest (``forecasts`` with ``ts``, ``lead_h`` and ``day+N`` groups).
        daily: the daily backtest (``local_date``, ``lead_d``, ``week+N`` groups), or ``None``.
        homes: the home attributes (``panel.homes``: ``home_id``, ``heating_types``, ``pv_kwp``, ``has_ev``,
            optionally ``interval_min`` [min]).
        model: the forecaster compared with the others (first in every table).
    """
    main, partial = split_sample_forecasters(hourly.forecasts)
    main = metrics.common_rows(metrics.with_segments(main, evaluation_segments(homes)))
    headline_rows = main[main["group"] == HEADLINE_GROUP]  # a row's group follows from its key: still common
    headline, per_home = metric_table(headline_rows, (), model), _per_home(headline_rows)
    improvement = [_improvement(headline, per_home, "hourly", HEADLINE_GROUP, model)]
    samples = {p: _sample_rows(hourly.forecasts, p, main) for p in partial}
    sample_tables = {p: metric_table(rows, (), model) for p, rows in samples.items()}
    for p, table in sample_tables.items():
        pair = table[table["forecaster"].isin([model, p])]
        scope = f"{HEADLINE_GROUP} {p} homes"
        improvement.append(_improvement(pair, _per_home(samples[p]), "hourly", scope, model))
    calibration = [calibration_table(main, "hourly")]
    daily_tables = _daily_tables(daily, model)
    daily_all, daily_calibration = daily_tables["daily_all"], daily_tables["calibration"]
    if daily_all is not None and daily_calibration is not None:
        improvement.append(_improvement(daily_all, daily_tables["per_home"], "daily", "all", model))
        calibration.append(daily_calibration)
    return ForecastEvaluation(
        headline=headline,
        hourly_by_group=metric_table(main, ("group",), model),
        hourly_by_lead=error_by(main, ["forecaster", "lead_h"]),
        hourly_by_segment={
            s: metric_table(headline_rows, (s,), model) for s in SEGMENTS if s in headline_rows.columns
        },
        per_home_nrmse=per_home,
        per_home_quantiles=_home_quantiles(per_home, model),
        improvement=_concat(improvement),
        calibration=pd.concat(calibration, ignore_index=True),
        daily_all=daily_all,
        daily_by_group=daily_tables["daily_by_group"],
        daily_by_lead=daily_tables["daily_by_lead"],
        sample_tables=sample_tables,
        model=model,
    )


def metric_table(frame: pd.DataFrame, by: Sequence[str] = (), model: str = MODEL) -> pd.DataFrame:
    """:func:`training.forecast.metrics.metric_table` in a fixed column order, sorted by ``by`` and then by
    forecaster (the model first); with ``homes`` (homes scored) when ``by`` is empty."""
    rows = metrics.common_rows(frame)
    table = _ordered(metrics.metric_table(rows, by=list(by)), by, model)
    if by or table.empty:
        return table
    homes = rows.groupby("forecaster")["home_id"].nunique()
    table.insert(1, "homes", table["forecaster"].map(homes).astype(int))
    return table


def split_sample_forecasters(forecasts: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The rows of the forecasters that cover the most rows, and the names of those covering fewer (a sample)."""
    counts = forecasts.groupby("forecaster").size()
    if counts.empty:
        return forecasts, []
    partial = sorted(str(name) for name in counts.index[counts < counts.max()])
    return forecasts[~forecasts["forecaster"].isin(partial)], partial


def evaluation_segments(homes: pd.DataFrame) -> pd.DataFrame:
    """The home segments (``heating``, ``pv``, ``ev``) and, where known, the native ``resolution`` (``15min`` …)."""
    segments = home_segments(homes)
    if INTERVAL_MIN in homes.columns:
        minutes = pd.to_numeric(homes[INTERVAL_MIN], errors="coerce").to_numpy(dtype=float)
        segments["resolution"] = [
            "unknown" if math.isnan(m) else ("daily" if m >= 1440 else f"{m:.0f}min") for m in minutes
        ]
    return segments


def error_by(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Pooled NRMSE and P10–P90 coverage of ``rows`` (already common rows) per ``keys``: ``rows``, ``nrmse``,
    ``coverage``. A cheap view for many small groups (lead hours), without the metrics that need a loop."""
    low, high = _outer_columns(rows)
    actual = rows["actual"].to_numpy(dtype=float)
    frame = rows[keys].assign(
        actual=actual,
        squared=(rows[P50].to_numpy(dtype=float) - actual) ** 2,
        inside=(actual >= rows[low].to_numpy(dtype=float)) & (actual <= rows[high].to_numpy(dtype=float)),
    )
    table = frame.groupby(keys, sort=True).agg(
        rows=("actual", "size"), mean=("actual", "mean"), mse=("squared", "mean"), coverage=("inside", "mean")
    )
    table["nrmse"] = np.sqrt(table["mse"]) / table["mean"].where(table["mean"] > 0)
    return table[["rows", "nrmse", "coverage"]].reset_index()


def calibration_table(forecasts: pd.DataFrame, resolution: str) -> pd.DataFrame:
    """Observed share of actuals at or below each quantile forecast, per forecaster and group and over ``all``.

    Returns:
        ``resolution``, ``forecaster``, ``group``, ``nominal`` and ``observed`` [0-1], ``rows``.
    """
    rows = metrics.common_rows(forecasts)
    levels = {c: int(m.group(1)) / 100 for c in rows.columns if (m := _QUANTILE_COLUMN.match(c))}
    actual = rows["actual"].to_numpy(dtype=float)
    below = pd.DataFrame({c: actual <= rows[c].to_numpy(dtype=float) for c in levels})
    below["forecaster"] = rows["forecaster"].to_numpy()
    below["group"] = rows["group"].to_numpy()
    parts = [below, below.assign(group="all")]
    records = [
        {
            "resolution": resolution,
            "forecaster": forecaster,
            "group": group,
            "nominal": level,
            "observed": float(part[column].mean()),
            "rows": len(part),
        }
        for frame in parts
        for (forecaster, group), part in frame.groupby(["forecaster", "group"])
        for column, level in levels.items()
    ]
    return pd.DataFrame(records, columns=["resolution", "forecaster", "group", "nominal", "observed", "rows"])


def _concat(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """The tables stacked; the empty ones only give the columns (concatenating them is deprecated)."""
    return pd.concat([t for t in tables if not t.empty] or tables[:1], ignore_index=True)


def _daily_tables(daily: BacktestResult | None, model: str) -> dict[str, pd.DataFrame | None]:
    """The daily tables (``None`` without a daily backtest), with its per-home NRMSE and calibration."""
    rows = split_sample_forecasters(daily.forecasts)[0] if daily is not None else pd.DataFrame()
    if rows.empty:
        return dict.fromkeys(("daily_all", "daily_by_group", "daily_by_lead", "per_home", "calibration"))
    rows = metrics.common_rows(rows)
    return {
        "daily_all": metric_table(rows, (), model),
        "daily_by_group": metric_table(rows, ("group",), model),
        "daily_by_lead": error_by(rows, ["forecaster", "lead_d"]),
        "per_home": _per_home(rows),
        "calibration": calibration_table(rows, "daily"),
    }


def _per_home(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-home NRMSE, a home whose mean actual is 0 counting as unknown."""
    return metrics.per_home_nrmse(frame).replace([np.inf, -np.inf], np.nan)


def _improvement(
    table: pd.DataFrame, per_home: pd.DataFrame | None, resolution: str, scope: str, model: str
) -> pd.DataFrame:
    """The model's NRMSE improvement on every other forecaster of a metric ``table``, pooled and per home."""
    columns = ["resolution", "scope", "baseline", "nrmse_model", "nrmse_baseline", "improvement"]
    columns.append("share_of_homes_improved")
    if table.empty or model not in set(table["forecaster"]):
        return pd.DataFrame(columns=columns)
    nrmse = table.set_index("forecaster")["nrmse"].astype(float)
    records = []
    for baseline in [str(b) for b in nrmse.index if b != model]:
        both = per_home[[model, baseline]].dropna() if per_home is not None else pd.DataFrame()
        records.append(
            {
                "resolution": resolution,
                "scope": scope,
                "baseline": baseline,
                "nrmse_model": nrmse[model],
                "nrmse_baseline": nrmse[baseline],
                "improvement": 1 - nrmse[model] / nrmse[baseline],
                "share_of_homes_improved": float((both[model] < both[baseline]).mean())
                if len(both)
                else np.nan,
            }
        )
    return pd.DataFrame(records, columns=columns)


def _sample_rows(forecasts: pd.DataFrame, name: str, main: pd.DataFrame) -> pd.DataFrame:
    """Headline rows of ``name`` and of every main forecaster, on the homes ``name`` forecast."""
    own = forecasts[forecasts["forecaster"] == name]
    rest = main[main["home_id"].isin(set(own["home_id"]))][forecasts.columns]
    rows = pd.concat([rest, own], ignore_index=True)
    return rows[rows["group"] == HEADLINE_GROUP]


def _home_quantiles(per_home: pd.DataFrame, model: str) -> pd.DataFrame:
    records = [
        {"forecaster": str(name), "homes": int(per_home[name].notna().sum())}
        | {f"p{q}": float(per_home[name].quantile(q / 100)) for q in HOME_QUANTILES}
        for name in per_home.columns
    ]
    columns = ["forecaster", "homes", *(f"p{q}" for q in HOME_QUANTILES)]
    return _ordered(pd.DataFrame(records, columns=columns), model=model)


def _ordered(table: pd.DataFrame, by: Sequence[str] = (), model: str = MODEL) -> pd.DataFrame:
    """``table`` sorted by ``by``, then the model first and the other forecasters by name; the metric columns in
    the order of :data:`METRICS` (MASE is NaN without a seasonal naive)."""
    if table.empty or "forecaster" not in table.columns:
        return table
    rank = (table["forecaster"] != model).astype(int).astype(str) + table["forecaster"].astype(str)
    table = table.assign(_rank=rank).sort_values([*by, "_rank"], kind="stable").drop(columns="_rank")
    if "nrmse" in table.columns:
        table = table.reindex(columns=["forecaster", *by, "rows", *METRICS])
    return table.reset_index(drop=True)


def _table_metrics(
    table: pd.DataFrame | None, prefix: str, by: str | None = None, metric_names: tuple[str, ...] = METRICS
) -> dict[str, object]:
    if table is None or table.empty:
        return {}
    out: dict[str, object] = {}
    for row in table.to_dict("records"):
        scope = [_scope(str(row[by]))] if by is not None else []
        for name in metric_names:
            if name in row:
                out[_key(prefix, *scope, name, str(row["forecaster"]))] = row[name]
    return out


def _outer_columns(frame: pd.DataFrame) -> tuple[str, str]:
    levels = sorted(c for c in frame.columns if _QUANTILE_COLUMN.match(c))
    return levels[0], levels[-1]


def _scope(group: str) -> str:
    """A group as a name part: ``day+1`` → ``day1``."""
    return group.replace("+", "").replace(" ", "_")


def _key(*parts: object) -> str:
    """An MLflow-safe metric name: the parts joined by ``_``, anything but ``[A-Za-z0-9_-./ ]`` replaced."""
    return re.sub(r"[^A-Za-z0-9_\-./ ]", "_", "_".join(str(p) for p in parts))


def _as_float(value: object) -> float:
    """``value`` as a float; NaN when it is not a number."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
