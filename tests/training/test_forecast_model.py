"""The global model, baselines, calibration, cold start and metrics, on small seeded synthetic homes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.forecast import metrics
from training.forecast.backtest import BacktestPlan, run_backtest
from training.forecast.calibration import ConformalCalibrator
from training.forecast.cold_start import recent_columns
from training.forecast.fitting import TrainingWindows, fit_calibrated, panel_dates, training_sets
from training.forecast.forecast_sets import HourlyResolution, build_set
from training.forecast.frames import HourlyPanel
from training.forecast.global_model import GlobalLightGbmForecaster
from training.forecast.origins import origin_grid
from training.forecast.quantiles import ordered
from training.forecast.registry import FORECASTERS, make_forecaster
from training.forecast.synthetic import synthetic_hourly

SMALL = {"n_estimators": 40, "learning_rate": 0.2, "num_leaves": 15, "min_child_samples": 20}
WINDOWS = TrainingWindows(calibration_days=14, max_train_rows=60_000, max_calibration_rows=20_000)


@pytest.fixture(scope="module")
def panel() -> HourlyPanel:
    # home 10 starts 80 days late (a cold start at the end), home 11 has no weather
    hourly, homes = synthetic_hourly(n_homes=12, days=100, seed=4, no_weather=1, late_start_days={10: 90})
    return HourlyPanel.from_frames(hourly, homes)


@pytest.fixture(scope="module")
def sets(panel):
    _, last = panel_dates(panel)
    return training_sets(HourlyResolution(), panel, last - 4, WINDOWS)


def test_global_model_beats_both_baselines_on_a_seeded_synthetic_set(panel):
    _, last = panel_dates(panel)
    plan = BacktestPlan(start_date=last - 12, end_date=last - 2, step_days=2, windows=WINDOWS)
    factories = {
        name: (
            lambda name=name: make_forecaster(name, "hourly", **(SMALL if name == "global_lightgbm" else {}))
        )
        for name in FORECASTERS
    }
    result = run_backtest(panel, HourlyResolution(), factories, plan)
    table = metrics.metric_table(result.forecasts[result.forecasts["group"] == "day+1"]).set_index(
        "forecaster"
    )
    assert table.loc["global_lightgbm", "nrmse"] < 0.9 * table.loc["seasonal_naive", "nrmse"]
    assert table.loc["global_lightgbm", "nrmse"] < table.loc["persistence_ensemble", "nrmse"]
    assert table.loc["global_lightgbm", "mase"] < 1.0


@pytest.mark.parametrize(
    "method", [pytest.param("conformal", id="conformal"), pytest.param("quantile", id="quantile")]
)
def test_quantiles_never_cross_and_are_not_negative(sets, method):
    train, cal = sets
    model = fit_calibrated(GlobalLightGbmForecaster(interval_method=method, **SMALL), train, cal)
    forecast = model.predict_quantiles(cal.X, cal.groups, cal.cold)
    values = forecast[["kwh_p10", "kwh_p50", "kwh_p90"]].to_numpy()
    assert np.isfinite(values).all()
    assert (values[:, 0] <= values[:, 1]).all() and (values[:, 1] <= values[:, 2]).all()
    assert (values >= 0).all()
    assert (values[:, 2] > values[:, 0]).mean() > 0.99  # calibrated intervals have a width


def test_ordering_only_swaps_crossed_quantiles():
    frame = pd.DataFrame(
        {"kwh_p10": [1.0, 3.0, -1.0], "kwh_p50": [2.0, 2.0, 0.5], "kwh_p90": [4.0, 1.0, 2.0]}
    )
    out = ordered(frame, (0.1, 0.5, 0.9))
    assert out.to_numpy().tolist() == [[1.0, 2.0, 4.0], [1.0, 2.0, 3.0], [0.0, 0.5, 2.0]]


@pytest.mark.parametrize(
    "scale", [pytest.param("p50", id="scaled-by-p50"), pytest.param("none", id="absolute")]
)
def test_conformal_calibration_reaches_the_nominal_coverage(scale):
    rng = np.random.default_rng(0)
    point = rng.uniform(0.2, 3.0, 8000)
    actual = point * (1 + 0.4 * rng.standard_normal(8000))
    forecast = pd.DataFrame({"kwh_p10": point, "kwh_p50": point, "kwh_p90": point})
    calibrator = ConformalCalibrator(scale=scale).fit(forecast[:4000], actual[:4000])
    out = calibrator.transform(forecast[4000:])
    inside = (actual[4000:] >= out["kwh_p10"]) & (actual[4000:] <= out["kwh_p90"])
    assert inside.mean() == pytest.approx(0.8, abs=0.03)
    np.testing.assert_array_equal(out["kwh_p50"], point[4000:])  # the point forecast is kept


def test_fit_follows_the_estimator_contract_and_is_deterministic(sets):
    train, cal = sets
    first = GlobalLightGbmForecaster(seed=3, **SMALL)
    assert first.fit(train.X, train.y) is first
    assert first.seed == 3 and not hasattr(GlobalLightGbmForecaster(), "models_")
    second = GlobalLightGbmForecaster(seed=3, **SMALL).fit(train.X, train.y)
    np.testing.assert_array_equal(first.predict(cal.X), second.predict(cal.X))
    assert list(first.feature_names_in_) == list(train.X.columns)


def test_a_cold_start_home_is_flagged_and_forecast_from_its_profile_alone(panel, sets):
    train, cal = sets
    model = fit_calibrated(GlobalLightGbmForecaster(**SMALL), train, cal)
    _, last = panel_dates(panel)
    resolution = HourlyResolution()
    home, date = origin_grid(np.arange(panel.n_homes), np.array([last - 3]))
    test = build_set(resolution, panel, resolution.rows(panel, home, date))
    cold_home = panel.home_index(["s010"])[0]
    assert test.cold[test.rows.home == cold_home].all() and not test.cold[test.rows.home != cold_home].any()
    assert test.X.loc[test.cold, recent_columns(test.X)].isna().all().all()
    forecast = model.predict_quantiles(test.X, test.groups, test.cold)
    assert np.isfinite(forecast[test.cold].to_numpy()).all()
    # its readings do not move its forecast: double them all
    kwh = panel.values["kwh"].copy()
    kwh[cold_home] *= 2
    doubled = build_set(resolution, panel.with_values("kwh", kwh), test.rows)
    again = model.predict_quantiles(doubled.X, doubled.groups, doubled.cold)
    pd.testing.assert_frame_equal(forecast[test.cold], again[test.cold])


def test_a_home_without_weather_is_still_forecast(panel, sets):
    train, cal = sets
    model = fit_calibrated(GlobalLightGbmForecaster(**SMALL), train, cal)
    blind = cal.rows.home == panel.home_index(["s011"])[0]
    assert cal.X.loc[blind, "temp_c"].isna().all()
    forecast = model.predict_quantiles(cal.X[blind], cal.groups[blind], cal.cold[blind])
    assert np.isfinite(forecast.to_numpy()).all() and (forecast["kwh_p50"] > 0).all()


def test_metrics_on_known_numbers():
    actual, forecast = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 2.0, 2.0, 2.0])
    assert metrics.mae(actual, forecast) == 1.0
    assert metrics.rmse(actual, forecast) == pytest.approx(np.sqrt(1.5))
    assert metrics.nrmse(actual, forecast) == pytest.approx(np.sqrt(1.5) / 2.5)
    assert metrics.pinball(actual, forecast, 0.9) == pytest.approx((0.1 + 0 + 0.9 + 1.8) / 4)
    assert metrics.coverage(actual, forecast - 1, forecast + 1) == 0.75


def test_mase_and_portfolio_mape_on_a_two_home_frame():
    ts = pd.to_datetime(["2025-01-01T00:00Z", "2025-01-01T01:00Z"])
    rows = []
    for forecaster, p50 in (
        ("global_lightgbm", [1.0, 2.0, 3.0, 5.0]),
        ("seasonal_naive", [2.0, 2.0, 2.0, 2.0]),
    ):
        for i, (home, t) in enumerate([("a", ts[0]), ("a", ts[1]), ("b", ts[0]), ("b", ts[1])]):
            rows.append({"forecaster": forecaster, "home_id": home, "issue_time": ts[0], "ts": t, "actual": [1.0, 2.0, 3.0, 4.0][i],
                         "kwh_p10": p50[i], "kwh_p50": p50[i], "kwh_p90": p50[i]})  # fmt: skip
    table = metrics.metric_table(pd.DataFrame(rows)).set_index("forecaster")
    assert table.loc["global_lightgbm", "mae"] == 0.25 and table.loc["seasonal_naive", "mae"] == 1.0
    assert table.loc["global_lightgbm", "mase"] == 0.25
    # portfolio: actual totals 4 and 6 per hour; model totals 4 and 7 → MAPE (0 + 1/6) / 2
    assert table.loc["global_lightgbm", "portfolio_mape"] == pytest.approx(100 / 12)
