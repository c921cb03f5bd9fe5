"""Forecast sets: the rows, features, actuals and calibration groups of one resolution for a set of origins.

A resolution (a strategy in :data:`RESOLUTIONS`) knows how to lay out rows for origins, build their features and
read their actuals. :func:`build_set` runs it once, so every forecaster of a backtest shares the same features,
and masks the recent-consumption features of cold-start homes.

Invariants:
    Cold rows (less history than ``min_history_days`` at issue) have every ``kwh_`` feature masked, in training,
    calibration and prediction alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from contracts.schemas import HOME_ID
from training.forecast.cold_start import DEFAULT_MIN_HISTORY_DAYS, apply_cold_start, cold_start_flags
from training.forecast.daily_features import (
    DailyCalendarAdder,
    DailyFeatureAdder,
    DailyFeatureBuilder,
    DailyHomeAttributeAdder,
    DailyLagAdder,
    DailyWeatherAdder,
    daily_target,
)
from training.forecast.features import HourlyFeatureBuilder, hourly_target
from training.forecast.frames import HourlyPanel
from training.forecast.origins import DailyRows, HourlyRows, IssueSchedule, daily_rows, hourly_rows
from training.forecast.weather_inputs import WeatherForecastSource

Rows = HourlyRows | DailyRows
DAILY_LEAD_GROUPS = (7, 14, 21)  # upper leads of the daily calibration groups [d]; later leads form one group


class Resolution(Protocol):
    """How one resolution lays out, describes and scores its rows."""

    name: str

    def rows(self, panel: HourlyPanel, home: np.ndarray, issue_date: np.ndarray) -> Rows: ...

    def features(self, panel: HourlyPanel, rows: Rows) -> pd.DataFrame: ...

    def actual(self, panel: HourlyPanel, rows: Rows) -> np.ndarray: ...

    def target_date(self, panel: HourlyPanel, rows: Rows) -> np.ndarray: ...

    def groups(self, panel: HourlyPanel, rows: Rows) -> np.ndarray: ...

    def ids(self, panel: HourlyPanel, rows: Rows) -> pd.DataFrame: ...

    def trains_on(self, rows: Rows) -> np.ndarray: ...


class HourlyResolution:
    """Hourly rows from the issue hour to the end of the hourly window; calibrated per lead day.

    Args:
        schedule: issue time and window.
        weather: the weather known at issue (observed weather stands in by default).
    """

    name = "hourly"

    def __init__(
        self, schedule: IssueSchedule | None = None, weather: WeatherForecastSource | None = None
    ) -> None:
        self.schedule = schedule or IssueSchedule()
        self.builder = HourlyFeatureBuilder(weather=weather)

    def rows(self, panel: HourlyPanel, home: np.ndarray, issue_date: np.ndarray) -> HourlyRows:
        return hourly_rows(panel, home, issue_date, self.schedule)

    def features(self, panel: HourlyPanel, rows: Rows) -> pd.DataFrame:
        assert isinstance(rows, HourlyRows)
        return self.builder.transform(panel, rows)

    def actual(self, panel: HourlyPanel, rows: Rows) -> np.ndarray:
        assert isinstance(rows, HourlyRows)
        return hourly_target(panel, rows)

    def target_date(self, panel: HourlyPanel, rows: Rows) -> np.ndarray:
        assert isinstance(rows, HourlyRows)
        return panel.calendar.at("local_date", rows.home, rows.target).astype(np.int64)

    def trains_on(self, rows: Rows) -> np.ndarray:
        """Every hourly row is a training row."""
        return np.ones(len(rows), dtype=bool)

    def groups(self, panel: HourlyPanel, rows: Rows) -> np.ndarray:
        days_ahead = self.target_date(panel, rows) - rows.issue_date
        return np.char.add("day+", days_ahead.astype(str)).astype(object)

    def ids(self, panel: HourlyPanel, rows: Rows) -> pd.DataFrame:
        assert isinstance(rows, HourlyRows)
        return pd.DataFrame(
            {
                HOME_ID: panel.home_ids.to_numpy()[rows.home],
                "issue_time": panel.timestamps(rows.issue),
                "ts": panel.timestamps(rows.target),
                "local_date": _dates(self.target_date(panel, rows)),
                "lead_h": rows.lead_h,
            }
        )


class DailyResolution:
    """Daily rows for the local days after the issue date; calibrated per lead week.

    Trained on leads up to ``train_max_lead_d`` only (those with a weather forecast); longer leads are forecast
    with the lead capped there (see :class:`~training.forecast.daily_features.DailyCalendarAdder`) and calibrated
    on their own lead weeks.

    Args:
        schedule: issue time and the number of days.
        weather: the weather known at issue.
        days: days forecast per origin; ``None`` uses ``schedule.daily_days``.
        train_max_lead_d: the longest lead trained on [d].
    """

    name = "daily"

    def __init__(
        self,
        schedule: IssueSchedule | None = None,
        weather: WeatherForecastSource | None = None,
        days: int | None = None,
        train_max_lead_d: int = 10,
    ) -> None:
        self.schedule = schedule or IssueSchedule()
        self.days = days
        self.train_max_lead_d = train_max_lead_d
        steps: list[DailyFeatureAdder] = [
            DailyCalendarAdder(train_max_lead_d),
            DailyLagAdder(),
            DailyWeatherAdder(weather),
            DailyHomeAttributeAdder(),
        ]
        self.builder = DailyFeatureBuilder(steps)

    def rows(self, panel: HourlyPanel, home: np.ndarray, issue_date: np.ndarray) -> DailyRows:
        return daily_rows(panel, home, issue_date, self.schedule, self.days)

    def features(self, panel: HourlyPanel, rows: Rows) -> pd.DataFrame:
        assert isinstance(rows, DailyRows)
        return self.builder.transform(panel, rows)

    def actual(self, panel: HourlyPanel, rows: Rows) -> np.ndarray:
        assert isinstance(rows, DailyRows)
        return daily_target(panel, rows)

    def target_date(self, panel: HourlyPanel, rows: Rows) -> np.ndarray:
        assert isinstance(rows, DailyRows)
        return rows.target_date

    def trains_on(self, rows: Rows) -> np.ndarray:
        assert isinstance(rows, DailyRows)
        return np.asarray(rows.lead_d <= self.train_max_lead_d)

    def groups(self, panel: HourlyPanel, rows: Rows) -> np.ndarray:
        assert isinstance(rows, DailyRows)
        bucket = np.searchsorted(np.asarray(DAILY_LEAD_GROUPS), rows.lead_d, side="left")
        return np.char.add("week+", bucket.astype(str)).astype(object)

    def ids(self, panel: HourlyPanel, rows: Rows) -> pd.DataFrame:
        assert isinstance(rows, DailyRows)
        return pd.DataFrame(
            {
                HOME_ID: panel.home_ids.to_numpy()[rows.home],
                "issue_time": panel.timestamps(rows.issue),
                "local_date": _dates(rows.target_date),
                "lead_d": rows.lead_d,
            }
        )


RESOLUTIONS: dict[str, type[HourlyResolution] | type[DailyResolution]] = {
    "hourly": HourlyResolution,
    "daily": DailyResolution,
}


@dataclass(frozen=True)
class ForecastSet:
    """The rows of one resolution for a set of origins, with everything a forecaster and a metric need.

    Attributes:
        rows: the (home, issue, target) rows.
        X: features, cold rows masked.
        y: actuals [kWh per target interval], NaN where unknown.
        groups: calibration group of each row (lead day or lead week).
        cold: cold-start flag of each row.
        target_date: local date of each row's target [days since 1970-01-01].
    """

    rows: Rows
    X: pd.DataFrame
    y: np.ndarray
    groups: np.ndarray
    cold: np.ndarray
    target_date: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    def take(self, mask: np.ndarray) -> ForecastSet:
        index = np.flatnonzero(mask)
        return ForecastSet(
            self.rows.take(index),
            self.X.iloc[index].reset_index(drop=True),
            self.y[index],
            self.groups[index],
            self.cold[index],
            self.target_date[index],
        )


def build_set(
    resolution: Resolution, panel: HourlyPanel, rows: Rows, min_history_days: float = DEFAULT_MIN_HISTORY_DAYS
) -> ForecastSet:
    """Features (cold rows masked), actuals and groups of ``resolution`` for its ``rows``."""
    cold = cold_start_flags(panel.first_reading, rows.home, rows.issue, min_history_days)
    X = apply_cold_start(resolution.features(panel, rows), cold)
    return ForecastSet(
        rows,
        X,
        resolution.actual(panel, rows),
        resolution.groups(panel, rows),
        cold,
        resolution.target_date(panel, rows),
    )


def _dates(ordinal: np.ndarray) -> pd.DatetimeIndex:
    return pd.to_datetime(np.asarray(ordinal, dtype=np.int64), unit="D")
