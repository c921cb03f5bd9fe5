"""Benchmark of the sample-data generator: 1,000 homes × 365 days with the default resolution mix.

Run with ``python -m benchmarks.bench_demo_data [--homes N] [--days N] [--no-truth]``. It generates into a
temporary folder, times each stage through the progress callback, prints a table and writes
``benchmarks/results/demo_data.json``. The target is under 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "demo_data.json"
TARGET_S = 60.0


def run(homes: int, days: int, seed: int, write_truth: bool) -> dict[str, Any]:
    """Generate once into a temporary folder; return timings, counts and sizes."""
    started = time.perf_counter()
    from data_prep.sample_data import generate_demo_data  # timed: imports are part of a cold CLI run

    imported = time.perf_counter()
    marks: list[tuple[str, float]] = []

    def progress(stage: str, done: int, total: int) -> None:
        if not marks or marks[-1][0] != stage:
            marks.append((stage, time.perf_counter()))

    with tempfile.TemporaryDirectory(prefix="eliq-bench-") as out:
        summary = generate_demo_data(
            out, homes=homes, days=days, seed=seed, write_truth=write_truth, progress=progress
        )
        finished = time.perf_counter()
        size = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file())
    stages = {"import": imported - started}
    bounds = [("homes sampled", imported), *marks, ("end", finished)]
    for (name, t0), (_, t1) in itertools.pairwise(bounds):
        stages[name] = t1 - t0
    return {
        "homes": homes,
        "days": days,
        "seed": seed,
        "write_truth": write_truth,
        "total_s": round(finished - started, 2),
        "generate_s": round(finished - imported, 2),
        "stages_s": {k: round(v, 2) for k, v in stages.items()},
        "bytes_written": size,
        "rows_per_source": summary.rows_per_source,
        "homes_per_resolution": summary.homes_per_resolution,
        "n_faults": summary.n_faults,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "target_s": TARGET_S,
    }


def print_table(result: dict[str, Any]) -> None:
    print(f"Sample data: {result['homes']} homes × {result['days']} days (truth: {result['write_truth']})")
    print(f"{'stage':<45}{'seconds':>10}")  # homes: batches of 50 homes, simulated and written
    for stage, seconds in result["stages_s"].items():
        print(f"{stage:<45}{seconds:>10.2f}")
    print(f"{'total (import + generate)':<45}{result['total_s']:>10.2f}   target < {TARGET_S:.0f} s")
    print(f"{'written':<45}{result['bytes_written'] / 1e6:>10.1f} MB")
    rows = sum(v for k, v in result["rows_per_source"].items() if k.startswith("readings/"))
    print(f"{'readings rows':<45}{rows:>10,}")
    print(f"{'faults injected':<45}{result['n_faults']:>10,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--homes", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-truth", action="store_true", help="skip _truth/ (fault log and clean tables)")
    args = parser.parse_args()
    result = run(args.homes, args.days, args.seed, not args.no_truth)
    print_table(result)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
