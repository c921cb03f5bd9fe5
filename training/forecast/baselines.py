"""Baseline forecasters: seasonal naive and the persistence ensemble, read straight off the lag features.

Both follow the estimator contract of :mod:`training.forecast.global_model` (``fit`` / ``predict`` /
``predict_quantiles``) so that a backtest treats every forecaster alike. They learn nothing: ``fit`` only records
the feature names. Their intervals come from :class:`~training.forecast.calibration.ConformalCalibrator`.

Invariants:
    The columns they read are horizon-aware lags (see :mod:`training.forecast.features`): the same hour last week
    is ``t - 168 h`` (a lag >= the lead up to a week ahead), and the 7-day mean uses the latest 7 days known at
    issue. A row without the lag gets NaN, never a value from after the issue time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from training.forecast.quantiles import DEFAULT_QUANTILES, quantile_column


class LagColumnForecaster:
    """A forecaster whose P50 is one feature column, the same value at every quantile.

    Args:
        column: the feature column read as the forecast [kWh per target interval].
        quantiles: the quantile levels of :meth:`predict_quantiles` (all equal to the P50 until calibrated).
    """

    def __init__(self, column: str, quantiles: Sequence[float] = DEFAULT_QUANTILES) -> None:
        self.column = column
        self.quantiles = quantiles

    def fit(self, X: pd.DataFrame, y: np.ndarray | None = None) -> LagColumnForecaster:
        if self.column not in X.columns:
            raise KeyError(f"{type(self).__name__} needs the feature column {self.column!r}")
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The P50 [kWh per target interval]; NaN where the lag is unknown."""
        return X[self.column].to_numpy(dtype=float)

    def predict_quantiles(self, X: pd.DataFrame) -> pd.DataFrame:
        point = self.predict(X)
        return pd.DataFrame({quantile_column(q): point for q in self.quantiles}, index=X.index)


class SeasonalNaiveForecaster(LagColumnForecaster):
    """The same hour last week (``kwh_same_hour_last_week``); for daily rows, the same weekday last week."""

    def __init__(
        self, column: str = "kwh_same_hour_last_week", quantiles: Sequence[float] = DEFAULT_QUANTILES
    ):
        super().__init__(column, quantiles)


class PersistenceEnsembleForecaster(LagColumnForecaster):
    """The mean of the same hour over the last 7 days known at issue (``kwh_same_hour_mean``)."""

    def __init__(self, column: str = "kwh_same_hour_mean", quantiles: Sequence[float] = DEFAULT_QUANTILES):
        super().__init__(column, quantiles)
