"""Benchmark of gap imputation: automatic selection + transform on 1,000 homes × 8,760 hourly slots, ~1 % gaps.

Run with ``python -m benchmarks.bench_imputation [--homes N] [--slots N]``. It times
:class:`~data_prep.quality.imputation.ImputationSelector` ``fit`` and ``transform`` with the default candidates
and with all ten, reports each strategy's own cost (fit + estimate on every gap slot) and the error of the filled
values against the hidden truth, prints a table and writes ``benchmarks/results/imputation.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from contracts.schemas import GHI_W_M2, HOME_ID, INTERVAL_MIN, KWH, TEMP_C, TS
from data_prep.quality.imputation import DEFAULT_CANDIDATES, IMPUTERS, ImputationSelector
from data_prep.quality.imputation.grid import GapContext

RESULTS = Path(__file__).parent / "results" / "imputation.json"
# Gap lengths [slots] and their shares: mostly short outages, some day-long, a few multi-day, rare > 72 h.
GAP_LENGTHS = (1, 2, 3, 6, 12, 20, 36, 60, 96)
GAP_SHARES = (0.30, 0.18, 0.12, 0.14, 0.10, 0.07, 0.04, 0.03, 0.02)


def synthetic_frame(
    n_homes: int, n_slots: int, gaps_per_home: int, seed: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """Hourly homes with daily, weekly and temperature-driven load, weather, and gaps; returns (frame, truth)."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2024-01-01", periods=n_slots, freq="h", tz="UTC")
    hours = np.arange(n_slots)
    hour_of_day, weekday = hours % 24, (hours // 24) % 7
    temp = 8 - 10 * np.cos(2 * np.pi * hours / 8760) - 4 * np.cos(2 * np.pi * (hour_of_day - 3) / 24)
    ghi = np.clip(np.sin(np.pi * (hour_of_day - 6) / 12), 0, None) * (
        450 - 300 * np.cos(2 * np.pi * hours / 8760)
    )
    daily = 0.6 + 0.5 * np.exp(-((hour_of_day - 8) ** 2) / 4) + 0.9 * np.exp(-((hour_of_day - 19) ** 2) / 6)
    weekly = np.where(weekday >= 5, 1.25, 1.0)
    heating = np.clip(15 - temp, 0, None) * 0.05
    base = (daily * weekly + heating)[None, :]
    level = rng.lognormal(0.0, 0.4, (n_homes, 1))
    truth = level * base * rng.gamma(20.0, 1 / 20.0, (n_homes, n_slots))
    kwh = truth.copy()
    starts = rng.integers(24, n_slots - 120, (n_homes, gaps_per_home))
    lengths = rng.choice(GAP_LENGTHS, (n_homes, gaps_per_home), p=GAP_SHARES)
    row = np.repeat(np.arange(n_homes * gaps_per_home), lengths.ravel())
    offset = np.arange(len(row)) - np.repeat(np.cumsum(lengths.ravel()) - lengths.ravel(), lengths.ravel())
    kwh.reshape(-1)[(row // gaps_per_home) * n_slots + starts.ravel()[row] + offset] = np.nan
    frame = pd.DataFrame(
        {
            HOME_ID: np.repeat([f"home_{i:04d}" for i in range(n_homes)], n_slots).astype(object),
            TS: np.tile(ts, n_homes),
            KWH: kwh.ravel(),
            INTERVAL_MIN: 60,
            TEMP_C: np.tile(temp + rng.normal(0, 0.5, n_slots), n_homes),
            GHI_W_M2: np.tile(ghi, n_homes),
        }
    )
    return frame, truth.ravel()


def _time_selector(
    frame: pd.DataFrame, truth: np.ndarray, candidates: tuple[str, ...], min_gain: float = 0.0
) -> dict[str, Any]:
    selector = ImputationSelector(candidates=candidates, min_gain=min_gain)
    start = time.perf_counter()
    selector.fit(frame)
    fitted = time.perf_counter()
    out = selector.transform(frame)
    done = time.perf_counter()
    imputed = out["imputed"].to_numpy()
    return {
        "candidates": list(candidates),
        "min_gain": min_gain,
        "fit_s": round(fitted - start, 3),
        "transform_s": round(done - fitted, 3),
        "total_s": round(done - start, 3),
        "imputed_slots": int(imputed.sum()),
        "mae_kwh": float(np.abs(out[KWH].to_numpy()[imputed] - truth[imputed]).mean()),
        "chosen": selector.selection_["strategy"].value_counts().to_dict(),
    }


def _time_strategies(frame: pd.DataFrame, truth: np.ndarray) -> list[dict[str, Any]]:
    ctx = GapContext.from_frame(frame)
    rows = ctx.interior_missing()
    results = []
    for name, cls in IMPUTERS.items():
        start = time.perf_counter()
        estimate = cls().fit_context(ctx).estimate(ctx, rows)
        elapsed = time.perf_counter() - start
        filled = ~np.isnan(estimate)
        results.append(
            {
                "strategy": name,
                "fit_estimate_s": round(elapsed, 3),
                "filled_share": float(filled.mean()),
                "mae_kwh": float(np.abs(estimate[filled] - truth[rows][filled]).mean()),
            }
        )
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the table, write the JSON, and return the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--homes", type=int, default=1000)
    parser.add_argument("--slots", type=int, default=8760)
    parser.add_argument("--gaps-per-home", type=int, default=9, help="gap events per home (~1%% of slots)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    frame, truth = synthetic_frame(args.homes, args.slots, args.gaps_per_home, args.seed)
    missing = float(frame[KWH].isna().mean())
    runs = {
        "default": _time_selector(frame, truth, DEFAULT_CANDIDATES),
        "default_gain0.2": _time_selector(frame, truth, DEFAULT_CANDIDATES, min_gain=0.2),
        "all_ten": _time_selector(frame, truth, tuple(IMPUTERS)),
        "all_ten_gain0.2": _time_selector(frame, truth, tuple(IMPUTERS), min_gain=0.2),
    }
    strategies = _time_strategies(frame, truth)
    result = {
        "homes": args.homes,
        "slots_per_home": args.slots,
        "rows": len(frame),
        "missing_share": round(missing, 4),
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "selector": runs,
        "strategies": strategies,
    }
    _print(result)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    return result


def _print(result: dict[str, Any]) -> None:
    print(
        f"{result['homes']} homes × {result['slots_per_home']} slots, {result['missing_share']:.2%} missing"
    )
    print(
        f"{'selector run':<17}{'fit [s]':>9}{'transform [s]':>15}{'total [s]':>11}{'MAE [kWh]':>11}  chosen"
    )
    for label, run in result["selector"].items():
        print(
            f"{label:<17}{run['fit_s']:>9.2f}{run['transform_s']:>15.2f}{run['total_s']:>11.2f}"
            f"{run['mae_kwh']:>11.4f}  {run['chosen']}"
        )
    print(f"\n{'strategy':<22}{'fit+estimate [s]':>17}{'filled':>9}{'MAE [kWh]':>11}")
    for row in result["strategies"]:
        print(
            f"{row['strategy']:<22}{row['fit_estimate_s']:>17.3f}{row['filled_share']:>9.1%}{row['mae_kwh']:>11.4f}"
        )


if __name__ == "__main__":
    main()
