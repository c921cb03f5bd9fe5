"""Hyper-parameter tuning of the global LightGBM forecaster with Optuna: TPE sampling, pruning, resumable studies.

A trial fits the P50 model of :class:`~training.forecast.global_model.GlobalLightGbmForecaster` (point model only:
the intervals do not move the P50) on every origin before a validation window, and scores the pooled NRMSE of the
next-day ("day+1") hourly rows of the window's origins. The features of both sets are built once per call
(:func:`tuning_sets`), not per trial.

Pruning: the forecaster's fit runs LightGBM in one call, with no per-round hook, so a trial reports at rungs: the
P50 refitted with a share of its boosting rounds (1/9, then 1/3 by default) and scored on the validation rows. The
pruner may stop the trial there. A pruned trial costs 0.11 or 0.44 of a fit, a completed one 1.44 fits.

A study is stored in ``storage_url`` (e.g. ``sqlite:///runs/optuna.db``) and resumes: a second call with the same
study name adds trials to it. It records its validation origins and refuses another window, whose values would not
compare.

Invariants:
    Training targets are before the first validation origin date; validation features read readings before their
    issue time only. The validation actuals choose among trials but are never trained on, so the best value is an
    optimistic estimate: confirm the tuned parameters on a later backtest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from training.forecast.fitting import TrainingWindows, panel_dates, window_rows
from training.forecast.forecast_sets import ForecastSet, HourlyResolution, build_set
from training.forecast.frames import HourlyPanel
from training.forecast.global_model import GlobalLightGbmForecaster
from training.forecast.metrics import nrmse
from training.forecast.origins import origin_grid

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)

DEFAULT_PRUNING_SHARES = (1 / 9, 1 / 3)  # shares of a trial's boosting rounds at which it reports


@dataclass(frozen=True)
class ParameterRange:
    """The range one hyper-parameter is drawn from.

    Attributes:
        low: smallest value.
        high: largest value.
        log: draw on a log scale (``low > 0``).
        integer: draw integers.
    """

    low: float
    high: float
    log: bool = False
    integer: bool = False

    def __post_init__(self) -> None:
        if self.low > self.high or (self.log and self.low <= 0):
            raise ValueError(f"invalid range {self}: needs low <= high, and low > 0 on a log scale")

    def suggest(self, trial: optuna.Trial, name: str) -> float | int:
        """A value drawn by ``trial`` for the parameter ``name``."""
        if self.integer:
            return trial.suggest_int(name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(name, self.low, self.high, log=self.log)

    def clip(self, value: float) -> float | int:
        """``value`` moved into the range (rounded for an integer range)."""
        clipped = min(max(value, self.low), self.high)
        return round(clipped) if self.integer else float(clipped)

    def __contains__(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            return False
        number = float(value)
        return self.low <= number <= self.high and (number.is_integer() or not self.integer)


@dataclass(frozen=True)
class ForecastSearchSpace:
    """The hyper-parameters tuned, by the forecaster's argument name; ``None`` keeps the base value.

    ``cold_start_share`` is not tuned by default: the validation rows are mostly warm homes, so the search would
    push it to 0 and give up the cold-start forecast it pays for.
    """

    n_estimators: ParameterRange | None = ParameterRange(100, 1000, log=True, integer=True)
    learning_rate: ParameterRange | None = ParameterRange(0.02, 0.3, log=True)
    num_leaves: ParameterRange | None = ParameterRange(15, 255, log=True, integer=True)
    min_child_samples: ParameterRange | None = ParameterRange(10, 500, log=True, integer=True)
    colsample_bytree: ParameterRange | None = ParameterRange(0.4, 1.0)
    subsample: ParameterRange | None = ParameterRange(0.5, 1.0)
    cold_start_share: ParameterRange | None = None

    def ranges(self) -> dict[str, ParameterRange]:
        """The tuned parameters and their ranges."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {name: r for name, r in values.items() if r is not None}

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """One draw of every tuned parameter."""
        return {name: r.suggest(trial, name) for name, r in self.ranges().items()}

    def contains(self, params: Mapping[str, Any]) -> bool:
        """Whether ``params`` holds every tuned parameter, each inside its range."""
        return all(name in params and params[name] in r for name, r in self.ranges().items())

    def starting_point(self, base_params: Mapping[str, Any]) -> dict[str, Any]:
        """The base values of the tuned parameters (the forecaster's defaults where unset), clipped to the space."""
        defaults = GlobalLightGbmForecaster()
        return {
            name: r.clip(base_params.get(name, getattr(defaults, name))) for name, r in self.ranges().items()
        }


@dataclass(frozen=True)
class TuningSets:
    """The training and validation rows of a study, features built.

    Attributes:
        train: every training row with a target before ``first_origin_date`` (sampled to the windows' budget).
        validation: next-day hourly rows of the validation origins with a known actual.
        first_origin_date: first validation issue date [days since 1970-01-01].
        last_origin_date: last validation issue date, inclusive [days since 1970-01-01].
    """

    train: ForecastSet
    validation: ForecastSet
    first_origin_date: int
    last_origin_date: int


@dataclass(frozen=True)
class TrialSummary:
    """One finished trial, for progress reports and experiment logging.

    Attributes:
        number: the trial's number in its study.
        state: ``COMPLETE``, ``PRUNED`` or ``FAIL``.
        value: validation NRMSE [-]; ``None`` unless complete.
        params: the tuned parameters drawn.
        intermediate_values: rung step → validation NRMSE after that rung's share of the rounds [-].
        duration_s: wall time [s].
    """

    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    intermediate_values: dict[int, float]
    duration_s: float | None


@dataclass
class TuningResult:
    """The outcome of a study (every trial so far, including earlier sessions).

    Attributes:
        study_name: the study.
        storage_url: where it is stored; ``None`` in memory.
        best_params: the tuned parameters of the best trial.
        best_value: its validation NRMSE on next-day hourly rows [-].
        forecaster_params: the base parameters updated with ``best_params``, for the forecaster's constructor.
        n_complete: trials completed.
        n_pruned: trials pruned.
        n_new: trials run by this call.
        trials: one row per trial: ``number``, ``state``, ``value``, ``last_step``, ``duration_s`` and a column
            per parameter.
    """

    study_name: str
    storage_url: str | None
    best_params: dict[str, Any]
    best_value: float
    forecaster_params: dict[str, Any]
    n_complete: int
    n_pruned: int
    n_new: int
    trials: pd.DataFrame = field(repr=False)


def tuning_sets(
    panel: HourlyPanel,
    validation_end_date: int | None = None,
    validation_days: int = 14,
    windows: TrainingWindows | None = None,
    resolution: HourlyResolution | None = None,
) -> TuningSets:
    """The training and validation sets of a study.

    Args:
        panel: the data.
        validation_end_date: last validation issue date, inclusive [days since 1970-01-01]; ``None`` takes two
            days before the panel's last local date, which may be partly read (the latest zone's date ends it),
            so that every validation origin's next day is read in full.
        validation_days: validation issue dates, one origin per home and date [d].
        windows: row budgets (``max_train_rows``; ``max_calibration_rows`` caps the validation rows),
            ``min_history_days`` and the sampling seed; ``calibration_days`` is unused (no calibration).
        resolution: the hourly resolution (issue schedule, weather source); the default one if ``None``.
    """
    windows = windows or TrainingWindows()
    resolution = resolution or HourlyResolution()
    rng = np.random.default_rng(windows.seed)
    first, last = panel_dates(panel)
    end = last - 2 if validation_end_date is None else validation_end_date
    start = end - validation_days + 1
    if start <= first + 1 or validation_days < 1:
        raise ValueError(f"too little history before the validation origins {start}…{end}")
    train_rows = window_rows(resolution, panel, first, start - 1, start, windows.max_train_rows, rng, True)
    train = build_set(resolution, panel, train_rows, windows.min_history_days)
    home, issue_date = origin_grid(np.arange(panel.n_homes), np.arange(start, end + 1))
    rows = resolution.rows(panel, home, issue_date)
    next_day = np.flatnonzero(resolution.target_date(panel, rows) - rows.issue_date == 1)
    if len(next_day) > windows.max_calibration_rows:
        next_day = np.sort(rng.choice(next_day, windows.max_calibration_rows, replace=False))
    validation = build_set(resolution, panel, rows.take(next_day), windows.min_history_days)
    validation = validation.take(np.isfinite(validation.y))
    if len(validation) == 0 or len(train) == 0:
        raise ValueError(f"no training or no scored validation rows for origins {start}…{end}")
    return TuningSets(train, validation, start, end)


def validation_nrmse(params: Mapping[str, Any], sets: TuningSets) -> float:
    """NRMSE [-] on ``sets.validation`` of the P50 fitted with ``params`` on ``sets.train``."""
    model = GlobalLightGbmForecaster(**{**params, "interval_method": "conformal"})
    model.fit(sets.train.X, sets.train.y)
    return nrmse(sets.validation.y, model.predict(sets.validation.X))


@dataclass(frozen=True)
class _ForecastObjective:
    """A trial: draw the parameters, report at the rungs (pruning there if told to), return the full fit's NRMSE."""

    sets: TuningSets
    base_params: Mapping[str, Any]
    space: ForecastSearchSpace
    pruning_shares: Sequence[float]

    def __call__(self, trial: optuna.Trial) -> float:
        import optuna

        params = {**self.base_params, **self.space.suggest(trial)}
        rounds = int(params.get("n_estimators", GlobalLightGbmForecaster().n_estimators))
        for step, share in enumerate(self.pruning_shares):
            rung = max(1, round(rounds * share))
            if rung >= rounds:
                break
            trial.report(validation_nrmse({**params, "n_estimators": rung}, self.sets), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return validation_nrmse(params, self.sets)


def tune_forecaster(
    panel: HourlyPanel,
    validation_end_date: int | None = None,
    *,
    n_trials: int | None = 50,
    timeout_s: float | None = None,
    storage_url: str | None = None,
    study_name: str = "global_lightgbm_hourly",
    base_params: Mapping[str, Any] | None = None,
    search_space: ForecastSearchSpace | None = None,
    windows: TrainingWindows | None = None,
    validation_days: int = 14,
    seed: int = 0,
    pruner: optuna.pruners.BasePruner | None = None,
    pruning_shares: Sequence[float] = DEFAULT_PRUNING_SHARES,
    on_trial: Callable[[TrialSummary], None] | None = None,
) -> TuningResult:
    """Tune the global LightGBM forecaster on a validation window; the study is created or resumed.

    The first trial of a new study is the base parameters (clipped to the space), so the best value is never
    worse than theirs. Trials stop after ``n_trials`` or once ``timeout_s`` has passed, whichever comes first
    (a running trial finishes).

    Args:
        panel: the data.
        validation_end_date: last validation issue date (see :func:`tuning_sets`).
        n_trials: trials to run in this call; ``None`` runs until the timeout.
        timeout_s: no trial starts after this long [s]; ``None`` for no limit.
        storage_url: an Optuna storage URL (``sqlite:///path/optuna.db``); ``None`` keeps the study in memory.
        study_name: the study's name in the storage.
        base_params: forecaster arguments the trials start from (``n_jobs``, ``seed``, fixed parameters).
        search_space: the tuned parameters; :class:`ForecastSearchSpace` defaults if ``None``.
        windows: row budgets and sampling seed of the sets.
        validation_days: validation issue dates [d].
        seed: seed of the TPE sampler (offset by the trials already in a resumed study).
        pruner: an Optuna pruner; ``MedianPruner(n_startup_trials=5)`` if ``None``.
        pruning_shares: shares of a trial's boosting rounds at which it reports (the pruning rungs); ``()``
            for no pruning.
        on_trial: called with each finished trial of this call.
    """
    import optuna

    space = search_space or ForecastSearchSpace()
    base = dict(base_params or {})
    sets = tuning_sets(panel, validation_end_date, validation_days, windows)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no line per trial
    try:
        study = _open_study(study_name, storage_url, seed, pruner, sets)
        before = len(study.trials)
        if before == 0:
            study.enqueue_trial(space.starting_point(base))
        report = on_trial
        callbacks = [lambda _, trial: report(_summary(trial))] if report is not None else None
        objective = _ForecastObjective(sets, base, space, tuple(pruning_shares))
        study.optimize(objective, n_trials=n_trials, timeout=timeout_s, callbacks=callbacks)
    finally:
        optuna.logging.set_verbosity(verbosity)
    return _result(study, storage_url, base, len(study.trials) - before)


def _open_study(
    name: str,
    storage_url: str | None,
    seed: int,
    pruner: optuna.pruners.BasePruner | None,
    sets: TuningSets,
) -> optuna.Study:
    """The study ``name``, created with its validation window or resumed if that window matches."""
    import optuna

    pruner = pruner or optuna.pruners.MedianPruner(n_startup_trials=5)
    window = {"first_origin_date": sets.first_origin_date, "last_origin_date": sets.last_origin_date}
    study = optuna.create_study(
        study_name=name,
        storage=storage_url,
        direction="minimize",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=pruner,
    )
    if not study.trials:
        for key, value in window.items():
            study.set_user_attr(key, value)
        return study
    stored = {key: study.user_attrs.get(key) for key in window}
    if stored != window:
        raise ValueError(
            f"study {name!r} validates on origins {stored}, not {window}: use another study name"
        )
    if storage_url is None:
        return study
    # a resumed sampler with the first session's seed would replay that session's random draws
    sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials))
    logger.info("resuming study %s with %d trials", name, len(study.trials))
    return optuna.load_study(study_name=name, storage=storage_url, sampler=sampler, pruner=pruner)


def _summary(trial: optuna.trial.FrozenTrial) -> TrialSummary:
    return TrialSummary(
        number=trial.number,
        state=trial.state.name,
        value=trial.value if trial.state.name == "COMPLETE" else None,  # a pruned trial keeps its last report
        params=dict(trial.params),
        intermediate_values=dict(trial.intermediate_values),
        duration_s=trial.duration.total_seconds() if trial.duration is not None else None,
    )


def _result(study: optuna.Study, storage_url: str | None, base: dict[str, Any], n_new: int) -> TuningResult:
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise RuntimeError(f"no trial of study {study.study_name!r} completed")
    best = study.best_trial
    return TuningResult(
        study_name=study.study_name,
        storage_url=storage_url,
        best_params=dict(best.params),
        best_value=float(best.values[0]),
        forecaster_params={**base, **best.params},
        n_complete=len(complete),
        n_pruned=len(study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))),
        n_new=n_new,
        trials=_trials_table(study),
    )


def _trials_table(study: optuna.Study) -> pd.DataFrame:
    records = []
    for trial in study.get_trials(deepcopy=False):
        summary = _summary(trial)
        records.append(
            {
                "number": summary.number,
                "state": summary.state,
                "value": summary.value,
                "last_step": trial.last_step,
                "duration_s": summary.duration_s,
                **summary.params,
            }
        )
    return pd.DataFrame.from_records(records)
