"""Features and the shared base of the learned strategies: one global model per frame, per-home normalised.

A learned strategy fits one model on a sample of the known readings of all the frame's homes. Each reading is
divided by its home's mean reading, so a 15-minute flat and an hourly villa share one target scale, and the
model predicts that ratio from calendar, neighbouring-reading and weather features.
"""

from __future__ import annotations

from abc import abstractmethod
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Self

import numpy as np

from contracts.schemas import GHI_W_M2, TEMP_C
from data_prep.quality.imputation.base import GapImputer
from data_prep.quality.imputation.grid import (
    HOURS_PER_WEEK,
    MINUTES_PER_DAY,
    MINUTES_PER_WEEK,
    NS_PER_DAY,
    GapContext,
    prefix_sum,
    window_sum,
)

CALENDAR_FEATURES = ("hour_sin", "hour_cos", "weekday_sin", "weekday_cos", "year_sin", "year_cos", "weekend")
HOME_FEATURES = ("lag_day", "lead_day", "lag_week", "lead_week", "profile", "level_day", "home_kw")
WEATHER_FEATURES = (TEMP_C, GHI_W_M2)
ALL_FEATURES = CALENDAR_FEATURES + HOME_FEATURES + WEATHER_FEATURES
_NS_PER_YEAR = int(365.2425 * NS_PER_DAY)


@dataclass(frozen=True)
class HomeSums:
    """Whole-frame sums behind the per-row features, computed once per set of readings.

    Attributes:
        scale: per row, its home's mean known reading [kWh per interval]; 1 where that mean is not positive.
        key: per row, its (home, hour of week) bucket.
        bucket_total: known readings summed per bucket [kWh per interval].
        bucket_count: known readings per bucket.
        reading_prefix: prefix sums of the known readings (0 where missing).
        known_prefix: prefix counts of the known readings.
    """

    scale: np.ndarray
    key: np.ndarray
    bucket_total: np.ndarray
    bucket_count: np.ndarray
    reading_prefix: np.ndarray
    known_prefix: np.ndarray

    @classmethod
    def of(cls, ctx: GapContext) -> HomeSums:
        """The sums of ``ctx``'s readings, memoised on ``ctx``."""
        if "features.home_sums" not in ctx.memo:
            ctx.memo["features.home_sums"] = cls._compute(ctx)
        return ctx.memo["features.home_sums"]

    @classmethod
    def _compute(cls, ctx: GapContext) -> HomeSums:
        grid, known = ctx.grid, ctx.known
        own = np.where(known, ctx.kwh, 0.0)
        n_homes = len(grid.home_ids)
        total = np.bincount(grid.code, weights=own, minlength=n_homes)
        count = np.bincount(grid.code, weights=known, minlength=n_homes)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = total / count
        key = grid.code * HOURS_PER_WEEK + grid.hour_of_week
        n_keys = n_homes * HOURS_PER_WEEK
        return cls(
            scale=np.where(mean > 0, mean, 1.0)[grid.code],
            key=key,
            bucket_total=np.bincount(key, weights=own, minlength=n_keys),
            bucket_count=np.bincount(key, weights=known, minlength=n_keys),
            reading_prefix=prefix_sum(own),
            known_prefix=prefix_sum(known.astype(np.float64)),
        )


def _calendar(ctx: GapContext, rows: np.ndarray) -> dict[str, np.ndarray]:
    ts = ctx.grid.ts_ns[rows]
    hour = 2 * np.pi * (ts % NS_PER_DAY) / NS_PER_DAY
    weekday = ctx.grid.hour_of_week[rows] // 24
    day_angle = 2 * np.pi * weekday / 7
    year = 2 * np.pi * (ts % _NS_PER_YEAR) / _NS_PER_YEAR
    return {
        "hour_sin": np.sin(hour),
        "hour_cos": np.cos(hour),
        "weekday_sin": np.sin(day_angle),
        "weekday_cos": np.cos(day_angle),
        "year_sin": np.sin(year),
        "year_cos": np.cos(year),
        "weekend": (weekday >= 5).astype(float),
    }


def _home_context(ctx: GapContext, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Neighbouring readings and the home's usual level, each divided by the home's mean reading.

    Invariants:
        A row's own reading never enters its features: ``profile`` and ``level_day`` are leave-one-out means,
        so a model fitted on known rows sees the same kind of features as a gap row.
    """
    grid, sums = ctx.grid, HomeSums.of(ctx)
    scale = sums.scale[rows]
    own = np.where(ctx.known[rows], ctx.kwh[rows], 0.0)
    day = MINUTES_PER_DAY // grid.interval_min[rows]
    week = MINUTES_PER_WEEK // grid.interval_min[rows]
    out: dict[str, np.ndarray] = {}
    for name, offset in (("lag_day", -day), ("lead_day", day), ("lag_week", -week), ("lead_week", week)):
        source = grid.offset_rows(rows, offset)
        out[name] = np.where(source >= 0, ctx.kwh[np.maximum(source, 0)], np.nan) / scale
    key = sums.key[rows]
    out["profile"] = (
        _leave_one_out(sums.bucket_total[key], sums.bucket_count[key], own, ctx.known[rows]) / scale
    )
    lo = np.maximum(grid.row_first[rows], rows - day)
    hi = np.minimum(grid.row_last[rows], rows + day)
    near_total = window_sum(sums.reading_prefix, lo, hi)
    near_count = window_sum(sums.known_prefix, lo, hi)
    out["level_day"] = _leave_one_out(near_total, near_count, own, ctx.known[rows]) / scale
    out["home_kw"] = scale * 60.0 / grid.interval_min[rows]
    return out


def _leave_one_out(total: np.ndarray, count: np.ndarray, own: np.ndarray, is_own: np.ndarray) -> np.ndarray:
    rest = count - is_own
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(rest > 0, (total - own) / rest, np.nan)


def imputation_features(ctx: GapContext, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Every feature in :data:`ALL_FEATURES` for ``rows``; weather is NaN where absent."""
    features = _calendar(ctx, rows) | _home_context(ctx, rows)
    for name in WEATHER_FEATURES:
        column = ctx.grid.weather.get(name)
        features[name] = column[rows] if column is not None else np.full(len(rows), np.nan)
    return features


def _single_threaded_blas() -> AbstractContextManager[Any]:
    """BLAS limited to one thread.

    The matrices have a dozen columns, so a second thread gains nothing, while idle BLAS threads spinning
    against another process for the second core made a MICE fit ~20x slower in the test suite.
    """
    from threadpoolctl import threadpool_limits  # scikit-learn's own dependency

    return threadpool_limits(limits=1, user_api="blas")


class FeatureModelImputer(GapImputer):
    """Base of the learned strategies: one fit per frame on sampled known rows; predicts reading / home mean.

    Args:
        max_train_rows: the most known rows the model is fitted on (a uniform sample, for a bounded cost).
        seed: seed of the sample and of the model.

    Invariants:
        Fitted on known readings only; in selection the masked readings are NaN at fit time, so scores are
        out-of-sample.
    """

    feature_names: tuple[str, ...] = ALL_FEATURES

    def __init__(self, max_train_rows: int = 50_000, seed: int = 0) -> None:
        self.max_train_rows = max_train_rows
        self.seed = seed

    def fit_context(self, ctx: GapContext) -> Self:
        known_rows = np.flatnonzero(ctx.known)
        if len(known_rows) == 0:
            raise ValueError(f"{self.name}: no known reading to fit on")
        rng = np.random.default_rng(self.seed)
        if len(known_rows) > self.max_train_rows:
            known_rows = np.sort(rng.choice(known_rows, self.max_train_rows, replace=False))
        x = self._matrix(imputation_features(ctx, known_rows))
        with _single_threaded_blas():
            self.model_ = self._fit_model(x, ctx.kwh[known_rows] / HomeSums.of(ctx).scale[known_rows])
        return self

    def _estimate(self, ctx: GapContext, rows: np.ndarray) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() first")
        x = self._matrix(imputation_features(ctx, rows))
        with _single_threaded_blas():
            return self._predict_model(self.model_, x) * HomeSums.of(ctx).scale[rows]

    def _matrix(self, features: dict[str, np.ndarray]) -> np.ndarray:
        return np.column_stack([features[name] for name in self.feature_names]).astype(np.float64)

    @abstractmethod
    def _fit_model(self, x: np.ndarray, y: np.ndarray) -> Any:
        """Fit and return the model on features ``x`` and normalised readings ``y``."""

    @abstractmethod
    def _predict_model(self, model: Any, x: np.ndarray) -> np.ndarray:
        """Normalised readings predicted by ``model`` for features ``x``."""
