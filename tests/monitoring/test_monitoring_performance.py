"""Forecast accuracy against actuals on a frame small enough to check by hand, and its thresholds."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from contracts.monitoring_settings import MonitoringSettings
from monitoring import performance as perf
from monitoring.thresholds import performance_breaches

ISSUE = pd.Timestamp("2025-02-01T09:00", tz="UTC")  # 10:00 in Stockholm


def _forecasts() -> pd.DataFrame:
    """Home a (Stockholm): two hours of the next local day; home b (UTC): one hour; one daily row ignored."""
    rows = [
        # home, period_start (UTC), p10, p50, p90
        ("a", "2025-02-01T23:00", 0.5, 1.0, 1.5),  # 00:00 local on 02-02: day+1
        ("a", "2025-02-02T00:00", 0.5, 2.0, 2.5),
        ("b", "2025-02-02T23:00", 1.0, 3.0, 4.0),  # UTC home: still 02-02, day+1
    ]
    frame = pd.DataFrame(rows, columns=["home_id", "period_start", "kwh_p10", "kwh_p50", "kwh_p90"])
    frame["period_start"] = pd.to_datetime(frame["period_start"])  # naive UTC, as stored
    frame = frame.assign(resolution="hourly", issue_time=ISSUE, lead=1, model_version="3")
    daily = frame.iloc[[0]].assign(resolution="daily")
    return pd.concat([frame, daily], ignore_index=True)


ACTUALS = pd.DataFrame(
    {
        "home_id": ["a", "a", "b", "b"],
        "ts": pd.to_datetime(
            ["2025-02-01T23:00", "2025-02-02T00:00", "2025-02-02T23:00", "2025-02-03T00:00"], utc=True
        ),
        "kwh": [2.0, 2.0, 1.0, 9.0],  # the last hour was not forecast
    }
)
HOMES = pd.DataFrame({"home_id": ["a", "b"], "timezone": ["Europe/Stockholm", None]})


def test_scored_rows_errors_coverage_and_lead_day():
    scored = perf.scored_forecasts(_forecasts(), ACTUALS, HOMES).sort_values(["home_id", "ts"])
    assert scored["error"].tolist() == [-1.0, 0.0, 2.0]  # P50 − actual
    assert scored["inside"].tolist() == [0.0, 1.0, 1.0]  # 2.0 > 1.5; 2.0 in [0.5, 2.5]; 1.0 in [1, 4]
    assert scored["lead_day"].tolist() == ["day+1", "day+1", "day+1"]
    assert scored["lead_h"].tolist() == [14, 15, 38]


def test_accuracy_table_pools_the_rows():
    scored = perf.scored_forecasts(_forecasts(), ACTUALS, HOMES)
    table = perf.accuracy_table(scored, []).iloc[0]
    assert table["rows"] == 3 and table["homes"] == 2
    assert table["mae"] == pytest.approx(1.0)  # (1 + 0 + 2) / 3
    assert table["bias"] == pytest.approx(1 / 3)  # (-1 + 0 + 2) / 3
    assert table["coverage"] == pytest.approx(2 / 3)
    assert table["rmse"] == pytest.approx(math.sqrt(5 / 3))
    assert table["nrmse"] == pytest.approx(math.sqrt(5 / 3) / (5 / 3))
    by_home = perf.accuracy_table(scored, ["home_id"]).set_index("home_id")
    assert by_home.loc["a", "mae"] == pytest.approx(0.5) and by_home.loc["b", "mae"] == pytest.approx(2.0)


def test_backtest_comparison_gives_the_ratio_per_lead_day_and_segment():
    scored = perf.scored_forecasts(_forecasts(), ACTUALS, HOMES).assign(pv=["yes", "yes", "no"])
    backtest = {"hourly_day1_mae_global_lightgbm": 0.5, "hourly_day1_pv_no_nrmse_global_lightgbm": 1.0}
    lead = perf.compare_with_backtest(perf.accuracy_table(scored, ["lead_day"]), backtest).iloc[0]
    assert lead["backtest_mae"] == 0.5 and lead["mae_ratio"] == pytest.approx(2.0)
    cohorts = perf.compare_cohorts_with_backtest(perf.cohort_accuracy(scored, ("pv",)), backtest)
    cohorts = cohorts.set_index("value")
    assert cohorts.loc["no", "nrmse_ratio"] == pytest.approx(2.0)  # rmse 2 / mean actual 1, against 1.0
    assert math.isnan(cohorts.loc["yes", "nrmse_ratio"])  # nothing logged for pv=yes: never judged


def _lead_table(mae: float, coverage: float, rows: int = 500) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model_version": ["3"],
            "lead_day": ["day+1"],
            "rows": [rows],
            "mae": [mae],
            "coverage": [coverage],
            "backtest_mae": [0.2],
            "mae_ratio": [mae / 0.2],
        }
    )


EMPTY_COHORTS = pd.DataFrame(columns=["model_version", "cohort", "value", "rows", "nrmse", "nrmse_ratio"])


@pytest.mark.parametrize(
    ("mae", "coverage", "rows", "expected"),
    [
        pytest.param(0.22, 0.80, 500, [], id="within-thresholds"),
        pytest.param(0.30, 0.80, 500, ["mae_ratio"], id="mae-1.5x-backtest"),
        pytest.param(0.22, 0.50, 500, ["coverage"], id="interval-too-narrow"),
        pytest.param(0.22, 0.99, 500, ["coverage"], id="interval-too-wide"),
        pytest.param(0.30, 0.50, 20, [], id="too-few-rows-to-judge"),
    ],
)
def test_performance_thresholds(mae, coverage, rows, expected):
    breaches = performance_breaches(_lead_table(mae, coverage, rows), EMPTY_COHORTS, MonitoringSettings())
    assert [b.metric for b in breaches] == expected
    for breach in breaches:
        assert breach.kind == "performance" and breach.cohort == "v3 day+1"
