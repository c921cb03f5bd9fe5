"""The anomaly suite: runs the configured detectors on a bucket frame and names one anomaly per row."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

import numpy as np
import pandas as pd

from data_prep.quality.anomalies.base import AnomalyDetector
from data_prep.quality.anomalies.grid import HomeGrid
from data_prep.quality.anomalies.registry import DETECTORS
from data_prep.sorted_runs import Coded


class AnomalyScanner:
    """Runs the configured detectors and reduces their flags to one ``anomaly`` and one ``masked`` per row.

    Args:
        detectors: detector name -> constructor arguments, e.g. the ``anomalies`` section of the rules YAML or
            :func:`default_detector_config`. Only the named detectors run; ``{}`` arguments take the defaults.

    Attributes:
        detectors_: the fitted detectors by name, in priority order (the order of :data:`DETECTORS`).

    Invariants:
        ``anomaly`` is the first flagging detector in the priority order of :data:`DETECTORS`: meter_reset,
        negative, spike, stuck, outlier, level_shift. ``masked`` is True when any masking detector flagged the
        row; as level_shift is the only flag-only detector and comes last, ``masked`` is True exactly when
        ``anomaly`` is set and is not ``level_shift``.
    """

    detectors_: dict[str, AnomalyDetector]

    def __init__(self, detectors: Mapping[str, Mapping[str, Any]]) -> None:
        self.detectors = detectors

    def fit(self, frame: pd.DataFrame) -> Self:
        """Build the detectors and fit each on ``frame``.

        Raises:
            ValueError: an unknown detector name, or a frame that is not a regular grid per home.
            TypeError: an argument the detector does not take.
        """
        return self._fit_grid(HomeGrid.from_frame(frame))

    def flags(self, frame: pd.DataFrame) -> pd.DataFrame:
        """One bool column per fitted detector, in priority order, on ``frame.index``."""
        return self._flags_grid(HomeGrid.from_frame(frame), frame.index)

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Columns ``anomaly`` (first flagging detector or None) and ``masked`` (bool), on ``frame.index``."""
        return self.reduce(self.flags(frame))

    def fit_transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """:meth:`fit` then :meth:`transform` on the same frame, reading its layout once."""
        return self.fit_transform_grid(HomeGrid.from_frame(frame), frame.index)

    def fit_transform_grid(self, grid: HomeGrid, index: pd.Index | None = None) -> pd.DataFrame:
        """:meth:`fit_transform` on a grid that is already read; the result is on ``index`` (default: row numbers)."""
        index = pd.RangeIndex(grid.n_rows) if index is None else index
        return self.reduce(self._fit_grid(grid)._flags_grid(grid, index))

    def fit_transform_coded(self, grid: HomeGrid) -> tuple[Coded, np.ndarray]:
        """:meth:`fit_transform_grid` as arrays: ``anomaly`` as codes into the detector names, and ``masked``."""
        flags = self._fit_grid(grid)._flags_grid(grid, pd.RangeIndex(grid.n_rows))
        return self._reduce_coded(flags)

    def reduce(self, flags: pd.DataFrame) -> pd.DataFrame:
        """Reduce the output of :meth:`flags` to ``anomaly`` and ``masked``."""
        anomaly, masked = self._reduce_coded(flags)
        return pd.DataFrame({"anomaly": anomaly.objects(), "masked": masked}, index=flags.index, copy=False)

    def _reduce_coded(self, flags: pd.DataFrame) -> tuple[Coded, np.ndarray]:
        names = list(self.detectors_)
        first = np.full(len(flags), -1, dtype=np.int64)  # no detector flagged the row
        masked = np.zeros(len(flags), dtype=bool)
        for k in range(len(names) - 1, -1, -1):  # the first flagging detector in priority order wins
            flagged = flags[names[k]].to_numpy()
            first[flagged] = k
            if self.detectors_[names[k]].masks:
                masked |= flagged
        return Coded(first, np.array(names, dtype=object)), masked

    def _fit_grid(self, grid: HomeGrid) -> Self:
        unknown = set(self.detectors) - set(DETECTORS)
        if unknown:
            raise ValueError(f"unknown anomaly detectors {sorted(unknown)}; known: {list(DETECTORS)}")
        self.detectors_ = {
            name: cls(**dict(self.detectors[name])).fit_grid(grid)
            for name, cls in DETECTORS.items()
            if name in self.detectors
        }
        return self

    def _flags_grid(self, grid: HomeGrid, index: pd.Index) -> pd.DataFrame:
        if not hasattr(self, "detectors_"):
            raise RuntimeError("AnomalyScanner is not fitted: call fit first")
        columns = {name: detector.detect_grid(grid) for name, detector in self.detectors_.items()}
        return pd.DataFrame(columns, index=index, columns=list(self.detectors_), dtype=bool, copy=False)
