"""Three resolutions that agree: day-ahead hourly, daily, and monthly totals, from one issue time.

- **Hourly**: the whole next ``hourly_days`` local days (48 h; 47 or 49 h across a DST change), from a model issued
  at the schedule's local issue time (10:00 by default).
- **Daily**: local days ``D+1`` to at least ``D+daily_days`` (31), and through the end of next month.
- **Monthly**: the current and the next calendar month (local).

How they agree:
    1. *Hourly to daily, top-down.* For each day both models cover, every hourly quantile is scaled by
       ``daily P50 / sum of hourly P50`` (a day whose hourly P50s sum to 0 gets the daily P50 spread evenly). The
       hourly P50s then sum to the daily P50 exactly; the hourly shape is kept and the quantiles stay ordered.
    2. *Daily to monthly, bottom-up.* A month's P50 is the sum of its daily P50s. The current month adds what was
       already measured before the issue time (missing hours filled with the mean of the known hours of that
       span) and the hourly P50s of the rest of the issue day.
    Monthly P10 / P90 are sums of the daily ones: a comonotone (fully correlated) bound, wider than a calibrated
    monthly interval would be.

Invariants:
    Sums agree to float rounding: hourly P50s sum to the daily P50, daily P50s (plus the measured part) to the
    monthly P50.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from contracts.schemas import HOME_ID, KWH
from training.forecast.calibration import CalibratedForecaster
from training.forecast.fitting import TrainingWindows, fit_calibrated, training_sets
from training.forecast.forecast_sets import DailyResolution, HourlyResolution, build_set
from training.forecast.frames import HourlyPanel
from training.forecast.origins import IssueSchedule, issue_hours
from training.forecast.quantiles import DEFAULT_QUANTILES, P50, quantile_columns
from training.forecast.registry import make_forecaster
from training.forecast.trailing import TrailingSums
from training.forecast.weather_inputs import WeatherForecastSource

MAX_DAILY_LEAD_D = 62  # the end of next month is at most 62 days after the issue date [d]
_COLUMNS = quantile_columns(DEFAULT_QUANTILES)


@dataclass
class ResolutionForecasts:
    """One issue's forecasts at the three resolutions.

    Attributes:
        hourly: ``home_id``, ``issue_time``, ``ts``, ``local_date``, ``lead_h``, ``cold_start``, quantiles [kWh].
        daily: ``home_id``, ``issue_time``, ``local_date``, ``lead_d``, ``cold_start``, quantiles [kWh/day].
        monthly: ``home_id``, ``issue_time``, ``month``, ``period`` (current / next), ``measured_kwh``,
            ``cold_start``, quantiles [kWh/month].
    """

    hourly: pd.DataFrame
    daily: pd.DataFrame
    monthly: pd.DataFrame


@dataclass
class MultiResolutionForecaster:
    """An hourly and a daily global model, fitted together, forecasting the three resolutions consistently.

    Attributes:
        schedule: issue time and windows.
        forecaster: registry name of the forecaster of both resolutions.
        params: constructor parameters of the forecaster.
        hourly_windows: training and calibration windows of the hourly model.
        daily_windows: those of the daily model.
        weather: the weather known at issue (observed weather stands in by default).
    """

    schedule: IssueSchedule = field(default_factory=IssueSchedule)
    forecaster: str = "global_lightgbm"
    params: dict[str, Any] = field(default_factory=dict)
    hourly_windows: TrainingWindows = field(default_factory=TrainingWindows)
    daily_windows: TrainingWindows = field(
        default_factory=lambda: TrainingWindows(calibration_days=35, max_train_rows=1_000_000)
    )
    weather: WeatherForecastSource | None = None

    def fit(self, panel: HourlyPanel, end_date: int) -> MultiResolutionForecaster:
        """Fit both models on the data before local date ``end_date``."""
        self.hourly_ = HourlyResolution(self.schedule, self.weather)
        self.daily_ = DailyResolution(self.schedule, self.weather, days=MAX_DAILY_LEAD_D)
        self.models_: dict[str, CalibratedForecaster] = {}
        for resolution, windows in ((self.hourly_, self.hourly_windows), (self.daily_, self.daily_windows)):
            train, cal = training_sets(resolution, panel, end_date, windows)
            forecaster = make_forecaster(self.forecaster, resolution.name, **self.params)
            self.models_[resolution.name] = fit_calibrated(forecaster, train, cal)
        return self

    def forecast(
        self,
        panel: HourlyPanel,
        issue_date: int,
        homes: list[str] | None = None,
        issue_time_h: float | None = None,
        products: tuple[str, ...] = ("hourly", "daily", "monthly"),
    ) -> ResolutionForecasts:
        """Forecasts issued on local date ``issue_date`` for ``homes`` (all by default).

        Args:
            panel: the data known at issue (and the weather of the horizon, where forecast).
            issue_date: local issue date [days since 1970-01-01].
            homes: home ids; ``None`` forecasts every home of ``panel``.
            issue_time_h: local clock time of issue [h]; ``None`` is the schedule's. Another time than the one
                trained on works (the features are built for it), but the calibration was measured at the
                trained one.
            products: the resolutions wanted. The hourly forecasts are the same whatever the others: with
                ``("hourly",)`` only the daily rows of the hourly window are forecast (to reconcile with) and the
                daily and monthly frames hold just those rows / nothing; the daily product is the same with or
                without ``monthly``.
        """
        schedule = (
            self.schedule if issue_time_h is None else replace(self.schedule, issue_time_h=issue_time_h)
        )
        hourly_resolution = HourlyResolution(schedule, self.weather)
        days = schedule.hourly_days if set(products) == {"hourly"} else MAX_DAILY_LEAD_D
        daily_resolution = DailyResolution(schedule, self.weather, days=days)
        home = np.arange(panel.n_homes) if homes is None else panel.home_index(homes)
        dates = np.full(len(home), issue_date, dtype=np.int64)
        hourly = self._predict(hourly_resolution, panel, home, dates)
        daily = self._predict(daily_resolution, panel, home, dates)
        daily = daily[daily["local_date"] <= _daily_end(daily, issue_date, schedule.daily_days)]
        hourly = reconcile_hourly(hourly, daily)
        wanted = "monthly" in products
        totals = monthly_totals(panel, home, dates, schedule, hourly, daily) if wanted else pd.DataFrame()
        product = hourly["local_date"] > _as_date(issue_date)
        return ResolutionForecasts(
            hourly[product].reset_index(drop=True), daily.reset_index(drop=True), totals
        )

    def _predict(
        self,
        resolution: HourlyResolution | DailyResolution,
        panel: HourlyPanel,
        home: np.ndarray,
        dates: np.ndarray,
    ) -> pd.DataFrame:
        window = self.hourly_windows if resolution.name == "hourly" else self.daily_windows
        data = build_set(resolution, panel, resolution.rows(panel, home, dates), window.min_history_days)
        if len(data.y) == 0:
            raise ValueError(
                f"nothing to forecast: the issue date {_as_date(int(dates[0])).date()} is outside the data "
                f"({_reading_span(panel)})"
            )
        quantiles = self.models_[resolution.name].predict_quantiles(data.X, data.groups, data.cold)
        out = resolution.ids(panel, data.rows)
        out["cold_start"] = data.cold
        for column in quantiles.columns:
            out[column] = quantiles[column].to_numpy()
        return out


def _reading_span(panel: HourlyPanel) -> str:
    """``first to last`` date of the panel's readings, for messages."""
    known = panel.reading_hours()
    if known.size == 0:
        return "which holds no kWh reading"
    first, last = panel.timestamps(known[[0, -1]])
    return f"{first.date()} to {last.date()}"


def reconcile_hourly(hourly: pd.DataFrame, daily: pd.DataFrame) -> pd.DataFrame:
    """Scale the hourly quantiles of each day the daily forecast covers so their P50s sum to the daily P50."""
    key = [HOME_ID, "local_date"]
    sums = hourly.groupby(key)[P50].transform("sum").to_numpy()
    hours = hourly.groupby(key)[P50].transform("size").to_numpy()
    target = hourly[key].merge(daily[[*key, P50]], on=key, how="left")[P50].to_numpy()
    covered = ~np.isnan(target)
    out = hourly.copy()
    for column in quantile_columns(DEFAULT_QUANTILES):
        values = out[column].to_numpy(dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            scaled = np.where(sums > 0, values * target / sums, target / hours)
        out[column] = np.where(covered, scaled, values)
    return out


def monthly_totals(
    panel: HourlyPanel,
    home: np.ndarray,
    issue_date: np.ndarray,
    schedule: IssueSchedule,
    hourly: pd.DataFrame,
    daily: pd.DataFrame,
) -> pd.DataFrame:
    """The current and next local month per home: measured kWh before the issue, plus the forecast rest."""
    issue_day = _as_date(int(issue_date[0]))
    current = issue_day.to_period("M")
    measured = _measured_this_month(panel, home, issue_date, schedule, current)
    today = hourly[hourly["local_date"] == issue_day].groupby(HOME_ID)[_COLUMNS].sum()
    by_month = daily.assign(month=daily["local_date"].dt.to_period("M"))
    cold = daily.groupby(HOME_ID)["cold_start"].any()
    issue_time = daily.groupby(HOME_ID)["issue_time"].first()
    frames = []
    for period, month in (("current", current), ("next", current + 1)):
        in_month = by_month[by_month["month"] == month]
        part = in_month.groupby(HOME_ID)[_COLUMNS].sum().reindex(issue_time.index, fill_value=0.0)
        if period == "current":
            part = part.add(today.reindex(part.index, fill_value=0.0)).add(
                measured.reindex(part.index), axis=0
            )
        frame = part.reset_index()
        frame.insert(1, "issue_time", issue_time.reindex(frame[HOME_ID]).to_numpy())
        frame.insert(2, "month", month.start_time)
        frame.insert(3, "period", period)
        frame.insert(
            4, "measured_kwh", measured.reindex(frame[HOME_ID]).to_numpy() if period == "current" else 0.0
        )
        frame["cold_start"] = cold.reindex(frame[HOME_ID]).to_numpy()
        frames.append(frame)
    return pd.concat(frames, ignore_index=True).sort_values([HOME_ID, "month"], ignore_index=True)


def _measured_this_month(
    panel: HourlyPanel, home: np.ndarray, issue_date: np.ndarray, schedule: IssueSchedule, month: pd.Period
) -> pd.Series:
    """kWh measured from the month's first local hour to the issue hour; missing hours get the span's mean."""
    sums = TrailingSums.of(panel, KWH, squares=True)
    first_day = np.full(len(home), (month.start_time - pd.Timestamp(0)).days, dtype=np.int64)
    start = np.clip(panel.calendar.day_start(home, first_day), 0, panel.n_hours)
    end = np.clip(issue_hours(panel, home, issue_date, schedule.issue_time_h), 0, panel.n_hours)
    total, known = sums.sum_count(home, end, end - start)
    with np.errstate(invalid="ignore", divide="ignore"):
        filled = np.where(known > 0, total * (end - start) / known, 0.0)
    return pd.Series(filled, index=panel.home_ids[home], name="measured_kwh")


def _daily_end(daily: pd.DataFrame, issue_date: int, daily_days: int) -> pd.Timestamp:
    """The last day of the daily product: ``daily_days`` after the issue, or the end of next month if later."""
    next_month_end = (_as_date(issue_date).to_period("M") + 1).end_time.normalize()
    return max(_as_date(issue_date + daily_days), next_month_end)


def _as_date(ordinal: int) -> pd.Timestamp:
    return pd.Timestamp(int(ordinal), unit="D")
