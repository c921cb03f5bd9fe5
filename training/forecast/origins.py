"""Forecast origins: which (home, issue time, target) rows a forecast, a training set or a backtest holds.

An origin is a home and a local issue date; the issue time is a local clock time on that date (10:00 by default).
Hourly rows run from the issue hour to the end of the last local day of the hourly window (the day-ahead product
is the whole of the next ``hourly_days`` local days: 48 h, or 47 / 49 h across a DST change). Daily rows are the
local days after the issue date.

Invariants:
    A row's issue hour ``I`` is the axis hour that holds the issue time; readings of hours ``< I`` are known at
    issue, so the lead of target hour ``t`` is ``t - I + 1`` hours (the target interval's end minus ``I``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from training.forecast.frames import HourlyPanel

_DAY_NS = 86_400_000_000_000


@dataclass(frozen=True)
class IssueSchedule:
    """When forecasts are issued and what they cover.

    Attributes:
        issue_time_h: local clock time of issue [h after midnight], e.g. 10.0 for 10:00.
        hourly_days: local days after the issue date forecast hourly (the day-ahead product).
        daily_days: local days after the issue date forecast daily.
    """

    issue_time_h: float = 10.0
    hourly_days: int = 2
    daily_days: int = 31


@dataclass(frozen=True)
class HourlyRows:
    """Hourly forecast rows: one per home, issue and target hour (all axis indices of the panel).

    Attributes:
        home: panel row of the home.
        issue: axis hour holding the issue time; readings of earlier hours are known.
        target: axis hour forecast.
        issue_date: local issue date [days since 1970-01-01].
    """

    home: np.ndarray
    issue: np.ndarray
    target: np.ndarray
    issue_date: np.ndarray

    @property
    def lead_h(self) -> np.ndarray:
        """Hours from the issue hour to the end of the target hour [h], 1 for the issue hour itself."""
        return self.target - self.issue + 1

    def __len__(self) -> int:
        return len(self.home)

    def take(self, index: np.ndarray) -> HourlyRows:
        return HourlyRows(self.home[index], self.issue[index], self.target[index], self.issue_date[index])


@dataclass(frozen=True)
class DailyRows:
    """Daily forecast rows: one per home, issue and target local date.

    Attributes:
        home: panel row of the home.
        issue: axis hour holding the issue time.
        issue_date: local issue date [days since 1970-01-01].
        target_date: local date forecast [days since 1970-01-01].
    """

    home: np.ndarray
    issue: np.ndarray
    issue_date: np.ndarray
    target_date: np.ndarray

    @property
    def lead_d(self) -> np.ndarray:
        """Days after the issue date [d], 1 for the next day."""
        return self.target_date - self.issue_date

    def __len__(self) -> int:
        return len(self.home)

    def take(self, index: np.ndarray) -> DailyRows:
        return DailyRows(self.home[index], self.issue[index], self.issue_date[index], self.target_date[index])


def date_ordinal(dates: pd.Series | pd.DatetimeIndex | list[str] | str) -> np.ndarray:
    """Calendar dates as days since 1970-01-01 (time of day and time zone dropped)."""
    index = pd.DatetimeIndex(pd.to_datetime([dates] if isinstance(dates, str) else dates))
    if index.tz is not None:
        index = index.tz_localize(None)
    return np.floor_divide(index.normalize().as_unit("ns").asi8, _DAY_NS).astype(np.int64)


def origin_grid(homes: np.ndarray, dates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (home, issue date) pair: home rows and local dates, home-major."""
    return np.repeat(homes, len(dates)), np.tile(dates, len(homes))


def issue_hours(
    panel: HourlyPanel, home: np.ndarray, issue_date: np.ndarray, issue_time_h: float
) -> np.ndarray:
    """Axis hour of each origin's issue time (local clock time on the local issue date)."""
    return panel.calendar.local_hour_start(home, issue_date, issue_time_h)


def hourly_rows(
    panel: HourlyPanel, home: np.ndarray, issue_date: np.ndarray, schedule: IssueSchedule
) -> HourlyRows:
    """Rows from each origin's issue hour to the end of local day ``issue_date + schedule.hourly_days``.

    Origins whose window leaves the panel's axis are dropped.
    """
    issue = issue_hours(panel, home, issue_date, schedule.issue_time_h)
    end = panel.calendar.day_start(home, issue_date + schedule.hourly_days + 1)
    keep = (issue >= 0) & (end <= panel.n_hours) & (end > issue)
    home, issue, end, issue_date = home[keep], issue[keep], end[keep], issue_date[keep]
    counts = end - issue
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return HourlyRows(
        home=np.repeat(home, counts),
        issue=np.repeat(issue, counts),
        target=np.repeat(issue, counts) + offsets,
        issue_date=np.repeat(issue_date, counts),
    )


def daily_rows(
    panel: HourlyPanel,
    home: np.ndarray,
    issue_date: np.ndarray,
    schedule: IssueSchedule,
    days: int | None = None,
) -> DailyRows:
    """Rows for local days ``issue_date + 1 … issue_date + days`` (``schedule.daily_days`` by default)."""
    n_days = schedule.daily_days if days is None else days
    issue = issue_hours(panel, home, issue_date, schedule.issue_time_h)
    keep = issue >= 0
    home, issue, issue_date = home[keep], issue[keep], issue_date[keep]
    lead = np.tile(np.arange(1, n_days + 1), len(home))
    return DailyRows(
        home=np.repeat(home, n_days),
        issue=np.repeat(issue, n_days),
        issue_date=np.repeat(issue_date, n_days),
        target_date=np.repeat(issue_date, n_days) + lead,
    )
