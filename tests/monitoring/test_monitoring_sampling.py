"""The seeded stratified samples of a window and the windows themselves (pure code, no Evidently)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitoring.sampling import plan_sample, take_sample
from monitoring.windows import choose_windows


def _cohorts(n_yes: int, n_no: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "heating": ["heat_pump"] * (n_yes + n_no),
            "pv": ["yes"] * n_yes + ["no"] * n_no,
            "region": ["SE3"] * (n_yes + n_no),
        }
    )


def test_all_homes_sample_keeps_the_cohort_mix_and_cohort_samples_are_capped():
    cohorts = _cohorts(n_yes=1_000, n_no=9_000)
    plan = plan_sample(cohorts, sample_rows=500, cohort_rows=300, seed=1)
    overall = cohorts.iloc[plan.overall]
    assert len(overall) == 500
    assert (overall["pv"] == "yes").sum() == 50  # 10 % of the window, 10 % of the sample
    pv = cohorts.iloc[plan.by_cohort["pv"]]["pv"].value_counts()
    assert pv["yes"] == 300 and pv["no"] == 300
    assert len(plan.by_cohort["heating"]) == 300  # one heating value: capped at 300
    assert len(np.unique(plan.overall)) == len(plan.overall)  # without replacement
    assert set(plan.overall) <= set(plan.union)


def test_sample_is_seeded_and_small_windows_are_taken_whole():
    cohorts = _cohorts(n_yes=40, n_no=4_000)
    first = plan_sample(cohorts, sample_rows=1_000, cohort_rows=100, seed=7)
    again = plan_sample(cohorts, sample_rows=1_000, cohort_rows=100, seed=7)
    other = plan_sample(cohorts, sample_rows=1_000, cohort_rows=100, seed=8)
    assert np.array_equal(first.overall, again.overall)
    assert not np.array_equal(first.overall, other.overall)
    pv = cohorts.iloc[first.by_cohort["pv"]]["pv"].value_counts()
    assert pv["yes"] == 40  # a small cohort is judged on every row it has
    whole = plan_sample(cohorts.head(300), sample_rows=1_000, cohort_rows=100, seed=7)
    assert np.array_equal(whole.overall, np.arange(300))


def test_take_sample_reads_the_planned_rows_from_a_frame_of_the_union():
    cohorts = _cohorts(n_yes=100, n_no=900)
    plan = plan_sample(cohorts, sample_rows=200, cohort_rows=50, seed=0)
    values = pd.DataFrame({"row": np.arange(1_000)}).iloc[plan.union].set_axis(plan.union)
    sample = take_sample(values, plan)
    assert sample.overall["row"].tolist() == plan.overall.tolist()
    assert sample.by_cohort["pv"]["row"].tolist() == plan.by_cohort["pv"].tolist()
    assert sample.rows_in_window == 1_000


START = pd.Timestamp("2025-01-01", tz="UTC")
END = pd.Timestamp("2025-03-01", tz="UTC")


@pytest.mark.parametrize(
    ("as_of", "current"),
    [
        pytest.param(None, ("2025-02-22", "2025-03-01"), id="now-is-after-the-data: last week of data"),
        pytest.param(
            "2025-02-10T12:30", ("2025-02-03T12:00", "2025-02-10T12:00"), id="as-of-inside-the-data"
        ),
    ],
)
def test_current_window_ends_at_as_of_or_at_the_data(as_of, current):
    windows = choose_windows(START, END, 7, as_of=pd.Timestamp(as_of) if as_of else None)
    assert windows.current.start == pd.Timestamp(current[0], tz="UTC")
    assert windows.current.end == pd.Timestamp(current[1], tz="UTC")
    assert windows.reference.end == windows.current.start  # fallback: all data before
    assert "no training-window tags" in windows.reference_source


def test_training_window_is_the_reference_cut_at_the_current_window():
    training = (pd.Timestamp("2025-01-05"), pd.Timestamp("2025-02-28"))
    windows = choose_windows(START, END, 7, training=training, model="eliq-forecast v2")
    assert windows.reference.start == pd.Timestamp("2025-01-05", tz="UTC")
    assert windows.reference.end == windows.current.start == pd.Timestamp("2025-02-22", tz="UTC")
    assert "training window of eliq-forecast v2, cut" in windows.reference_source
    early = choose_windows(START, END, 7, training=(START, pd.Timestamp("2025-01-31")))
    assert early.reference.end == pd.Timestamp("2025-02-01", tz="UTC")  # the last date is included
    explicit = choose_windows(START, END, 7, training=training, explicit=(START, pd.Timestamp("2025-01-15")))
    assert (explicit.reference.start, explicit.reference.end) == (START, pd.Timestamp("2025-01-15", tz="UTC"))
    with pytest.raises(ValueError, match="no curated data before"):
        choose_windows(START, END, 7, as_of=pd.Timestamp("2024-12-01"))
