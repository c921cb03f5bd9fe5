"""Conformal calibration of quantile forecasts on a calibration window, and a forecaster paired with it.

For each quantile level ``q`` and group (e.g. the lead day), the calibrator learns the ``q``-quantile ``c_q`` of
the scaled residuals ``(y - f_q) / s`` on a calibration window the forecaster did not train on, and moves the
forecast to ``f_q + c_q s``. On exchangeable data a share ``q`` of actuals then falls below it, so P10–P90 covers
80 %. The scale ``s`` makes the interval follow the level of each row: the P50 itself (``scale="p50"``), or the
forecaster's own P10–P90 width (``scale="width"``, conformalised quantile regression); a floor keeps it away from
zero. The P50 is left as the forecaster made it (by default), since it is the point forecast.

Invariants:
    The calibrator never sees the rows it corrects: it is fitted on a window before them.
    Quantiles never cross after :meth:`ConformalCalibrator.transform` (see :func:`quantiles.ordered`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from training.forecast.cold_start import mask_recent
from training.forecast.quantiles import DEFAULT_QUANTILES, P50, ordered, quantile_column

SCALES = ("auto", "p50", "width", "none")
POOLED = "__pooled__"


class Forecaster(Protocol):
    """What the calibrator and the backtest need of a forecaster."""

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> Any: ...

    def predict_quantiles(self, X: pd.DataFrame) -> pd.DataFrame: ...


class ConformalCalibrator:
    """Split-conformal offsets per quantile level and group (scikit-learn estimator contract).

    Args:
        quantiles: the levels of the forecast frames.
        calibrate_median: also move the P50 (to a calibrated median); off by default, the P50 stays the point
            forecast.
        scale: ``p50``, ``width``, ``none`` (absolute residuals), or ``auto``: ``width`` when the forecasts on the
            calibration window have intervals (quantile models), else ``p50``.
        scale_floor_share: the scale's floor, as a share of the mean P50 on the calibration window [0-1].
        min_group_rows: groups with fewer calibration rows use the pooled offsets.
    """

    def __init__(
        self,
        quantiles: Sequence[float] = DEFAULT_QUANTILES,
        calibrate_median: bool = False,
        scale: str = "auto",
        scale_floor_share: float = 0.1,
        min_group_rows: int = 200,
    ) -> None:
        self.quantiles = quantiles
        self.calibrate_median = calibrate_median
        self.scale = scale
        self.scale_floor_share = scale_floor_share
        self.min_group_rows = min_group_rows

    def fit(
        self, forecast: pd.DataFrame, y: np.ndarray, groups: np.ndarray | None = None
    ) -> ConformalCalibrator:
        """Learn the offsets from forecasts on the calibration window and their actuals (NaN rows skipped)."""
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, not {self.scale!r}")
        y = np.asarray(y, dtype=float)
        point = forecast[P50].to_numpy(dtype=float)
        usable = ~np.isnan(y) & ~np.isnan(point)
        if not usable.any():
            raise ValueError("no calibration rows with both a forecast and an actual")
        self.floor_ = max(self.scale_floor_share * float(np.mean(point[usable])), 1e-6)
        self.scale_ = self._resolve_scale(forecast[usable])
        labels = self._labels(groups, len(y))
        scale = self._scale(forecast)
        self.offsets_: dict[str, dict[float, float]] = {}
        self.group_rows_: dict[str, int] = {}
        for group in [POOLED, *pd.unique(labels[usable])]:
            rows = usable if group == POOLED else usable & (labels == group)
            self.group_rows_[str(group)] = int(rows.sum())
            if group != POOLED and rows.sum() < self.min_group_rows:
                continue
            self.offsets_[str(group)] = {
                q: float(
                    np.quantile((y[rows] - forecast[quantile_column(q)].to_numpy()[rows]) / scale[rows], q)
                )
                for q in self._levels()
            }
        return self

    def transform(self, forecast: pd.DataFrame, groups: np.ndarray | None = None) -> pd.DataFrame:
        """The calibrated forecast: each level moved by its group's offset times the row's scale."""
        if not hasattr(self, "offsets_"):
            raise RuntimeError("fit the calibrator first")
        labels = self._labels(groups, len(forecast))
        scale = self._scale(forecast)
        out = forecast.copy()
        for q in self._levels():
            offset = np.full(len(forecast), self.offsets_[POOLED][q])
            for group, offsets in self.offsets_.items():
                if group != POOLED:
                    offset[labels == group] = offsets[q]
            column = quantile_column(q)
            out[column] = forecast[column].to_numpy(dtype=float) + offset * scale
        return ordered(out, self.quantiles)

    def _levels(self) -> list[float]:
        return [q for q in self.quantiles if q != 0.5 or self.calibrate_median]

    def _labels(self, groups: np.ndarray | None, n: int) -> np.ndarray:
        return (
            np.full(n, POOLED, dtype=object)
            if groups is None
            else np.asarray(groups).astype(str).astype(object)
        )

    def _resolve_scale(self, forecast: pd.DataFrame) -> str:
        if self.scale != "auto":
            return self.scale
        return "width" if float(self._width(forecast).mean()) > 0 else "p50"

    def _width(self, forecast: pd.DataFrame) -> np.ndarray:
        low, high = quantile_column(min(self.quantiles)), quantile_column(max(self.quantiles))
        return (forecast[high] - forecast[low]).to_numpy(dtype=float)

    def _scale(self, forecast: pd.DataFrame) -> np.ndarray:
        scale = self.scale_
        if scale == "none":
            return np.ones(len(forecast))
        raw = self._width(forecast) if scale == "width" else forecast[P50].to_numpy(dtype=float)
        return np.maximum(np.nan_to_num(raw, nan=self.floor_), self.floor_)


class CalibratedForecaster:
    """A forecaster fitted on a training window and calibrated on the window after it.

    Cold-start rows get their own calibration groups (``cold:<group>``): the calibration window is forecast a
    second time with the recent-consumption features masked, the way a cold home is forecast.

    Args:
        forecaster: any :class:`Forecaster`; fitted in place and kept as ``forecaster_``.
        calibrator: the calibrator; ``None`` uses a default :class:`ConformalCalibrator`.
    """

    def __init__(self, forecaster: Forecaster, calibrator: ConformalCalibrator | None = None) -> None:
        self.forecaster = forecaster
        self.calibrator = calibrator

    def fit(
        self,
        X_train: pd.DataFrame,
        y_train: np.ndarray,
        X_cal: pd.DataFrame,
        y_cal: np.ndarray,
        groups_cal: np.ndarray | None = None,
    ) -> CalibratedForecaster:
        self.forecaster_ = self.forecaster
        self.forecaster_.fit(X_train, y_train)
        self.calibrator_ = self.calibrator if self.calibrator is not None else ConformalCalibrator()
        groups = (
            np.full(len(X_cal), POOLED, dtype=object)
            if groups_cal is None
            else np.asarray(groups_cal, object)
        )
        warm = self.forecaster_.predict_quantiles(X_cal)
        cold = self.forecaster_.predict_quantiles(mask_recent(X_cal))
        self.calibrator_.fit(
            pd.concat([warm, cold], ignore_index=True),
            np.concatenate([y_cal, y_cal]),
            np.concatenate([groups, "cold:" + groups.astype(str)]),
        )
        return self

    def predict_quantiles(
        self, X: pd.DataFrame, groups: np.ndarray | None = None, cold: np.ndarray | None = None
    ) -> pd.DataFrame:
        """Calibrated quantiles of rows ``X`` (cold rows already masked by the caller, flagged in ``cold``)."""
        labels = np.full(len(X), POOLED, dtype=object) if groups is None else np.asarray(groups, object)
        if cold is not None:
            labels = np.where(cold, "cold:" + labels.astype(str), labels)
        return self.calibrator_.transform(self.forecaster_.predict_quantiles(X), labels)
