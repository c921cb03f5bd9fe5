"""Forecast accuracy: point and quantile metrics, by horizon and by segment, on a backtest's long frame.

Point metrics use the P50 (``kwh_p50``), the point forecast:

- MAE, RMSE, and NRMSE = RMSE / mean actual (pooled over the rows scored);
- MASE = MAE / MAE of the seasonal-naive forecast on the same rows (out-of-sample scaling: below 1 beats it);
- pinball loss per quantile level (averaged over the levels), P10–P90 interval coverage;
- portfolio aggregate MAPE: actuals and P50s summed over every home per target interval, then the mean
  absolute percentage error of those totals.

Invariants:
    Forecasters are compared on the same rows: a row counts only where every forecaster has a P50 and the actual
    is known (:func:`common_rows`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from training.forecast.quantiles import P50, quantile_column

SEASONAL_NAIVE = "seasonal_naive"


def mae(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute error [kWh per interval]."""
    return float(np.mean(np.abs(forecast - actual)))


def rmse(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Root mean squared error [kWh per interval]."""
    return float(np.sqrt(np.mean((forecast - actual) ** 2)))


def nrmse(actual: np.ndarray, forecast: np.ndarray) -> float:
    """RMSE divided by the mean actual [-]; NaN when the mean actual is 0."""
    mean = float(np.mean(actual))
    return rmse(actual, forecast) / mean if mean > 0 else float("nan")


def pinball(actual: np.ndarray, forecast: np.ndarray, q: float) -> float:
    """Mean pinball (quantile) loss of level ``q`` [kWh per interval]."""
    diff = actual - forecast
    return float(np.mean(np.maximum(q * diff, (q - 1) * diff)))


def coverage(actual: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    """Share of actuals inside ``[low, high]`` [0-1]."""
    return float(np.mean((actual >= low) & (actual <= high)))


def portfolio_mape(frame: pd.DataFrame, interval: str) -> float:
    """MAPE of the portfolio total per target interval (``interval``: ``ts`` or ``local_date``) [%]."""
    totals = frame.groupby(interval)[["actual", P50]].sum()
    totals = totals[totals["actual"] > 0]
    return float(100 * np.mean(np.abs(totals[P50] - totals["actual"]) / totals["actual"]))


def common_rows(forecasts: pd.DataFrame) -> pd.DataFrame:
    """The rows of a backtest frame where the actual and every forecaster's P50 are known."""
    key = _row_key(forecasts)
    known = forecasts[P50].notna() & forecasts["actual"].notna()
    complete = known.groupby([forecasts[c] for c in key]).transform("all")
    counts = forecasts.groupby(key)["forecaster"].transform("size")
    n_forecasters = forecasts["forecaster"].nunique()
    return forecasts[complete & (counts == n_forecasters)]


def score(frame: pd.DataFrame, quantiles: Sequence[float] = (0.1, 0.5, 0.9)) -> dict[str, float]:
    """Every metric of one forecaster's rows (no MASE: that needs the seasonal naive, see :func:`metric_table`)."""
    actual = frame["actual"].to_numpy(dtype=float)
    point = frame[P50].to_numpy(dtype=float)
    low, high = quantile_column(min(quantiles)), quantile_column(max(quantiles))
    interval = "ts" if "ts" in frame.columns else "local_date"
    return {
        "rows": float(len(frame)),
        "mae": mae(actual, point),
        "rmse": rmse(actual, point),
        "nrmse": nrmse(actual, point),
        "pinball": float(
            np.mean([pinball(actual, frame[quantile_column(q)].to_numpy(), q) for q in quantiles])
        ),
        "coverage": coverage(actual, frame[low].to_numpy(), frame[high].to_numpy()),
        "portfolio_mape": portfolio_mape(frame, interval),
    }


def metric_table(forecasts: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Metrics per forecaster and ``by`` group on the common rows, with MASE against the seasonal naive.

    Args:
        forecasts: a backtest frame (optionally with segment columns added, see :func:`with_segments`).
        by: grouping columns, e.g. ``("group",)`` for the horizon, ``("heating",)`` for a segment.
    """
    rows = common_rows(forecasts)
    keys = ["forecaster", *by]
    records = [
        {**dict(zip(keys, _tuple(key), strict=True)), **score(part)} for key, part in rows.groupby(keys)
    ]
    table = pd.DataFrame(records)
    if table.empty or SEASONAL_NAIVE not in set(table["forecaster"]):
        return table
    naive = table.loc[table["forecaster"] == SEASONAL_NAIVE, [*by, "mae"]].rename(
        columns={"mae": "naive_mae"}
    )
    table = (
        table.merge(naive, on=list(by), how="left")
        if by
        else table.assign(naive_mae=naive["naive_mae"].iloc[0])
    )
    table["mase"] = table["mae"] / table.pop("naive_mae")
    return table


def per_home_nrmse(forecasts: pd.DataFrame) -> pd.DataFrame:
    """NRMSE of each home and forecaster on the common rows: one row per home, one column per forecaster."""
    rows = common_rows(forecasts)
    squared = (rows[P50] - rows["actual"]) ** 2
    grouped = rows.assign(squared=squared).groupby(["home_id", "forecaster"])
    table = np.sqrt(grouped["squared"].mean()) / grouped["actual"].mean()
    return table.unstack("forecaster")


def with_segments(forecasts: pd.DataFrame, segments: pd.DataFrame) -> pd.DataFrame:
    """A backtest frame with the home segments (``heating``, ``pv``, ``ev``) joined on ``home_id``."""
    return forecasts.merge(segments, on="home_id", how="left")


def _row_key(forecasts: pd.DataFrame) -> list[str]:
    target = "ts" if "ts" in forecasts.columns else "local_date"
    return ["home_id", "issue_time", target]


def _tuple(key: object) -> tuple[object, ...]:
    return key if isinstance(key, tuple) else (key,)
