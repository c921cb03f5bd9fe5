"""Local-day totals of the hourly panel: kWh per home and local day, the day's mean temperature, and trailing fits.

A local day is 23, 24 or 25 hours (DST). Its kWh is known only when every hour of it is known, and the first and
last days of the axis (cut by the axis) are never complete.

Invariants:
    A local day ``d`` is known at an issue on local date ``D`` only if ``d < D`` (it ended by local midnight of
    ``D``, before any issue time on ``D``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from contracts.schemas import KWH, TEMP_C
from training.forecast.frames import HourlyPanel


@dataclass(frozen=True)
class DailyPanel:
    """Per home and local day: total kWh and mean temperature.

    Attributes:
        first_date: local date of column 0 [days since 1970-01-01].
        kwh: complete-day totals [kWh/day], ``(n_homes, n_days)``, NaN when any hour is unknown.
        temp_c: mean temperature of the day [°C], NaN with fewer than 12 known hours.
    """

    first_date: int
    kwh: np.ndarray
    temp_c: np.ndarray

    @classmethod
    def of(cls, panel: HourlyPanel) -> DailyPanel:
        """The daily panel of ``panel`` (built once and cached on the panel)."""
        return panel.cached("daily_panel", lambda: cls._build(panel))

    @classmethod
    def _build(cls, panel: HourlyPanel) -> DailyPanel:
        dates = panel.calendar.local_date[panel.calendar.home_key]  # (n_homes, n_hours)
        first_date = int(dates.min())
        n_days = int(dates.max()) - first_date + 1
        flat = (np.arange(panel.n_homes)[:, None] * n_days + (dates - first_date)).ravel()
        size = panel.n_homes * n_days
        hours = np.bincount(flat, minlength=size)
        kwh_sum, kwh_n = _sum_count(panel.values[KWH], flat, size)
        temp_sum, temp_n = _sum_count(panel.values[TEMP_C], flat, size)
        complete = (kwh_n == hours) & (hours > 0)
        kwh = np.where(complete, kwh_sum, np.nan).reshape(panel.n_homes, n_days)
        kwh[np.arange(panel.n_homes), dates[:, 0] - first_date] = np.nan  # cut by the axis start
        kwh[np.arange(panel.n_homes), dates[:, -1] - first_date] = np.nan  # cut by the axis end
        with np.errstate(invalid="ignore", divide="ignore"):
            temp = np.where(temp_n >= 12, temp_sum / temp_n, np.nan).reshape(panel.n_homes, n_days)
        return cls(first_date, kwh.astype(np.float32), temp.astype(np.float32))

    @property
    def n_days(self) -> int:
        return int(self.kwh.shape[1])

    def known_before(
        self, name: str, home: np.ndarray, date: np.ndarray, issue_date: np.ndarray
    ) -> np.ndarray:
        """Values of local ``date`` where the day ended before the issue date (``date < issue_date``), else NaN.

        Invariants:
            The only way daily features read kWh: a day that has not ended at issue cannot come through.
        """
        array = getattr(self, name)
        column = date - self.first_date
        ok = (column >= 0) & (column < self.n_days) & (date < issue_date)
        out = np.full(len(home), np.nan, dtype=np.float32)
        out[ok] = array[home[ok], column[ok]]
        return out

    def at(self, name: str, home: np.ndarray, date: np.ndarray) -> np.ndarray:
        """Values of local ``date`` with no issue cut-off: targets and weather stand-ins only."""
        array = getattr(self, name)
        column = date - self.first_date
        ok = (column >= 0) & (column < self.n_days)
        out = np.full(len(home), np.nan, dtype=np.float32)
        out[ok] = array[home[ok], column[ok]]
        return out


def _sum_count(values: np.ndarray, flat: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    known = ~np.isnan(values).ravel()
    sums = np.bincount(flat[known], weights=values.ravel()[known], minlength=size)
    counts = np.bincount(flat[known], minlength=size)
    return sums, counts


def temperature_slope(
    daily: DailyPanel, home: np.ndarray, issue_date: np.ndarray, days: int = 28
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares fit of daily kWh on daily mean temperature over the ``days`` days before the issue date.

    Returns:
        The slope [kWh/day per K] (negative for heated homes) and the fitted kWh at 0 °C [kWh/day]; NaN with
        fewer than ``days // 2`` usable days or no temperature spread (under 1 K standard deviation).

    Invariants:
        Uses days ``issue_date - days … issue_date - 1`` only.
    """
    sx = np.zeros(len(home))
    sy, sxx, sxy, n = (np.zeros(len(home)) for _ in range(4))
    for lag in range(1, days + 1):
        y = daily.known_before("kwh", home, issue_date - lag, issue_date).astype(np.float64)
        x = daily.at("temp_c", home, issue_date - lag).astype(np.float64)
        ok = ~np.isnan(x) & ~np.isnan(y)
        x, y = np.where(ok, x, 0.0), np.where(ok, y, 0.0)
        sx, sy, sxx, sxy, n = sx + x, sy + y, sxx + x * x, sxy + x * y, n + ok
    with np.errstate(invalid="ignore", divide="ignore"):
        var = sxx / n - (sx / n) ** 2
        usable = (n >= days // 2) & (var >= 1.0)
        slope = np.where(usable, (sxy / n - sx / n * sy / n) / var, np.nan)
        intercept = np.where(usable, sy / n - slope * sx / n, np.nan)
    return slope.astype(np.float32), intercept.astype(np.float32)
