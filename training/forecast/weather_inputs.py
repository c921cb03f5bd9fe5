"""Weather as a forecast with an issue time: what the model may know about the weather at a target hour.

A model issued at hour ``I`` sees observed weather for hours before ``I`` and a weather *forecast* for later hours.
No weather forecasts are stored yet, so :class:`ObservedWeatherStandIn` lets observed weather stand in for them (a
perfect forecast) up to a maximum lead. Beyond it, where real forecasts carry little skill, it gives the mean of
the week observed before the issue (weather persistence), so a forecast there assumes the weather stays as it was.
A provider of real forecasts implements the same :class:`WeatherForecastSource` protocol.

Invariants:
    Values for hours at or after the issue hour come only through the source, never from the panel directly.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from training.forecast.frames import HourlyPanel
from training.forecast.trailing import TrailingSums

PERSISTENCE_HOURS = 168  # the observed window whose mean stands in beyond the forecast horizon [h]


class WeatherForecastSource(Protocol):
    """Weather known at an issue hour."""

    max_lead_h: int | None

    def window_mean(
        self, panel: HourlyPanel, name: str, home: np.ndarray, issue: np.ndarray, last: np.ndarray, hours: int
    ) -> np.ndarray:
        """Mean of weather ``name`` over the ``hours`` hours ending with axis hour ``last`` (inclusive), as known
        at ``issue``; NaN where unknown. ``hours=1`` is the value at ``last``."""
        ...

    def smoothed(
        self,
        panel: HourlyPanel,
        name: str,
        home: np.ndarray,
        issue: np.ndarray,
        last: np.ndarray,
        tau_h: float,
    ) -> np.ndarray:
        """Exponential smoothing of weather ``name`` with time constant ``tau_h`` [h] at hour ``last``, as known at
        ``issue`` (how a building's thermal mass feels the outdoor temperature); NaN where unknown."""
        ...


class ObservedWeatherStandIn:
    """Observed weather standing in for the weather forecast, up to ``max_lead_h`` after the issue hour.

    Args:
        max_lead_h: the last lead with a forecast [h]; later hours get the mean of the week before the issue.
            ``None``: no limit.

    Invariants:
        In a backtest this is a perfect weather forecast: accuracy at leads within ``max_lead_h`` is optimistic
        by the error of a real forecast. Beyond it, only weather observed before the issue is used.
    """

    def __init__(self, max_lead_h: int | None = 240) -> None:
        self.max_lead_h = max_lead_h

    def window_mean(
        self, panel: HourlyPanel, name: str, home: np.ndarray, issue: np.ndarray, last: np.ndarray, hours: int
    ) -> np.ndarray:
        if hours == 1:
            array = panel.values[name]
            inside = (last >= 0) & (last < array.shape[1])
            out = np.full(len(home), np.nan, dtype=np.float32)
            out[inside] = array[home[inside], last[inside]]
        else:
            out = TrailingSums.of(panel, name).mean(home, last + 1, hours)
            out[last - hours + 1 < 0] = np.nan
        return self._beyond_horizon(panel, name, home, issue, last, out)

    def smoothed(
        self,
        panel: HourlyPanel,
        name: str,
        home: np.ndarray,
        issue: np.ndarray,
        last: np.ndarray,
        tau_h: float,
    ) -> np.ndarray:
        array = panel.cached(
            f"smoothed:{name}:{tau_h}", lambda: exponential_smoothing(panel.values[name], tau_h)
        )
        inside = (last >= 0) & (last < array.shape[1])
        out = np.full(len(home), np.nan, dtype=np.float32)
        out[inside] = array[home[inside], last[inside]]
        return self._beyond_horizon(panel, name, home, issue, last, out)

    def _beyond_horizon(
        self,
        panel: HourlyPanel,
        name: str,
        home: np.ndarray,
        issue: np.ndarray,
        last: np.ndarray,
        out: np.ndarray,
    ) -> np.ndarray:
        """Replace values past the forecast horizon by the mean observed over the week before the issue."""
        if self.max_lead_h is None:
            return out
        beyond = last - issue + 1 > self.max_lead_h
        if beyond.any():
            out[beyond] = TrailingSums.of(panel, name).mean(home[beyond], issue[beyond], PERSISTENCE_HOURS)
        return out


def exponential_smoothing(array: np.ndarray, tau_h: float) -> np.ndarray:
    """Causal exponential smoothing along hours, ``(n_homes, n_hours)``; a gap holds the last smoothed value.

    Invariants:
        The value at hour ``j`` depends on hours ``<= j`` only.
    """
    alpha = 1.0 - np.exp(-1.0 / tau_h)
    if array.shape[0] <= _SCALAR_ROWS:
        return np.array([_smoothed_row(row, alpha) for row in array.tolist()], dtype=np.float32).reshape(
            array.shape
        )
    out = np.full(array.shape, np.nan, dtype=np.float32)
    state = array[:, 0].astype(np.float64)
    for j in range(array.shape[1]):  # a recursion in time, vectorised over homes
        value = array[:, j]
        state = np.where(
            np.isnan(state), value, np.where(np.isnan(value), state, state + alpha * (value - state))
        )
        out[:, j] = state
    return out


_SCALAR_ROWS = 16  # up to this many homes a plain loop per home beats numpy's per-call overhead (serving)


def _smoothed_row(row: list[float], alpha: float) -> list[float]:
    """The recursion of :func:`exponential_smoothing` for one home, in float64 like the vectorised form."""
    out = []
    state = row[0] if row else math.nan
    for value in row:
        if math.isnan(state):
            state = value
        elif not math.isnan(value):
            state = state + alpha * (value - state)
        out.append(state)
    return out
