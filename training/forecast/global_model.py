"""One LightGBM model over every home: the point forecast (P50) and, optionally, quantile models for the rest.

The model sees one row per (home, issue, target) with the features of :mod:`training.forecast.features` (or the
daily ones): home attributes and recent-consumption features let one model serve every home. The P50 is fitted
with the squared error, so it estimates the conditional *mean*: the RMSE-optimal point forecast, and additive
across resolutions (hourly means sum to the daily mean; medians do not). Intervals come two ways:

- ``interval_method="quantile"`` (default): one LightGBM model per outer quantile (pinball objective, on a
  subsample), which :class:`~training.forecast.calibration.ConformalCalibrator` then corrects to the nominal
  coverage (conformalised quantile regression). The intervals follow each row's own uncertainty: wide for an
  electric car's evening, narrow for a baseload night.
- ``interval_method="conformal"``: only the P50 model; the outer quantiles equal the P50 until the calibrator
  widens them from calibration residuals scaled by the P50. Cheaper, but one width per level of consumption:
  homes with erratic loads (EV) get too narrow intervals and steady ones too wide.

Cold start: a share of the training rows has every recent-consumption column (``kwh_…``) masked, so the same model
learns a profile-and-weather prediction for homes without history (see :mod:`training.forecast.cold_start`).

Invariants:
    Deterministic for a given ``seed`` and thread count (LightGBM's ``deterministic`` mode).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from training.forecast.cold_start import apply_cold_start
from training.forecast.quantiles import DEFAULT_QUANTILES, P50, ordered, quantile_column

INTERVAL_METHODS = ("conformal", "quantile")


class GlobalLightGbmForecaster:
    """A global LightGBM forecaster (scikit-learn estimator contract).

    Args:
        quantiles: quantile levels forecast; 0.5 must be among them.
        interval_method: ``conformal`` (P50 model only) or ``quantile`` (a pinball model per outer quantile).
        n_estimators: boosting rounds per model.
        learning_rate: shrinkage per round.
        num_leaves: leaves per tree.
        min_child_samples: rows per leaf at least.
        colsample_bytree: share of features per tree [0-1].
        subsample: share of rows per tree [0-1].
        max_bin: histogram bins per feature.
        cold_start_share: share of training rows with recent-consumption features masked [0-1].
        max_train_rows: training rows kept at most (a seeded random sample); ``None`` keeps all.
        quantile_max_rows: rows of that sample the outer-quantile models train on: LightGBM's quantile objective
            re-fits every leaf to a percentile, many times slower per row than the squared error.
        quantile_n_estimators: boosting rounds of each outer-quantile model.
        seed: seed of LightGBM and of the sampling.
        n_jobs: LightGBM threads.
    """

    def __init__(
        self,
        quantiles: Sequence[float] = DEFAULT_QUANTILES,
        interval_method: str = "quantile",
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 50,
        colsample_bytree: float = 0.8,
        subsample: float = 0.8,
        max_bin: int = 63,
        cold_start_share: float = 0.1,
        max_train_rows: int | None = 2_000_000,
        quantile_max_rows: int = 300_000,
        quantile_n_estimators: int = 150,
        seed: int = 0,
        n_jobs: int = 2,
    ) -> None:
        self.quantiles = quantiles
        self.interval_method = interval_method
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.colsample_bytree = colsample_bytree
        self.subsample = subsample
        self.max_bin = max_bin
        self.cold_start_share = cold_start_share
        self.max_train_rows = max_train_rows
        self.quantile_max_rows = quantile_max_rows
        self.quantile_n_estimators = quantile_n_estimators
        self.seed = seed
        self.n_jobs = n_jobs

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> GlobalLightGbmForecaster:
        """Fit on feature rows ``X`` and their actual values ``y`` [kWh per target interval]; NaN ``y`` is dropped."""
        if 0.5 not in self.quantiles:
            raise ValueError("quantiles must include 0.5 (the point forecast)")
        if self.interval_method not in INTERVAL_METHODS:
            raise ValueError(
                f"interval_method must be one of {INTERVAL_METHODS}, not {self.interval_method!r}"
            )
        X, y = self._training_rows(X, np.asarray(y, dtype=float))
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.models_ = {0.5: self._booster("regression", X, y, self.n_estimators)}
        if self.interval_method == "quantile":
            rows = np.random.default_rng(self.seed + 1).permutation(len(X))[: self.quantile_max_rows]
            Xq, yq = X.iloc[np.sort(rows)], y[np.sort(rows)]
            for q in (q for q in self.quantiles if q != 0.5):
                self.models_[q] = self._booster("quantile", Xq, yq, self.quantile_n_estimators, alpha=q)
        return self

    def _training_rows(self, X: pd.DataFrame, y: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        keep = np.flatnonzero(~np.isnan(y))
        if self.max_train_rows is not None and len(keep) > self.max_train_rows:
            keep = np.sort(rng.choice(keep, self.max_train_rows, replace=False))
        X, y = X.iloc[keep].reset_index(drop=True), y[keep]
        return apply_cold_start(X, rng.random(len(X)) < self.cold_start_share), y

    def _booster(self, objective: str, X: pd.DataFrame, y: np.ndarray, rounds: int, **extra: Any) -> Any:
        import lightgbm as lgb

        params = {
            "objective": objective,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_child_samples,
            "feature_fraction": self.colsample_bytree,
            "bagging_fraction": self.subsample,
            "bagging_freq": 1 if self.subsample < 1 else 0,
            "max_bin": self.max_bin,
            "num_threads": self.n_jobs,
            "seed": self.seed,
            "deterministic": True,
            "force_col_wise": True,
            "verbosity": -1,
            **extra,
        }
        dataset = lgb.Dataset(
            X, label=y, params={"max_bin": self.max_bin, "verbosity": -1}, free_raw_data=True
        )
        return lgb.train(params, dataset, num_boost_round=rounds)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The P50 (the conditional-mean estimate) [kWh per target interval], ``>= 0``."""
        return np.clip(self._raw(0.5, X), 0.0, None)

    def predict_quantiles(self, X: pd.DataFrame) -> pd.DataFrame:
        """Every quantile [kWh per target interval], non-crossing and ``>= 0``; uncalibrated."""
        point = self._raw(0.5, X)
        out = pd.DataFrame(index=X.index)
        for q in sorted(self.quantiles):
            out[quantile_column(q)] = self._raw(q, X) if q in self.models_ and q != 0.5 else point
        return ordered(out, self.quantiles)

    def _raw(self, q: float, X: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "models_"):
            raise RuntimeError("fit the forecaster first")
        columns = list(self.feature_names_in_)
        return np.asarray(self.models_[q].predict(X[columns], num_threads=self.n_jobs), dtype=float)

    def feature_importance(self) -> pd.Series:
        """Total gain of each feature in the P50 model, largest first."""
        booster = self.models_[0.5]
        gain = booster.feature_importance(importance_type="gain")
        return pd.Series(gain, index=self.feature_names_in_, name=P50).sort_values(ascending=False)
