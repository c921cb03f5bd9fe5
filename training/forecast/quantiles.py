"""Quantile forecasts as columns: naming, ordering and clipping shared by every forecaster and the calibrator.

A forecast frame has one column per quantile level, ``kwh_p10``, ``kwh_p50``, ``kwh_p90`` [kWh per target
interval]; the P50 is the point forecast every accuracy metric and every reconciliation uses.

Invariants:
    After :func:`ordered`, quantile columns never cross (``P10 <= P50 <= P90`` on every row) and are ``>= 0``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

DEFAULT_QUANTILES = (0.1, 0.5, 0.9)
P50 = "kwh_p50"


def quantile_column(q: float) -> str:
    """The column of quantile ``q`` in a forecast frame: ``kwh_p10`` for 0.1."""
    return f"kwh_p{round(q * 100):02d}"


def quantile_columns(quantiles: Sequence[float]) -> list[str]:
    """The columns of ``quantiles`` in ascending level order."""
    return [quantile_column(q) for q in sorted(quantiles)]


def ordered(frame: pd.DataFrame, quantiles: Sequence[float]) -> pd.DataFrame:
    """``frame`` with its quantile columns sorted along each row and clipped at 0 (imported energy).

    Sorting keeps every value a forecaster produced and only exchanges crossed ones, so a row that did not cross
    is unchanged. NaN stays NaN.
    """
    columns = quantile_columns(quantiles)
    values = frame[columns].to_numpy(dtype=float)
    finite = ~np.isnan(values).any(axis=1)
    values[finite] = np.sort(values[finite], axis=1)
    out = frame.copy()
    out[columns] = np.clip(values, 0.0, None)
    return out
