"""Learned strategies behind scikit-learn and LightGBM: KNN, random forest, MICE and a weather-aware GBM.

The libraries are imported inside the methods, so importing the registry stays cheap.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from data_prep.quality.imputation.features import (
    ALL_FEATURES,
    CALENDAR_FEATURES,
    HOME_FEATURES,
    FeatureModelImputer,
)


class _Standardiser:
    """Centre and scale each feature by its known values, so distances weigh the features alike."""

    def __init__(self, x: np.ndarray) -> None:
        with np.errstate(invalid="ignore"):
            self.mean = np.nan_to_num(np.nanmean(x, axis=0)) if len(x) else np.zeros(x.shape[1])
            std = np.nanstd(x, axis=0) if len(x) else np.ones(x.shape[1])
        self.std = np.where(np.isfinite(std) & (std > 0), std, 1.0)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std


class KnnImputer(FeatureModelImputer):
    """scikit-learn's ``KNNImputer`` over hour-of-week and neighbouring-reading features.

    A gap slot takes the distance-weighted mean normalised reading of the ``n_neighbors`` most similar known
    slots (of any home) among ``max_train_rows`` sampled ones. The cost of a prediction grows with that
    sample.

    Args:
        n_neighbors: neighbours averaged.
        max_train_rows: known rows kept as the neighbour pool.
        seed: seed of the pool's sample.
    """

    name = "knn"
    feature_names = CALENDAR_FEATURES + HOME_FEATURES

    def __init__(self, n_neighbors: int = 10, max_train_rows: int = 1_000, seed: int = 0) -> None:
        super().__init__(max_train_rows=max_train_rows, seed=seed)
        self.n_neighbors = n_neighbors

    def _fit_model(self, x: np.ndarray, y: np.ndarray) -> Any:
        from sklearn.impute import KNNImputer

        standardise = _Standardiser(x)
        model = KNNImputer(n_neighbors=self.n_neighbors, weights="distance", keep_empty_features=True)
        model.fit(np.column_stack([standardise(x), y]))
        return standardise, model

    def _predict_model(self, model: Any, x: np.ndarray) -> np.ndarray:
        standardise, knn = model
        return knn.transform(np.column_stack([standardise(x), np.full(len(x), np.nan)]))[:, -1]


class RandomForestImputer(FeatureModelImputer):
    """A scikit-learn random forest on calendar, neighbouring-reading and weather features (NaN-aware splits).

    Args:
        n_estimators: trees.
        max_depth: the depth of each tree.
        max_train_rows: known rows sampled to fit on.
        n_jobs: worker threads of scikit-learn.
        seed: seed of the sample and the forest.
    """

    name = "random_forest"

    def __init__(
        self,
        n_estimators: int = 40,
        max_depth: int = 14,
        max_train_rows: int = 30_000,
        n_jobs: int = 2,
        seed: int = 0,
    ) -> None:
        super().__init__(max_train_rows=max_train_rows, seed=seed)
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.n_jobs = n_jobs

    def _fit_model(self, x: np.ndarray, y: np.ndarray) -> Any:
        from sklearn.ensemble import RandomForestRegressor

        forest = RandomForestRegressor(
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            min_samples_leaf=5,
            max_features=0.5,
            n_jobs=self.n_jobs,
            random_state=self.seed,
        )
        return forest.fit(x, y)

    def _predict_model(self, model: Any, x: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict(x), dtype=np.float64)


class MiceImputer(FeatureModelImputer):
    """scikit-learn's ``IterativeImputer`` (chained Bayesian ridge regressions), the reading as one column.

    Every column with a missing value, the reading and the neighbouring readings alike, is regressed on the
    others in turn, so a gap slot whose week-ago reading is also missing still gets an estimate.

    Args:
        max_iter: imputation rounds.
        max_train_rows: known rows sampled to fit on.
        seed: seed of the sample and the imputer.
    """

    name = "mice"

    def __init__(self, max_iter: int = 10, max_train_rows: int = 20_000, seed: int = 0) -> None:
        super().__init__(max_train_rows=max_train_rows, seed=seed)
        self.max_iter = max_iter

    def _fit_model(self, x: np.ndarray, y: np.ndarray) -> Any:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.experimental import enable_iterative_imputer  # noqa: F401
        from sklearn.impute import IterativeImputer

        imputer = IterativeImputer(
            max_iter=self.max_iter, random_state=self.seed, keep_empty_features=True, tol=1e-3
        )
        with warnings.catch_warnings():
            # Stopping at max_iter is expected (we want a point estimate, not convergence of every column), and
            # the warning would fire on every bucket of a prep run.
            warnings.simplefilter("ignore", ConvergenceWarning)
            return imputer.fit(np.column_stack([x, y]))

    def _predict_model(self, model: Any, x: np.ndarray) -> np.ndarray:
        return np.asarray(model.transform(np.column_stack([x, np.full(len(x), np.nan)]))[:, -1])


class WeatherGbmImputer(FeatureModelImputer):
    """LightGBM on calendar, home-level and neighbouring-reading features plus ``temp_c`` and ``ghi_w_m2``.

    Without weather columns (or with NaN weather) LightGBM's missing-value branches take over and the model
    runs on the other features.

    Args:
        n_estimators: boosting rounds.
        learning_rate: shrinkage of each tree.
        num_leaves: leaves per tree.
        max_train_rows: known rows sampled to fit on.
        n_jobs: LightGBM threads. One by default: at this size a second thread gains little, and LightGBM's
            OpenMP threads spin badly when another process (a test worker, a second bucket) holds the other core.
        seed: seed of the sample and of LightGBM's bagging.
    """

    name = "weather_gbm"
    feature_names = ALL_FEATURES

    def __init__(
        self,
        n_estimators: int = 150,
        learning_rate: float = 0.07,
        num_leaves: int = 63,
        max_train_rows: int = 100_000,
        n_jobs: int = 1,
        seed: int = 0,
    ) -> None:
        super().__init__(max_train_rows=max_train_rows, seed=seed)
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.n_jobs = n_jobs

    def _fit_model(self, x: np.ndarray, y: np.ndarray) -> Any:
        import lightgbm

        model = lightgbm.LGBMRegressor(
            objective="l1",
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=20,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.9,
            random_state=self.seed,
            n_jobs=self.n_jobs,
            deterministic=True,
            force_row_wise=True,
            verbose=-1,
        )
        return model.fit(x, y)

    def _predict_model(self, model: Any, x: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict(x), dtype=np.float64)
