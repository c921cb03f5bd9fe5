"""A robust local level: the rolling median of the readings around a gap."""

from __future__ import annotations

import numpy as np

from data_prep.quality.imputation.base import GapImputer
from data_prep.quality.imputation.grid import GapContext, gap_windows, nanmedian_rows


class RollingMedianImputer(GapImputer):
    """The median of the known readings within ``window_hours`` before and after the gap.

    This is a centred rolling median whose window is stretched over the gap, so even a gap longer than the
    window has readings to take the median of. Every slot of one gap gets the same value. The median ignores a
    spike next to the gap, and with a 24 h window on each side it covers one whole daily cycle twice.

    Args:
        window_hours: the span on each side of a gap whose known readings enter the median [h].
    """

    name = "rolling_median"

    def __init__(self, window_hours: float = 24.0) -> None:
        self.window_hours = window_hours

    def _estimate(self, ctx: GapContext, rows: np.ndarray) -> np.ndarray:
        gap_of_row, window = gap_windows(ctx, rows, 60.0 * self.window_hours)
        values = np.where(window >= 0, ctx.kwh[np.maximum(window, 0)], np.nan)
        return nanmedian_rows(values)[gap_of_row]
