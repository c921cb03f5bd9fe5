"""Daily forecast features: for (home, issue, target local day) rows, from the local-day totals and the weather.

Recent-consumption columns start with ``kwh_`` (cold start masks them), as in the hourly features.

Invariants:
    A row issued on local date ``D`` reads the totals of days ``< D`` only (:meth:`DailyPanel.known_before`).
    The same-weekday lag of target day ``d`` is ``d - 7 ceil(lead / 7)``, never closer than the lead.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import pandas as pd

from contracts.schemas import GHI_W_M2, TEMP_C
from training.forecast.daily import DailyPanel, temperature_slope
from training.forecast.features import HEATING_BALANCE_C
from training.forecast.frames import HourlyPanel
from training.forecast.home_attributes import home_attribute_table
from training.forecast.origins import DailyRows
from training.forecast.weather_inputs import ObservedWeatherStandIn, WeatherForecastSource


class DailyFeatureAdder(Protocol):
    """A step that adds feature columns for daily rows."""

    def transform(self, panel: HourlyPanel, rows: DailyRows) -> dict[str, np.ndarray]: ...


def target_day_hours(panel: HourlyPanel, rows: DailyRows) -> tuple[np.ndarray, np.ndarray]:
    """Axis hours of the first and the last hour of each row's target day."""
    first = panel.calendar.day_start(rows.home, rows.target_date)
    last = panel.calendar.day_start(rows.home, rows.target_date + 1) - 1
    return first, last


class DailyCalendarAdder:
    """Lead (capped) and the target day's weekday and free day (no day of year: see the hourly calendar step).

    Args:
        max_lead_d: leads beyond this read as this [d]. Past the weather forecast horizon a model cannot learn
            what happens at a lead from one year of history without learning that year's seasonal drift (spring
            after winter); capped, a long lead is forecast like the last lead with a weather forecast, with the
            weather of the week before the issue.
    """

    def __init__(self, max_lead_d: int = 10) -> None:
        self.max_lead_d = max_lead_d

    def transform(self, panel: HourlyPanel, rows: DailyRows) -> dict[str, np.ndarray]:
        first, _ = target_day_hours(panel, rows)
        calendar = panel.calendar
        return {
            "lead_d": np.minimum(rows.lead_d, self.max_lead_d).astype(np.float32),
            "weekday": calendar.at("weekday", rows.home, first).astype(np.float32),
            "free_day": calendar.at("free_day", rows.home, first).astype(np.float32),
        }


class DailyLagAdder:
    """Daily totals known at issue: yesterday, trailing means, the same weekday and the same day type.

    Args:
        windows_d: trailing windows of ``kwh_day_mean_<w>d`` [d].
        week_lags: same-weekday totals averaged for ``kwh_day_same_weekday_mean``.
        day_type_days: days searched for ``kwh_day_same_day_type_mean`` (free day or working day as the target).
    """

    def __init__(
        self, windows_d: Sequence[int] = (7, 28), week_lags: int = 4, day_type_days: int = 28
    ) -> None:
        self.windows_d = windows_d
        self.week_lags = week_lags
        self.day_type_days = day_type_days

    def transform(self, panel: HourlyPanel, rows: DailyRows) -> dict[str, np.ndarray]:
        daily = DailyPanel.of(panel)
        h, issue_date = rows.home, rows.issue_date
        before = [
            daily.known_before("kwh", h, issue_date - k, issue_date)
            for k in range(1, max(self.windows_d) + 1)
        ]
        week_lag = 7 * np.ceil(rows.lead_d / 7).astype(np.int64)
        weeks = [
            daily.known_before("kwh", h, rows.target_date - week_lag - 7 * j, issue_date)
            for j in range(self.week_lags)
        ]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN window is a NaN feature
            out = {"kwh_day_lag_1": before[0]}
            for days in self.windows_d:
                out[f"kwh_day_mean_{days}d"] = np.nanmean(np.stack(before[:days]), axis=0)
            out["kwh_day_same_weekday_latest"] = weeks[0]
            out["kwh_day_same_weekday_mean"] = np.nanmean(np.stack(weeks), axis=0)
        out["kwh_day_same_day_type_mean"] = self._day_type_mean(panel, rows, before)
        return out

    def _day_type_mean(self, panel: HourlyPanel, rows: DailyRows, before: list[np.ndarray]) -> np.ndarray:
        first, _ = target_day_hours(panel, rows)
        target_free = panel.calendar.at("free_day", rows.home, first)
        total, count = np.zeros(len(rows)), np.zeros(len(rows))
        for k in range(1, min(self.day_type_days, len(before)) + 1):
            start = panel.calendar.day_start(rows.home, rows.issue_date - k)
            same = (panel.calendar.at("free_day", rows.home, start) == target_free) & ~np.isnan(before[k - 1])
            total += np.where(same, before[k - 1], 0.0)
            count += same
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / count, np.nan).astype(np.float32)


class DailyWeatherAdder:
    """The target day's mean temperature and irradiance as known at issue, the temperature response fitted on the
    days before the issue, and the week before the issue.

    Args:
        source: the weather known at issue; observed weather stands in for forecasts up to its maximum lead.
        fit_days: days of the temperature-response fit.
    """

    def __init__(self, source: WeatherForecastSource | None = None, fit_days: int = 28) -> None:
        self.source = source
        self.fit_days = fit_days

    def transform(self, panel: HourlyPanel, rows: DailyRows) -> dict[str, np.ndarray]:
        source = self.source or ObservedWeatherStandIn()
        _, last = target_day_hours(panel, rows)
        h, i = rows.home, rows.issue
        temp = source.window_mean(panel, TEMP_C, h, i, last, 24)
        slope, at_zero = temperature_slope(DailyPanel.of(panel), h, rows.issue_date, self.fit_days)
        return {
            "temp_c_day_mean": temp,
            "heating_degree_c": np.maximum(HEATING_BALANCE_C - temp, 0.0),
            "ghi_w_m2_day_mean": source.window_mean(panel, GHI_W_M2, h, i, last, 24),
            "temp_c_mean_168h_before": source.window_mean(panel, TEMP_C, h, i, i - 1, 168),
            "kwh_day_temp_slope": slope,
            "kwh_day_fit_at_target_temp": at_zero + slope * temp,
        }


class DailyHomeAttributeAdder:
    """Home attributes from the profile (as for hourly rows)."""

    def transform(self, panel: HourlyPanel, rows: DailyRows) -> dict[str, np.ndarray]:
        table = home_attribute_table(panel.homes)
        return {name: table[name].to_numpy(dtype=np.float32)[rows.home] for name in table.columns}


class DailyFeatureBuilder:
    """Runs daily feature steps and returns one float32 frame (one row per forecast row).

    Args:
        steps: the steps; ``None`` uses calendar, lags, weather, home attributes.
        weather: the weather source of the default weather step.
    """

    def __init__(
        self, steps: Sequence[DailyFeatureAdder] | None = None, weather: WeatherForecastSource | None = None
    ) -> None:
        self.steps = steps
        self.weather = weather

    def default_steps(self) -> list[DailyFeatureAdder]:
        return [
            DailyCalendarAdder(),
            DailyLagAdder(),
            DailyWeatherAdder(self.weather),
            DailyHomeAttributeAdder(),
        ]

    def transform(self, panel: HourlyPanel, rows: DailyRows) -> pd.DataFrame:
        columns: dict[str, np.ndarray] = {}
        for step in self.steps if self.steps is not None else self.default_steps():
            columns.update(step.transform(panel, rows))
        return pd.DataFrame(columns)


def daily_target(panel: HourlyPanel, rows: DailyRows) -> np.ndarray:
    """The actual kWh of each row's target day [kWh/day], NaN unless complete (for training and evaluation)."""
    return DailyPanel.of(panel).at("kwh", rows.home, rows.target_date)
