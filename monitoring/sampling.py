"""Seeded samples of a window's rows, so that a drift report costs the same on a million rows as on fifty thousand.

Two samples are drawn from each window (reference and current), before any feature is read:

- **all homes**: a stratified random sample with proportional allocation. The strata are the joint cohorts
  (heating × PV × region); each stratum gets its share of the sample (largest remainders), and its rows are drawn
  uniformly without replacement. The sample's cohort mix is the window's, to within one row per stratum, so a
  change of fleet composition between the windows shows in the sample as it does in the data; and drawing within
  strata removes the between-cohort part of the sampling variance.
- **per cohort**: for each cohort dimension and value, a uniform sample of at most ``cohort_rows`` rows of that
  value, so that a small cohort (the few PV homes) is judged on all its rows and a large one on a fixed number.

Why the statistics stay valid: the drift methods (normed Wasserstein distance, Jensen-Shannon distance) estimate
a distance between two distributions, and a uniform sample of ``n`` rows estimates it with an error that shrinks
like ``1/sqrt(n)`` whatever the window's size (about 0.01 for 50,000 rows and standardised data, against a
threshold of 0.1). A test with a p-value (KS, chi-square) would do the opposite on the full data: its power grows
with the row count, so on a million rows any negligible difference is "significant"; a fixed sample size keeps
one meaning for a threshold whatever the fleet's size. ``docs/monitoring.md`` has the figures.

Invariants:
    The same rows, seed and sizes give the same sample on every machine (numpy's PCG64 generator).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SamplePlan:
    """Row positions (into the window's frame) of the two samples of one window.

    Attributes:
        overall: the all-homes sample, sorted.
        by_cohort: cohort dimension → the per-cohort sample of that dimension (every value's rows), sorted.
        rows_in_window: rows of the window before sampling.
    """

    overall: np.ndarray
    by_cohort: dict[str, np.ndarray]
    rows_in_window: int

    @property
    def union(self) -> np.ndarray:
        """Every position any sample uses, sorted: the rows whose features must be read."""
        return np.unique(np.concatenate([self.overall, *self.by_cohort.values()]))


def plan_sample(cohorts: pd.DataFrame, sample_rows: int, cohort_rows: int, seed: int) -> SamplePlan:
    """The two samples of a window whose rows have the cohort labels of ``cohorts``.

    Args:
        cohorts: one row per window row, one column per cohort dimension (labels as strings).
        sample_rows: rows of the all-homes sample (all rows when the window has fewer).
        cohort_rows: rows per cohort value at most.
        seed: the seed of the draws.
    """
    rng = np.random.default_rng(seed)
    codes = {d: _column_codes(cohorts[d]) for d in cohorts.columns}
    overall = _proportional(_joint(list(codes.values()), len(cohorts)), sample_rows, rng)
    by_cohort = {d: _capped(c, cohort_rows, rng) for d, c in codes.items()}
    return SamplePlan(overall=overall, by_cohort=by_cohort, rows_in_window=len(cohorts))


def _column_codes(values: pd.Series) -> np.ndarray:
    return np.asarray(pd.factorize(values, use_na_sentinel=False)[0], dtype=np.int64)


def _joint(codes: list[np.ndarray], n_rows: int) -> np.ndarray:
    """One dense code per row for the combination of several columns' codes."""
    combined = np.zeros(n_rows, dtype=np.int64)
    for column in codes:
        combined = combined * (int(column.max(initial=0)) + 1) + column
    return np.unique(combined, return_inverse=True)[1].astype(np.int64)


def _ranks_within(codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random rank of each row within its stratum (0 … size − 1)."""
    keys = rng.random(len(codes))
    # one float key, stratum + a uniform draw in [0, 1): a single sort orders by stratum, then at random within it
    order = np.argsort(codes + keys)  # ties have probability 0: no need for a stable sort
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    sizes = np.diff(np.r_[starts, len(codes)])
    ranks = np.empty(len(codes), dtype=np.int64)
    ranks[order] = np.arange(len(codes)) - np.repeat(starts, sizes)
    return ranks


def _proportional(codes: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of a stratified sample of ``n`` rows, proportional allocation by largest remainders."""
    total = len(codes)
    if total <= n:
        return np.arange(total, dtype=np.int64)
    sizes = np.bincount(codes)
    exact = sizes * (n / total)
    quota = np.floor(exact).astype(np.int64)
    remainder = n - int(quota.sum())
    if remainder > 0:
        quota[np.argsort(-(exact - quota), kind="stable")[:remainder]] += 1
    keep = _ranks_within(codes, rng) < quota[codes]
    return np.flatnonzero(keep)


def _capped(codes: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of at most ``cap`` uniformly drawn rows of every stratum."""
    if len(codes) == 0:
        return np.arange(0, dtype=np.int64)
    keep = _ranks_within(codes, rng) < cap
    return np.flatnonzero(keep)


@dataclass(frozen=True)
class WindowSample:
    """The sampled rows of one window, with their features and cohort columns.

    Attributes:
        overall: the all-homes sample.
        by_cohort: cohort dimension → that dimension's per-cohort sample.
        rows_in_window: rows of the window before sampling.
    """

    overall: pd.DataFrame
    by_cohort: dict[str, pd.DataFrame]
    rows_in_window: int


def take_sample(frame: pd.DataFrame, plan: SamplePlan) -> WindowSample:
    """The rows of ``plan`` from ``frame``, whose index holds the positions the plan was drawn over (a frame of
    every window row with a default index, or only the rows of ``plan.union`` indexed by their positions)."""
    return WindowSample(
        overall=frame.loc[plan.overall],
        by_cohort={d: frame.loc[positions] for d, positions in plan.by_cohort.items()},
        rows_in_window=plan.rows_in_window,
    )
