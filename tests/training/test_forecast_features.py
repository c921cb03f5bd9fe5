"""Forecast features: the issue-time cut-off, horizon-aware lags, baselines on a hand-built series, local clocks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.forecast.baselines import PersistenceEnsembleForecaster, SeasonalNaiveForecaster
from training.forecast.daily_features import DailyFeatureBuilder
from training.forecast.features import HourlyFeatureBuilder
from training.forecast.frames import HourlyPanel
from training.forecast.origins import IssueSchedule, daily_rows, date_ordinal, hourly_rows
from training.forecast.synthetic import synthetic_hourly

SCHEDULE = IssueSchedule(issue_time_h=10.0)


@pytest.fixture(scope="module")
def panel() -> HourlyPanel:
    hourly, homes = synthetic_hourly(n_homes=4, days=60, seed=1)
    return HourlyPanel.from_frames(hourly, homes)


def _ramp_panel(zone: str = "UTC") -> HourlyPanel:
    """One home whose reading at axis hour j is j [kWh]: every lag is readable off its value."""
    ts = pd.date_range("2025-03-01", periods=40 * 24, freq="h", tz="UTC")
    hourly = pd.DataFrame({"home_id": "r", "ts": ts, "kwh": np.arange(len(ts), dtype=float)})
    homes = pd.DataFrame({"home_id": ["r"], "timezone": [zone], "country": [None]})
    return HourlyPanel.from_frames(hourly, homes)


def _origin(panel: HourlyPanel, day: str) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(panel.n_homes), np.repeat(date_ordinal(day), panel.n_homes)


@pytest.mark.parametrize(
    "builder, layout",
    [
        pytest.param(HourlyFeatureBuilder(), hourly_rows, id="hourly"),
        pytest.param(DailyFeatureBuilder(), daily_rows, id="daily"),
    ],
)
def test_readings_after_the_issue_time_do_not_change_any_feature(panel, builder, layout):
    rows = layout(panel, *_origin(panel, "2025-02-10"), SCHEDULE)
    before = builder.transform(panel, rows)
    issue_of_home = pd.Series(rows.issue).groupby(rows.home).first().to_numpy()
    changed = panel.values["kwh"].copy()
    changed[np.arange(panel.n_hours)[None, :] >= issue_of_home[:, None]] = 1e6
    after = builder.transform(panel.with_values("kwh", changed), rows)
    pd.testing.assert_frame_equal(before, after)
    # The test can fail: a reading of the day before the issue does change the features.
    changed[np.arange(panel.n_homes), issue_of_home - 24] += 50.0
    assert not builder.transform(panel.with_values("kwh", changed), rows).equals(before)


def test_lags_are_never_shorter_than_the_lead(panel):
    rows = hourly_rows(panel, *_origin(panel, "2025-02-10"), SCHEDULE)
    X = HourlyFeatureBuilder().transform(panel, rows)
    kwh = panel.values["kwh"]
    for lead in (1, 15, 24, 25, 38, 48, 62):
        pick = np.flatnonzero(rows.lead_h == lead)[:1]
        if not len(pick):
            continue
        home, target = rows.home[pick][0], rows.target[pick][0]
        lag = 24 * int(np.ceil(lead / 24))
        assert lag >= lead
        assert X["kwh_same_hour_latest"].iloc[pick[0]] == pytest.approx(kwh[home, target - lag])
        assert X["kwh_same_hour_last_week"].iloc[pick[0]] == pytest.approx(kwh[home, target - 168])


def test_baselines_are_exact_on_a_hand_built_series():
    panel = _ramp_panel()
    rows = hourly_rows(panel, np.array([0]), date_ordinal("2025-03-20"), SCHEDULE)
    X = HourlyFeatureBuilder().transform(panel, rows)
    target = rows.target.astype(float)
    k = np.ceil(rows.lead_h / 24)
    np.testing.assert_allclose(SeasonalNaiveForecaster().fit(X).predict(X), target - 168)
    # mean of the latest 7 known same hours: t - 24k - 24j, j = 0..6, i.e. t - 24k - 72
    np.testing.assert_allclose(PersistenceEnsembleForecaster().fit(X).predict(X), target - 24 * k - 72)


def test_the_issue_hour_is_local_clock_time_across_a_dst_change():
    panel = _ramp_panel("Europe/Stockholm")
    rows = hourly_rows(panel, np.array([0, 0]), date_ordinal(["2025-03-29", "2025-03-30"]), SCHEDULE)
    issues = pd.DatetimeIndex(panel.timestamps(np.unique(rows.issue))).tz_convert("Europe/Stockholm")
    assert [t.hour for t in issues] == [10, 10]  # 10:00 in winter (CET) and in summer time (CEST)
    first_day = rows.target[(rows.issue == rows.issue.min())]
    day_1 = panel.calendar.at("local_date", rows.home[:1].repeat(len(first_day)), first_day)
    # the window of the 29th holds the rest of the 29th, the 30th (23 h: DST) and the 31st (24 h)
    counts = pd.Series(day_1).value_counts().sort_index().to_numpy()
    assert counts.tolist() == [14, 23, 24]


def test_home_without_weather_gets_nan_weather_features_and_finite_calendar():
    hourly, homes = synthetic_hourly(n_homes=3, days=30, seed=2, no_weather=1)
    panel = HourlyPanel.from_frames(hourly, homes)
    rows = hourly_rows(panel, np.arange(3), np.repeat(date_ordinal("2025-01-20"), 3), SCHEDULE)
    X = HourlyFeatureBuilder().transform(panel, rows)
    blind = rows.home == 2
    assert X.loc[blind, "temp_c"].isna().all() and X.loc[~blind, "temp_c"].notna().all()
    assert X.loc[blind, ["hour_local", "kwh_mean_168h"]].notna().all().all()


def test_exponential_smoothing_per_home_loop_equals_the_vectorised_recursion():
    from training.forecast.weather_inputs import _SCALAR_ROWS, exponential_smoothing

    rng = np.random.default_rng(0)
    values = rng.normal(size=(4 * _SCALAR_ROWS, 300)).astype(np.float32)
    values[rng.random(values.shape) < 0.2] = np.nan  # gaps hold the state
    values[:, :5] = np.nan  # no state before the first value
    vectorised = exponential_smoothing(values, 12.0)  # more rows than the loop's limit
    looped = np.concatenate(
        [
            exponential_smoothing(values[i : i + _SCALAR_ROWS], 12.0)
            for i in range(0, len(values), _SCALAR_ROWS)
        ]
    )
    np.testing.assert_array_equal(vectorised, looped)
    assert np.isnan(looped[:, :5]).all() and not np.isnan(looped[:, 20:]).any()
