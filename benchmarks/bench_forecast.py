"""Benchmark of the consumption forecast: training plus a rolling-origin backtest on N homes × 1 year, hourly.

Run with ``python -m benchmarks.bench_forecast [--homes N] [--days D] [--lake PATH]``. The sample data is generated
and prepared (``eliq prep run``) first, unless ``--lake`` names a prepared lake; the forecasting then runs in a fresh
subprocess so that its time and peak memory (max RSS) are its own. Printed as tables, written to
``benchmarks/results/forecast.json`` (one entry per size: a run replaces the earlier run of the same size).

Measured in the same run, on the same origins and rows:
    - **global_lightgbm**: the global model (P50 + conformal intervals), hourly and daily;
    - **seasonal_naive**: the same hour (day) last week; **persistence_ensemble**: the mean of the same hour over
      the last 7 days (the mean of the last 7 days).
    Origins: every ``--step-days`` over the last ``--backtest-days`` of data, issued at 10:00 local; the headline is
    hourly NRMSE on the next local day (the 24-h day-ahead horizon, leads 15–38 h).
    - **missing weather**: the global model again with the weather of a seeded share of homes removed, scored on
      those homes against the run with weather (the accuracy a home without weather loses).
    - **cold start**: the global model's forecasts for the same rows with every recent-consumption feature masked.

Targets (issue 4): training + backtest for 1,000 homes × 1 year under 10 minutes on 2 cores and 8 GiB; the global
model beats both baselines on NRMSE at 24 h by at least 15 %; P10–P90 coverage 80 % ± 5 points.
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

RESULTS = Path(__file__).parent / "results" / "forecast.json"
FORECASTERS = ("global_lightgbm", "seasonal_naive", "persistence_ensemble")
HEADLINE_GROUP = "day+1"

_CHILD = """
import json, resource, sys
from benchmarks.bench_forecast import run_forecast
result = run_forecast(sys.argv[1], **json.loads(sys.argv[2]))
result["peak_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(json.dumps(result))
"""


def prepare_lake(homes: int, days: int, workdir: Path, workers: int) -> tuple[str, float]:
    """Generate hourly sample data and prepare it; returns the lake root and the seconds spent."""
    from contracts.config import load_settings
    from data_prep.run import run_prep
    from data_prep.sample_data import generate_demo_data

    started = time.perf_counter()
    data = workdir / "input"
    generate_demo_data(
        str(data), homes=homes, days=days, seed=11, resolution_mix={"hourly": 1.0}, write_truth=False
    )
    lake = str(workdir / "lake")
    settings = load_settings(storage={"root": lake}, prep={"n_buckets": 16, "workers": workers})
    run_prep(str(data), settings)
    return lake, time.perf_counter() - started


def run_forecast(
    lake_root: str,
    backtest_days: int,
    step_days: int,
    max_train_rows: int,
    n_estimators: int,
    no_weather_share: float,
    prophet_homes: int = 10,
    prophet_refit_days: int = 7,
) -> dict[str, Any]:
    """Training + backtests on a prepared lake; returns timings and accuracy tables (called in the subprocess)."""
    import numpy as np

    from contracts.storage import Lake
    from training.forecast.backtest import BacktestPlan, run_backtest
    from training.forecast.fitting import TrainingWindows, panel_dates
    from training.forecast.forecast_sets import DailyResolution, HourlyResolution
    from training.forecast.frames import HourlyPanel, load_homes, load_hourly_frame

    started = time.perf_counter()
    lake = Lake(lake_root)
    panel = HourlyPanel.from_frames(load_hourly_frame(lake), load_homes(lake))
    load_s = time.perf_counter() - started
    _, last = panel_dates(panel)
    plan = BacktestPlan(
        start_date=last - backtest_days,
        end_date=last - 2,
        step_days=step_days,
        windows=TrainingWindows(max_train_rows=max_train_rows),
    )
    params = {"n_estimators": n_estimators}
    hourly = run_backtest(panel, HourlyResolution(), _factories("hourly", params), plan)
    daily_plan = BacktestPlan(
        plan.start_date, plan.end_date, step_days, windows=TrainingWindows(calibration_days=35)
    )
    daily = run_backtest(panel, DailyResolution(days=31), _factories("daily", params), daily_plan)
    core_s = time.perf_counter() - started
    result: dict[str, Any] = {
        "homes": panel.n_homes,
        "hours": int(np.isfinite(panel.values["kwh"]).sum()),
        "load_s": round(load_s, 1),
        "train_and_backtest_s": round(core_s, 1),
        "fit_s": {k: round(v, 1) for k, v in hourly.fit_seconds.items()},
        "daily_fit_s": {k: round(v, 1) for k, v in daily.fit_seconds.items()},
        "predict_s": {k: round(v, 1) for k, v in hourly.predict_seconds.items()},
        "feature_s": round(hourly.feature_seconds + daily.feature_seconds, 1),
        "test_rows_hourly": int(len(hourly.forecasts) // len(FORECASTERS)),
        **_accuracy(panel, hourly.forecasts, daily.forecasts),
    }
    result["cold_start"] = _cold_start(panel, hourly, plan)
    if prophet_homes > 0:
        result["prophet"] = _prophet(panel, plan, hourly.forecasts, prophet_homes, prophet_refit_days)
    if no_weather_share > 0:
        result["missing_weather"] = _missing_weather(panel, plan, params, hourly.forecasts, no_weather_share)
    return result


def _factories(resolution: str, params: dict[str, Any]) -> dict[str, Any]:
    from training.forecast.registry import make_forecaster

    return {
        name: (
            lambda name=name: make_forecaster(
                name, resolution, **(params if name == "global_lightgbm" else {})
            )
        )
        for name in FORECASTERS
    }


def _accuracy(panel: Any, hourly: Any, daily: Any) -> dict[str, Any]:
    from training.forecast import metrics
    from training.forecast.home_attributes import home_segments

    hourly = metrics.with_segments(hourly, home_segments(panel.homes))
    headline = hourly[hourly["group"] == HEADLINE_GROUP]
    table = metrics.metric_table(headline).set_index("forecaster")
    per_home = metrics.per_home_nrmse(headline)
    nrmse = table["nrmse"].astype(float)
    return {
        "headline": _records(table.reset_index()),
        "improvement": {b: round(1 - nrmse["global_lightgbm"] / nrmse[b], 4) for b in FORECASTERS[1:]},
        "per_home_nrmse": {
            name: {f"p{q}": round(float(per_home[name].quantile(q / 100)), 4) for q in (10, 25, 50, 75, 90)}
            for name in FORECASTERS
        },
        "share_of_homes_improved": {
            b: round(float((per_home["global_lightgbm"] < per_home[b]).mean()), 4) for b in FORECASTERS[1:]
        },
        "hourly_by_lead_day": _records(metrics.metric_table(hourly, by=["group"])),
        "hourly_by_segment": {
            seg: _records(metrics.metric_table(headline, by=[seg])) for seg in ("heating", "pv", "ev")
        },
        "daily_by_lead_week": _records(metrics.metric_table(daily, by=["group"])),
        "daily_all": _records(metrics.metric_table(daily)),
    }


def _prophet(panel: Any, plan: Any, hourly: Any, n_homes: int, refit_days: int) -> dict[str, Any]:
    """Prophet per home (with the temperature regressor) on a seeded sample, scored against the others on the
    same homes and rows at the headline horizon."""
    import time

    import pandas as pd

    from training.forecast import metrics
    from training.forecast.prophet_baseline import run_prophet_backtest, sample_homes

    homes = sample_homes(panel, n_homes, seed=0)
    started = time.perf_counter()
    result = run_prophet_backtest(panel, plan, homes=homes, refit_every_days=refit_days)
    seconds = time.perf_counter() - started
    ids = set(panel.home_ids[homes])
    frame = hourly[hourly["home_id"].isin(ids)]
    frame = frame[frame["group"] == HEADLINE_GROUP]
    rows = result.forecasts[result.forecasts["group"] == HEADLINE_GROUP]
    table = metrics.metric_table(pd.concat([frame, rows], ignore_index=True)).set_index("forecaster")
    nrmse = table["nrmse"].astype(float)
    return {
        "homes": len(ids),
        "refit_every_days": refit_days,
        "seconds": round(seconds, 1),
        "nrmse": {k: round(float(v), 4) for k, v in nrmse.items()},
        "coverage": {k: round(float(v), 4) for k, v in table["coverage"].items()},
        "improvement_vs_prophet": round(1 - float(nrmse["global_lightgbm"] / nrmse["prophet"]), 4),
    }


def _cold_start(panel: Any, hourly: Any, plan: Any) -> dict[str, Any]:
    """The global model's next-day NRMSE and coverage on a weekly sample of origins, with and without history."""
    import numpy as np

    from training.forecast import metrics
    from training.forecast.cold_start import mask_recent
    from training.forecast.forecast_sets import HourlyResolution, build_set
    from training.forecast.origins import origin_grid

    resolution = HourlyResolution()
    home, issue_date = origin_grid(np.arange(panel.n_homes), plan.origins()[::7])
    data = build_set(resolution, panel, resolution.rows(panel, home, issue_date))
    day1 = (data.groups == HEADLINE_GROUP) & ~np.isnan(data.y)
    model = hourly.models["global_lightgbm"]
    out = {}
    for label, cold in (
        ("with_history", np.zeros(len(data), bool)),
        ("cold_start", np.ones(len(data), bool)),
    ):
        X = mask_recent(data.X) if cold.any() else data.X
        frame = model.predict_quantiles(X, data.groups, cold)
        frame["actual"], frame["ts"] = data.y, resolution.ids(panel, data.rows)["ts"].to_numpy()
        scored = metrics.score(frame[day1])
        out[label] = {"nrmse": round(scored["nrmse"], 4), "coverage": round(scored["coverage"], 4)}
    return out


def _missing_weather(
    panel: Any, plan: Any, params: dict[str, Any], with_weather: Any, share: float
) -> dict[str, Any]:
    """Refit and backtest the global model with the weather of a share of homes removed; score those homes."""
    import numpy as np

    from training.forecast import metrics
    from training.forecast.backtest import run_backtest
    from training.forecast.forecast_sets import HourlyResolution

    rng = np.random.default_rng(5)
    dropped = rng.random(panel.n_homes) < share
    without = panel
    for name in ("temp_c", "ghi_w_m2"):
        values = panel.values[name].copy()
        values[dropped] = np.nan
        without = without.with_values(name, values)
    factories = {"global_lightgbm": _factories("hourly", params)["global_lightgbm"]}
    result = run_backtest(without, HourlyResolution(), factories, plan).forecasts
    homes = set(panel.home_ids[dropped])
    scored = {}
    for label, frame in (("with_weather", with_weather), ("without_weather", result)):
        rows = frame[(frame["forecaster"] == "global_lightgbm") & frame["home_id"].isin(homes)]
        rows = rows[rows["group"] == HEADLINE_GROUP]
        scored[label] = metrics.score(rows.dropna(subset=["actual"]))["nrmse"]
    return {"homes": len(homes), **{k: round(v, 4) for k, v in scored.items()}}


def _records(table: Any) -> list[dict[str, Any]]:
    return [
        {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
        for row in table.to_dict("records")
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--homes", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--lake", help="a prepared lake to use instead of generating one")
    parser.add_argument("--backtest-days", type=int, default=28)
    parser.add_argument("--step-days", type=int, default=1)
    parser.add_argument("--max-train-rows", type=int, default=2_000_000)
    parser.add_argument("--n-estimators", type=int, default=300)
    parser.add_argument("--no-weather-share", type=float, default=0.2)
    parser.add_argument("--prep-workers", type=int, default=2)
    parser.add_argument(
        "--prophet-homes", type=int, default=10, help="Prophet's sample of homes (0 skips it)"
    )
    parser.add_argument("--prophet-refit-days", type=int, default=7)
    args = parser.parse_args()
    options = {
        "backtest_days": args.backtest_days,
        "step_days": args.step_days,
        "max_train_rows": args.max_train_rows,
        "n_estimators": args.n_estimators,
        "no_weather_share": args.no_weather_share,
        "prophet_homes": args.prophet_homes,
        "prophet_refit_days": args.prophet_refit_days,
    }
    with tempfile.TemporaryDirectory(prefix="eliq-bench-forecast-") as tmp:
        lake, prep_s = (
            (args.lake, 0.0)
            if args.lake
            else prepare_lake(args.homes, args.days, Path(tmp), args.prep_workers)
        )
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, lake, json.dumps(options)],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(days=args.days, data_prep_s=round(prep_s, 1), options=options)
    _print(result)
    _save(result)


def _save(result: dict[str, Any]) -> None:
    """Write ``result`` to the results file, replacing an earlier run of the same size and keeping the others."""
    runs = json.loads(RESULTS.read_text()).get("runs", []) if RESULTS.exists() else []
    runs = [r for r in runs if (r["homes"], r["days"]) != (result["homes"], result["days"])]
    runs = sorted([*runs, result], key=lambda r: (r["homes"], r["days"]))
    meta = {"cpu_count": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version()}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"runs": runs, **meta}, indent=2))
    print(f"written to {RESULTS}")


def _print(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    run = Table(title="forecast benchmark: training + backtest (targets: < 600 s, < 8 GiB on 2 cores)")
    for column in ("homes", "hours", "train + backtest [s]", "peak [GiB]", "test rows (hourly)"):
        run.add_column(column, justify="right")
    run.add_row(
        f"{result['homes']:,}",
        f"{result['hours']:,}",
        f"{result['train_and_backtest_s']:.0f}",
        f"{result['peak_gib']:.2f}",
        f"{result['test_rows_hourly']:,}",
    )
    console.print(run)
    accuracy = Table(
        title=f"hourly, next local day ({HEADLINE_GROUP}): target ≥ 15 % better NRMSE, coverage 80 ± 5 %"
    )
    for column in (
        "forecaster",
        "NRMSE",
        "MAE [kWh]",
        "MASE",
        "pinball",
        "P10–P90 coverage",
        "portfolio MAPE [%]",
    ):
        accuracy.add_column(column, justify="right")
    for row in result["headline"]:
        accuracy.add_row(
            row["forecaster"],
            f"{row['nrmse']:.3f}",
            f"{row['mae']:.3f}",
            f"{row['mase']:.3f}",
            f"{row['pinball']:.4f}",
            f"{100 * row['coverage']:.1f} %",
            f"{row['portfolio_mape']:.1f}",
        )
    console.print(accuracy)
    improvement = ", ".join(f"vs {k}: {100 * v:.1f} %" for k, v in result["improvement"].items())
    console.print(f"global model NRMSE improvement {improvement}")
    homes = Table(title="per-home NRMSE (next local day)")
    for column in ("forecaster", "p10", "p25", "median", "p75", "p90"):
        homes.add_column(column, justify="right")
    for name, q in result["per_home_nrmse"].items():
        homes.add_row(name, *(f"{q[k]:.3f}" for k in ("p10", "p25", "p50", "p75", "p90")))
    console.print(homes)
    console.print(f"cold start (all recent consumption masked): {result['cold_start']}")
    daily = {r["forecaster"]: r["nrmse"] for r in result["daily_all"]}
    console.print(f"daily, next 31 days, NRMSE: {daily}")
    if "missing_weather" in result:
        console.print(f"missing weather: {result['missing_weather']}")
    if "prophet" in result:
        console.print(f"Prophet on a sample of homes (same rows, next local day): {result['prophet']}")


if __name__ == "__main__":
    main()
