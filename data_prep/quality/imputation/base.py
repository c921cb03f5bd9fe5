"""The interface every gap-filling strategy implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Self

import numpy as np
import pandas as pd

from contracts.schemas import KWH
from data_prep.quality.imputation.grid import GapContext


class GapImputer(ABC):
    """A strategy that fills missing readings of a long frame, all homes at once.

    Subclasses implement :meth:`_estimate` on flat arrays (see :mod:`.grid`); the frame-level ``fit`` and
    ``transform`` and the non-negativity clip live here. Strategies that learn nothing keep the default
    :meth:`fit_context`, which returns ``self``.

    Invariants:
        - Known readings are never changed; only interior missing slots (a known reading of the same home
          before and after) are filled, so leading and trailing NaNs stay NaN.
        - A value is estimated from the same home's readings (and, for the learned strategies, a model fitted
          on the known readings of the frame); nothing crosses from one home's rows into another's gap.
        - Estimates are clipped at 0 kWh. A slot the strategy cannot estimate stays NaN.
        - Strategies look both ways in time: imputation is offline, so a gap may be filled from later
          readings.
    """

    name: ClassVar[str]

    def fit(self, frame: pd.DataFrame) -> Self:
        """Learn from the known readings of ``frame`` (sorted by home_id, ts; one row per slot)."""
        return self.fit_context(GapContext.from_frame(frame))

    def transform(self, frame: pd.DataFrame) -> pd.Series:
        """``frame``'s kwh with the interior gaps filled where the strategy can [kWh per interval].

        Returns:
            A float Series on ``frame``'s index, named ``kwh``.
        """
        ctx = GapContext.from_frame(frame)
        filled = ctx.kwh.copy()
        rows = ctx.interior_missing()
        filled[rows] = self.estimate(ctx, rows)
        return pd.Series(filled, index=frame.index, name=KWH)

    def fit_context(self, ctx: GapContext) -> Self:
        """Learn from the known readings in ``ctx``; the default learns nothing."""
        return self

    def estimate(self, ctx: GapContext, rows: np.ndarray) -> np.ndarray:
        """Estimates for the interior missing ``rows`` of ``ctx`` [kWh per interval], NaN where impossible."""
        if len(rows) == 0:
            return np.zeros(0)
        return np.clip(self._estimate(ctx, rows), 0.0, None)

    @abstractmethod
    def _estimate(self, ctx: GapContext, rows: np.ndarray) -> np.ndarray:
        """Raw estimates for ``rows`` (interior missing rows, ascending), one per row."""

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.endswith("_"))
        return f"{type(self).__name__}({params})"
