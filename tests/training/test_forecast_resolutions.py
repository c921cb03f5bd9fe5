"""Hourly, daily and monthly forecasts that agree; the issue-time cut-off end to end; backtest origins; the lake."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import settings_for
from training.forecast.backtest import BacktestPlan, run_backtest
from training.forecast.fitting import TrainingWindows, panel_dates, training_sets
from training.forecast.forecast_sets import DailyResolution, HourlyResolution
from training.forecast.frames import HourlyPanel, load_homes, load_hourly_frame
from training.forecast.origins import IssueSchedule, date_ordinal
from training.forecast.registry import make_forecaster
from training.forecast.resolutions import MultiResolutionForecaster
from training.forecast.synthetic import synthetic_hourly

SMALL = {"n_estimators": 30, "learning_rate": 0.2, "num_leaves": 15, "min_child_samples": 20}
ISSUE_DAY = "2025-04-28"  # the current month ends within the hourly window; the next month is May


def _forecaster() -> MultiResolutionForecaster:
    hourly = TrainingWindows(calibration_days=14, max_train_rows=40_000, max_calibration_rows=10_000)
    daily = TrainingWindows(calibration_days=21, max_train_rows=40_000, max_calibration_rows=10_000)
    return MultiResolutionForecaster(params=SMALL, hourly_windows=hourly, daily_windows=daily)


@pytest.fixture(scope="module")
def panel() -> HourlyPanel:
    hourly, homes = synthetic_hourly(n_homes=8, days=118, seed=6, late_start_days={7: 110})
    return HourlyPanel.from_frames(hourly, homes)


@pytest.fixture(scope="module")
def fitted(panel) -> MultiResolutionForecaster:
    return _forecaster().fit(panel, int(date_ordinal(ISSUE_DAY)[0]))


@pytest.fixture(scope="module")
def forecasts(panel, fitted):
    return fitted.forecast(panel, int(date_ordinal(ISSUE_DAY)[0]))


def test_hourly_sums_to_daily_within_rounding(forecasts):
    hourly = forecasts.hourly.groupby(["home_id", "local_date"])["kwh_p50"].agg(["sum", "size"])
    daily = forecasts.daily.set_index(["home_id", "local_date"])["kwh_p50"]
    assert set(hourly.index.get_level_values("local_date").strftime("%m-%d")) == {"04-29", "04-30"}
    np.testing.assert_allclose(hourly["sum"], daily.reindex(hourly.index), rtol=1e-9)
    assert (hourly["size"] == 24).all()  # no DST change on these days (Europe)


def test_daily_sums_to_monthly_within_rounding(forecasts):
    daily = forecasts.daily.assign(month=forecasts.daily["local_date"].dt.to_period("M").dt.start_time)
    by_month = daily.groupby(["home_id", "month"])["kwh_p50"].sum()
    monthly = forecasts.monthly.set_index(["home_id", "month"])
    nxt = monthly[monthly["period"] == "next"]
    np.testing.assert_allclose(nxt["kwh_p50"], by_month.reindex(nxt.index), rtol=1e-9)
    assert (nxt.index.get_level_values("month") == pd.Timestamp("2025-05-01")).all()
    current = monthly[monthly["period"] == "current"]
    # current month = measured before the issue + the rest of the issue day (hourly) + the days after (daily)
    assert (current["kwh_p50"] > current["measured_kwh"] + by_month.reindex(current.index)).all()
    assert forecasts.daily["lead_d"].max() >= 31
    assert forecasts.daily["local_date"].max() == pd.Timestamp("2025-05-31")


def test_every_resolution_has_ordered_finite_quantiles_and_flags_cold_start(forecasts):
    for frame in (forecasts.hourly, forecasts.daily, forecasts.monthly):
        values = frame[["kwh_p10", "kwh_p50", "kwh_p90"]].to_numpy()
        assert np.isfinite(values).all() and (np.diff(values, axis=1) >= 0).all()
        assert frame.loc[frame["home_id"] == "s007", "cold_start"].all()
        assert not frame.loc[frame["home_id"] != "s007", "cold_start"].any()


def test_a_reading_after_the_issue_time_does_not_change_the_forecast(panel, fitted, forecasts):
    issue = panel.hour_index(forecasts.hourly["issue_time"].iloc[:1])[0]
    kwh = panel.values["kwh"].copy()
    kwh[:, issue:] = 0.0  # everything from the issue hour on
    again = fitted.forecast(panel.with_values("kwh", kwh), int(date_ordinal(ISSUE_DAY)[0]))
    for name in ("hourly", "daily"):
        pd.testing.assert_frame_equal(getattr(forecasts, name), getattr(again, name))
    # and the test can fail: a reading before the issue does change it
    kwh[:, issue - 30 : issue] *= 3
    moved = fitted.forecast(panel.with_values("kwh", kwh), int(date_ordinal(ISSUE_DAY)[0]))
    assert not np.allclose(moved.hourly["kwh_p50"], forecasts.hourly["kwh_p50"])


def test_training_and_calibration_windows_end_before_the_fit_date(panel):
    end = int(date_ordinal("2025-04-01")[0])
    for resolution in (HourlyResolution(), DailyResolution(days=20)):
        train, cal = training_sets(resolution, panel, end, TrainingWindows(calibration_days=10))
        assert train.target_date.max() < end - 10 <= cal.rows.issue_date.min()
        assert cal.target_date.max() < end


def test_backtest_origins_and_horizons(panel):
    _, last = panel_dates(panel)
    plan = BacktestPlan(start_date=last - 20, end_date=last - 3, step_days=3, refit_every_days=9)
    assert plan.origins().tolist() == list(range(last - 20, last - 2, 3))
    assert [len(b) for b in plan.blocks()] == [3, 3]
    factories = {
        name: (lambda name=name: make_forecaster(name)) for name in ("seasonal_naive", "persistence_ensemble")
    }
    result = run_backtest(panel, HourlyResolution(IssueSchedule(issue_time_h=10.0)), factories, plan)
    frame = result.forecasts
    issue_dates = frame["issue_time"].dt.tz_convert("Europe/Berlin").dt.normalize().dt.tz_localize(None)
    assert set(date_ordinal(issue_dates.unique())) == set(plan.origins())
    assert set(frame["issue_time"].dt.tz_convert("Europe/Berlin").dt.hour) == {10}
    assert frame["lead_h"].min() == 1 and frame["lead_h"].max() == 14 + 48
    assert set(frame["group"]) == {"day+0", "day+1", "day+2"}
    first_of_next_day = frame[(frame["group"] == "day+1")].groupby(["home_id", "issue_time"])["lead_h"].min()
    assert (first_of_next_day == 14 + 1).all()  # 00:00–01:00 tomorrow ends 15 h after a 10:00 issue


def test_a_prepared_lake_loads_into_a_panel_and_forecasts(small_demo, tmp_path):
    from contracts.storage import Lake
    from data_prep.run import run_prep

    settings = settings_for(str(tmp_path / "lake"))
    run_prep(str(small_demo), settings)
    lake = Lake(settings.storage.root)
    homes = load_homes(lake)
    hourly = load_hourly_frame(lake, start="2025-01-05", end="2025-02-10")
    assert hourly["ts"].min() >= pd.Timestamp("2025-01-05", tz="UTC")
    panel = HourlyPanel.from_frames(hourly, homes)
    assert set(panel.home_ids) == set(hourly["home_id"])
    # the sample data has readings of homes without a profile: they get NaN attributes
    unprofiled = sorted(set(panel.home_ids) - set(homes["home_id"]))
    assert unprofiled and panel.homes.set_index("home_id").loc[unprofiled, "floor_area_m2"].isna().all()
    model = _forecaster()
    model.params = {**SMALL, "n_estimators": 10}
    model.fit(panel, int(date_ordinal("2025-02-05")[0]))
    out = model.forecast(panel, int(date_ordinal("2025-02-05")[0]))
    assert out.hourly["home_id"].nunique() == panel.n_homes
    assert np.isfinite(out.hourly["kwh_p50"]).all()


@pytest.mark.parametrize(
    "products",
    [pytest.param(("hourly",), id="hourly-only"), pytest.param(("hourly", "daily"), id="without-monthly")],
)
def test_asking_for_fewer_products_gives_the_same_numbers(panel, fitted, forecasts, products):
    fewer = fitted.forecast(panel, int(date_ordinal(ISSUE_DAY)[0]), products=products)
    pd.testing.assert_frame_equal(fewer.hourly, forecasts.hourly)
    if "daily" in products:
        pd.testing.assert_frame_equal(fewer.daily, forecasts.daily)
    else:
        assert fewer.daily["lead_d"].max() <= 2  # only the days the hourly window reconciles with
    assert fewer.monthly.empty
