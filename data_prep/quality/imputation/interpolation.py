"""Strategies that bridge a gap from the known readings at its edges: linear, PCHIP spline, forward fill."""

from __future__ import annotations

import numpy as np

from data_prep.quality.imputation.base import GapImputer
from data_prep.quality.imputation.grid import GapContext


class LinearGapImputer(GapImputer):
    """A straight line between the last known reading before the gap and the first one after it.

    The grid is regular per home, so the row offset is the time axis.
    """

    name = "linear"

    def _estimate(self, ctx: GapContext, rows: np.ndarray) -> np.ndarray:
        before, after = ctx.prev_known[rows], ctx.next_known[rows]
        fraction = (rows - before) / (after - before)
        return ctx.kwh[before] + fraction * (ctx.kwh[after] - ctx.kwh[before])


def _pchip_slope(left: np.ndarray, right: np.ndarray, h_left: np.ndarray, h_right: np.ndarray) -> np.ndarray:
    """Fritsch–Carlson derivative at a knot from the secants on either side (as scipy's PchipInterpolator)."""
    w_left = 2 * h_right + h_left
    w_right = h_right + 2 * h_left
    same_sign = (np.sign(left) * np.sign(right)) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (w_left + w_right) / (w_left / left + w_right / right)
    return np.where(same_sign, slope, 0.0)


class SplineGapImputer(GapImputer):
    """A shape-preserving cubic (PCHIP) on the time axis through the two nearest known readings on each side.

    Inside a gap the PCHIP curve is a cubic Hermite segment between the gap's edge readings; its end slopes
    come from the secants to the next known reading outward (time-weighted, as in scipy's
    ``PchipInterpolator``), so the result equals scipy's on every gap that is not at the very end of a home's
    series. It never overshoots the edge readings, so a gap between two low readings is not filled with a
    spurious bump.
    """

    name = "spline"

    def _estimate(self, ctx: GapContext, rows: np.ndarray) -> np.ndarray:
        grid, kwh = ctx.grid, ctx.kwh
        a, b = ctx.prev_known[rows], ctx.next_known[rows]
        h = (b - a).astype(float)
        secant = (kwh[b] - kwh[a]) / h
        a_out = np.where(a > grid.row_first[rows], ctx.prev_known[np.maximum(a - 1, 0)], -1)
        b_out = np.where(b < grid.row_last[rows], ctx.next_known[np.minimum(b + 1, grid.n_rows - 1)], -1)
        h_a = (a - a_out).astype(float)
        h_b = (b_out - b).astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            secant_a = (kwh[a] - kwh[a_out]) / h_a
            secant_b = (kwh[b_out] - kwh[b]) / h_b
        slope_a = np.where(a_out >= 0, _pchip_slope(secant_a, secant, h_a, h), secant)
        slope_b = np.where(b_out >= 0, _pchip_slope(secant, secant_b, h, h_b), secant)
        t = (rows - a) / h
        t2, t3 = t * t, t * t * t
        return (
            (2 * t3 - 3 * t2 + 1) * kwh[a]
            + (t3 - 2 * t2 + t) * h * slope_a
            + (-2 * t3 + 3 * t2) * kwh[b]
            + (t3 - t2) * h * slope_b
        )


class ForwardFillImputer(GapImputer):
    """The last known reading before the gap, held until the gap ends."""

    name = "forward_fill"

    def _estimate(self, ctx: GapContext, rows: np.ndarray) -> np.ndarray:
        return ctx.kwh[ctx.prev_known[rows]]
