"""Automatic choice of the gap-filling strategy per home and gap length, by refilling masked readings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np
import pandas as pd
import pyarrow as pa

from contracts.schemas import HOME_ID, KWH
from data_prep.quality.imputation.grid import GapContext, SlotGrid
from data_prep.quality.imputation.registry import DEFAULT_CANDIDATES, FALLBACK, IMPUTERS
from data_prep.quality.imputation.trials import TrialGaps, draw_trial_gaps
from data_prep.sorted_runs import Coded

# As stored in quality/imputation_*: the same types in every bucket's file, empty ones included.
SCORES_SCHEMA = pa.schema(
    [(HOME_ID, pa.string()), ("gap_class", pa.float64()), ("strategy", pa.string()), ("mae_kwh", pa.float64()),
     ("n_points", pa.int64())]
)  # fmt: skip
SELECTION_SCHEMA = pa.schema(
    [(HOME_ID, pa.string()), ("gap_class", pa.float64()), ("strategy", pa.string()), ("n_trials", pa.int64())]
)
SCORE_COLUMNS = tuple(SCORES_SCHEMA.names)
SELECTION_COLUMNS = tuple(SELECTION_SCHEMA.names)


class ImputationSelector:
    """Chooses, per home and gap-length class, the candidate with the lowest error on masked known readings.

    For each home and class in which the home has real gaps, ``trials_per_class`` stretches of known readings
    are masked with lengths drawn from those real gaps; every candidate refills the masked frame, and the one
    with the lowest mean absolute error wins (ties go to the earlier candidate; see ``min_gain``). The class-wide
    winner is the candidate with the lowest error relative to each home's mean error, averaged over homes.
    :meth:`transform` fills each real gap with its home's choice for that class, or the class-wide winner where
    the home had no gap of that class at fit time (or is new).

    A gap's class is the first bound in ``gap_classes_hours`` that its length does not exceed; gaps longer
    than the last bound (but not than ``max_gap_hours``) fall in the last class.

    Args:
        candidates: registry names of the strategies to score, in order of preference on ties.
        max_gap_hours: gaps longer than this stay NaN [h].
        gap_classes_hours: upper bounds of the gap-length classes, ascending [h].
        trials_per_class: masked stretches per home and class.
        seed: seed of the masking draw.
        min_gain: a home keeps its own best candidate only if that beats the class-wide winner's error on the
            home's trials by at least this fraction; otherwise it takes the class-wide winner. 0 (the default)
            always keeps the home's own best. A few trials per home make per-home errors noisy, and on homes that
            behave alike a positive ``min_gain`` (e.g. 0.2) guards against choosing on noise.

    Attributes:
        scores_: one row per home × class × candidate: ``home_id``, ``gap_class`` (its upper bound [h]),
            ``strategy``, ``mae_kwh`` (mean absolute error on the masked points [kWh per interval]),
            ``n_points``.
        selection_: the winner per home and class: ``home_id``, ``gap_class``, ``strategy``, ``n_trials``.
        default_strategy_: per class upper bound [h], the class-wide winner, used for homes without a selection.

    Invariants:
        - Masked readings are NaN for every candidate, learned ones included, so scores are out-of-sample.
        - A slot the chosen strategy cannot fill is filled by linear interpolation and labelled ``linear``;
          every filled slot has ``imputed`` set and names its strategy. Leading and trailing NaNs and gaps
          longer than ``max_gap_hours`` stay NaN with ``imputed`` false.
        - The same frame and seed give the same selection.
    """

    def __init__(
        self,
        candidates: Sequence[str] = DEFAULT_CANDIDATES,
        max_gap_hours: float = 72.0,
        gap_classes_hours: Sequence[float] = (3.0, 24.0, 72.0),
        trials_per_class: int = 4,
        seed: int = 0,
        min_gain: float = 0.0,
    ) -> None:
        self.candidates = candidates
        self.max_gap_hours = max_gap_hours
        self.gap_classes_hours = gap_classes_hours
        self.trials_per_class = trials_per_class
        self.seed = seed
        self.min_gain = min_gain

    def fit(self, frame: pd.DataFrame) -> Self:
        """Score every candidate on masked readings of ``frame`` and keep the best per home and class."""
        return self._fit_context(GapContext.from_frame(frame))

    def _fit_context(self, ctx: GapContext) -> Self:
        names, bounds = self._validated()
        gaps = ctx.gaps()
        gap_class = self._classify(gaps.hours, bounds)
        keep = gaps.hours <= self.max_gap_hours
        real = (gaps.home[keep], gap_class[keep], gaps.length[keep])
        trials = draw_trial_gaps(ctx, real, self.trials_per_class, np.random.default_rng(self.seed))
        rows, trial = trials.rows()
        masked = ctx.kwh.copy()
        masked[rows] = np.nan
        masked_ctx = GapContext.build(ctx.grid, masked)
        fallback = IMPUTERS[FALLBACK]().estimate(masked_ctx, rows)
        group = trials.home[trial] * len(bounds) + trials.gap_class[trial]
        groups, group_of_point, n_points = np.unique(group, return_inverse=True, return_counts=True)
        mae = np.empty((len(groups), len(names)))
        for j, name in enumerate(names if len(rows) else []):
            estimate = IMPUTERS[name]().fit_context(masked_ctx).estimate(masked_ctx, rows)
            error = np.abs(np.where(np.isnan(estimate), fallback, estimate) - ctx.kwh[rows])
            mae[:, j] = np.bincount(group_of_point, weights=error, minlength=len(groups)) / n_points
        self._record(ctx.grid, trials, groups, mae, n_points, names, bounds)
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame``'s readings with the gaps up to ``max_gap_hours`` filled.

        The chosen strategies are fitted on ``frame`` itself (the learned ones on its known readings); what
        :meth:`fit` learned is which strategy fills which home's gaps of which class.

        Returns:
            A frame on ``frame``'s index with ``kwh`` (filled) [kWh per interval], ``imputed`` (bool) and
            ``imputation_strategy`` (the registry name that filled the slot, None where not imputed).
        """
        return self._transform_context(GapContext.from_frame(frame), frame.index)

    def _transform_context(self, ctx: GapContext, index: pd.Index) -> pd.DataFrame:
        filled, imputed, strategy = self._transform_coded(ctx)
        columns = {KWH: filled, "imputed": imputed, "imputation_strategy": strategy.objects()}
        return pd.DataFrame(columns, index=index, copy=False)

    def _transform_coded(self, ctx: GapContext) -> tuple[np.ndarray, np.ndarray, Coded]:
        """The filled readings [kWh per interval], ``imputed``, and ``imputation_strategy`` as codes."""
        if not hasattr(self, "selection_"):
            raise RuntimeError("ImputationSelector is not fitted; call fit() first")
        names, bounds = self._validated()
        gaps = ctx.gaps()
        table = self._strategy_table(ctx.grid, names, bounds)
        rows, gap_of_row = gaps.rows(gaps.hours <= self.max_gap_hours)
        strategy = table[gaps.home, self._classify(gaps.hours, bounds)][gap_of_row]
        fallback_code = len(names)
        filled, label = ctx.kwh.copy(), np.full(len(ctx.kwh), -1)
        fallback = IMPUTERS[FALLBACK]().estimate(ctx, rows)
        for code in np.unique(strategy):
            chosen = strategy == code
            imputer = IMPUTERS[names[code]]().fit_context(ctx)
            estimate = imputer.estimate(ctx, rows[chosen])
            unfilled = np.isnan(estimate)
            filled[rows[chosen]] = np.where(unfilled, fallback[chosen], estimate)
            label[rows[chosen]] = np.where(unfilled, fallback_code, code)
        imputed = ~ctx.known & ~np.isnan(filled)
        label[~imputed] = -1
        return filled, imputed, Coded(label, np.array([*names, FALLBACK], dtype=object))

    def fit_transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """:meth:`fit` then :meth:`transform` on the same frame, reading its layout once."""
        return self.fit_transform_context(GapContext.from_frame(frame), frame.index)

    def fit_transform_context(self, ctx: GapContext, index: pd.Index | None = None) -> pd.DataFrame:
        """:meth:`fit_transform` on readings that are already read; the result is on ``index`` (default: row
        numbers)."""
        index = pd.RangeIndex(len(ctx.kwh)) if index is None else index
        return self._fit_context(ctx)._transform_context(ctx, index)

    def fit_transform_coded(self, ctx: GapContext) -> tuple[np.ndarray, np.ndarray, Coded]:
        """:meth:`fit_transform_context` as arrays: ``kwh``, ``imputed`` and ``imputation_strategy`` as codes."""
        return self._fit_context(ctx)._transform_coded(ctx)

    def _validated(self) -> tuple[list[str], np.ndarray]:
        names = list(self.candidates)
        unknown = sorted(set(names) - set(IMPUTERS))
        if not names or unknown:
            raise ValueError(f"candidates must be registry names from {sorted(IMPUTERS)}; unknown: {unknown}")
        bounds = np.asarray(self.gap_classes_hours, dtype=float)
        if len(bounds) == 0 or (bounds <= 0).any() or (np.diff(bounds) <= 0).any():
            raise ValueError("gap_classes_hours must be positive and strictly ascending")
        if self.trials_per_class < 1:
            raise ValueError("trials_per_class must be at least 1")
        if not 0.0 <= self.min_gain < 1.0:
            raise ValueError("min_gain must be in [0, 1)")
        return names, bounds

    @staticmethod
    def _classify(hours: np.ndarray, bounds: np.ndarray) -> np.ndarray:
        return np.minimum(np.searchsorted(bounds, hours, side="left"), len(bounds) - 1)

    def _record(
        self,
        grid: SlotGrid,
        trials: TrialGaps,
        groups: np.ndarray,
        mae: np.ndarray,
        n_points: np.ndarray,
        names: list[str],
        bounds: np.ndarray,
    ) -> None:
        """Store ``scores_``, ``selection_`` and ``default_strategy_`` from the per-group errors."""
        home_ids = grid.home_ids[groups // len(bounds)]
        gap_class = bounds[groups % len(bounds)]
        n_names = len(names)
        self.scores_ = pd.DataFrame(
            {
                HOME_ID: np.repeat(home_ids, n_names),
                "gap_class": np.repeat(gap_class, n_names),
                "strategy": np.tile(np.array(names, dtype=object), len(groups)),
                "mae_kwh": mae.ravel(),
                "n_points": np.repeat(n_points, n_names),
            },
            columns=list(SCORE_COLUMNS),
        )
        class_of_group = groups % len(bounds)
        class_best = self._class_winners(mae, class_of_group, len(bounds))
        chosen = self._choose(mae, class_best[class_of_group])
        trial_group = np.sort(trials.home * len(bounds) + trials.gap_class)
        n_trials = np.searchsorted(trial_group, groups, side="right") - np.searchsorted(trial_group, groups)
        self.selection_ = pd.DataFrame(
            {
                HOME_ID: home_ids,
                "gap_class": gap_class,
                "strategy": np.array(names, dtype=object)[chosen],
                "n_trials": n_trials,
            },
            columns=list(SELECTION_COLUMNS),
        )
        self.default_strategy_ = {float(b): names[k] for b, k in zip(bounds, class_best, strict=True)}

    @staticmethod
    def _class_winners(mae: np.ndarray, class_of_group: np.ndarray, n_classes: int) -> np.ndarray:
        """Per class, the candidate with the lowest mean error relative to each home's mean over candidates.

        Relative errors make homes of every size count alike; a class without scores takes the overall winner.
        """
        mean = mae.mean(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = np.where(mean > 0, mae / mean, 1.0)
        overall = int(relative.mean(axis=0).argmin()) if len(mae) else 0
        winners = np.full(n_classes, overall)
        for k in np.unique(class_of_group):  # a handful of classes
            winners[k] = relative[class_of_group == k].mean(axis=0).argmin()
        return winners

    def _choose(self, mae: np.ndarray, class_best: np.ndarray) -> np.ndarray:
        """Each home's best candidate, unless it beats the class winner by less than ``min_gain`` (then that)."""
        best = mae.argmin(axis=1) if len(mae) else np.zeros(0, np.int64)
        rows = np.arange(len(mae))
        keep_own = mae[rows, best] <= (1.0 - self.min_gain) * mae[rows, class_best]
        return np.where(keep_own, best, class_best)

    def _strategy_table(self, grid: SlotGrid, names: list[str], bounds: np.ndarray) -> np.ndarray:
        """(homes, classes) table of candidate indices for ``grid``'s homes: selection, else the default."""
        table = np.tile(
            [names.index(self.default_strategy_[float(b)]) for b in bounds], (len(grid.home_ids), 1)
        )
        home = pd.Index(grid.home_ids).get_indexer(pd.Index(self.selection_[HOME_ID]))
        known = home >= 0
        gap_class = np.searchsorted(bounds, self.selection_["gap_class"].to_numpy())[known]
        strategy = pd.Index(names).get_indexer(pd.Index(self.selection_["strategy"]))[known]
        table[home[known], gap_class] = strategy
        return table.astype(np.int64)
