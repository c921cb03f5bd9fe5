"""Gap imputation: each strategy on known signals, the registry, and automatic selection."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.interpolate import PchipInterpolator

from contracts.schemas import GHI_W_M2, HOME_ID, INTERVAL_MIN, KWH, TEMP_C, TS
from data_prep.quality.imputation import DEFAULT_CANDIDATES, IMPUTERS, GapImputer, ImputationSelector
from data_prep.quality.imputation.grid import GapContext
from data_prep.quality.imputation.weekly import WeeklyProfile

ALL_NAMES = (
    "linear",
    "spline",
    "forward_fill",
    "seasonal_naive",
    "hour_of_week_profile",
    "rolling_median",
    "knn",
    "random_forest",
    "mice",
    "weather_gbm",
)
EDGE_BASED = ("linear", "spline", "forward_fill", "rolling_median")
# Mean absolute error allowed on the gaps of the sine + weekly signal, relative to the home's mean reading, on
# short gaps (<= 3 h) and long ones (6-30 h). Edge-based strategies cannot know a daily cycle inside a long gap.
RELATIVE_MAE_BOUND = {
    "linear": (0.08, 0.6),
    "spline": (0.08, 0.6),
    "forward_fill": (0.4, 0.7),
    "seasonal_naive": (0.08, 0.08),
    "hour_of_week_profile": (0.08, 0.08),
    "rolling_median": (0.4, 0.6),
    "knn": (0.1, 0.12),
    "random_forest": (0.08, 0.08),
    "mice": (0.08, 0.08),
    "weather_gbm": (0.08, 0.1),
}


def make_frame(
    homes: dict[str, tuple[int, int]], seed: int = 0, noise: float = 0.02, weather: bool = False
) -> pd.DataFrame:
    """Homes on their own grids: a daily sine with a weekend uplift, in kWh per interval.

    Args:
        homes: home_id -> (interval [min], days).
        seed: seed of the noise and of each home's level.
        noise: relative noise on each reading.
        weather: add ``temp_c`` and ``ghi_w_m2``.
    """
    rng = np.random.default_rng(seed)
    parts = []
    for home, (interval, days) in homes.items():
        ts = pd.date_range("2024-03-04", periods=days * 1440 // interval, freq=f"{interval}min", tz="UTC")
        hour = (ts - ts[0]) / pd.Timedelta(hours=1)
        daily = 1 + 0.5 * np.sin(2 * np.pi * (np.asarray(hour) - 6) / 24)
        weekly = np.where(ts.dayofweek >= 5, 1.4, 1.0)
        level = rng.uniform(0.5, 2.0)
        kwh = level * daily * weekly * interval / 60 * (1 + noise * rng.standard_normal(len(ts)))
        part = pd.DataFrame({HOME_ID: home, TS: ts, KWH: kwh, INTERVAL_MIN: interval})
        if weather:
            part[TEMP_C] = 10 + 5 * np.sin(2 * np.pi * np.asarray(hour) / 24)
            part[GHI_W_M2] = np.clip(400 * np.sin(2 * np.pi * (np.asarray(hour) - 6) / 24), 0, None)
            part.loc[part.index[::7], TEMP_C] = np.nan
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def punch(frame: pd.DataFrame, home: str, start: int, length: int) -> pd.DataFrame:
    """A copy of ``frame`` with slots ``start .. start+length-1`` of ``home`` missing."""
    out = frame.copy()
    rows = np.flatnonzero(out[HOME_ID].to_numpy() == home)[start : start + length]
    out.loc[out.index[rows], KWH] = np.nan
    return out


def gappy_frame(weather: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three hourly homes, four weeks each, with gaps of 2 to 30 h; returns (frame with gaps, truth)."""
    truth = make_frame({"a": (60, 28), "b": (60, 28), "c": (60, 28)}, weather=weather)
    frame = truth
    for home, start, length in [("a", 200, 2), ("a", 400, 6), ("b", 300, 30), ("c", 500, 3), ("c", 100, 12)]:
        frame = punch(frame, home, start, length)
    return frame, truth


@pytest.fixture(scope="module")
def gappy() -> tuple[pd.DataFrame, pd.DataFrame]:
    return gappy_frame()


# --- the registry ------------------------------------------------------------------------------------------------


def test_registry_holds_the_ten_strategies_by_name() -> None:
    assert set(ALL_NAMES) <= set(IMPUTERS)
    for name, cls in IMPUTERS.items():
        assert cls.name == name
        assert issubclass(cls, GapImputer)
        assert cls.__name__.endswith("Imputer")
    assert set(DEFAULT_CANDIDATES) <= set(IMPUTERS)


# --- each strategy -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in ALL_NAMES])
def test_strategy_fills_a_known_signal_and_keeps_known_values(
    name: str, gappy: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    frame, truth = gappy
    filled = IMPUTERS[name]().fit(frame).transform(frame)
    gap = frame[KWH].isna().to_numpy()
    assert filled.index.equals(frame.index)
    assert filled.name == KWH
    np.testing.assert_array_equal(filled[~gap].to_numpy(), frame.loc[~gap, KWH].to_numpy())
    assert filled[gap].notna().all()
    relative_error = np.abs(filled - truth[KWH]) / truth.groupby(HOME_ID)[KWH].transform("mean")
    run = pd.Series(gap).ne(pd.Series(gap).shift()).cumsum()
    short = gap & (pd.Series(gap).groupby(run).transform("sum") <= 3).to_numpy()
    short_bound, long_bound = RELATIVE_MAE_BOUND[name]
    assert relative_error[short].mean() < short_bound
    assert relative_error[gap & ~short].mean() < long_bound


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in ALL_NAMES])
def test_strategy_never_crosses_home_boundaries(name: str) -> None:
    # "low" (about 1 kWh) sits right before "high" (about 100x more); week offsets from the end of "low" would
    # land in "high", and the leading/trailing NaNs next to the boundary must stay NaN.
    low = make_frame({"low": (60, 21)})
    high = make_frame({"m_high": (60, 21)}, seed=1)
    high[KWH] *= 100
    frame = pd.concat([low, high], ignore_index=True)
    n = 21 * 24
    for home, start, length in [
        ("low", n - 30, 5),
        ("low", n - 30 - 168, 5),
        ("low", n - 3, 3),
        ("m_high", 0, 4),
    ]:
        frame = punch(frame, home, start, length)
    filled = IMPUTERS[name]().fit(frame).transform(frame)
    low_rows = (frame[HOME_ID] == "low").to_numpy()
    assert filled[low_rows].max() <= 3 * low[KWH].max()
    assert filled.iloc[n - 3 : n + 4].isna().all(), (
        "the NaNs at the end of 'low' and start of 'high' are not gaps"
    )
    assert filled.iloc[n - 30 : n - 25].notna().all()


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in ALL_NAMES])
def test_strategy_handles_homes_of_different_intervals(name: str) -> None:
    truth = make_frame({"quarter": (15, 15), "hourly": (60, 21), "daily": (1440, 70)})
    frame = punch(punch(punch(truth, "quarter", 700, 8), "hourly", 250, 5), "daily", 30, 2)
    filled = IMPUTERS[name]().fit(frame).transform(frame)
    gap = frame[KWH].isna().to_numpy()
    assert filled[gap].notna().all()
    for home in ("quarter", "hourly", "daily"):
        rows = gap & (frame[HOME_ID] == home).to_numpy()
        relative = (
            np.abs(filled[rows] - truth.loc[rows, KWH]).mean() / truth.loc[truth[HOME_ID] == home, KWH].mean()
        )
        assert relative < 0.6, f"{home}: {relative:.2f}"


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in ALL_NAMES])
def test_strategy_never_returns_negative_kwh(name: str) -> None:
    # Mostly zero with sharp spikes: overshooting interpolants and regressions would go below zero.
    frame = make_frame({"a": (60, 21), "b": (60, 21)}, seed=3)
    rng = np.random.default_rng(3)
    frame[KWH] = np.where(rng.random(len(frame)) < 0.1, rng.uniform(2, 5, len(frame)), 0.0)
    for home, start in [("a", 100), ("a", 300), ("b", 50), ("b", 400)]:
        frame = punch(frame, home, start, 7)
    filled = IMPUTERS[name]().fit(frame).transform(frame)
    assert filled.notna().all()
    assert (filled >= 0).all()


@pytest.mark.parametrize(
    "weather", [pytest.param(True, id="with-weather"), pytest.param(False, id="without-weather")]
)
def test_weather_gbm_runs_with_and_without_weather(weather: bool) -> None:
    frame, truth = gappy_frame(weather=weather)
    filled = IMPUTERS["weather_gbm"]().fit(frame).transform(frame)
    gap = frame[KWH].isna().to_numpy()
    assert filled[gap].notna().all()
    assert (np.abs(filled[gap] - truth.loc[gap, KWH]) / truth.loc[gap, KWH]).median() < 0.2


def test_learned_strategy_must_be_fitted_first(gappy: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        IMPUTERS["random_forest"]().transform(gappy[0])


def test_spline_matches_scipy_pchip_inside_the_series(gappy: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    frame = gappy[0]
    filled = IMPUTERS["spline"]().transform(frame)
    home = frame[frame[HOME_ID] == "c"]
    known = home[KWH].notna().to_numpy()
    slots = np.arange(len(home))
    expected = PchipInterpolator(slots[known], home[KWH].to_numpy()[known])(slots[~known])
    np.testing.assert_allclose(filled.loc[home.index[~known]], np.clip(expected, 0, None), rtol=1e-9)


def test_weekly_profile_matches_a_groupby_median_for_every_interval() -> None:
    frame = make_frame({"q": (15, 16), "h": (60, 23), "d": (1440, 50)}, noise=0.3)
    frame.loc[np.random.default_rng(1).random(len(frame)) < 0.2, KWH] = np.nan
    frame = frame.iloc[5:].reset_index(drop=True)  # "q" starts mid-week and mid-hour
    ctx = GapContext.from_frame(frame)
    got = WeeklyProfile.fit(ctx).at(ctx, np.arange(len(frame)))
    daily = frame[INTERVAL_MIN] == 1440
    bucket = np.where(daily, frame[TS].dt.dayofweek, frame[TS].dt.dayofweek * 24 + frame[TS].dt.hour)
    expected = frame.groupby([frame[HOME_ID], bucket])[KWH].transform("median")
    np.testing.assert_allclose(got, expected.to_numpy(), rtol=1e-12)


def test_seasonal_naive_copies_last_week_then_next_week() -> None:
    frame = make_frame({"a": (60, 21)})
    frame = punch(punch(frame, "a", 400, 2), "a", 50, 2)  # slot 50 has no week before it
    filled = IMPUTERS["seasonal_naive"]().transform(frame)
    np.testing.assert_array_equal(filled.iloc[400:402], frame[KWH].iloc[232:234])
    np.testing.assert_array_equal(filled.iloc[50:52], frame[KWH].iloc[218:220])


def test_fills_are_flagged_nowhere_outside_the_observed_span() -> None:
    frame = make_frame({"a": (60, 14)})
    frame.loc[frame.index[:5], KWH] = np.nan
    frame.loc[frame.index[-5:], KWH] = np.nan
    for name in DEFAULT_CANDIDATES:
        filled = IMPUTERS[name]().transform(frame)
        assert filled.iloc[:5].isna().all() and filled.iloc[-5:].isna().all(), name


@settings(max_examples=25, deadline=None)
@given(
    values=st.lists(st.floats(0, 50, allow_nan=False), min_size=30, max_size=400),
    missing=st.lists(st.booleans(), min_size=400, max_size=400),
    name=st.sampled_from(DEFAULT_CANDIDATES),
)
def test_property_known_values_never_change(values: list[float], missing: list[bool], name: str) -> None:
    n = len(values)
    kwh = np.where(np.array(missing[:n]), np.nan, np.array(values))
    frame = pd.DataFrame(
        {
            HOME_ID: "h",
            TS: pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"),
            KWH: kwh,
            INTERVAL_MIN: 60,
        }
    )
    filled = IMPUTERS[name]().fit(frame).transform(frame).to_numpy()
    known = ~np.isnan(kwh)
    np.testing.assert_array_equal(filled[known], kwh[known])
    inside = np.zeros(n, bool)
    if known.any():
        first, last = np.flatnonzero(known)[[0, -1]]
        inside[first : last + 1] = True
    assert np.isnan(filled[~inside]).all()
    assert (filled[~np.isnan(filled)] >= 0).all()
    if (
        name in EDGE_BASED
    ):  # these always have the gap's two edge readings; the others may lack a week or an hour
        assert not np.isnan(filled[inside]).any()


# --- automatic selection -----------------------------------------------------------------------------------------


def weekly_pattern_frame(n_homes: int = 4, weeks: int = 6, seed: int = 0) -> pd.DataFrame:
    """Hourly homes that repeat one random week exactly (plus 1 % noise), each with two 30 h gaps."""
    rng = np.random.default_rng(seed)
    parts = []
    for i in range(n_homes):
        week = rng.uniform(0.2, 3.0, 168)
        kwh = np.tile(week, weeks) * (1 + 0.01 * rng.standard_normal(168 * weeks))
        ts = pd.date_range("2024-01-01", periods=168 * weeks, freq="h", tz="UTC")
        parts.append(pd.DataFrame({HOME_ID: f"w{i}", TS: ts, KWH: kwh, INTERVAL_MIN: 60}))
    frame = pd.concat(parts, ignore_index=True)
    for i in range(n_homes):
        frame = punch(punch(frame, f"w{i}", 300, 30), f"w{i}", 700, 28)
    return frame


def ramp_frame(n_homes: int = 3) -> pd.DataFrame:
    """Hourly homes whose load rises smoothly (no daily cycle), each with short gaps of 1-3 h."""
    parts = []
    for i in range(n_homes):
        ts = pd.date_range("2024-01-01", periods=24 * 21, freq="h", tz="UTC")
        kwh = 0.5 + 0.01 * (i + 1) * np.arange(len(ts)) + 0.1 * np.sin(np.arange(len(ts)) / 40)
        parts.append(pd.DataFrame({HOME_ID: f"r{i}", TS: ts, KWH: kwh, INTERVAL_MIN: 60}))
    frame = pd.concat(parts, ignore_index=True)
    for i in range(n_homes):
        for start, length in [(60, 1), (150, 2), (260, 3), (400, 2)]:
            frame = punch(frame, f"r{i}", start, length)
    return frame


def test_selector_picks_a_weekly_strategy_for_long_gaps_in_a_weekly_signal() -> None:
    selector = ImputationSelector(DEFAULT_CANDIDATES, seed=1).fit(weekly_pattern_frame())
    long_gaps = selector.selection_[selector.selection_["gap_class"] == 72.0]
    assert len(long_gaps) == 4
    assert set(long_gaps["strategy"]) <= {"seasonal_naive", "hour_of_week_profile"}
    assert set(selector.selection_["gap_class"]) == {72.0}, "homes without short gaps need no selection there"


def test_selector_picks_interpolation_for_short_gaps_in_a_smooth_ramp() -> None:
    selector = ImputationSelector(DEFAULT_CANDIDATES).fit(ramp_frame())
    assert set(selector.selection_["gap_class"]) == {3.0}
    assert set(selector.selection_["strategy"]) <= {"linear", "spline"}
    scores = selector.scores_.pivot_table(index=HOME_ID, columns="strategy", values="mae_kwh")
    assert (scores["linear"] < scores["seasonal_naive"]).all()
    assert (scores["linear"] < scores["forward_fill"]).all()


def test_selector_leaves_gaps_longer_than_the_maximum_and_flags_exactly_the_filled_rows() -> None:
    frame = make_frame({"a": (60, 28), "b": (15, 14)})
    frame = punch(punch(punch(frame, "a", 100, 100), "a", 300, 5), "b", 200, 20)  # 100 h, 5 h, 5 h
    frame.loc[frame.index[:3], KWH] = np.nan  # leading NaNs of "a"
    selector = ImputationSelector(DEFAULT_CANDIDATES, max_gap_hours=72.0)
    out = selector.fit_transform(frame)
    assert out.index.equals(frame.index)
    a = (frame[HOME_ID] == "a").to_numpy()
    a_rows = frame.index[a]
    assert out.loc[a_rows[100:200], KWH].isna().all()
    assert out.loc[a_rows[:3], KWH].isna().all()
    assert out.loc[a_rows[300:305], KWH].notna().all()
    was_missing = frame[KWH].isna()
    np.testing.assert_array_equal(out["imputed"], was_missing & out[KWH].notna())
    assert out["imputed"].sum() == 5 + 20
    np.testing.assert_array_equal(out["imputation_strategy"].notna(), out["imputed"])
    assert set(out.loc[out["imputed"], "imputation_strategy"]) <= set(DEFAULT_CANDIDATES)
    np.testing.assert_array_equal(out.loc[~was_missing, KWH], frame.loc[~was_missing, KWH])


def test_selector_scores_one_row_per_home_class_and_candidate(
    gappy: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    frame = gappy[0]  # a: 2 h and 6 h gaps, b: 30 h, c: 3 h and 12 h
    candidates = ("linear", "seasonal_naive", "rolling_median")
    selector = ImputationSelector(candidates, trials_per_class=3).fit(frame)
    pairs = {("a", 3.0), ("a", 24.0), ("b", 72.0), ("c", 3.0), ("c", 24.0)}
    scores = selector.scores_
    assert list(scores.columns) == [HOME_ID, "gap_class", "strategy", "mae_kwh", "n_points"]
    assert len(scores) == len(pairs) * len(candidates)
    assert set(zip(scores[HOME_ID], scores["gap_class"], strict=True)) == pairs
    assert not scores.duplicated([HOME_ID, "gap_class", "strategy"]).any()
    assert (scores["n_points"] > 0).all()
    assert (selector.selection_["n_trials"] == 3).all()
    best = scores.loc[scores.groupby([HOME_ID, "gap_class"])["mae_kwh"].idxmin()]
    merged = best.merge(selector.selection_, on=[HOME_ID, "gap_class"], suffixes=("_best", ""))
    assert (merged["strategy_best"] == merged["strategy"]).all()


def test_selector_min_gain_falls_back_to_the_class_winner(gappy: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    frame = gappy[0]
    own = ImputationSelector(DEFAULT_CANDIDATES, min_gain=0.0).fit(frame)
    pooled = ImputationSelector(DEFAULT_CANDIDATES, min_gain=0.99).fit(frame)
    pd.testing.assert_frame_equal(own.scores_, pooled.scores_)
    expected = pooled.selection_["gap_class"].map(pooled.default_strategy_)
    assert (pooled.selection_["strategy"] == expected).all()
    relative = own.scores_.assign(
        rel=lambda s: s["mae_kwh"] / s.groupby([HOME_ID, "gap_class"])["mae_kwh"].transform("mean")
    )
    class_winner = relative.groupby(["gap_class", "strategy"])["rel"].mean().groupby(level=0).idxmin()
    assert own.default_strategy_ == {float(c): strategy for c, strategy in class_winner.to_list()}


def test_selector_is_deterministic_under_a_seed(gappy: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    frame = gappy[0]
    first = ImputationSelector(DEFAULT_CANDIDATES, seed=7).fit(frame)
    second = ImputationSelector(DEFAULT_CANDIDATES, seed=7).fit(frame)
    pd.testing.assert_frame_equal(first.scores_, second.scores_)
    pd.testing.assert_frame_equal(first.selection_, second.selection_)
    pd.testing.assert_frame_equal(first.transform(frame), second.transform(frame))


def test_selector_with_learned_candidates_and_a_new_home(gappy: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    frame = gappy[0]
    selector = ImputationSelector(("linear", "weather_gbm", "mice"), trials_per_class=2).fit(frame)
    assert set(selector.scores_["strategy"]) == {"linear", "weather_gbm", "mice"}
    other = punch(make_frame({"zz": (60, 21)}, seed=5), "zz", 200, 3)  # a home the selector never saw
    out = selector.transform(other)
    assert out["imputed"].sum() == 3
    assert out.loc[out["imputed"], "imputation_strategy"].iloc[0] == selector.default_strategy_[3.0]


def test_selector_output_keeps_a_non_default_index(gappy: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    frame = gappy[0].set_axis(np.arange(len(gappy[0])) * 3 + 1000)
    out = ImputationSelector(DEFAULT_CANDIDATES).fit_transform(frame)
    assert out.index.equals(frame.index)
    assert out.loc[frame[KWH].isna(), "imputed"].all()


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"candidates": ("linear", "magic")}, id="unknown-candidate"),
        pytest.param({"candidates": ()}, id="no-candidate"),
        pytest.param({"gap_classes_hours": (24.0, 3.0)}, id="classes-not-ascending"),
        pytest.param({"trials_per_class": 0}, id="no-trials"),
        pytest.param({"min_gain": 1.0}, id="min-gain-not-below-1"),
    ],
)
def test_selector_rejects_bad_parameters_at_fit(
    params: dict, gappy: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    selector = ImputationSelector(**{"candidates": DEFAULT_CANDIDATES, **params})
    with pytest.raises(ValueError):
        selector.fit(gappy[0])


@pytest.mark.parametrize(
    "breakage",
    [
        pytest.param(lambda f: f.iloc[::-1], id="reversed"),
        pytest.param(lambda f: f.drop(index=f.index[100]), id="slot-row-dropped"),
        pytest.param(
            lambda f: f.assign(**{INTERVAL_MIN: np.where(f.index == 5, 15, 60)}), id="mixed-interval"
        ),
    ],
)
def test_frame_off_the_regular_grid_is_rejected(
    breakage: Callable[[pd.DataFrame], pd.DataFrame], gappy: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    with pytest.raises(ValueError, match="regular grid"):
        ImputationSelector(DEFAULT_CANDIDATES).fit(breakage(gappy[0]))
