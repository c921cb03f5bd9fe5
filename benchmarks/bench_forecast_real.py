"""Benchmark of the consumption forecast on a real home: the HUE household, every forecaster and Prophet per home.

Run with ``python -m benchmarks.bench_forecast_real [--backtest-days D] [--synthetic]``. The HUE file is read in
place from ``../shared/real-data/hue_bc_residential_1`` (never copied into the repository; the benchmark says so
and stops when it is absent), prepared by ``eliq prep run`` with ``docs/source-specs/hue_residential.yaml`` into a
temporary lake, loaded as an :class:`~training.forecast.frames.HourlyPanel`, and backtested hourly.

Measured in one backtest, on the same origins and rows (:func:`~training.forecast.metrics.common_rows`):
    - **global_lightgbm**, **seasonal_naive**, **persistence_ensemble** (``run_backtest``);
    - **prophet**: one Prophet model per home (daily + weekly seasonality, temperature regressor when the home has
      weather) fitted on the last ``--prophet-train-days`` before each of its fits (``run_prophet_backtest``).
    Origins: every ``--step-days`` over the last ``--backtest-days`` of data, issued at 10:00 local. The global
    model and the baselines are fitted once before the first origin (``--refit-days`` to refit): they read recent
    consumption through lag features at each issue. Prophet has no lags and sees recent consumption only by
    refitting, so it is refitted every ``--prophet-refit-days`` (1: before every origin, its fairest setting).
    The headline is hourly on the next local day (``day+1``).

The HUE home has no profile in the data: its time zone comes from the source spec and its country from
``--country``. The shared folder holds no weather for it, so every forecaster runs without weather there (Prophet
without its regressor); the printout says so. With ``--synthetic`` the same comparison also runs on generated
homes (with weather), Prophet on a sample of them. Printed as tables, written to
``benchmarks/results/forecast_real.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
HUE = REPO.parent / "shared" / "real-data" / "hue_bc_residential_1"
HUE_SPEC = REPO / "docs" / "source-specs" / "hue_residential.yaml"
RESULTS = Path(__file__).parent / "results" / "forecast_real.json"
FORECASTERS = ("global_lightgbm", "seasonal_naive", "persistence_ensemble")
PROPHET = "prophet"
HEADLINE_GROUP = "day+1"


def prepared_panel(data: Path, spec_path: Path, workdir: Path, country: str) -> tuple[Any, dict[str, Any]]:
    """Prepare ``data`` with its source spec into a lake under ``workdir``; the hourly panel and what it holds."""
    from contracts.config import load_settings
    from contracts.storage import Lake
    from data_prep.ingest.source_spec import load_spec
    from data_prep.run import run_prep
    from training.forecast.frames import HourlyPanel, load_homes, load_hourly_frame

    started = time.perf_counter()
    spec = load_spec(spec_path)
    lake_root = str(workdir / "lake")
    settings = load_settings(storage={"root": lake_root}, prep={"n_buckets": 2, "workers": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pandas downcasting notices inside the prep
        run_prep(str(data), settings, spec=spec)
    lake = Lake(lake_root)
    hourly = load_hourly_frame(lake)
    homes = _with_clock(load_homes(lake), hourly, spec.timezone or "UTC", country)
    panel = HourlyPanel.from_frames(hourly, homes)
    info = {
        "homes": panel.n_homes,
        "first_ts": str(hourly["ts"].min()),
        "last_ts": str(hourly["ts"].max()),
        "hours": int(hourly["kwh"].notna().sum()),
        "weather_share": round(float(hourly["temp_c"].notna().mean()), 4),
        "timezone": str(homes["timezone"].iloc[0]),
        "country": str(homes["country"].iloc[0]),
        "prep_s": round(time.perf_counter() - started, 1),
    }
    return panel, info


def _with_clock(homes: Any, hourly: Any, timezone: str, country: str) -> Any:
    """The curated home attributes, with a row (time zone and country only) for homes that have no profile."""
    import pandas as pd

    known = set(homes["home_id"]) if "home_id" in homes.columns else set()
    missing = sorted(set(hourly["home_id"]) - known)
    added = pd.DataFrame({"home_id": missing, "timezone": timezone, "country": country})
    out = pd.concat([homes, added], ignore_index=True) if len(homes) else added
    for column, default in (("timezone", timezone), ("country", country)):
        out[column] = out[column].fillna(default) if column in out.columns else default
    return out


def compare(
    panel: Any,
    backtest_days: int,
    step_days: int,
    refit_days: int | None,
    prophet_refit_days: int,
    n_estimators: int,
    prophet_homes: int,
    prophet_train_days: int,
) -> dict[str, Any]:
    """The hourly backtest of every forecaster plus Prophet on the last ``backtest_days``; timings and tables."""
    import pandas as pd

    from training.forecast.backtest import BacktestPlan, run_backtest
    from training.forecast.fitting import panel_dates
    from training.forecast.forecast_sets import HourlyResolution
    from training.forecast.prophet_baseline import run_prophet_backtest, sample_homes

    _, last = panel_dates(panel)
    plan = BacktestPlan(last - backtest_days, last - 2, step_days, refit_every_days=refit_days)
    resolution = HourlyResolution()
    started = time.perf_counter()
    backtest = run_backtest(panel, resolution, _factories(n_estimators), plan)
    backtest_s = time.perf_counter() - started
    homes = sample_homes(panel, prophet_homes, seed=0)
    started = time.perf_counter()
    prophet = run_prophet_backtest(
        panel, plan, resolution, homes, prophet_train_days, refit_every_days=prophet_refit_days
    )
    prophet_s = time.perf_counter() - started
    forecasts = pd.concat([backtest.forecasts, prophet.forecasts], ignore_index=True)
    return {
        "plan": {
            "first_origin": str(pd.Timestamp(plan.start_date, unit="D").date()),
            "last_origin": str(pd.Timestamp(plan.end_date, unit="D").date()),
            "origins": len(plan.origins()),
            "step_days": step_days,
            "refit_every_days": refit_days,
            "blocks": len(plan.blocks()),
        },
        "backtest_s": round(backtest_s, 1),
        "fit_s": {k: round(v, 1) for k, v in backtest.fit_seconds.items()},
        "prophet": {
            "homes": len(homes),
            "train_days": prophet_train_days,
            "refit_every_days": prophet_refit_days,
            "fits": len(prophet.fit_seconds),
            "total_s": round(prophet_s, 1),
            "seconds_per_fit": round(sum(prophet.fit_seconds) / max(len(prophet.fit_seconds), 1), 2),
            "seconds_per_fit_and_predict": round(prophet.seconds_per_fit, 2),
            "homes_without_weather": prophet.homes_without_weather,
            "homes_without_fit": prophet.homes_without_fit,
        },
        **_accuracy(forecasts),
    }


def _factories(n_estimators: int) -> dict[str, Any]:
    from training.forecast.registry import make_forecaster

    def make(name: str) -> Any:
        params = {"n_estimators": n_estimators} if name == "global_lightgbm" else {}
        return lambda: make_forecaster(name, "hourly", **params)

    return {name: make(name) for name in FORECASTERS}


def _accuracy(forecasts: Any) -> dict[str, Any]:
    from training.forecast import metrics

    headline = forecasts[forecasts["group"] == HEADLINE_GROUP]
    table = metrics.metric_table(headline).set_index("forecaster")
    nrmse = table["nrmse"].astype(float)
    names = [*FORECASTERS, PROPHET]
    improvement = {
        model: {b: round(1 - nrmse[model] / nrmse[b], 4) for b in names if b != model}
        for model in ("global_lightgbm", PROPHET)
    }
    per_home = metrics.per_home_nrmse(headline)
    return {
        "rows_compared": int(table["rows"].iloc[0]),
        "headline": _records(table.reset_index()),
        "improvement_nrmse": improvement,
        "per_home_nrmse_median": {name: round(float(per_home[name].median()), 4) for name in names},
        "by_lead_day": _records(metrics.metric_table(forecasts, by=["group"])),
    }


def synthetic_comparison(options: dict[str, Any], homes: int, days: int) -> dict[str, Any]:
    """The same comparison on generated homes (with weather): the global model on all, Prophet on a sample."""
    from training.forecast.frames import HourlyPanel
    from training.forecast.synthetic import synthetic_hourly

    hourly, attributes = synthetic_hourly(n_homes=homes, days=days, seed=7)
    panel = HourlyPanel.from_frames(hourly, attributes)
    return {"homes": homes, "days": days, **compare(panel, **options)}


def _records(table: Any) -> list[dict[str, Any]]:
    return [
        {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
        for row in table.to_dict("records")
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HUE, help="the HUE home's folder (read in place)")
    parser.add_argument("--spec", type=Path, default=HUE_SPEC)
    parser.add_argument("--country", default="CA", help="the home's country, for public holidays")
    parser.add_argument("--backtest-days", type=int, default=84)
    parser.add_argument("--step-days", type=int, default=1)
    parser.add_argument("--refit-days", type=int, default=0, help="0: fit once, before the first origin")
    parser.add_argument("--prophet-refit-days", type=int, default=1)
    parser.add_argument("--n-estimators", type=int, default=300)
    parser.add_argument("--prophet-homes", type=int, default=10)
    parser.add_argument("--prophet-train-days", type=int, default=90)
    parser.add_argument("--synthetic", action="store_true", help="also compare on generated homes")
    parser.add_argument("--synthetic-homes", type=int, default=30)
    parser.add_argument("--synthetic-days", type=int, default=180)
    args = parser.parse_args()
    if not args.data.is_dir():
        print(
            f"real data not present at {args.data}: it lives beside the repository, in ../shared/real-data, "
            "never in it. Nothing was run."
        )
        return
    options = {
        "backtest_days": args.backtest_days,
        "step_days": args.step_days,
        "refit_days": args.refit_days or None,
        "prophet_refit_days": args.prophet_refit_days,
        "n_estimators": args.n_estimators,
        "prophet_homes": args.prophet_homes,
        "prophet_train_days": args.prophet_train_days,
    }
    with tempfile.TemporaryDirectory(prefix="eliq-bench-forecast-real-") as tmp:
        panel, data = prepared_panel(args.data, args.spec, Path(tmp), args.country)
    result: dict[str, Any] = {"hue": {"data": data, **compare(panel, **options)}, "options": options}
    if args.synthetic:
        synthetic_options = {**options, "backtest_days": min(args.backtest_days, 21)}
        result["synthetic"] = synthetic_comparison(
            synthetic_options, args.synthetic_homes, args.synthetic_days
        )
    _print(result)
    _save(result)


def _save(result: dict[str, Any]) -> None:
    meta = {"cpu_count": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version()}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({**result, **meta}, indent=2))
    print(f"written to {RESULTS}")


def _print(result: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console()
    hue = result["hue"]
    data = hue["data"]
    console.print(
        f"HUE home: {data['hours']:,} hours {data['first_ts'][:10]} … {data['last_ts'][:10]}, "
        f"{data['timezone']} ({data['country']}), prepared in {data['prep_s']} s"
    )
    if data["weather_share"] == 0:
        console.print(
            "[yellow]no weather: the shared real-data folder holds none for this home, so every forecaster runs "
            "without weather features and Prophet without its temperature regressor[/yellow]"
        )
    _print_comparison(console, "HUE home", hue)
    if "synthetic" in result:
        synthetic = result["synthetic"]
        _print_comparison(
            console, f"synthetic, {synthetic['homes']} homes × {synthetic['days']} d", synthetic
        )


def _print_comparison(console: Any, title: str, run: dict[str, Any]) -> None:
    from rich.table import Table

    plan, prophet = run["plan"], run["prophet"]
    console.print(
        f"{title}: origins {plan['first_origin']} … {plan['last_origin']} ({plan['origins']}; "
        f"{plan['blocks']} fit(s) of the backtest's forecasters), {run['rows_compared']:,} common rows at "
        f"{HEADLINE_GROUP}; backtest {run['backtest_s']} s; Prophet {prophet['total_s']} s for "
        f"{prophet['fits']} fits on {prophet['homes']} home(s), refitted every {prophet['refit_every_days']} d "
        f"({prophet['seconds_per_fit']} s per fit, {prophet['seconds_per_fit_and_predict']} s with its "
        f"prediction); Prophet without weather: {prophet['homes_without_weather'] or 'none'}"
    )
    table = Table(title=f"{title}: hourly, next local day ({HEADLINE_GROUP})")
    for column in ("forecaster", "NRMSE", "MAE [kWh]", "MASE", "pinball", "P10–P90 coverage"):
        table.add_column(column, justify="right")
    for row in run["headline"]:
        table.add_row(
            row["forecaster"],
            f"{row['nrmse']:.3f}",
            f"{row['mae']:.3f}",
            f"{row['mase']:.3f}",
            f"{row['pinball']:.4f}",
            f"{100 * row['coverage']:.1f} %",
        )
    console.print(table)
    for model, ratios in run["improvement_nrmse"].items():
        listed = ", ".join(f"vs {k}: {100 * v:+.1f} %" for k, v in ratios.items())
        console.print(f"{model} NRMSE improvement {listed}")
    leads = Table(title=f"{title}: NRMSE by lead day")
    groups = sorted({r["group"] for r in run["by_lead_day"]})
    leads.add_column("forecaster")
    for group in groups:
        leads.add_column(group, justify="right")
    by = {(r["forecaster"], r["group"]): r["nrmse"] for r in run["by_lead_day"]}
    for name in sorted({r["forecaster"] for r in run["by_lead_day"]}):
        leads.add_row(name, *(f"{by.get((name, g), float('nan')):.3f}" for g in groups))
    console.print(leads)


if __name__ == "__main__":
    main()
