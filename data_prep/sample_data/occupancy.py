"""When people are at home and awake: local clocks, weekends, public holidays, vacations, daily schedules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from data_prep.sample_data.homes import COUNTRIES
from data_prep.sample_data.timegrid import TimeAxis

# Share of the household awake at home by local clock hour.
# fmt: off
_WORKDAY = np.array([0.02, 0.0, 0.0, 0.0, 0.0, 0.05, 0.5, 0.85, 0.55, 0.2, 0.15, 0.15,
                     0.2, 0.15, 0.15, 0.2, 0.45, 0.8, 0.95, 0.95, 0.9, 0.8, 0.55, 0.2])
_FREE_DAY = np.array([0.1, 0.03, 0.0, 0.0, 0.0, 0.0, 0.05, 0.25, 0.6, 0.8, 0.7, 0.6,
                      0.65, 0.55, 0.5, 0.55, 0.65, 0.8, 0.95, 0.95, 0.9, 0.85, 0.65, 0.3])
# fmt: on
_HOME_OFFICE_HOURS = np.arange(9, 17)


@dataclass(frozen=True)
class HomeCalendar:
    """Local time and day kinds of a batch of homes on the axis.

    Attributes:
        local_hour: local clock hour of each axis hour, shape (n_homes, n_hours).
        local_day: local day index of each axis hour (clipped to the window), shape (n_homes, n_hours).
        in_window: whether the axis hour is inside the home's local window, shape (n_homes, n_hours).
        free_day: weekend or public holiday of the home's country, shape (n_homes, n_days).
        away: the household is on vacation, shape (n_homes, n_days).
    """

    local_hour: np.ndarray
    local_day: np.ndarray
    in_window: np.ndarray
    free_day: np.ndarray
    away: np.ndarray

    def hourly(self, per_day: np.ndarray) -> np.ndarray:
        """Spread a per-day array (n_homes, n_days) onto the hours, shape (n_homes, n_hours)."""
        return np.take_along_axis(per_day, self.local_day, axis=1)


def build_calendar(
    homes: pd.DataFrame, axis: TimeAxis, holidays: np.ndarray, rng: np.random.Generator
) -> HomeCalendar:
    """Local clocks, free days and vacations of ``homes`` (a batch) on ``axis``.

    Args:
        homes: the batch.
        axis: the hourly axis.
        holidays: :func:`public_holidays` of the axis.
        rng: the batch's stream.
    """
    tz = homes["tz_code"].to_numpy()
    free = (axis.weekday() >= 5)[None, :] | holidays[tz]
    return HomeCalendar(
        local_hour=axis.local_hour()[tz],
        local_day=axis.local_day()[tz],
        in_window=axis.in_window()[tz],
        free_day=free,
        away=vacations(len(homes), axis, rng),
    )


def public_holidays(axis: TimeAxis) -> np.ndarray:
    """Weekday public holidays per country (:data:`COUNTRIES` order) and local day, (n_countries, n_days)."""
    import holidays

    days = axis.days[:-1]
    years = sorted(set(days.year))
    out = np.zeros((len(COUNTRIES), len(days)), dtype=bool)
    for k, country in enumerate(COUNTRIES):
        calendar = holidays.country_holidays(country.code, years=years)
        # Swedish calendars list every Sunday as a holiday; weekends are handled apart.
        out[k] = [d in calendar and d.weekday() < 5 for d in days.date]
    return out


def vacations(n_homes: int, axis: TimeAxis, rng: np.random.Generator) -> np.ndarray:
    """Days away: a 10–21 day summer holiday for most, plus shorter trips, shape (n_homes, n_days) [bool]."""
    n_days = axis.n_days
    day = np.arange(n_days)[None, :]
    away = np.zeros((n_homes, n_days), dtype=bool)
    for year in sorted(set(axis.days.year)):
        july = (date(year, 7, 1) - axis.first_day).days
        start = july + rng.integers(0, 36, n_homes)[:, None]
        length = rng.integers(10, 22, n_homes)[:, None]
        takes = (rng.random(n_homes) < 0.7)[:, None]
        away |= takes & (day >= start) & (day < start + length)
    n_trips = rng.poisson(1.5 * n_days / 365.0, n_homes)
    max_trips = int(n_trips.max(initial=0))
    if max_trips:
        start = rng.integers(-5, n_days, (n_homes, max_trips))
        length = rng.integers(3, 10, (n_homes, max_trips))
        real = np.arange(max_trips)[None, :] < n_trips[:, None]
        inside = (day[:, :, None] >= start[:, None, :]) & (day[:, :, None] < (start + length)[:, None, :])
        away |= (inside & real[:, None, :]).any(axis=2)
    return away


def activity(homes: pd.DataFrame, calendar: HomeCalendar) -> np.ndarray:
    """Share of the household awake at home per hour (0 when away), shape (n_homes, n_hours) [0–1]."""
    shifted = (calendar.local_hour - homes["chronotype_h"].to_numpy()[:, None]) % 24
    workday = _WORKDAY[shifted]
    office = homes["home_office"].to_numpy()[:, None] & np.isin(shifted, _HOME_OFFICE_HOURS)
    workday = np.where(office, 0.6, workday)
    free = calendar.hourly(calendar.free_day)
    away = calendar.hourly(calendar.away)
    return np.where(away, 0.0, np.where(free, _FREE_DAY[shifted], workday))
