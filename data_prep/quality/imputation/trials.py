"""Synthetic gaps for scoring: known readings masked in the shape of each home's real gaps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data_prep.quality.imputation.grid import GapContext


@dataclass(frozen=True)
class TrialGaps:
    """Masked stretches of known readings.

    Attributes:
        start: first masked row of each trial.
        length: masked slots of each trial.
        home: the home of each trial (an index into ``SlotGrid.home_ids``).
        gap_class: the gap-length class each trial stands for (an index into the selector's classes).
    """

    start: np.ndarray
    length: np.ndarray
    home: np.ndarray
    gap_class: np.ndarray

    def rows(self) -> tuple[np.ndarray, np.ndarray]:
        """The masked rows, ascending, and the trial of each."""
        trial = np.repeat(np.arange(len(self.start)), self.length)
        first = np.repeat(np.cumsum(self.length) - self.length, self.length)
        rows = self.start[trial] + np.arange(len(trial)) - first
        order = np.argsort(rows, kind="stable")
        return rows[order], trial[order]


def _conflicts(start: np.ndarray, end: np.ndarray, old_start: np.ndarray, old_end: np.ndarray) -> np.ndarray:
    """Which new windows touch an accepted one or an earlier new one (a known slot must separate trials)."""
    after = np.searchsorted(old_start, start, side="right")
    hit_before = start <= np.append(old_end, -2)[after - 1] + 1  # after == 0 reads the sentinel
    next_start = np.append(old_start, np.iinfo(np.int64).max)[after]
    conflict = hit_before | (next_start <= end + 1)
    order = np.argsort(start, kind="stable")
    reach = np.maximum.accumulate(end[order])
    earlier = np.concatenate([[False], start[order][1:] <= reach[:-1] + 1])
    conflict[order] |= earlier
    return conflict


def draw_trial_gaps(
    ctx: GapContext,
    real: tuple[np.ndarray, np.ndarray, np.ndarray],
    trials_per_class: int,
    rng: np.random.Generator,
    max_rounds: int = 20,
) -> TrialGaps:
    """Draw ``trials_per_class`` synthetic gaps for every (home, class) that has real gaps.

    Each trial copies the length of one of that home's real gaps of that class (drawn with replacement) and is
    placed uniformly inside the home's observed span, on readings that are all known, with a known reading on
    either side that no other trial masks. Draws that break this are drawn again, up to ``max_rounds`` times;
    a home whose known stretches are too short for its gaps gets fewer trials.

    Args:
        ctx: the frame's readings.
        real: the real gaps to imitate, as (home, gap_class, length) arrays.
        trials_per_class: trials wanted per (home, class).
        rng: the source of randomness; the draw is a function of its state.
        max_rounds: redraw rounds before giving up on a trial.
    """
    home, gap_class, length = real
    n_classes = int(gap_class.max()) + 1 if len(gap_class) else 1
    key = home * n_classes + gap_class
    order = np.argsort(key, kind="stable")
    keys, first, count = np.unique(key[order], return_index=True, return_counts=True)
    wanted = np.repeat(np.arange(len(keys)), trials_per_class)
    span_first, span_last = ctx.observed_span()
    missing_prefix = np.concatenate([[0], np.cumsum(~ctx.known)])
    done_start, done_length, done_group = (np.zeros(0, np.int64) for _ in range(3))
    for _ in range(max_rounds):
        if len(wanted) == 0:
            break
        pick = order[first[wanted] + (rng.random(len(wanted)) * count[wanted]).astype(np.int64)]
        lengths = length[pick]
        homes = keys[wanted] // n_classes
        lo, hi = span_first[homes] + 1, span_last[homes] - lengths
        starts = lo + (rng.random(len(wanted)) * np.maximum(hi - lo + 1, 0)).astype(np.int64)
        ends = starts + lengths - 1
        ok = (hi >= lo) & (missing_prefix[np.minimum(ends + 2, len(ctx.known))] == missing_prefix[starts - 1])
        if not ok.any():
            continue
        done_order = np.argsort(done_start)
        ok[ok] = ~_conflicts(
            starts[ok],
            ends[ok],
            done_start[done_order],
            (done_start + done_length - 1)[done_order],
        )
        done_start = np.append(done_start, starts[ok])
        done_length = np.append(done_length, lengths[ok])
        done_group = np.append(done_group, wanted[ok])
        wanted = wanted[~ok]
    return TrialGaps(
        start=done_start,
        length=done_length,
        home=keys[done_group] // n_classes,
        gap_class=keys[done_group] % n_classes,
    )
