"""Benchmark of the drift report at fleet size (issue 6: 1 M rows × 50 features in under 2 minutes on 2 cores).

Run with ``python -m benchmarks.bench_monitoring [--rows 1000000] [--features 50] [--baseline-timeout 900]``.
Two synthetic windows (reference and current) of ``--rows`` rows each: 1,000 homes in 4 heating types × PV yes/no
× 5 price areas, ``--features`` features (80 % numerical, 20 % small integers, which are categorical), three of
them shifted in the current window (one only for the PV homes). Measured in one run:

- **eliq**: what :func:`monitoring.steps.monitor_forecast` does with the frames once read: the seeded stratified
  samples of both windows (:mod:`monitoring.sampling`), Evidently's ``DataDriftPreset`` on the all-homes samples,
  the per-cohort drift on the per-cohort samples (:func:`monitoring.drift.analyse_drift`) and the HTML report;
- **baseline**: Evidently's ``DataDriftPreset`` with the same methods and thresholds on the full windows, in a
  fresh process stopped after ``--baseline-timeout`` seconds (then the figure is a lower bound; the table says
  so). ``--baseline-rows`` runs it on fewer rows instead;
- **exact scores**: the drift score of every feature on all rows, by the same Evidently stat tests without a
  report, so that the sampled scores can be compared with the exact ones (largest difference, same verdicts).

Evidently's import (about 8 s, once per process) is timed apart. Printed as a table, written to
``benchmarks/results/monitoring.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

RESULTS = Path(__file__).parent / "results" / "monitoring.json"
HOMES = 1_000
HEATING = ("heat_pump", "direct_electric", "district_heating", "gas")
REGIONS = ("SE1", "SE2", "SE3", "SE4", "FI")
COHORTS = ("heating", "pv", "region")


def synthetic_window(rows: int, features: int, seed: int, shifted: bool) -> pd.DataFrame:
    """One window: ``rows`` rows of ``HOMES`` homes, the cohort columns and ``features`` features.

    In the shifted (current) window ``f000`` moves by 0.5 standard deviations, ``f001`` is scaled by 1.5, and
    ``f002`` moves by one standard deviation for the PV homes only; every other feature is unchanged.
    """
    rng = np.random.default_rng(seed)
    home = rng.integers(0, HOMES, rows)
    homes = np.random.default_rng(0)  # the same fleet in both windows
    heating = homes.choice(len(HEATING), HOMES, p=[0.4, 0.3, 0.2, 0.1])[home]
    pv = (homes.random(HOMES) < 0.15)[home]
    region = homes.choice(len(REGIONS), HOMES)[home]
    frame = pd.DataFrame(
        {
            "home_id": home,
            "heating": np.asarray(HEATING)[heating],
            "pv": np.where(pv, "yes", "no"),
            "region": np.asarray(REGIONS)[region],
        }
    )
    n_numerical = round(features * 0.8)
    for i in range(features):
        name = f"f{i:03d}"
        if i < n_numerical:
            values = rng.normal(heating * 0.3, 1.0, rows)
            if shifted and i == 0:
                values = values + 0.5
            if shifted and i == 1:
                values = values * 1.5
            if shifted and i == 2:
                values = values + np.where(pv, 1.0, 0.0)
            frame[name] = values
        else:
            frame[name] = rng.integers(0, 6, rows)
    return frame


def feature_names(features: int) -> list[str]:
    return [f"f{i:03d}" for i in range(features)]


def run_eliq(
    reference: pd.DataFrame, current: pd.DataFrame, args: argparse.Namespace, out: Path
) -> dict[str, Any]:
    """The sampled report, timed by phase."""
    from contracts.monitoring_settings import MonitoringSettings
    from monitoring.drift import analyse_drift
    from monitoring.sampling import plan_sample, take_sample

    settings = MonitoringSettings(
        sample_rows=args.sample_rows, cohort_sample_rows=args.cohort_rows, drift={"ignore_features": ()}
    )
    started = time.perf_counter()
    samples = [
        take_sample(
            frame, plan_sample(frame[list(COHORTS)], settings.sample_rows, settings.cohort_sample_rows, seed)
        )
        for seed, frame in enumerate((reference, current))
    ]
    sample_s = time.perf_counter() - started
    result = analyse_drift(
        samples[0],
        samples[1],
        feature_names(args.features),
        settings,
        timestamp=datetime(2025, 3, 1),
        metadata={},
    )
    drift_s = time.perf_counter() - started - sample_s
    result.snapshot.save_html(str(out / "drift.html"))
    total_s = time.perf_counter() - started
    return {
        "sample_s": round(sample_s, 2),
        "report_and_cohorts_s": round(drift_s, 2),
        "html_s": round(total_s - sample_s - drift_s, 2),
        "total_s": round(total_s, 2),
        "drifted": sorted(result.features.loc[result.features["drifted"], "feature"]),
        "scores": dict(zip(result.features["feature"], result.features["score"].astype(float), strict=True)),
        "cohorts_drifted": sorted(
            f"{r.cohort}={r.value}:{r.feature}"
            for r in result.cohorts[result.cohorts["drifted"]].itertuples()
        ),
        "sampled_rows_per_window": len(samples[0].overall),
    }


def exact_scores(
    reference: pd.DataFrame, current: pd.DataFrame, features: int
) -> tuple[dict[str, float], float]:
    """Every feature's drift score on all rows, by Evidently's stat tests (no report), and the seconds spent."""
    from contracts.monitoring_settings import DriftSettings
    from monitoring.evidently_reports import cohort_drift_table, column_kinds

    started = time.perf_counter()
    names = feature_names(features)
    kinds = column_kinds(reference, current, names, DriftSettings().max_categories)
    table = cohort_drift_table(
        reference.assign(all="all"), current.assign(all="all"), kinds, DriftSettings(), "all", ["all"]
    )
    return dict(
        zip(table["feature"], table["score"].astype(float), strict=True)
    ), time.perf_counter() - started


def baseline_worker(args: argparse.Namespace) -> None:
    """(In a fresh process.) Evidently's preset on the full windows; prints the seconds as JSON."""
    import evidently  # noqa: F401  (imported before the clock starts, as in the eliq run)

    from contracts.monitoring_settings import DriftSettings
    from monitoring.evidently_reports import column_kinds, drift_snapshot

    reference = synthetic_window(args.baseline_rows, args.features, 1, shifted=False)
    current = synthetic_window(args.baseline_rows, args.features, 2, shifted=True)
    started = time.perf_counter()
    names = feature_names(args.features)
    kinds = column_kinds(reference, current, names, DriftSettings().max_categories)
    snapshot, table = drift_snapshot(
        reference, current, kinds, DriftSettings(), timestamp=datetime(2025, 3, 1), metadata={}
    )
    with tempfile.TemporaryDirectory() as tmp:
        snapshot.save_html(str(Path(tmp) / "drift.html"))
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "drifted": sorted(table.loc[table["drifted"], "feature"])}))


def run_baseline(args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "benchmarks.bench_monitoring",
        "--baseline-worker",
        "--features",
        str(args.features),
        "--baseline-rows",
        str(args.baseline_rows),
    ]
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=args.baseline_timeout, check=True
        )
    except subprocess.TimeoutExpired:
        return {
            "rows": args.baseline_rows,
            "timed_out": True,
            "seconds": round(time.perf_counter() - started, 1),
        }
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "rows": args.baseline_rows,
        "timed_out": False,
        "seconds": round(answer["seconds"], 1),
        "drifted": answer["drifted"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per window")
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--sample-rows", type=int, default=50_000, help="monitoring.sample_rows")
    parser.add_argument("--cohort-rows", type=int, default=5_000, help="monitoring.cohort_sample_rows")
    parser.add_argument("--baseline-rows", type=int, default=None, help="rows per window of the baseline")
    parser.add_argument("--baseline-timeout", type=float, default=900.0, help="[s]")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--baseline-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.baseline_rows = args.baseline_rows or args.rows
    if args.baseline_worker:
        baseline_worker(args)
        return
    started = time.perf_counter()
    import evidently  # noqa: F401

    import_s = time.perf_counter() - started
    reference = synthetic_window(args.rows, args.features, 1, shifted=False)
    current = synthetic_window(args.rows, args.features, 2, shifted=True)
    with tempfile.TemporaryDirectory(prefix="eliq-bench-monitoring-") as tmp:
        eliq = run_eliq(reference, current, args, Path(tmp))
    exact, exact_s = exact_scores(reference, current, args.features)
    del reference, current
    baseline = None if args.skip_baseline else run_baseline(args)
    differences = [abs(eliq["scores"][f] - exact[f]) for f in exact]
    drifted_exact = sorted(f for f, s in exact.items() if s >= 0.1)
    result = {
        "rows_per_window": args.rows,
        "features": args.features,
        "sample_rows": args.sample_rows,
        "cohort_rows": args.cohort_rows,
        "evidently_import_s": round(import_s, 1),
        "eliq": {k: v for k, v in eliq.items() if k != "scores"},
        "baseline": baseline,
        "exact_scores_s": round(exact_s, 1),
        "max_score_difference": round(max(differences), 4),
        "drifted_exact": drifted_exact,
        "same_verdicts_as_exact": eliq["drifted"] == drifted_exact,
        "peak_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    _print(result)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(f"written to {RESULTS}")


def _print(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    eliq, baseline = result["eliq"], result["baseline"]
    title = f"drift report, {result['rows_per_window']:,} rows × {result['features']} features per window (target < 120 s)"
    table = Table(title=title)
    for column in ("run", "rows per window", "seconds", "drifted features"):
        table.add_column(column, justify="right")
    table.add_row(
        f"eliq (sampled; sample {eliq['sample_s']} s, report + cohorts {eliq['report_and_cohorts_s']} s)",
        f"{eliq['sampled_rows_per_window']:,} of {result['rows_per_window']:,}",
        f"{eliq['total_s']:.1f}",
        ", ".join(eliq["drifted"]),
    )
    if baseline is not None:
        seconds = (
            f"> {baseline['seconds']:.0f} (stopped)"
            if baseline["timed_out"]
            else f"{baseline['seconds']:.1f}"
        )
        table.add_row(
            "Evidently preset, all rows",
            f"{baseline['rows']:,}",
            seconds,
            ", ".join(baseline.get("drifted", [])),
        )
    table.add_row(
        "exact scores (stat tests, no report)",
        f"{result['rows_per_window']:,}",
        f"{result['exact_scores_s']:.1f}",
        ", ".join(result["drifted_exact"]),
    )
    Console().print(table)
    Console().print(
        f"largest |sampled − exact| score: {result['max_score_difference']}; same verdicts: "
        f"{result['same_verdicts_as_exact']}; cohort drift found: {', '.join(eliq['cohorts_drifted'][:6])}; "
        f"Evidently import {result['evidently_import_s']} s (not counted); peak {result['peak_gib']} GiB"
    )


if __name__ == "__main__":
    main()
