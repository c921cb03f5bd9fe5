"""Benchmark of ``eliq prep run`` on 1,000 homes × 1 year of hourly readings, against a bare pyarrow baseline.

Run with ``python -m benchmarks.bench_prep [--homes N] [--days D] [--scaling]``. Each measurement runs in a fresh
subprocess so that its peak memory (resident, with its workers) is its own. Printed as a table, written to
``benchmarks/results/prep.json``.

Measured in the same run:
    - **baseline**: pyarrow ``read_csv`` + ``write_table`` of the same reading files to Parquet (no validation);
    - **prep**: ``run_prep`` end to end with the default configuration (no fault-log scoring), with the wall time of
      each stage it reports progress for (copy, parse, buckets, report), each measured from the end of the one before.

Targets (issue 2): prep under 60 s on 2 cores, under 4 GiB peak memory, at most 4× the baseline.
``--scaling`` also runs 10,000 homes over fewer days with ten times the buckets, to show that peak memory follows
the bucket size, not the number of homes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "prep.json"

_BASELINE = """
import glob, sys, time, pyarrow.csv as c, pyarrow.parquet as pq
files = sorted(glob.glob(sys.argv[1] + '/readings/**/*.csv', recursive=True))
skip = c.ParseOptions(invalid_row_handler=lambda row: 'skip')  # the sample data has malformed lines
t = time.perf_counter()
for i, f in enumerate(files):
    pq.write_table(c.read_csv(f, parse_options=skip), f'{sys.argv[2]}/part-{i}.parquet')
print(time.perf_counter() - t)
"""

_PREP = """
import json, sys, time
from contracts.config import load_settings
from data_prep.run import run_prep
settings = load_settings(storage={'root': sys.argv[2]}, prep={'n_buckets': int(sys.argv[3]), 'workers': int(sys.argv[4])})
last = {}  # stage -> when it last reported progress
def progress(stage, done, total):
    last[stage] = time.perf_counter()
t = time.perf_counter()
result = run_prep(sys.argv[1], settings, progress=progress)
ends = sorted(last.items(), key=lambda item: item[1])
stages = {s: round(end - start, 2) for (s, end), start in zip(ends, [t] + [e for _, e in ends])}
print(time.perf_counter() - t, result.rows_in, result.rows_processed, result.rows_quarantined, json.dumps(stages))
"""


def _measure(code: str, *args: str) -> tuple[list[str], float]:
    """Run ``code`` in a fresh interpreter; return its printed fields and its peak memory [GiB].

    The peak is the largest sum of resident memory over the interpreter and every process it started (its workers
    are children of a fork server, so ``RUSAGE_CHILDREN`` would not see them), sampled every 20 ms. Pages that
    forked workers share are counted once per process, so the figure errs high.
    """
    import psutil

    process = psutil.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak = 0
    while process.poll() is None:
        try:
            tree = [process, *process.children(recursive=True)]
            peak = max(peak, sum(_rss(p) for p in tree))
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.02)
    stdout, stderr = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(stderr[-3000:])
    return stdout.split(), peak / 2**30


def _rss(process: Any) -> int:
    import psutil

    try:
        return int(process.memory_info().rss)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0


def bench(homes: int, days: int, buckets: int, workdir: Path, workers: int = 2) -> dict[str, Any]:
    from data_prep.sample_data import generate_demo_data

    data = workdir / f"input-{homes}"
    started = time.perf_counter()
    generate_demo_data(
        str(data), homes=homes, days=days, seed=11, resolution_mix={"hourly": 1.0}, write_truth=False
    )
    generated = time.perf_counter() - started
    parquet_dir = workdir / f"baseline-{homes}"
    parquet_dir.mkdir(parents=True)
    (baseline_s,), baseline_gib = _measure(_BASELINE, str(data), str(parquet_dir))
    lake = str(workdir / f"lake-{homes}")
    fields, prep_gib = _measure(_PREP, str(data), lake, str(buckets), str(workers))
    prep_s, rows_in, rows_processed, rows_quarantined = fields[:4]
    return {
        "homes": homes,
        "days": days,
        "n_buckets": buckets,
        "workers": workers,
        "rows_in": int(rows_in),
        "rows_processed": int(rows_processed),
        "rows_quarantined": int(rows_quarantined),
        "generate_s": round(generated, 1),
        "baseline_s": round(float(baseline_s), 2),
        "baseline_peak_gib": round(baseline_gib, 2),
        "prep_s": round(float(prep_s), 2),
        "prep_peak_gib": round(prep_gib, 2),
        "ratio_to_baseline": round(float(prep_s) / float(baseline_s), 1),
        "stages_s": json.loads(" ".join(fields[4:])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--homes", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--buckets", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scaling", action="store_true", help="also run 10× the homes over 30 days")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(prefix="eliq-bench-prep-") as tmp:
        runs.append(bench(args.homes, args.days, args.buckets, Path(tmp), args.workers))
        if args.scaling:
            runs.append(bench(args.homes, 30, args.buckets, Path(tmp) / "small", args.workers))
            runs.append(bench(args.homes * 10, 30, args.buckets * 10, Path(tmp) / "large", args.workers))
    _print(runs)
    RESULTS.parent.mkdir(exist_ok=True)
    meta = {"cpu_count": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version()}
    RESULTS.write_text(json.dumps({"runs": runs, **meta}, indent=2))
    print(f"written to {RESULTS}")


def _print(runs: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="eliq prep run: benchmark (targets: < 60 s, < 4 GiB, ≤ 4× baseline)")
    for column in (
        "homes",
        "days",
        "buckets",
        "workers",
        "rows in",
        "baseline [s]",
        "prep [s]",
        "ratio",
        "peak [GiB]",
    ):
        table.add_column(column, justify="right")
    for r in runs:
        table.add_row(
            f"{r['homes']:,}",
            str(r["days"]),
            str(r["n_buckets"]),
            str(r["workers"]),
            f"{r['rows_in']:,}",
            f"{r['baseline_s']:.2f}",
            f"{r['prep_s']:.1f}",
            f"{r['ratio_to_baseline']:.1f}×",
            f"{r['prep_peak_gib']:.2f}",
        )
    console = Console(width=140)
    console.print(table)
    for (
        r
    ) in runs:  # each stage from the end of the one before; parsing overlaps copying, so "copy" holds both
        stages = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in r["stages_s"].items())
        console.print(f"{r['homes']:,} homes × {r['days']} days, wall time by stage: {stages}")


if __name__ == "__main__":
    main()
