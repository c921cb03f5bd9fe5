"""One training run of the consumption forecast, without any tracking: backtests, then the deployable fit.

A run does two things with the same configuration:

1. **Backtest** the configuration: a rolling-origin backtest over the last ``backtest_days`` of the data, hourly
   (the 48-h day-ahead product) and daily (31 days), with the baselines on the same origins and rows.
2. **Fit the deployable model** on every day of the data (the backtest's models are fitted on less).

Tracking (MLflow) and the promotion gate sit on top of this; nothing here knows about them.

Invariants:
    Every forecaster of a backtest sees the same origins and rows, and its fits read only data before the
    block's first origin (see :mod:`training.forecast.backtest`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from training.forecast.backtest import BacktestPlan, BacktestResult, ForecasterFactory, run_backtest
from training.forecast.fitting import TrainingWindows, panel_dates
from training.forecast.forecast_sets import DailyResolution, HourlyResolution
from training.forecast.frames import HourlyPanel
from training.forecast.origins import IssueSchedule
from training.forecast.registry import make_forecaster
from training.forecast.resolutions import MultiResolutionForecaster

MODEL = "global_lightgbm"
BASELINES = ("seasonal_naive", "persistence_ensemble")
DAILY_BACKTEST_DAYS = 31
MIN_SPAN_DAYS = 16  # 3 backtest days, 4 calibration days, 8 training days and a day of margin [d]
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ForecastTrainingConfig:
    """What a training run does (built from ``ForecastTrainingSettings`` by :meth:`from_settings`).

    Attributes:
        issue_time_h: local clock time of issue [h].
        min_history_days: less history at issue is a cold start [d].
        backtest_days: the backtest covers the last this many days [d].
        step_days: days between origins [d].
        refit_every_days: refit period within the backtest [d]; ``None`` fits once.
        calibration_days: the calibration window of each fit [d].
        max_train_rows: hourly training rows per fit at most.
        params: global LightGBM parameters.
        seed: seed of the row sampling.
        daily_calibration_days: the daily model's calibration window at least [d] (its groups span weeks).
    """

    issue_time_h: float = 10.0
    min_history_days: float = 14.0
    backtest_days: int = 28
    step_days: int = 1
    refit_every_days: int | None = None
    calibration_days: int = 28
    max_train_rows: int = 2_000_000
    params: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    daily_calibration_days: int = 35

    @classmethod
    def from_settings(cls, settings: Any) -> ForecastTrainingConfig:
        """The config of a ``ForecastTrainingSettings`` (``settings.training.forecast``)."""
        return cls(
            issue_time_h=settings.issue_time_h,
            min_history_days=settings.min_history_days,
            backtest_days=settings.backtest_days,
            step_days=settings.step_days,
            refit_every_days=settings.refit_every_days,
            calibration_days=settings.calibration_days,
            max_train_rows=settings.max_train_rows,
            params=dict(settings.params),
        )

    def schedule(self) -> IssueSchedule:
        return IssueSchedule(issue_time_h=self.issue_time_h)

    def windows(self, resolution: str) -> TrainingWindows:
        """The training windows of ``resolution`` (the daily model gets a longer calibration window)."""
        if resolution == "daily":
            return TrainingWindows(
                calibration_days=max(self.calibration_days, self.daily_calibration_days),
                max_train_rows=max(self.max_train_rows // 2, 1_000),
                min_history_days=self.min_history_days,
                seed=self.seed,
            )
        return TrainingWindows(
            calibration_days=self.calibration_days,
            max_train_rows=self.max_train_rows,
            min_history_days=self.min_history_days,
            seed=self.seed,
        )

    def fitted_to(self, panel: HourlyPanel) -> ForecastTrainingConfig:
        """This config, with the backtest and calibration windows shortened when ``panel`` spans too few days
        for them (a quarter of the span each): real data may hold a few weeks only. The cold-start threshold then
        drops to a week at most, so that the calibration window holds warm rows (the baselines need a week).

        Raises:
            ValueError: the data spans fewer than :data:`MIN_SPAN_DAYS` days.
        """
        first, last = panel_dates(panel)
        span = last - first + 1
        needed = self.backtest_days + max(self.calibration_days, self.daily_calibration_days) + 8
        if span >= needed:
            return self
        if span < MIN_SPAN_DAYS:
            raise ValueError(
                f"too little history: the data spans {span} days; training and a backtest need {MIN_SPAN_DAYS}"
            )
        quarter = span // 4
        return replace(
            self,
            backtest_days=max(3, min(self.backtest_days, quarter)),
            calibration_days=max(4, min(self.calibration_days, quarter)),
            daily_calibration_days=max(4, min(self.daily_calibration_days, quarter)),
            min_history_days=min(self.min_history_days, 7.0),
        )

    def plan(self, panel: HourlyPanel, resolution: str = "hourly") -> BacktestPlan:
        """Origins over the last ``backtest_days`` of ``panel`` whose targets are (mostly) known."""
        first, last = panel_dates(panel)
        needed = self.windows(resolution).calibration_days + 7
        if last - self.backtest_days - first < needed:
            raise ValueError(
                f"too little history for a {self.backtest_days}-day backtest: the data spans "
                f"{last - first + 1} days and training needs at least {needed} days before the backtest"
            )
        return BacktestPlan(
            start_date=last - self.backtest_days,
            end_date=last - 2,
            step_days=self.step_days,
            refit_every_days=self.refit_every_days,
            windows=self.windows(resolution),
        )


@dataclass
class ForecastBacktests:
    """The backtests of one configuration.

    Attributes:
        hourly: the 48-h day-ahead backtest (the model and the baselines).
        daily: the 31-day daily backtest.
    """

    hourly: BacktestResult
    daily: BacktestResult


def forecaster_factories(
    resolution: str, configs: Mapping[str, Mapping[str, Any]], baselines: tuple[str, ...] = BASELINES
) -> dict[str, ForecasterFactory]:
    """Factories of the global model under each name of ``configs`` (name → its parameters), and the baselines."""
    factories: dict[str, ForecasterFactory] = {}
    for name, params in configs.items():
        factories[name] = partial(make_forecaster, MODEL, resolution, **dict(params))
    for name in baselines:
        factories[name] = partial(make_forecaster, name, resolution)
    return factories


def run_forecast_backtests(
    panel: HourlyPanel,
    config: ForecastTrainingConfig,
    configs: Mapping[str, Mapping[str, Any]] | None = None,
    progress: Progress | None = None,
) -> ForecastBacktests:
    """Backtest the global model (one entry of ``configs`` per variant; default ``{MODEL: config.params}``) and
    the baselines, hourly and daily, on the same origins."""
    configs = configs if configs is not None else {MODEL: dict(config.params)}
    schedule = config.schedule()
    if progress:
        progress("hourly backtest")
    hourly = run_backtest(
        panel, HourlyResolution(schedule), forecaster_factories("hourly", configs), config.plan(panel)
    )
    if progress:
        progress("daily backtest")
    daily = run_backtest(
        panel,
        DailyResolution(schedule, days=DAILY_BACKTEST_DAYS),
        forecaster_factories("daily", configs),
        config.plan(panel, "daily"),
    )
    return ForecastBacktests(hourly, daily)


def fit_deployable(panel: HourlyPanel, config: ForecastTrainingConfig) -> MultiResolutionForecaster:
    """The hourly and daily models fitted on every day of ``panel`` (through its last date)."""
    _, last = panel_dates(panel)
    model = MultiResolutionForecaster(
        schedule=config.schedule(),
        forecaster=MODEL,
        params=dict(config.params),
        hourly_windows=config.windows("hourly"),
        daily_windows=config.windows("daily"),
    )
    return model.fit(panel, last + 1)
