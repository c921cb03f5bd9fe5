"""The evaluation tables of a backtest and the readable report, on a small seeded synthetic backtest."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.forecast import metrics
from training.forecast.backtest import BacktestPlan, BacktestResult, run_backtest
from training.forecast.evaluation import ForecastEvaluation, evaluate_backtests
from training.forecast.evaluation_report import write_evaluation_report
from training.forecast.fitting import TrainingWindows, panel_dates
from training.forecast.forecast_sets import DailyResolution, HourlyResolution
from training.forecast.frames import HourlyPanel
from training.forecast.registry import FORECASTERS, make_forecaster
from training.forecast.synthetic import synthetic_hourly

SMALL = {"n_estimators": 30, "learning_rate": 0.2, "num_leaves": 15, "min_child_samples": 20}
FAST = {**SMALL, "interval_method": "conformal", "n_jobs": 1}
WINDOWS = TrainingWindows(calibration_days=14, max_train_rows=20_000, max_calibration_rows=10_000)
MODEL, BASELINES = "global_lightgbm", ("persistence_ensemble", "seasonal_naive")
SAMPLE_HOMES = ["s000", "s001"]
MLFLOW_NAME = re.compile(r"^[A-Za-z0-9_\-./ ]+$")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _factories(resolution: str) -> dict:
    return {
        name: (lambda name=name: make_forecaster(name, resolution, **(FAST if name == MODEL else {})))
        for name in FORECASTERS
    }


@pytest.fixture(scope="module")
def backtests() -> tuple[BacktestResult, BacktestResult, pd.DataFrame]:
    """Hourly and daily backtests of 6 homes, a fake "prophet" on two homes, and the homes with segments."""
    hourly, homes = synthetic_hourly(n_homes=6, days=60, seed=4)
    panel = HourlyPanel.from_frames(hourly, homes)
    _, last = panel_dates(panel)
    plan = BacktestPlan(start_date=last - 6, end_date=last - 2, step_days=1, windows=WINDOWS)
    hourly_result = run_backtest(panel, HourlyResolution(), _factories("hourly"), plan)
    daily_plan = BacktestPlan(last - 16, last - 2, step_days=7, windows=TrainingWindows(calibration_days=14))
    daily_result = run_backtest(panel, DailyResolution(days=14), _factories("daily"), daily_plan)
    # A forecaster run on a sample of homes only (as prophet is): the seasonal naive's rows, 10 % higher.
    frame = hourly_result.forecasts
    sample = frame[(frame["forecaster"] == "seasonal_naive") & frame["home_id"].isin(SAMPLE_HOMES)]
    sample = sample.assign(forecaster="prophet", kwh_p50=sample["kwh_p50"] * 1.1)
    hourly_result.forecasts = pd.concat([frame, sample], ignore_index=True)
    segments = panel.homes.assign(pv_kwp=[5.0, 0, 0, 0, 0, 0], interval_min=[15, 60, 60, 60, 30, 60])
    return hourly_result, daily_result, segments


@pytest.fixture(scope="module")
def evaluation(backtests) -> ForecastEvaluation:
    hourly, daily, homes = backtests
    return evaluate_backtests(hourly, daily, homes)


@pytest.fixture(scope="module")
def report(backtests, evaluation, tmp_path_factory) -> tuple[Path, list[str]]:
    hourly, daily, _ = backtests
    out = tmp_path_factory.mktemp("report")
    paths = write_evaluation_report(
        evaluation, hourly.forecasts, daily.forecasts, str(out), "test report", {"run_id": "r1", "homes": 6}
    )
    return out, paths


def test_tables_hold_every_forecaster_and_lead_group(backtests, evaluation):
    hourly, daily, _ = backtests
    main = {MODEL, *BASELINES}
    assert list(evaluation.headline["forecaster"]) == [MODEL, *BASELINES]  # the model first
    assert set(evaluation.hourly_by_group["group"]) == {"day+0", "day+1", "day+2"}
    assert set(evaluation.hourly_by_group["forecaster"]) == main
    assert set(evaluation.hourly_by_lead["lead_h"]) == set(hourly.forecasts["lead_h"])
    assert evaluation.daily_by_group is not None and evaluation.daily_by_lead is not None
    assert set(evaluation.daily_by_group["group"]) == set(daily.forecasts["group"])
    assert set(evaluation.daily_by_lead["forecaster"]) == main
    assert set(evaluation.per_home_nrmse.columns) == main
    quantiles = evaluation.per_home_quantiles[["p10", "p25", "p50", "p75", "p90"]].to_numpy()
    assert (np.diff(quantiles, axis=1) >= 0).all()


@pytest.mark.parametrize(
    ("segment", "values"),
    [
        pytest.param("heating", {"direct_electric", "district_heating"}, id="heating"),
        pytest.param("pv", {"yes", "no"}, id="pv"),
        pytest.param("ev", {"no"}, id="ev"),
        pytest.param("resolution", {"15min", "30min", "60min"}, id="native-resolution"),
    ],
)
def test_segment_tables_split_the_headline_rows(evaluation, segment, values):
    table = evaluation.hourly_by_segment[segment]
    assert set(table[segment]) <= values and len(set(table[segment])) >= 1
    rows = table.groupby("forecaster")["rows"].sum()
    headline = evaluation.headline.set_index("forecaster")["rows"]
    pd.testing.assert_series_equal(rows, headline.loc[rows.index], check_names=False)


def test_improvement_is_one_minus_the_nrmse_ratio(evaluation):
    nrmse = evaluation.headline.set_index("forecaster")["nrmse"]
    hourly = evaluation.improvement[evaluation.improvement["scope"] == "day+1"].set_index("baseline")
    assert set(hourly.index) == set(BASELINES)
    for baseline in BASELINES:
        assert hourly.loc[baseline, "improvement"] == pytest.approx(1 - nrmse[MODEL] / nrmse[baseline])
        per_home = evaluation.per_home_nrmse
        share = (per_home[MODEL] < per_home[baseline]).mean()
        assert hourly.loc[baseline, "share_of_homes_improved"] == pytest.approx(share)
    assert set(evaluation.improvement["resolution"]) == {"hourly", "daily"}


def test_a_forecaster_on_a_sample_of_homes_is_scored_apart(backtests, evaluation):
    hourly, _, _ = backtests
    assert "prophet" not in set(evaluation.headline["forecaster"])
    main = hourly.forecasts[hourly.forecasts["forecaster"] != "prophet"]
    expected = metrics.metric_table(main[main["group"] == "day+1"]).set_index("forecaster")
    headline = evaluation.headline.set_index("forecaster")
    assert headline["rows"].to_dict() == expected["rows"].to_dict()  # not restricted to the sample
    sample = evaluation.sample_tables["prophet"].set_index("forecaster")
    assert set(sample.index) == {MODEL, *BASELINES, "prophet"}
    assert (sample["homes"] == len(SAMPLE_HOMES)).all()
    assert sample.loc["prophet", "rows"] < headline.loc[MODEL, "rows"]
    # 10 % above the seasonal naive: a different, larger error on the very same rows
    assert sample.loc["prophet", "mae"] != sample.loc["seasonal_naive", "mae"]


def test_calibration_shares_are_ordered_and_bound_the_coverage(evaluation):
    table = evaluation.calibration
    assert set(table["nominal"]) == {0.1, 0.5, 0.9} and table["observed"].between(0, 1).all()
    day1 = table[(table["resolution"] == "hourly") & (table["group"] == "day+1")]
    shares = day1.pivot_table(index="forecaster", columns="nominal", values="observed")
    assert (shares[0.1] <= shares[0.5]).all() and (shares[0.5] <= shares[0.9]).all()
    coverage = evaluation.headline.set_index("forecaster")["coverage"]
    # inside [P10, P90] includes every actual strictly above P10 and at or below P90
    assert (coverage.loc[shares.index] >= shares[0.9] - shares[0.1] - 1e-9).all()
    assert {"hourly", "daily"} == set(table["resolution"])


def test_flat_metrics_have_mlflow_names_and_finite_values(evaluation):
    flat = evaluation.metrics_flat()
    assert all(MLFLOW_NAME.match(name) for name in flat), [n for n in flat if not MLFLOW_NAME.match(n)]
    assert all(math.isfinite(value) for value in flat.values())
    headline = evaluation.headline.set_index("forecaster")
    assert flat["hourly_day1_nrmse_global_lightgbm"] == pytest.approx(headline.loc[MODEL, "nrmse"])
    assert flat["hourly_day1_mase_seasonal_naive"] == pytest.approx(1.0)
    for name in (
        "hourly_day0_coverage_global_lightgbm",
        "hourly_day1_improvement_vs_seasonal_naive",
        "hourly_day1_share_homes_improved_vs_persistence_ensemble",
        "hourly_day1_home_nrmse_p90_global_lightgbm",
        "hourly_day1_heating_direct_electric_nrmse_global_lightgbm",
        "hourly_day1_share_below_p10_global_lightgbm",
        "hourly_day1_prophet_homes_nrmse_prophet",
        "daily_all_nrmse_global_lightgbm",
        "daily_week0_portfolio_mape_global_lightgbm",
        "daily_all_improvement_vs_seasonal_naive",
    ):
        assert name in flat, name


def test_without_a_daily_backtest_there_are_no_daily_tables(backtests):
    hourly, _, homes = backtests
    evaluation = evaluate_backtests(hourly, None, homes)
    assert evaluation.daily_all is None and evaluation.daily_by_lead is None
    assert set(evaluation.improvement["resolution"]) == {"hourly"}
    assert not [name for name in evaluation.metrics_flat() if name.startswith("daily_")]


def test_report_files_exist_and_reference_every_plot(report, evaluation):
    out, paths = report
    names = sorted(Path(p).relative_to(out).as_posix() for p in paths)
    plots = [n for n in names if n.startswith("plots/")]
    assert {"report.html", "report.md", "metrics.json"} <= set(names)
    assert set(plots) == {
        "plots/sample_homes.png",
        "plots/sample_homes_daily.png",
        "plots/error_by_lead.png",
        "plots/calibration.png",
        "plots/per_home_nrmse.png",
    }
    assert Path(paths[-1]).name == "report.html"  # written last: it never links a missing plot
    for plot in plots:
        data = (out / plot).read_bytes()
        assert len(data) > 1000 and data.startswith(PNG_SIGNATURE)
    markdown = (out / "report.md").read_text()
    assert all(f"]({plot})" in markdown for plot in plots)
    html = (out / "report.html").read_text()
    assert html.count('src="data:image/png;base64,') == len(plots)  # self-contained
    for text in (markdown, html):
        assert "global_lightgbm" in text and "prophet on its sample" in text and "By heating" in text
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "plots", "report.html", "report.md"]
    stored = json.loads((out / "metrics.json").read_text())
    assert stored["context"] == {"run_id": "r1", "homes": 6}
    assert stored["metrics"] == pytest.approx(evaluation.metrics_flat())


def test_writing_again_replaces_the_report(backtests, evaluation, report, tmp_path):
    hourly, _, _ = backtests
    out = tmp_path / "report"
    shutil.copytree(report[0], out)
    paths = write_evaluation_report(evaluation, hourly.forecasts, None, str(out), "second title", {})
    assert "# second title" in (out / "report.md").read_text()
    assert "sample_homes_daily.png" not in (out / "report.md").read_text()
    assert all(Path(p).exists() for p in paths) and not (out / "_tmp").exists()
