"""Hourly forecast features: small steps, each adding columns for a set of (home, issue, target) rows.

Steps read readings only through :func:`known_before_issue`, trailing sums ending at the issue hour
(:class:`~training.forecast.trailing.TrailingSums`) or local days that ended before the issue date
(:meth:`~training.forecast.daily.DailyPanel.known_before`), and weather only through a
:class:`~training.forecast.weather_inputs.WeatherForecastSource`, so no step can see a reading that ends after the
issue time (``tests/training/test_forecast_features.py`` changes every later reading and compares).
Recent-consumption columns start with ``kwh_``: cold start masks exactly those.

Invariants:
    A row issued at hour ``I`` uses only readings of hours ``< I`` (interval end ``<= I``). Lags are horizon-aware:
    the same-hour lag of target ``t`` is ``t - 24 k`` with ``k = ceil(lead / 24)``, the smallest whole-day lag
    ``>= lead``; the weekly lag is ``t - 168 ceil(lead / 168)``. No lag shorter than the lead is ever used.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import pandas as pd

from contracts.schemas import GHI_W_M2, KWH, TEMP_C
from training.forecast.daily import DailyPanel, temperature_slope
from training.forecast.frames import HourlyPanel
from training.forecast.home_attributes import home_attribute_table
from training.forecast.origins import HourlyRows
from training.forecast.trailing import TrailingSums
from training.forecast.weather_inputs import ObservedWeatherStandIn, WeatherForecastSource

HEATING_BALANCE_C = 15.0  # balance temperature of the heating degree feature [°C]


class HourlyFeatureAdder(Protocol):
    """A step that adds feature columns for hourly rows."""

    def transform(self, panel: HourlyPanel, rows: HourlyRows) -> dict[str, np.ndarray]: ...


def known_before_issue(
    array: np.ndarray, home: np.ndarray, hour: np.ndarray, issue: np.ndarray
) -> np.ndarray:
    """``array[home, hour]`` where the hour ended by the issue hour (``0 <= hour < issue``), else NaN.

    Invariants:
        The only way features read kWh: a value of an hour at or after the issue hour cannot come through.
    """
    ok = (hour >= 0) & (hour < issue)
    out = np.full(len(home), np.nan, dtype=np.float32)
    out[ok] = array[home[ok], hour[ok]]
    return out


class CalendarFeatureAdder:
    """Local clock of the target hour: hour of day, weekday, free day (weekend or public holiday).

    No day of year: with a year or two of history a model can only memorise it, and it then extrapolates a season
    it has not seen; the temperature carries the season instead.
    """

    def transform(self, panel: HourlyPanel, rows: HourlyRows) -> dict[str, np.ndarray]:
        calendar = panel.calendar
        return {
            "lead_h": rows.lead_h.astype(np.float32),
            "hour_local": calendar.at("local_hour", rows.home, rows.target).astype(np.float32),
            "weekday": calendar.at("weekday", rows.home, rows.target).astype(np.float32),
            "free_day": calendar.at("free_day", rows.home, rows.target).astype(np.float32),
        }


class LagFeatureAdder:
    """Horizon-aware same-hour lags of kWh: the latest same hour of day and of week known at issue, and means.

    Args:
        day_lags: same-hour values averaged for ``kwh_same_hour_mean`` (the latest ``day_lags`` known days).
        week_lags: same-hour-of-week values averaged for ``kwh_same_hour_week_mean``.
        day_type_lags: known days searched for ``kwh_same_hour_day_type_mean``, the mean over those of the
            target's day type (free day or working day).

    Invariants:
        Every lag is ``>= lead``: day lags start at ``24 ceil(lead / 24)``, week lags at ``168 ceil(lead / 168)``.
    """

    def __init__(self, day_lags: int = 7, week_lags: int = 4, day_type_lags: int = 14) -> None:
        self.day_lags = day_lags
        self.week_lags = week_lags
        self.day_type_lags = day_type_lags

    def transform(self, panel: HourlyPanel, rows: HourlyRows) -> dict[str, np.ndarray]:
        kwh = panel.values[KWH]
        h, i, t = rows.home, rows.issue, rows.target
        day_lag = 24 * np.ceil(rows.lead_h / 24).astype(np.int64)
        week_lag = 168 * np.ceil(rows.lead_h / 168).astype(np.int64)
        days = [known_before_issue(kwh, h, t - day_lag - 24 * j, i) for j in range(self.day_lags)]
        weeks = [known_before_issue(kwh, h, t - week_lag - 168 * j, i) for j in range(self.week_lags)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN lag is a NaN feature
            return {
                "kwh_same_hour_latest": days[0],
                "kwh_same_hour_mean": np.nanmean(np.stack(days), axis=0),
                "kwh_same_hour_last_week": weeks[0],
                "kwh_same_hour_week_mean": np.nanmean(np.stack(weeks), axis=0),
                "kwh_same_hour_day_type_mean": self._day_type_mean(panel, rows, day_lag),
            }

    def _day_type_mean(self, panel: HourlyPanel, rows: HourlyRows, day_lag: np.ndarray) -> np.ndarray:
        free = panel.calendar.at("free_day", rows.home, rows.target)
        total = np.zeros(len(rows))
        count = np.zeros(len(rows))
        for j in range(self.day_type_lags):
            hour = rows.target - day_lag - 24 * j
            value = known_before_issue(panel.values[KWH], rows.home, hour, rows.issue)
            same = (panel.calendar.at("free_day", rows.home, hour) == free) & ~np.isnan(value)
            total += np.where(same, value, 0.0)
            count += same
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / count, np.nan).astype(np.float32)


class RecentLevelAdder:
    """The home's recent level before the issue hour: last hour, trailing means, trailing deviation.

    Args:
        windows_h: trailing windows for ``kwh_mean_<w>h`` [h].
    """

    def __init__(self, windows_h: Sequence[int] = (24, 168, 672)) -> None:
        self.windows_h = windows_h

    def transform(self, panel: HourlyPanel, rows: HourlyRows) -> dict[str, np.ndarray]:
        sums = TrailingSums.of(panel, KWH, squares=True)
        out = {"kwh_last_hour": known_before_issue(panel.values[KWH], rows.home, rows.issue - 1, rows.issue)}
        for hours in self.windows_h:
            out[f"kwh_mean_{hours}h"] = sums.mean(rows.home, rows.issue, hours)
        out["kwh_std_168h"] = sums.std(rows.home, rows.issue, 168)
        return out


class RecentDaysAdder:
    """The last local days' totals and how long ago the last peak hour was: for loads that recur every few days
    (an electric car charged when its deficit is large enough), what the days before tell about tomorrow.

    Args:
        days: the daily totals ``kwh_day_lag_1 …`` (day ``issue_date - k``).
        peak_factor: a peak hour exceeds ``peak_factor`` times the trailing week's mean at that hour.

    Invariants:
        Daily totals are of local days before the issue date; the peak search reads hours ``< issue``.
    """

    def __init__(self, days: int = 4, peak_factor: float = 3.0) -> None:
        self.days = days
        self.peak_factor = peak_factor

    def transform(self, panel: HourlyPanel, rows: HourlyRows) -> dict[str, np.ndarray]:
        daily = DailyPanel.of(panel)
        out = {
            f"kwh_day_lag_{k}": daily.known_before("kwh", rows.home, rows.issue_date - k, rows.issue_date)
            for k in range(1, self.days + 1)
        }
        last_peak = panel.cached(f"last_peak:{self.peak_factor}", lambda: self._last_peak(panel))
        before = np.clip(rows.issue - 1, 0, panel.n_hours - 1)
        peak = last_peak[rows.home, before]
        out["kwh_hours_since_peak"] = np.where(
            (peak >= 0) & (rows.issue >= 1), rows.issue - peak, np.nan
        ).astype(np.float32)
        return out

    def _last_peak(self, panel: HourlyPanel) -> np.ndarray:
        """Axis index of the latest peak hour at or before each hour, -1 before the first."""
        kwh = panel.values[KWH]
        homes, hours = np.arange(kwh.shape[0])[:, None], np.arange(kwh.shape[1])[None, :]
        mean = TrailingSums.of(panel, KWH, squares=True).mean(
            homes, hours + 1, 168
        )  # the week ending with the hour
        with np.errstate(invalid="ignore"):
            peak = kwh > self.peak_factor * mean
        index = np.where(peak, np.arange(kwh.shape[1], dtype=np.int32), -1)
        return np.maximum.accumulate(index, axis=1)


class WeatherFeatureAdder:
    """Weather at the target hour as known at issue: temperature, its smoothing by thermal mass, irradiance;
    the temperature at the latest same-hour lag and over the week before the issue.

    Args:
        source: the weather known at issue; observed weather stands in for forecasts by default.
        tau_h: time constants of the smoothed temperatures [h].
    """

    def __init__(
        self, source: WeatherForecastSource | None = None, tau_h: Sequence[float] = (10.0, 20.0)
    ) -> None:
        self.source = source
        self.tau_h = tau_h

    def transform(self, panel: HourlyPanel, rows: HourlyRows) -> dict[str, np.ndarray]:
        source = self.source or ObservedWeatherStandIn()
        h, i, t = rows.home, rows.issue, rows.target
        day_lag = 24 * np.ceil(rows.lead_h / 24).astype(np.int64)
        temp_day = source.window_mean(panel, TEMP_C, h, i, t, 24)
        out = {
            "temp_c": source.window_mean(panel, TEMP_C, h, i, t, 1),
            "temp_c_mean_24h": temp_day,
            "heating_degree_c": np.maximum(HEATING_BALANCE_C - temp_day, 0.0),
            "ghi_w_m2": source.window_mean(panel, GHI_W_M2, h, i, t, 1),
            "temp_c_same_hour_latest": source.window_mean(panel, TEMP_C, h, i, t - day_lag, 1),
            "temp_c_mean_168h_before": source.window_mean(panel, TEMP_C, h, i, i - 1, 168),
        }
        for tau in self.tau_h:
            out[f"temp_c_smooth_{tau:g}h"] = source.smoothed(panel, TEMP_C, h, i, t, tau)
        return out


class TemperatureResponseAdder:
    """The home's own response to temperature, fitted on daily totals before the issue date, and the daily kWh
    that fit gives for the target's temperature.

    Args:
        days: the days fitted.
        source: the weather known at issue.

    Invariants:
        The fit uses local days that ended before the issue date only (see :func:`temperature_slope`).
    """

    def __init__(self, days: int = 28, source: WeatherForecastSource | None = None) -> None:
        self.days = days
        self.source = source

    def transform(self, panel: HourlyPanel, rows: HourlyRows) -> dict[str, np.ndarray]:
        source = self.source or ObservedWeatherStandIn()
        slope, at_zero = temperature_slope(DailyPanel.of(panel), rows.home, rows.issue_date, self.days)
        temp_day = source.window_mean(panel, TEMP_C, rows.home, rows.issue, rows.target, 24)
        return {
            "kwh_day_temp_slope": slope,
            "kwh_day_fit_at_target_temp": at_zero + slope * temp_day,
        }


class HomeAttributeAdder:
    """Home attributes from the profile: size, age, occupants, heating, EV, PV, latitude."""

    def transform(self, panel: HourlyPanel, rows: HourlyRows) -> dict[str, np.ndarray]:
        table = home_attribute_table(panel.homes)
        return {name: table[name].to_numpy(dtype=np.float32)[rows.home] for name in table.columns}


class HourlyFeatureBuilder:
    """Runs feature steps over hourly rows and returns one float32 frame (one row per forecast row).

    Args:
        steps: the steps, in column order; ``None`` uses calendar, lags, recent level, weather, home attributes.
        weather: the weather source of the default weather step.
    """

    def __init__(
        self, steps: Sequence[HourlyFeatureAdder] | None = None, weather: WeatherForecastSource | None = None
    ) -> None:
        self.steps = steps
        self.weather = weather

    def default_steps(self) -> list[HourlyFeatureAdder]:
        return [
            CalendarFeatureAdder(),
            LagFeatureAdder(),
            RecentLevelAdder(),
            RecentDaysAdder(),
            WeatherFeatureAdder(self.weather),
            TemperatureResponseAdder(source=self.weather),
            HomeAttributeAdder(),
        ]

    def transform(self, panel: HourlyPanel, rows: HourlyRows) -> pd.DataFrame:
        columns: dict[str, np.ndarray] = {}
        for step in self.steps if self.steps is not None else self.default_steps():
            columns.update(step.transform(panel, rows))
        return pd.DataFrame(columns)


def hourly_target(panel: HourlyPanel, rows: HourlyRows) -> np.ndarray:
    """The actual kWh of each row's target hour [kWh], NaN where unknown (for training and evaluation only)."""
    kwh = panel.values[KWH]
    inside = (rows.target >= 0) & (rows.target < kwh.shape[1])
    out = np.full(len(rows), np.nan, dtype=np.float32)
    out[inside] = kwh[rows.home[inside], rows.target[inside]]
    return out
