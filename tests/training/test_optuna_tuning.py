"""Optuna tuning of the global forecaster: sets without leakage, SQLite studies that resume, pruning, timeouts."""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
import pytest

from training.forecast.fitting import TrainingWindows
from training.forecast.frames import HourlyPanel
from training.forecast.synthetic import synthetic_hourly
from training.integrations.optuna_tuning import (
    ForecastSearchSpace,
    ParameterRange,
    TrialSummary,
    tune_forecaster,
    tuning_sets,
    validation_nrmse,
)

WINDOWS = TrainingWindows(max_train_rows=12_000, max_calibration_rows=3_000)
BASE = {"n_jobs": 1, "n_estimators": 20, "learning_rate": 0.1}
# small models, so that a trial takes a fraction of a second
SPACE = ForecastSearchSpace(
    n_estimators=ParameterRange(9, 30, log=True, integer=True),
    learning_rate=ParameterRange(0.03, 0.4, log=True),
    num_leaves=ParameterRange(4, 31, log=True, integer=True),
    min_child_samples=ParameterRange(5, 200, log=True, integer=True),
)
STUDY: dict[str, Any] = {"search_space": SPACE, "windows": WINDOWS, "validation_days": 5, "base_params": BASE}


@pytest.fixture(scope="module")
def panel() -> HourlyPanel:
    hourly, homes = synthetic_hourly(n_homes=6, days=45, seed=2)
    return HourlyPanel.from_frames(hourly, homes)


@pytest.fixture(scope="module")
def storage(tmp_path_factory) -> str:
    """One SQLite file for the module (its schema takes seconds to create); each test has its own study."""
    return f"sqlite:///{tmp_path_factory.mktemp('optuna') / 'optuna.db'}"


@pytest.fixture(scope="module")
def sets(panel):
    return tuning_sets(panel, validation_days=5, windows=WINDOWS)


def test_training_targets_precede_the_validation_origins_which_are_scored_next_day(sets):
    assert sets.last_origin_date - sets.first_origin_date == 4
    assert sets.train.target_date.max() < sets.first_origin_date
    assert (sets.validation.target_date - sets.validation.rows.issue_date == 1).all()
    assert np.isfinite(sets.validation.y).all() and len(sets.validation) == 6 * 5 * 24
    assert len(sets.train) <= WINDOWS.max_train_rows


def test_a_study_is_stored_in_sqlite_and_its_best_trial_refits_to_its_value(panel, sets, storage):
    seen: list[TrialSummary] = []
    result = tune_forecaster(
        panel, n_trials=3, storage_url=storage, study_name="hourly", on_trial=seen.append, **STUDY
    )
    assert result.n_new == 3 and len(result.trials) == 3 and [s.number for s in seen] == [0, 1, 2]
    assert SPACE.contains(result.best_params)
    # the first trial is the base parameters, so tuning never does worse than them
    assert seen[0].params == SPACE.starting_point(BASE) and seen[0].value is not None
    assert result.best_value <= seen[0].value
    assert result.best_value == pytest.approx(result.trials["value"].min())
    assert validation_nrmse(result.forecaster_params, sets) == pytest.approx(result.best_value, rel=1e-9)
    stored = optuna.load_study(study_name="hourly", storage=storage)
    assert len(stored.trials) == 3 and stored.best_value == pytest.approx(result.best_value)


def test_a_second_call_resumes_the_study_with_new_draws(panel, storage):
    first = tune_forecaster(panel, n_trials=3, storage_url=storage, study_name="resumed", **STUDY)
    second = tune_forecaster(panel, n_trials=2, storage_url=storage, study_name="resumed", **STUDY)
    assert second.n_new == 2 and second.trials["number"].tolist() == list(range(5))
    assert second.best_value <= first.best_value
    drawn = second.trials[list(SPACE.ranges())].round(9)
    # a sampler reseeded as in the first session would replay its draws
    assert not drawn.iloc[3:].merge(drawn.iloc[:3]).shape[0]


def test_a_study_refuses_another_validation_window(panel, sets, storage):
    tune_forecaster(panel, n_trials=1, storage_url=storage, study_name="window", **STUDY)
    with pytest.raises(ValueError, match="validates on origins"):
        tune_forecaster(
            panel, sets.last_origin_date - 1, n_trials=1, storage_url=storage, study_name="window", **STUDY
        )


def test_an_aggressive_pruner_stops_trials_at_a_rung(panel):
    seen: list[TrialSummary] = []
    result = tune_forecaster(
        panel,
        n_trials=8,
        seed=1,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=1),
        on_trial=seen.append,
        **STUDY,
    )
    pruned = [s for s in seen if s.state == "PRUNED"]
    assert result.n_pruned == len(pruned) >= 1 and result.n_complete + result.n_pruned == 8
    for summary in pruned:
        assert summary.value is None and max(summary.intermediate_values) in (0, 1)
    assert not result.trials.loc[result.trials["state"] == "PRUNED", "value"].notna().any()


def test_no_pruning_without_rungs(panel):
    result = tune_forecaster(
        panel,
        n_trials=3,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=0),
        pruning_shares=(),
        **STUDY,
    )
    assert result.n_complete == 3 and result.n_pruned == 0


def test_a_timeout_stops_the_study_before_its_trial_count(panel):
    result = tune_forecaster(panel, n_trials=1_000, timeout_s=1e-3, **STUDY)
    assert result.n_new == 1 and result.n_complete == 1  # the running trial finishes, no other starts


@pytest.mark.parametrize(
    ("value", "inside"),
    [
        pytest.param(10, True, id="integer-inside"),
        pytest.param(np.int64(10), True, id="numpy-integer-inside"),
        pytest.param(10.5, False, id="fraction-in-integer-range"),
        pytest.param(3, False, id="below"),
        pytest.param("10", False, id="not-a-number"),
        pytest.param(True, False, id="not-a-bool"),
    ],
)
def test_integer_range_membership(value, inside):
    assert (value in ParameterRange(4, 31, integer=True)) is inside


def test_ranges_clip_and_reject_invalid_bounds():
    assert ParameterRange(4, 31, log=True, integer=True).clip(40.0) == 31
    assert ParameterRange(0.1, 0.5).clip(0.01) == 0.1
    with pytest.raises(ValueError):
        ParameterRange(0.0, 1.0, log=True)
    with pytest.raises(ValueError):
        ParameterRange(2, 1)
    assert "cold_start_share" not in ForecastSearchSpace().ranges()
