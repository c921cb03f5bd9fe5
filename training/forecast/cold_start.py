"""Cold start: homes with too little history get a profile-and-weather forecast from the same global model.

A home is cold when it has fewer than ``min_history_days`` of readings before the issue time. Its
recent-consumption features (every column starting with ``kwh_``) are masked to NaN, the way the global model saw
a share of its training rows (``cold_start_share``), so the prediction rests on the home's profile (size, heating,
occupants, EV, PV), the calendar and the weather. Such rows carry ``cold_start=True`` and are calibrated apart.

Invariants:
    A cold row's forecast does not depend on its readings at all: every column that reads kWh is masked.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

RECENT_PREFIX = "kwh_"
DEFAULT_MIN_HISTORY_DAYS = 14


def recent_columns(X: pd.DataFrame) -> list[str]:
    """The recent-consumption feature columns of ``X`` (those read from the home's readings)."""
    return [c for c in X.columns if str(c).startswith(RECENT_PREFIX)]


def mask_recent(X: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``X`` with every recent-consumption column set to NaN."""
    out = X.copy()
    out[recent_columns(X)] = np.nan
    return out


def history_hours(first_reading: np.ndarray, home: np.ndarray, issue: np.ndarray) -> np.ndarray:
    """Hours from each home's first reading to the issue hour [h], 0 when it has none before the issue."""
    return np.clip(issue - first_reading[home], 0, None)


def cold_start_flags(
    first_reading: np.ndarray,
    home: np.ndarray,
    issue: np.ndarray,
    min_history_days: float = DEFAULT_MIN_HISTORY_DAYS,
) -> np.ndarray:
    """Whether each row's home has less than ``min_history_days`` of history at its issue hour."""
    return history_hours(first_reading, home, issue) < min_history_days * 24


def apply_cold_start(X: pd.DataFrame, cold: np.ndarray) -> pd.DataFrame:
    """``X`` with the recent-consumption columns of the ``cold`` rows masked."""
    if not cold.any():
        return X
    out = X.copy()
    out.loc[cold, recent_columns(X)] = np.nan
    return out
