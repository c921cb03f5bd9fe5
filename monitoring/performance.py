"""Forecast accuracy once the actuals have arrived: the stored hourly forecasts against the curated consumption.

Pure pandas. A scored row is one stored hourly forecast (home, issue time, hour) whose actual is known:

- ``error`` = P50 − actual [kWh] (positive: the forecast was too high), ``abs_error`` = |error|;
- ``inside`` = 1 when P10 ≤ actual ≤ P90, else 0;
- ``lead_h`` = hours from the issue time to the hour's start; ``lead_day`` = the hour's local date minus the
  issue's local date (``day+1`` is the next local day, the backtest's headline group), in the home's time zone.

Tables (:func:`accuracy_table`) pool the rows of a group: ``mae`` = mean |error|, ``bias`` = mean error,
``rmse``, ``nrmse`` = rmse / mean actual, ``coverage`` = mean of ``inside``. :func:`compare_with_backtest` puts
the backtest's figure for the same lead day (MAE) or segment (NRMSE, ``day+1`` rows) beside each, and their ratio.

Invariants:
    A forecast is scored only against the actual of the hour it forecast; rows without an actual are left out,
    never counted as errors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contracts.schemas import HOME_ID, KWH, TS

MODEL_METRIC_SUFFIX = "global_lightgbm"
HEADLINE = "day+1"
ACCURACY_COLUMNS = ["rows", "homes", "mean_actual", "mae", "bias", "rmse", "nrmse", "coverage"]
SEGMENT_COHORTS = ("heating", "pv")  # the cohorts the backtest logs per segment


def scored_forecasts(forecasts: pd.DataFrame, actuals: pd.DataFrame, homes: pd.DataFrame) -> pd.DataFrame:
    """The hourly forecasts with their actuals, errors and horizons.

    Args:
        forecasts: stored forecasts (``home_id``, ``resolution``, ``issue_time`` [UTC], ``period_start`` [UTC
            hour start, naive or aware], ``lead``, ``kwh_p10``, ``kwh_p50``, ``kwh_p90``, ``model_version``);
            rows of other resolutions are ignored.
        actuals: curated hourly consumption (``home_id``, ``ts`` [UTC], ``kwh``).
        homes: home attributes with ``timezone`` (UTC when missing).

    Returns:
        One row per hourly forecast with a known actual: the forecast's columns, ``ts``, ``actual``, ``error``,
        ``abs_error``, ``inside``, ``lead_h``, ``lead_day``.
    """
    hourly = forecasts[forecasts["resolution"] == "hourly"].copy()
    hourly[TS] = _utc(hourly["period_start"])
    hourly["issue_time"] = _utc(hourly["issue_time"])
    known = actuals[[HOME_ID, TS, KWH]].dropna(subset=[KWH]).rename(columns={KWH: "actual"})
    known = known.assign(**{TS: _utc(known[TS])}).drop_duplicates([HOME_ID, TS])
    scored = hourly.merge(known, on=[HOME_ID, TS], how="inner")
    scored["error"] = scored["kwh_p50"].astype(float) - scored["actual"].astype(float)
    scored["abs_error"] = scored["error"].abs()
    inside = (scored["actual"] >= scored["kwh_p10"]) & (scored["actual"] <= scored["kwh_p90"])
    scored["inside"] = inside.astype(float)
    lead = (scored[TS] - scored["issue_time"]).dt.total_seconds() / 3600
    scored["lead_h"] = lead.round().astype(int)
    scored["lead_day"] = _lead_days(scored, homes)
    return scored.reset_index(drop=True)


def _utc(values: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(values)
    if stamps.dt.tz is None:
        return stamps.dt.tz_localize("UTC")
    return stamps.dt.tz_convert("UTC")


def _lead_days(scored: pd.DataFrame, homes: pd.DataFrame) -> pd.Series:
    """``day+N``: the local date of the hour minus the local date of the issue, per home's time zone."""
    zones = (
        homes.drop_duplicates(HOME_ID, keep="last").set_index(HOME_ID)["timezone"]
        if "timezone" in homes.columns
        else pd.Series(dtype=object)
    )
    days = pd.Series(0, index=scored.index, dtype=np.int64)
    zone_of_row = scored[HOME_ID].map(zones).fillna("UTC").astype(str)
    for zone, rows in scored.groupby(zone_of_row):
        target = rows[TS].dt.tz_convert(zone).dt.tz_localize(None).dt.normalize()
        issue = rows["issue_time"].dt.tz_convert(zone).dt.tz_localize(None).dt.normalize()
        days.loc[rows.index] = ((target - issue) / pd.Timedelta(days=1)).round().astype(np.int64)
    return "day+" + days.astype(str)


def accuracy_table(scored: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Pooled accuracy of ``scored`` per ``by`` group (all rows as one group when ``by`` is empty).

    Returns:
        ``by`` columns, then ``rows``, ``homes``, ``mean_actual`` [kWh], ``mae`` [kWh], ``bias`` [kWh], ``rmse``
        [kWh], ``nrmse`` [-], ``coverage`` [0-1]; sorted by ``by``.
    """
    frame = scored.assign(squared=scored["error"] ** 2, _all="all")
    grouped = frame.groupby(by or ["_all"], sort=True)
    table = grouped.agg(
        rows=("error", "size"),
        homes=(HOME_ID, "nunique"),
        mean_actual=("actual", "mean"),
        mae=("abs_error", "mean"),
        bias=("error", "mean"),
        mse=("squared", "mean"),
        coverage=("inside", "mean"),
    )
    table["rmse"] = np.sqrt(table["mse"])
    table["nrmse"] = table["rmse"] / table["mean_actual"].where(table["mean_actual"] > 0)
    return table.reset_index()[[*by, *ACCURACY_COLUMNS]]


def lead_day_number(lead_day: str) -> int:
    """``day+1`` → 1."""
    return int(str(lead_day).split("+", 1)[1])


def compare_with_backtest(by_lead: pd.DataFrame, backtest: dict[str, float]) -> pd.DataFrame:
    """``by_lead`` (``accuracy_table(…, ["lead_day"])``) with the backtest's MAE of each lead day and the ratio.

    Adds ``backtest_mae`` (NaN when the run logged none for that lead day) and ``mae_ratio`` = mae / backtest_mae.
    """
    out = by_lead.copy()
    out["backtest_mae"] = [
        backtest.get(f"hourly_day{lead_day_number(d)}_mae_{MODEL_METRIC_SUFFIX}", np.nan)
        for d in out["lead_day"]
    ]
    out["mae_ratio"] = out["mae"] / out["backtest_mae"].where(out["backtest_mae"] > 0)
    return out


def compare_cohorts_with_backtest(by_cohort: pd.DataFrame, backtest: dict[str, float]) -> pd.DataFrame:
    """A cohort table (``cohort``, ``value`` and the accuracy columns, day+1 rows) with the backtest's NRMSE of
    the same segment (heating and PV; NaN for the region, which the backtest does not log) and the ratio."""
    out = by_cohort.copy()
    out["backtest_nrmse"] = [
        backtest.get(f"hourly_day1_{c}_{v}_nrmse_{MODEL_METRIC_SUFFIX}", np.nan)
        if c in SEGMENT_COHORTS
        else np.nan
        for c, v in zip(out["cohort"], out["value"], strict=True)
    ]
    out["nrmse_ratio"] = out["nrmse"] / out["backtest_nrmse"].where(out["backtest_nrmse"] > 0)
    return out


def cohort_accuracy(scored: pd.DataFrame, cohorts: tuple[str, ...]) -> pd.DataFrame:
    """Accuracy of the headline (``day+1``) rows per cohort value, stacked: ``cohort``, ``value``, then the
    accuracy columns."""
    headline = scored[scored["lead_day"] == HEADLINE]
    parts = []
    for cohort in cohorts:
        if cohort in headline.columns and not headline.empty:
            table = accuracy_table(headline, [cohort]).rename(columns={cohort: "value"})
            parts.append(table.assign(cohort=cohort, value=table["value"].astype(str)))
    if not parts:
        return pd.DataFrame(columns=["cohort", "value", *ACCURACY_COLUMNS])
    return pd.concat(parts, ignore_index=True)[["cohort", "value", *ACCURACY_COLUMNS]]
