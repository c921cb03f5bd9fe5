"""Prophet per home: the backtest's rows and layout, ordered quantiles, the daily shape, weather and no leakage."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from training.forecast import metrics
from training.forecast.backtest import BacktestPlan, run_backtest
from training.forecast.fitting import TrainingWindows, panel_dates
from training.forecast.forecast_sets import HourlyResolution
from training.forecast.frames import HourlyPanel
from training.forecast.prophet_baseline import (
    PROPHET,
    ProphetBaselineForecaster,
    run_prophet_backtest,
    sample_homes,
)
from training.forecast.registry import make_forecaster
from training.forecast.synthetic import synthetic_hourly

FAST: dict[str, Any] = {"uncertainty_samples": 200}
WINDOWS = TrainingWindows(calibration_days=14, max_train_rows=20_000, max_calibration_rows=10_000)
KEY = ["home_id", "issue_time", "ts"]
# home 0 heats electrically in this draw; home 4 starts 60 days late (too little history for the first block),
# home 5 has no weather
HOMES = [0, 2, 4, 5]


@pytest.fixture(scope="module")
def panel() -> HourlyPanel:
    hourly, homes = synthetic_hourly(n_homes=6, days=70, seed=4, no_weather=1, late_start_days={4: 60})
    return HourlyPanel.from_frames(hourly, homes)


@pytest.fixture(scope="module")
def plan(panel) -> BacktestPlan:
    _, last = panel_dates(panel)
    return BacktestPlan(
        start_date=last - 9, end_date=last - 2, step_days=2, refit_every_days=4, windows=WINDOWS
    )


@pytest.fixture(scope="module")
def backtest(panel, plan) -> pd.DataFrame:
    factories = {"seasonal_naive": lambda: make_forecaster("seasonal_naive", "hourly")}
    return run_backtest(panel, HourlyResolution(), factories, plan).forecasts


@pytest.fixture(scope="module")
def prophet(panel, plan):
    return run_prophet_backtest(panel, plan, HourlyResolution(), homes=HOMES, train_days=42, params=FAST)


def test_rows_and_layout_match_the_hourly_backtest(panel, backtest, prophet):
    forecasts = prophet.forecasts
    sampled = backtest[backtest["home_id"].isin(panel.home_ids[HOMES])].reset_index(drop=True)
    assert list(forecasts.columns) == list(sampled.columns)
    assert forecasts.dtypes.equals(sampled.dtypes)
    assert (forecasts["forecaster"] == PROPHET).all()
    assert forecasts[KEY].equals(sampled[KEY])
    same = ["group", "cold_start", "actual", "lead_h", "local_date"]
    pd.testing.assert_frame_equal(forecasts[same], sampled[same])
    both = metrics.common_rows(pd.concat([sampled, forecasts], ignore_index=True))
    assert both.groupby("forecaster").size().nunique() == 1  # compared on identical rows


def test_each_block_refits_each_home_and_short_histories_are_left_unfitted(panel, plan, prophet):
    late = str(panel.home_ids[4])
    assert len(plan.blocks()) == 2
    assert prophet.homes_without_fit == [late]  # first block: 5 days of history, second: 9 days
    assert len(prophet.fit_seconds) == 2 * (len(HOMES) - 1)
    rows = prophet.forecasts[prophet.forecasts["home_id"] == late]
    assert len(rows) > 0 and rows["kwh_p50"].isna().all()


def test_an_hour_forecast_from_overlapping_origins_of_one_block_gets_one_forecast(panel, plan, prophet):
    fitted = prophet.forecasts.dropna(subset=["kwh_p50"])
    home = panel.home_index(fitted["home_id"])
    issue_date = panel.calendar.at("local_date", home, panel.hour_index(fitted["issue_time"]))
    block = (issue_date - plan.start_date) // plan.refit_every_days
    per_hour = fitted.groupby([fitted["home_id"], fitted["ts"], block])["kwh_p50"]
    assert (per_hour.size() > 1).any()  # the origins' windows do overlap
    assert (per_hour.nunique() == 1).all()  # the same model and weather: the same forecast, in any row order


def test_a_refit_per_origin_keeps_the_rows_and_fits_each_origin(panel, plan, prophet):
    daily = run_prophet_backtest(panel, plan, homes=[2], train_days=28, params=FAST, refit_every_days=1)
    mine = prophet.forecasts[prophet.forecasts["home_id"] == panel.home_ids[2]].reset_index(drop=True)
    assert daily.forecasts[KEY].equals(mine[KEY])
    assert len(daily.fit_seconds) == len(plan.origins())


def test_quantiles_are_ordered_and_not_negative(prophet):
    fitted = prophet.forecasts.dropna(subset=["kwh_p50"])
    assert len(fitted) > 0
    assert (fitted["kwh_p10"] <= fitted["kwh_p50"]).all()
    assert (fitted["kwh_p50"] <= fitted["kwh_p90"]).all()
    assert (fitted["kwh_p10"] >= 0).all()
    assert (fitted["kwh_p90"] > fitted["kwh_p10"]).mean() > 0.99  # an interval, not a point


def test_prophet_captures_the_daily_shape(panel, prophet):
    day1 = prophet.forecasts[prophet.forecasts["group"] == "day+1"].dropna(subset=["kwh_p50", "actual"])
    actual, p50 = day1["actual"].to_numpy(dtype=float), day1["kwh_p50"].to_numpy(dtype=float)
    # the same daily totals with the hourly shape flattened away
    flattened = day1.groupby(["home_id", "local_date"])["kwh_p50"].transform("mean").to_numpy(dtype=float)
    assert metrics.nrmse(actual, p50) < 0.95 * metrics.nrmse(actual, flattened)
    home = panel.home_index(day1["home_id"])
    local_hour = panel.calendar.at("local_hour", home, panel.hour_index(day1["ts"]))
    profile = day1.groupby(local_hour)[["actual", "kwh_p50"]].mean()
    assert profile["actual"].corr(profile["kwh_p50"]) > 0.8
    coverage = metrics.coverage(actual, day1["kwh_p10"].to_numpy(), day1["kwh_p90"].to_numpy())
    assert 0.5 < coverage < 0.97


def test_a_home_without_weather_is_forecast_without_the_regressor(panel, prophet):
    blind = str(panel.home_ids[5])
    assert prophet.homes_without_weather == [blind]
    rows = prophet.forecasts[prophet.forecasts["home_id"] == blind]
    assert len(rows) > 0 and rows["kwh_p50"].notna().all()


def test_the_temperature_regressor_raises_consumption_in_the_cold():
    hours = pd.date_range("2025-01-01", periods=42 * 24, freq="h")
    rng = np.random.default_rng(0)
    temp = 5 + 6 * np.sin(2 * np.pi * np.arange(len(hours)) / (24 * 9)) + rng.normal(0, 1, len(hours))
    kwh = 0.5 + 0.3 * (hours.hour.to_numpy() >= 17) + 0.08 * (15 - temp) + rng.normal(0, 0.05, len(hours))
    history = pd.DataFrame({"ds": hours, "kwh": kwh, "temp_c": temp})
    model = ProphetBaselineForecaster(**FAST).fit(history)
    future = pd.DataFrame({"ds": [hours[-1] + pd.Timedelta(hours=12)] * 2, "temp_c": [-5.0, 15.0]})
    p50 = model.predict_quantiles(future)["kwh_p50"].to_numpy()
    assert model.uses_weather_
    assert p50[0] - p50[1] == pytest.approx(0.08 * 20, rel=0.2)


def test_forecasts_do_not_read_the_block_or_later(panel, plan):
    first = int(plan.blocks()[0][0])
    home = np.array([0])
    one_block = BacktestPlan(first, first, windows=WINDOWS)
    before = run_prophet_backtest(panel, one_block, homes=home, train_days=28, params=FAST).forecasts
    start = int(panel.calendar.day_start(home, np.array([first]))[0])
    kwh = panel.values["kwh"].copy()
    kwh[:, start:] *= 10
    changed = panel.with_values("kwh", kwh)
    after = run_prophet_backtest(changed, one_block, homes=home, train_days=28, params=FAST).forecasts
    columns = ["kwh_p10", "kwh_p50", "kwh_p90"]
    pd.testing.assert_frame_equal(before[columns], after[columns])
    assert not np.allclose(before["actual"], after["actual"])  # the change did reach the scored rows


@pytest.mark.parametrize(
    ("n", "expected"), [pytest.param(3, 3, id="a-sample"), pytest.param(50, 6, id="more-than-there-are")]
)
def test_sample_homes_is_seeded_sorted_and_bounded(panel, n, expected):
    drawn = sample_homes(panel, n, seed=1)
    assert len(drawn) == expected
    assert list(drawn) == sorted(drawn)
    assert list(drawn) == list(sample_homes(panel, n, seed=1))
