"""Load benchmark of the prediction service: ``POST /forecast`` against a real ``bentoml serve`` process.

Run with ``python -m benchmarks.bench_serving [--seconds 60] [--concurrency 1,10,50] [--workdir DIR]``; a quick try
is ``--seconds 5 --concurrency 1,10``. Printed as a table, written to ``benchmarks/results/serving.json``.

Set-up (a few minutes; reused when ``--workdir`` already holds a world built with the same sizes):
    sample data (``generate_demo_data``, hourly homes only) → ``run_prep`` → feature tables → Feast apply and
    materialise (the online store that each forecast reads for its freshness) → the deployable forecast model,
    fitted from the curated zone with the project's default parameters (no backtest) on a sample of
    ``--train-rows`` hourly rows (the same 1,200 trees of the same 37,200 leaves as a fit on all 540 k rows, and
    the same predict time, checked once; that fit took 10 min on this busy machine, this one 25-40 s), logged and
    registered as ``champion`` → an API key of the client owning the most homes → a config file → ``bentoml serve
    serving.service:EliqService`` (what ``eliq serve`` runs, with BentoML's default of one worker) on a free
    loopback port, waited on until ``/readyz`` answers 200.

Load, from a second process (asyncio + httpx, closed loop: each client sends its next request as soon as the last
one is answered), after an unrecorded warm-up:
    - ``forecast``: one random home of the client per request, 48 hours hourly, quantiles 0.1/0.5/0.9, at each
      ``--concurrency`` for ``--seconds``;
    - ``healthz``: ``GET /healthz`` at 10 clients, the trivial endpoint of the same service, as a baseline;
    - ``batch``: ``--batch-homes`` random homes of the client per request, 1 client.
A latency runs from sending a request to its full response, on the client [ms]; percentiles are over the answered
(200) requests; an error is any other status or a transport failure. The load generator and the server share the
machine's cores, so the figures include that contention (the table shows the load generator's CPU as a share of
one core: near all of it at healthz, where the client, not the server, may be the limit).

Targets (issue 5): forecast p95 ≤ 50 ms at 10 clients with zero errors, and within 3× of healthz's p95 at 10 clients;
batch p95 ≤ 250 ms. The seed's own success metric is a forecast under 500 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "serving.json"
REPO_ROOT = Path(__file__).resolve().parents[1]
SERVICE = "serving.service:EliqService"
FORECAST_BODY = {"resolution": "hourly", "quantiles": [0.1, 0.5, 0.9], "horizon": 48}
BASELINE_CLIENTS = 10  # the concurrency of the healthz baseline and of the issue's targets
STARTUP_TIMEOUT_S = 300  # imports, the feature store check and the model load, on a busy machine [s]
REQUEST_TIMEOUT_S = 120.0  # the service's own traffic timeout [s]
TARGET_P95_MS = 50.0
TARGET_RATIO = 3.0
TARGET_BATCH_P95_MS = 250.0
SEED_TARGET_MS = 500.0
COLUMNS = (
    "scenario",
    "clients",
    "requests",
    "ok/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "max ms",
    "errors",
    "client CPU",
)


@dataclass(frozen=True)
class BenchWorld:
    """A served world: a lake, a Feast repo, an MLflow store with a champion, and one client's key.

    Attributes:
        config: the eliq config file (the server's ``ELIQ_CONFIG``).
        client_id: the client whose homes are asked for.
        api_key: its raw API key.
        home_ids: its homes.
        sizes: ``homes``, ``days`` and ``seed`` of the sample data.
        setup_s: wall time of each set-up step [s].
    """

    config: str
    client_id: str
    api_key: str
    home_ids: list[str]
    sizes: dict[str, int]
    setup_s: dict[str, float]


@contextmanager
def _timed(timings: dict[str, float], step: str) -> Iterator[None]:
    print(f"set-up: {step} …", flush=True)
    started = time.perf_counter()
    yield
    timings[step] = round(time.perf_counter() - started, 1)


def config_values(workdir: Path, train_rows: int) -> dict[str, Any]:
    """The eliq config of a world under ``workdir``; apart from the training rows, the project's defaults."""
    return {
        "storage": {"root": str(workdir / "lake")},
        "features": {"repo_dir": str(workdir / "feast")},
        "training": {
            "tracking_uri": f"sqlite:///{workdir / 'mlflow' / 'mlflow.db'}",
            "artifact_root": str(workdir / "mlflow" / "artifacts"),
            "forecast": {"max_train_rows": train_rows},
        },
        "serving": {"state_dir": str(workdir / "state")},
    }


def build_world(workdir: Path, sizes: dict[str, int]) -> BenchWorld:
    """Build the world under ``workdir``, or return the one built there before with the same ``sizes``."""
    marker = workdir / "world.json"
    if marker.is_file():
        world = BenchWorld(**json.loads(marker.read_text()))
        if world.sizes == sizes:
            print(f"set-up: reusing the world in {workdir}", flush=True)
            return world
        raise SystemExit(f"{workdir} holds a world of {world.sizes}, not {sizes}: use another --workdir")
    from contracts.config import load_settings

    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "eliq.yaml"
    config.write_text(json.dumps(config_values(workdir, sizes["train_rows"])))  # JSON is YAML
    settings, timings = load_settings(config), dict[str, float]()
    with _timed(timings, "sample data and prep"):
        _generate_and_prep(settings, workdir / "input", sizes)
    with _timed(timings, "feature tables, Feast apply and materialise"):
        _build_feature_store(settings)
    with _timed(timings, "train and register the champion"):
        homes = _train_and_register(settings)
    client_id = homes["client_id"].value_counts().idxmax()
    owned = sorted(homes.loc[homes["client_id"] == client_id, "home_id"].astype(str))
    from serving.clients import ApiKeyStore

    key = ApiKeyStore(Path(settings.serving.state_dir) / "clients.db").add(client_id)
    world = BenchWorld(str(config), str(client_id), key, owned, sizes, timings)
    marker.write_text(json.dumps(asdict(world)))
    return world


def _generate_and_prep(settings: Any, input_dir: Path, sizes: dict[str, int]) -> None:
    from data_prep.run import run_prep
    from data_prep.sample_data import generate_demo_data

    generate_demo_data(
        str(input_dir),
        homes=sizes["homes"],
        days=sizes["days"],
        seed=sizes["seed"],
        resolution_mix={"hourly": 1.0},
        write_truth=False,
    )
    run_prep(str(input_dir), settings)


def _build_feature_store(settings: Any) -> None:
    from contracts.storage import Lake
    from features.store import FeatureStoreAdapter
    from features.transforms.build import build_feature_tables

    build_feature_tables(Lake.from_settings(settings.storage), settings.prep.n_buckets)
    adapter = FeatureStoreAdapter.from_settings(settings)
    adapter.apply()
    adapter.materialize()


def _train_and_register(settings: Any) -> Any:
    """``eliq train forecast`` without its backtest, then promoted; returns the curated homes of the panel."""
    import mlflow

    from contracts.storage import Lake
    from training.forecast.frames import HourlyPanel, load_homes, load_hourly_frame
    from training.forecast.training_run import ForecastTrainingConfig, fit_deployable
    from training.integrations.mlflow_forecast_model import log_forecast_model
    from training.integrations.mlflow_registry import set_champion
    from training.integrations.mlflow_tracking import configure_tracking, experiment_id, registered_model_name
    from training.steps.forecast_train import FEATURE_SERVICE, input_example

    lake = Lake.from_settings(settings.storage)
    hourly, homes = load_hourly_frame(lake), load_homes(lake)  # the curated zone, training's default source
    panel = HourlyPanel.from_frames(hourly, homes)
    config = ForecastTrainingConfig.from_settings(settings.training.forecast).fitted_to(panel)
    configure_tracking(settings.training)
    name = registered_model_name(settings.training, "forecast")
    model = fit_deployable(panel, config)
    with mlflow.start_run(
        experiment_id=experiment_id(settings.training, "forecast"), run_name="bench-serving"
    ):
        info = log_forecast_model(
            model,
            input_example(hourly, homes),
            metadata={"feature_service": FEATURE_SERVICE, "issue_time_h": config.issue_time_h},
            registered_model_name=name,
        )
    set_champion(name, str(info.registered_model_version))
    return homes[homes["home_id"].isin(set(hourly["home_id"]))]


# --- the server ---------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served(config: str, log: Path, workers: int = 1) -> Iterator[tuple[str, dict[str, Any]]]:
    """``bentoml serve`` of the service on a free loopback port, ready; yields (base URL, ``/readyz`` report).
    The server runs in its own process group, stopped (SIGTERM, then SIGKILL after 30 s) on the way out."""
    port = free_port()
    command = [sys.executable, "-m", "bentoml", "serve", SERVICE, "--host", "127.0.0.1", "--port", str(port)]
    env = {
        **os.environ,
        "BENTOML_DO_NOT_TRACK": "true",
        "ELIQ_CONFIG": str(Path(config).resolve()),
        "BENTOML_CONFIG_OPTIONS": f"services.eliq.workers={workers}",  # what `eliq serve --workers` sets
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--working-dir", str(REPO_ROOT)],
            env=env,
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        ready = _wait_until_ready(process, base, log)
        yield base, {**ready, "warming_s": _wait_until_warm(base)}
    finally:
        print("stopping the server …", flush=True)
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _wait_until_ready(process: subprocess.Popen, base: str, log: Path) -> dict[str, Any]:
    import httpx

    print(f"starting bentoml serve on {base} (log: {log}) …", flush=True)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"bentoml serve exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            response = httpx.get(f"{base}/readyz", timeout=5)
            if response.status_code == 200:
                return dict(response.json())
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"not ready after {STARTUP_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


def _wait_until_warm(base: str) -> float:
    """Wait until the service has stored every home's hourly forecast (``serving.warm_forecasts``); returns how
    long that took after ``/readyz`` first answered 200 [s]."""
    import httpx

    started = time.monotonic()
    while time.monotonic() - started < STARTUP_TIMEOUT_S:
        stored = httpx.get(f"{base}/readyz", timeout=10).json()["families"]["forecast"]["stored_forecasts"]
        if not stored["warming"]:
            print(
                f"stored forecasts: {stored['entries']} after {time.monotonic() - started:.1f} s", flush=True
            )
            return round(time.monotonic() - started, 1)
        time.sleep(0.5)
    raise RuntimeError(f"the service was still computing forecasts after {STARTUP_TIMEOUT_S} s")


def sample_forecast(base: str, world: BenchWorld) -> dict[str, Any]:
    """One forecast, checked: the model version, and the online store's view of the home (features from Feast)."""
    import httpx

    body = {**FORECAST_BODY, "home_ids": world.home_ids[:1]}
    response = httpx.post(f"{base}/forecast", json=body, headers={"X-API-Key": world.api_key}, timeout=120)
    if response.status_code != 200:
        raise RuntimeError(f"a forecast failed before the load: {response.status_code} {response.text[:500]}")
    document = response.json()
    home = document["homes"][0]
    if len(home["forecast"]) != FORECAST_BODY["horizon"]:
        raise RuntimeError(f"expected {FORECAST_BODY['horizon']} hours, got {len(home['forecast'])}")
    return {
        "model": document["model"],
        "issue_time": home["issue_time"],
        "cold_start": home["cold_start"],
        "freshness": home["freshness"],
    }


# --- the load (runs in the second process) -------------------------------------------------------------------------


def run_plan(
    base: str, api_key: str, home_ids: list[str], plan: list[dict[str, Any]], warmup_s: float
) -> list[dict[str, Any]]:
    """Run every scenario of ``plan`` in turn, after a warm-up; one summary per scenario."""
    return asyncio.run(_run_plan(base, api_key, home_ids, plan, warmup_s))


async def _run_plan(
    base: str, api_key: str, home_ids: list[str], plan: list[dict[str, Any]], warmup_s: float
) -> list[dict[str, Any]]:
    if warmup_s > 0:
        print(f"load: warm-up, {warmup_s:g} s …", flush=True)
        for scenario in (plan[0], plan[-1]):  # a stored forecast and the batch
            warmup = {**scenario, "concurrency": min(2, scenario["concurrency"]), "seconds": warmup_s / 2}
            await _closed_loop(base, api_key, home_ids, warmup)
    results = []
    for scenario in plan:
        print(
            f"load: {scenario['name']} × {scenario['concurrency']} clients, {scenario['seconds']:g} s",
            flush=True,
        )
        results.append(await _closed_loop(base, api_key, home_ids, scenario))
    return results


async def _closed_loop(
    base: str, api_key: str, home_ids: list[str], scenario: dict[str, Any]
) -> dict[str, Any]:
    """``scenario['concurrency']`` clients, each sending requests one after the other until the time is up."""
    import httpx

    latencies_ms: list[float] = []
    statuses: Counter[str] = Counter()
    concurrency, homes = scenario["concurrency"], scenario["homes"]
    headers = {"X-API-Key": api_key, "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def client_loop(client: httpx.AsyncClient, index: int, deadline: float) -> None:
        rng = random.Random(index)
        while time.perf_counter() < deadline:
            content = None
            if scenario["method"] == "POST":
                body = {**FORECAST_BODY, "home_ids": rng.sample(home_ids, homes)}
                if scenario.get("issue_times"):  # a time no request asked for before: computed, not stored
                    body["issue_time"] = rng.choice(scenario["issue_times"])
                content = json.dumps(body).encode()
            started = time.perf_counter()
            try:
                response = await client.request(
                    scenario["method"], scenario["path"], content=content, headers=headers
                )
                status = str(response.status_code)
            except httpx.HTTPError as err:
                status = type(err).__name__
            if status == "200":
                latencies_ms.append((time.perf_counter() - started) * 1000)
            statuses[status] += 1

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=REQUEST_TIMEOUT_S) as client:
        cpu, started = time.process_time(), time.perf_counter()
        deadline = started + scenario["seconds"]
        await asyncio.gather(*(client_loop(client, i, deadline) for i in range(concurrency)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return summarise(scenario, latencies_ms, statuses, elapsed, cpu)


def summarise(
    scenario: dict[str, Any],
    latencies_ms: list[float],
    statuses: Counter[str],
    elapsed_s: float,
    cpu_s: float,
) -> dict[str, Any]:
    """Percentiles [ms], throughput [requests/s] and errors of one scenario."""
    import numpy as np

    ok = np.asarray(latencies_ms)
    p50, p95, p99 = np.percentile(ok, [50, 95, 99]) if ok.size else (np.nan, np.nan, np.nan)
    errors = sum(n for status, n in statuses.items() if status != "200")
    return {
        **scenario,
        "requests": sum(statuses.values()),
        "ok": int(ok.size),
        "errors": errors,
        "statuses": dict(statuses),
        "elapsed_s": round(elapsed_s, 2),
        "throughput_rps": round(ok.size / elapsed_s, 2),
        "p50_ms": round(float(p50), 2),
        "p95_ms": round(float(p95), 2),
        "p99_ms": round(float(p99), 2),
        "max_ms": round(float(ok.max()), 2) if ok.size else None,
        "load_generator_cpu_share": round(cpu_s / elapsed_s, 2),  # of one core
    }


# --- plan, targets, report ----------------------------------------------------------------------------------------


def load_plan(
    concurrency: list[int], seconds: float, batch_homes: int, issue_time: str
) -> list[dict[str, Any]]:
    """The forecast at each concurrency (and always at 10), healthz at 10 just before it, the forecast computed
    anew at 1 client, then the batch.

    The stored forecasts are those issued at the default time; the computed scenario asks each request for an issue
    time on one of the 28 days before ``issue_time``'s date at a random hour (672 times × the client's homes), so
    that nearly every request misses the store and runs the model: the latency of a first request for a home.
    """
    forecast = {"name": "forecast", "method": "POST", "path": "/forecast", "homes": 1, "seconds": seconds}
    day = datetime.fromisoformat(issue_time).date()
    times = [f"{day - timedelta(days=d)}T{h:02d}:00:00" for d in range(1, 29) for h in range(24)]
    computed = {**forecast, "name": "forecast, computed", "concurrency": 1, "issue_times": times}
    healthz = {"name": "healthz", "method": "GET", "path": "/healthz", "homes": 0, "seconds": seconds}
    plan = [{**forecast, "concurrency": c} for c in concurrency if c != BASELINE_CLIENTS]
    at = sum(c < BASELINE_CLIENTS for c in concurrency)  # the plan is in the order of concurrency
    plan[at:at] = [
        {**healthz, "concurrency": BASELINE_CLIENTS},
        {**forecast, "concurrency": BASELINE_CLIENTS},
    ]
    batch = {**forecast, "name": f"batch {batch_homes}", "homes": batch_homes, "concurrency": 1}
    return [*plan, computed, batch]


def judge(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target: the figure, the bound, and whether it is met (``None``: not measured in this run)."""
    by_key = {(r["name"], r["concurrency"]): r for r in results}
    forecast, healthz = by_key.get(("forecast", BASELINE_CLIENTS)), by_key.get(("healthz", BASELINE_CLIENTS))
    batch = next(r for r in results if r["name"].startswith("batch"))
    ratio = forecast["p95_ms"] / healthz["p95_ms"] if forecast and healthz and healthz["p95_ms"] else None
    p95 = forecast["p95_ms"] if forecast else None
    return [
        _target("forecast p95 at 10 clients [ms]", p95, TARGET_P95_MS, forecast and forecast["errors"] == 0),
        _target("forecast errors at 10 clients", forecast["errors"] if forecast else None, 0),
        _target("forecast p95 / healthz p95 at 10 clients", ratio, TARGET_RATIO),
        _target(f"{batch['name']} p95 [ms]", batch["p95_ms"], TARGET_BATCH_P95_MS, batch["errors"] == 0),
        _target("seed metric: forecast p95 at 10 clients [ms]", p95, SEED_TARGET_MS),
    ]


def _target(what: str, value: float | None, bound: float, also: Any = True) -> dict[str, Any]:
    met = None if value is None or value != value else bool(value <= bound and also)
    return {"target": what, "value": None if value is None else round(value, 2), "bound": bound, "met": met}


def print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 120))
    table = Table(
        title=f"bentoml serve, {report['world']['homes_of_client']} homes of {report['world']['client_id']}"
    )
    for column in COLUMNS:
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for r in report["scenarios"]:
        figures = [r["throughput_rps"], r["p50_ms"], r["p95_ms"], r["p99_ms"], r["max_ms"]]
        errors = f"[red]{r['errors']}[/red]" if r["errors"] else "0"
        share = f"{r['load_generator_cpu_share']:.0%}"
        table.add_row(r["name"], str(r["concurrency"]), str(r["requests"]), *map(str, figures), errors, share)
    console.print(table)
    marks = {True: "[green]met[/green]", False: "[red]not met[/red]", None: "not measured"}
    for t in report["targets"]:
        console.print(f"{t['target']:<48} {t['value']!s:>10}  ≤ {t['bound']:g}  {marks[t['met']]}")
    console.print(f"{report['note']}; load average before / after: {report['load_average']}")


def _stop_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl+C, so that the server is stopped on the way out."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="per scenario [s]")
    parser.add_argument("--concurrency", default="1,10,50", help="comma-separated client counts")
    parser.add_argument("--batch-homes", type=int, default=100)
    parser.add_argument("--workers", type=int, default=1, help="BentoML worker processes of the service")
    parser.add_argument("--warmup", type=float, default=10.0, help="unrecorded warm-up [s]")
    parser.add_argument(
        "--homes", type=int, default=250, help="sample homes (the largest client gets >= 100)"
    )
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--train-rows", type=int, default=100_000, help="hourly rows the model is fitted on")
    parser.add_argument(
        "--workdir", type=Path, help="keep (and reuse) the built world here; default: temporary"
    )
    args = parser.parse_args()
    _stop_on_sigterm()
    warnings.filterwarnings("ignore")
    concurrency = sorted({int(c) for c in args.concurrency.split(",")})
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="eliq-bench-serving-"))
    try:
        report = run(args, concurrency, workdir)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print_report(report)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, default=str))
    print(f"written to {RESULTS}")


def run(args: argparse.Namespace, concurrency: list[int], workdir: Path) -> dict[str, Any]:
    """Build (or reuse) the world, serve it, load it from a second process; the report."""
    load_before = os.getloadavg()[0]
    sizes = {"homes": args.homes, "days": args.days, "seed": args.seed, "train_rows": args.train_rows}
    world = build_world(workdir, sizes)
    batch_homes = min(args.batch_homes, len(world.home_ids))
    with served(world.config, workdir / "serve.log", args.workers) as (base, ready):
        sample = sample_forecast(base, world)
        plan = load_plan(concurrency, args.seconds, batch_homes, sample["issue_time"])
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
            job = pool.submit(run_plan, base, world.api_key, world.home_ids, plan, args.warmup)
            results = job.result()
    cores = os.cpu_count()
    described = {"client_id": world.client_id, "homes_of_client": len(world.home_ids)}
    return {
        "scenarios": results,
        "targets": judge(results),
        "ready": ready,
        "sample_forecast": sample,
        "world": {**world.sizes, **described, "batch_homes": batch_homes, "setup_s": world.setup_s},
        "note": f"one machine, {cores} cores shared by the load generator (1 process) and bentoml serve "
        f"({args.workers} worker{'s' if args.workers > 1 else ''})",
        "workers": args.workers,
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cpu_count": cores,
        "machine": platform.machine(),
        "python": platform.python_version(),
        "seconds_per_scenario": args.seconds,
        "warmup_s": args.warmup,
    }


if __name__ == "__main__":
    main()
