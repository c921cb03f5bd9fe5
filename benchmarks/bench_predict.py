"""Benchmark of forecast prediction: ``eliq predict forecast`` for N homes day-ahead (issue 4: 10,000 homes < 60 s).

Run with ``python -m benchmarks.bench_predict [--homes 10000] [--days 75] [--train-homes 1000]``. It generates and
prepares hourly sample data (``eliq demo-data``, ``eliq prep run``), fits the model on ``--train-homes`` of them
and registers it in a temporary MLflow store, then times, in one run:

- **predict step**: :func:`training.steps.forecast_predict.predict_forecast`, what ``eliq predict forecast`` runs:
  the curated history of every home read from the lake, turned into the model input, the MLflow pyfunc model
  loaded from the registry and called per chunk of homes, every resolution (hourly 48 h, daily, monthly);
- **baseline**: the fitted model called directly on an in-memory panel of the same homes (no lake read, no
  pyfunc, no input frame): the cost of the model itself. The ratio is the packaging and I/O overhead.

Printed as a table, written to ``benchmarks/results/predict.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "predict.json"


def prepare(homes: int, days: int, workdir: Path) -> tuple[Any, float]:
    """Hourly sample data, prepared; returns the settings on that lake and the seconds spent."""
    from contracts.config import load_settings
    from data_prep.run import run_prep
    from data_prep.sample_data import generate_demo_data

    started = time.perf_counter()
    data = workdir / "input"
    generate_demo_data(
        str(data), homes=homes, days=days, seed=13, resolution_mix={"hourly": 1.0}, write_truth=False
    )
    settings = load_settings(
        storage={"root": str(workdir / "lake")},
        prep={"n_buckets": 16},
        training={
            "tracking_uri": f"sqlite:///{workdir / 'mlflow' / 'mlflow.db'}",
            "artifact_root": str(workdir / "mlflow" / "artifacts"),
        },
    )
    run_prep(str(data), settings)
    return settings, time.perf_counter() - started


def register(settings: Any, train_homes: int) -> tuple[Any, Any, float]:
    """The model fitted on the first ``train_homes`` homes, registered as champion; returns it, the full panel's
    frames and the seconds spent."""
    import mlflow

    from training.forecast.training_run import ForecastTrainingConfig, fit_deployable
    from training.integrations.mlflow_forecast_model import log_forecast_model
    from training.integrations.mlflow_registry import make_challenger, set_champion
    from training.integrations.mlflow_tracking import configure_tracking, experiment_id
    from training.steps.forecast_train import input_example, load_frames

    started = time.perf_counter()
    hourly, homes = load_frames(settings)
    chosen = sorted(hourly["home_id"].unique())[:train_homes]
    from training.forecast.frames import HourlyPanel

    panel = HourlyPanel.from_frames(hourly[hourly["home_id"].isin(chosen)], homes)
    model = fit_deployable(panel, ForecastTrainingConfig.from_settings(settings.training.forecast))
    configure_tracking(settings.training)
    with mlflow.start_run(experiment_id=experiment_id(settings.training, "forecast")):
        info = log_forecast_model(
            model, input_example(hourly, homes), {}, registered_model_name="eliq-forecast"
        )
    version = str(info.registered_model_version)
    make_challenger("eliq-forecast", version)
    set_champion("eliq-forecast", version)
    return model, (hourly, homes), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--homes", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=75)
    parser.add_argument("--train-homes", type=int, default=1_000)
    args = parser.parse_args()
    import numpy as np

    from training.forecast.frames import HourlyPanel
    from training.steps.forecast_predict import predict_forecast

    with tempfile.TemporaryDirectory(prefix="eliq-bench-predict-") as tmp:
        settings, prep_s = prepare(args.homes, args.days, Path(tmp))
        model, (hourly, homes), train_s = register(settings, args.train_homes)
        started = time.perf_counter()
        outcome = predict_forecast(settings)
        predict_s = time.perf_counter() - started
        frame = outcome.forecasts
        started = time.perf_counter()
        panel = HourlyPanel.from_frames(hourly, homes)
        last = int(panel.calendar.local_date[:, panel.last_reading_hour()].max())
        direct = model.forecast(panel, last)
        direct_s = time.perf_counter() - started
    result = {
        "homes": args.homes,
        "days": args.days,
        "homes_forecast": int(frame["home_id"].nunique()),
        "rows": len(frame),
        "hourly_rows": int((frame["resolution"] == "hourly").sum()),
        "predict_s": round(predict_s, 1),
        "direct_model_s": round(direct_s, 1),
        "direct_hourly_rows": len(direct.hourly),
        "ratio_to_direct": round(predict_s / direct_s, 2),
        "prep_s": round(prep_s, 1),
        "fit_and_register_s": round(train_s, 1),
        "peak_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "finite_p50": bool(np.isfinite(frame["kwh_p50"]).all()),
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

    table = Table(title="day-ahead prediction, every resolution (target: 10,000 homes < 60 s)")
    for column in ("homes", "rows", "predict step [s]", "model alone [s]", "ratio", "peak [GiB]"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{result['homes_forecast']:,}",
        f"{result['rows']:,}",
        f"{result['predict_s']:.1f}",
        f"{result['direct_model_s']:.1f}",
        f"{result['ratio_to_direct']:.2f}×",
        f"{result['peak_gib']:.2f}",
    )
    Console().print(table)


if __name__ == "__main__":
    main()
