"""Window sums of a panel array along hours, by cumulative sums: any window mean in O(1) per row.

Invariants:
    :meth:`TrailingSums.mean` over ``[end - hours, end)`` reads hours ``< end`` only; pass the issue hour as
    ``end`` and nothing at or after the issue is read.
"""

from __future__ import annotations

import numpy as np

from training.forecast.frames import HourlyPanel


class TrailingSums:
    """Cumulative sums (and counts of known values) of an ``(n_homes, n_hours)`` array, NaN where unknown.

    Args:
        array: the values.
        squares: also keep the sums of squares (for :meth:`std`).
    """

    def __init__(self, array: np.ndarray, squares: bool = False) -> None:
        known = ~np.isnan(array)
        zeroed = np.where(known, array, 0.0).astype(np.float64)
        pad = np.zeros((array.shape[0], 1))
        self.total = np.concatenate([pad, np.cumsum(zeroed, axis=1)], axis=1)
        self.count = np.concatenate([pad.astype(np.int32), np.cumsum(known, axis=1, dtype=np.int32)], axis=1)
        self.squares = np.concatenate([pad, np.cumsum(zeroed**2, axis=1)], axis=1) if squares else None

    @classmethod
    def of(cls, panel: HourlyPanel, name: str, squares: bool = False) -> TrailingSums:
        """The sums of ``panel.values[name]``, built once and cached on the panel."""
        return panel.cached(f"trailing:{name}:{squares}", lambda: cls(panel.values[name], squares))

    def _span(
        self, home: np.ndarray, end: np.ndarray, hours: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        last = self.total.shape[1] - 1
        stop = np.clip(end, 0, last)
        start = np.clip(end - hours, 0, last)
        return home, start, stop

    def sum_count(self, home: np.ndarray, end: np.ndarray, hours: int) -> tuple[np.ndarray, np.ndarray]:
        """Sum and number of known values over hours ``[end - hours, end)``."""
        h, start, stop = self._span(home, end, hours)
        return self.total[h, stop] - self.total[h, start], self.count[h, stop] - self.count[h, start]

    def mean(self, home: np.ndarray, end: np.ndarray, hours: int, min_share: float = 0.5) -> np.ndarray:
        """Mean over hours ``[end - hours, end)``; NaN with fewer than ``min_share`` of the hours known."""
        total, n = self.sum_count(home, end, hours)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n >= max(1, min_share * hours), total / n, np.nan).astype(np.float32)

    def std(self, home: np.ndarray, end: np.ndarray, hours: int, min_share: float = 0.5) -> np.ndarray:
        """Standard deviation over hours ``[end - hours, end)`` (needs ``squares=True``)."""
        if self.squares is None:
            raise ValueError("built without squares")
        h, start, stop = self._span(home, end, hours)
        total, n = self.sum_count(home, end, hours)
        q = self.squares[h, stop] - self.squares[h, start]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / n
            std = np.sqrt(np.maximum(q / n - mean**2, 0.0))
            return np.where(n >= max(1, min_share * hours), std, np.nan).astype(np.float32)
