"""The interface of an anomaly detector.

A detector is a small configured object with the scikit-learn contract: ``__init__`` only stores thresholds,
``fit`` learns per-home state (attributes ending in ``_``) and returns ``self``, ``detect`` returns one bool
per row.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Self

import numpy as np
import pandas as pd

from data_prep.quality.anomalies.grid import HomeGrid


class AnomalyDetector(ABC):
    """Flags suspicious readings in a bucket frame of homes.

    Subclasses implement :meth:`detect_grid` and, when they learn per-home state, :meth:`fit_grid`. The
    frame-level :meth:`fit` and :meth:`detect` read the row layout and delegate; :class:`AnomalyScanner` reads
    it once and calls the ``*_grid`` methods of every detector.

    Attributes:
        name: the :class:`contracts.schemas.Anomaly` value this detector reports.
        masks: True when flagged readings are set to NaN before imputation; False for flag-only detectors.
        homes_: the homes seen by :meth:`fit`. Detectors with per-home state never flag a home fit did not
            see.

    Invariants:
        Flags of a home depend only on that home's rows: homes in one frame never influence each other.
        A missing reading (NaN) is never flagged.
    """

    name: ClassVar[str]
    masks: ClassVar[bool] = True

    homes_: pd.Index

    def fit(self, frame: pd.DataFrame) -> Self:
        """Learn per-home state from a frame sorted by (``home_id``, ``ts``) on a regular grid per home."""
        return self.fit_grid(HomeGrid.from_frame(frame))

    def detect(self, frame: pd.DataFrame) -> np.ndarray:
        """One bool per row of ``frame``, in row order: True where the reading is this anomaly."""
        return self.detect_grid(HomeGrid.from_frame(frame))

    def fit_grid(self, grid: HomeGrid) -> Self:
        """:meth:`fit` on a grid that is already read. Stateless detectors only record the homes."""
        self.homes_ = grid.home_index
        return self

    @abstractmethod
    def detect_grid(self, grid: HomeGrid) -> np.ndarray:
        """:meth:`detect` on a grid that is already read."""

    def _fitted_homes(self, grid: HomeGrid) -> np.ndarray:
        """For each home of ``grid``, its position in :attr:`homes_`, or -1 when fit did not see it."""
        if not hasattr(self, "homes_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit first")
        return grid.align(self.homes_)

    def __repr__(self) -> str:
        params = ", ".join(f"{key}={value!r}" for key, value in vars(self).items() if not key.endswith("_"))
        return f"{type(self).__name__}({params})"


def gather(per_fitted_home: np.ndarray, fitted: np.ndarray) -> np.ndarray:
    """``per_fitted_home[fitted]``, NaN where ``fitted`` is -1 (a home that fit did not see).

    Args:
        per_fitted_home: a learned value per fitted home.
        fitted: positions into ``per_fitted_home``, from :meth:`AnomalyDetector._fitted_homes`.
    """
    padded = np.append(per_fitted_home.astype(np.float64), np.nan)
    return padded[np.where(fitted < 0, len(per_fitted_home), fitted)]


def typical_level_kwh_per_h(grid: HomeGrid, floor_kwh_per_h: float) -> pd.Series:
    """The typical level of each home: its median reading as a rate, at least ``floor_kwh_per_h`` [kWh/h].

    The floor keeps multiples of the level meaningful for nearly vacant homes and PV homes whose median import
    is 0.
    """
    level = np.fmax(grid.home_median_kwh_per_h, floor_kwh_per_h)
    return pd.Series(level, index=grid.home_index, name="level_kwh_per_h")
