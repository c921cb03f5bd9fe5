"""The promotion gate: a challenger replaces the champion only if it beats it and every baseline by a margin.

The comparison is on one backtest: the challenger's and the champion's configurations are refitted and scored on
the same origins and rows as the baselines, with the day-ahead hourly NRMSE (the 24-h horizon) as the criterion.
A challenger "beats" a rival when ``nrmse_challenger <= (1 - margin) * nrmse_rival``.

Invariants:
    With no champion the challenger must still beat every baseline; a missing or non-finite score fails the gate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

CHALLENGER = "challenger"
CHAMPION = "champion"


@dataclass(frozen=True)
class PromotionDecision:
    """The gate's verdict and its numbers.

    Attributes:
        promote: whether the challenger becomes champion.
        metric: the criterion's name.
        margin: the required relative improvement [0-1].
        scores: the criterion per forecaster (challenger, champion when there is one, baselines).
        improvements: ``1 - challenger / rival`` per rival [0-1]; positive is better.
        reasons: one line per rival, saying whether the challenger cleared it.
    """

    promote: bool
    metric: str
    margin: float
    scores: dict[str, float]
    improvements: dict[str, float] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "promote": self.promote,
            "metric": self.metric,
            "margin": self.margin,
            "scores": self.scores,
            "improvements": self.improvements,
            "reasons": list(self.reasons),
        }


class PromotionGate:
    """Decides a promotion from the scores of one backtest (lower is better).

    Args:
        margin: relative improvement the challenger needs over each rival [0-1].
        metric: the criterion's name, for the record.
    """

    def __init__(self, margin: float = 0.02, metric: str = "hourly_day1_nrmse") -> None:
        self.margin = margin
        self.metric = metric

    def decide(
        self, scores: Mapping[str, float], baselines: Sequence[str], champion: bool
    ) -> PromotionDecision:
        """The decision for ``scores`` (forecaster → criterion), ``baselines`` by name, with or without a champion."""
        rivals = [*([CHAMPION] if champion else []), *baselines]
        challenger = float(scores.get(CHALLENGER, math.nan))
        improvements: dict[str, float] = {}
        reasons = []
        passed = math.isfinite(challenger)
        if not passed:
            reasons.append(f"the challenger has no finite {self.metric}")
        for rival in rivals:
            score = float(scores.get(rival, math.nan))
            if not math.isfinite(score) or score <= 0:
                passed = False
                reasons.append(f"{rival}: no finite positive {self.metric} to compare with")
                continue
            gain = 1.0 - challenger / score
            improvements[rival] = gain
            cleared = gain >= self.margin
            passed = passed and cleared
            verdict = "beats" if cleared else "does not beat"
            reasons.append(
                f"{verdict} {rival}: {challenger:.4f} vs {score:.4f} "
                f"({100 * gain:+.1f} %, {100 * self.margin:.1f} % needed)"
            )
        return PromotionDecision(
            promote=passed,
            metric=self.metric,
            margin=self.margin,
            scores={k: float(v) for k, v in scores.items()},
            improvements=improvements,
            reasons=tuple(reasons),
        )
