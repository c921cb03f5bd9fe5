"""Benchmark of the feature store: online reads, training sets, materialisation and push freshness.

Run with ``python -m benchmarks.bench_features [--homes N] [--days D] [--online-only]`` (default 100 homes × 365
days; the issue's figure is ``--homes 1000``; ``--online-only`` skips the training set and push steps). The feature tables are synthetic, written with the transforms' own schemas, so the
figures measure the store, not the transforms. Printed as a table, written to ``benchmarks/results/features.json``.

Measured in the same run:
    - **online**: every ``forecast_v1`` feature (SQLite), 1 home (p50/p99 over ``--reads`` calls) and 100 homes in
      one call (p50/p99 over 50 calls), through Feast's path (``online_features``) and through the direct reader
      (``online_reader``, as columns and as a frame), the calls taking turns, with the reader's speed-up;
    - **training set**: ``training_set`` for every home × every hour of the period, in a fresh process
      (time, peak memory), the same join without the on-demand views, and **baseline**: plain
      ``pandas.merge_asof`` of the same Parquet frames with the same TTLs, also in a fresh process;
    - **Feast's own file store** on one home × 30 days of labels (its join is quadratic per home, so no more);
    - **materialisation**: a full run of every batch view, then an incremental run of one more hour;
    - **push freshness**: from ``push_readings`` to the reading being readable online (p50/p99).
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
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

RESULTS = Path(__file__).parent / "results" / "features.json"
START = pd.Timestamp("2025-01-01", tz="UTC")
N_BUCKETS = 16
COUNTRIES = [
    ("SE", "SE3", 59.3, 18.0),
    ("DE", "DE", 52.5, 13.4),
    ("NL", "NL", 52.4, 4.9),
    ("FI", "FI", 60.2, 24.9),
]


def write_synthetic_tables(root: str, homes: int, days: int, seed: int = 0) -> None:
    """The four feature tables for ``homes`` homes × ``days`` days of hours, in the transforms' schemas."""
    import pyarrow as pa

    from contracts.storage import Lake, home_bucket
    from features.transforms.consumption import CONSUMPTION_SCHEMA
    from features.transforms.home import HOME_SCHEMA
    from features.transforms.price import PRICE_SCHEMA
    from features.transforms.weather import WEATHER_SCHEMA

    lake, rng = Lake(root), np.random.default_rng(seed)
    ids = np.array([f"h{i:05d}" for i in range(homes)])
    country = np.arange(homes) % len(COUNTRIES)
    point_of_home = np.arange(homes) // 4  # four homes share a weather grid point
    lat = np.array([COUNTRIES[c][2] for c in country]) + point_of_home * 0.01
    lon = np.array([COUNTRIES[c][3] for c in country])
    points = np.array([f"{a:.3f}_{o:.3f}" for a, o in zip(lat, lon, strict=True)])
    hours = START + pd.to_timedelta(np.arange(days * 24), unit="h")

    def table(frame: dict[str, Any], schema: pa.Schema) -> pa.Table:
        n = len(next(iter(frame.values())))
        for field in schema:
            if field.name not in frame:
                kind = pa.types.is_integer(field.type)
                frame[field.name] = rng.integers(0, 3, n) if kind else rng.random(n, dtype=np.float32)
        return pa.Table.from_pydict({f.name: frame[f.name] for f in schema}, schema=schema)

    buckets = np.array([home_bucket(h, N_BUCKETS) for h in ids])
    for bucket in range(N_BUCKETS):
        members = ids[buckets == bucket]
        frame = {
            "home_id": np.repeat(members, len(hours)),
            "event_timestamp": np.tile(hours + pd.Timedelta("1h"), len(members)),
        }
        lake.write_table(
            lake.path("features", "consumption", f"bucket={bucket:03d}.parquet"),
            table(frame, CONSUMPTION_SCHEMA),
        )
    unique_points = np.unique(points)
    stamps = np.tile(hours, len(unique_points))
    weather = {
        "weather_point": np.repeat(unique_points, len(hours)),
        "event_timestamp": stamps,
        "available_at": stamps,
    }
    lake.write_table(lake.path("features", "weather", "weather.parquet"), table(weather, WEATHER_SCHEMA))
    areas = np.array([c[1] for c in COUNTRIES])
    price = {"price_area": np.repeat(areas, len(hours)), "event_timestamp": np.tile(hours, len(areas))}
    lake.write_table(lake.path("features", "price", "price.parquet"), table(price, PRICE_SCHEMA))
    home = {
        "home_id": ids, "event_timestamp": np.full(homes, pd.Timestamp("1970-01-01", tz="UTC")), "lat": lat,
        "lon": lon, "country": np.array([COUNTRIES[c][0] for c in country]), "weather_point": points,
        "price_area": areas[country], "client_id": np.full(homes, "bench"),
    }  # fmt: skip
    lake.write_table(lake.path("features", "home", "home.parquet"), table(home, HOME_SCHEMA))


def _labels(homes: int, days: int) -> pd.DataFrame:
    """Every home × every hour of the period: cut-off at each hour's end, the label the next hour."""
    cutoffs = START + pd.to_timedelta(np.arange(1, days * 24 + 1), unit="h")
    return pd.DataFrame(
        {
            "home_id": np.repeat([f"h{i:05d}" for i in range(homes)], len(cutoffs)),
            "event_timestamp": np.tile(cutoffs, homes),
        }
    )


def _adapter(root: str) -> Any:
    from contracts.feature_settings import FeatureStoreSettings
    from contracts.storage import Lake
    from features.store import FeatureStoreAdapter

    return FeatureStoreAdapter(Lake(root), FeatureStoreSettings(), n_buckets=N_BUCKETS)


# --- steps run in a fresh interpreter, so that their peak memory is their own ------------------------------------


def _step_training_set(root: str, homes: int, days: int) -> dict[str, Any]:
    adapter, labels = _adapter(root), _labels(homes, days)
    adapter.service("forecast_v1")  # Feast imported and the registry read before the clock starts
    started = time.perf_counter()
    frame = adapter.training_set(labels)
    return {"seconds": time.perf_counter() - started, "rows": len(frame), "columns": frame.shape[1]}


def _step_joins_only(root: str, homes: int, days: int) -> dict[str, Any]:
    """The same point-in-time joins through Feast, without the on-demand views."""
    adapter, labels = _adapter(root), _labels(homes, days)
    refs = [
        f"{p.name}:{f.name}"
        for p in adapter.service("forecast_v1").feature_view_projections
        for f in p.features
    ]
    refs = [r for r in refs if not r.startswith(("calendar:", "daylight:"))]
    home = pd.read_parquet(
        Path(root) / "features" / "home" / "home.parquet", columns=["home_id", "weather_point", "price_area"]
    )
    started = time.perf_counter()
    entities = labels.merge(home, on="home_id", how="left")
    frame = adapter.store.get_historical_features(entities, refs, filter_by_created_timestamp=True).to_df()
    return {"seconds": time.perf_counter() - started, "rows": len(frame), "columns": frame.shape[1]}


def _step_baseline(root: str, homes: int, days: int) -> dict[str, Any]:
    """Plain pandas: read the same Parquet frames and ``merge_asof`` them with the views' TTLs."""
    labels, folder = _labels(homes, days), Path(root) / "features"
    started = time.perf_counter()
    home = pd.read_parquet(folder / "home" / "home.parquet").drop(columns=["event_timestamp"])
    frame = labels.merge(home, on="home_id", how="left").sort_values("event_timestamp")
    for name, key, ttl in (
        ("consumption", "home_id", "2D"),
        ("weather", "weather_point", "6h"),
        ("price", "price_area", "6h"),
    ):
        table = pd.read_parquet(folder / name).drop(columns=["available_at"], errors="ignore")
        table = table.rename(columns={"event_timestamp": "feature_ts"}).sort_values("feature_ts")
        frame = pd.merge_asof(frame, table, left_on="event_timestamp", right_on="feature_ts", by=key,
                              tolerance=pd.Timedelta(ttl), direction="backward").drop(columns=["feature_ts"])  # fmt: skip
    return {"seconds": time.perf_counter() - started, "rows": len(frame), "columns": frame.shape[1]}


def _step_feast_file_store(root: str, homes: int, days: int) -> dict[str, Any]:
    """Feast's own ``file`` (Dask) offline store: one home × 30 days of labels against the whole period."""
    from feast import FeatureStore, RepoConfig

    from features.store_config import repo_config_values

    adapter = _adapter(root)
    values = repo_config_values(adapter.settings, adapter.layout) | {"offline_store": {"type": "file"}}
    store = FeatureStore(config=RepoConfig(repo_path=adapter.layout.repo_dir, **values))
    labels = _labels(1, min(days, 30)).assign(weather_point=None, price_area=None)
    home = pd.read_parquet(Path(root) / "features" / "home" / "home.parquet").set_index("home_id")
    point, area = home.loc["h00000", ["weather_point", "price_area"]]
    labels["weather_point"], labels["price_area"] = str(point), str(area)
    refs = [f"consumption:{f}" for f in ("kwh_lag_1h", "kwh_mean_24h")] + [
        "weather:temp_c",
        "price:price_eur_mwh",
    ]
    started = time.perf_counter()
    ours = adapter.store.get_historical_features(labels, refs, filter_by_created_timestamp=True).to_df()
    ours_s = time.perf_counter() - started
    started = time.perf_counter()
    theirs = store.get_historical_features(labels, refs, filter_by_created_timestamp=True).to_df()
    return {
        "seconds": time.perf_counter() - started,
        "asof_seconds": ours_s,
        "rows": len(theirs),
        "asof_rows": len(ours),
    }


STEPS = {
    "training-set": _step_training_set,
    "joins-only": _step_joins_only,
    "baseline": _step_baseline,
    "feast-file-store": _step_feast_file_store,
}


def _in_fresh_process(step: str, root: str, homes: int, days: int) -> dict[str, Any]:
    """Run one step in a new interpreter; its result with its peak RSS [GiB]."""
    args = [sys.executable, "-m", "benchmarks.bench_features", "--step", step, "--lake", root, "--homes", str(homes), "--days", str(days)]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{step} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _run_step(step: str, root: str, homes: int, days: int) -> None:
    import resource

    warnings.simplefilter("ignore")
    result = STEPS[step](root, homes, days)
    result["peak_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps(result))


# --- in-process measurements -------------------------------------------------------------------------------------


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "n": len(ms)}


def _online(adapter: Any, homes: int, reads: int) -> dict[str, Any]:
    """Feast's path (``online_features``) and the direct reader (``online_reader``), calls interleaved so that both
    see the same load; the reader's values are checked against Feast's first."""
    one = [f"h{homes // 2:05d}"]
    hundred = [f"h{i:05d}" for i in range(min(100, homes))]
    started = time.perf_counter()
    reader = adapter.online_reader("forecast_v1")
    built = time.perf_counter() - started
    calls = {"feast": adapter.online_features, "reader": reader.read, "reader_frame": reader.read_frame}
    for call in calls.values():
        call(one)  # warm: registry cache, SQLite connections, holiday calendars
    when = START.to_pydatetime()
    frame = adapter.online_features(hundred, target_ts=when)
    pd.testing.assert_frame_equal(reader.read_frame(hundred, when), frame)
    assert frame["kwh_lag_1h"].notna().all(), "materialised features missing online"
    single, batch = _interleaved(calls, one, reads), _interleaved(calls, hundred, 50)
    return {
        "one_home": _percentiles(single["feast"]),
        "hundred_homes": _percentiles(batch["feast"]),
        "features": frame.shape[1] - 1,
        "reader": {
            "backend": reader.backend,
            "build_s": built,
            "one_home": _percentiles(single["reader"]),
            "hundred_homes": _percentiles(batch["reader"]),
            "one_home_frame": _percentiles(single["reader_frame"]),
            "hundred_homes_frame": _percentiles(batch["reader_frame"]),
        },
    }


def _interleaved(calls: dict[str, Any], homes: list[str], rounds: int) -> dict[str, list[float]]:
    """Seconds of each call per round, the calls taking turns within a round."""
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            started = time.perf_counter()
            call(homes)
            seconds[name].append(time.perf_counter() - started)
    return seconds


def _push_freshness(adapter: Any, pushes: int) -> dict[str, Any]:
    seconds = []
    for i in range(pushes):
        reading = pd.DataFrame(
            {"home_id": ["h00000"], "ts": [START + pd.Timedelta(minutes=15 * i)], "kwh": [i / 100]}
        )
        started = time.perf_counter()
        adapter.push_readings(reading, interval_min=15)
        while adapter.online_features(["h00000"], service="live_v1")["kwh_latest"].iloc[0] != i / 100:
            pass
        seconds.append(time.perf_counter() - started)
    return _percentiles(seconds)


def bench(homes: int, days: int, reads: int, workdir: Path, online_only: bool = False) -> dict[str, Any]:
    root = str(workdir / "lake")
    started = time.perf_counter()
    write_synthetic_tables(root, homes, days)
    generated = time.perf_counter() - started
    adapter = _adapter(root)
    adapter.store  # noqa: B018  (imports Feast, about 6 s, and creates the registry: not part of apply)
    started = time.perf_counter()
    adapter.apply()
    applied = time.perf_counter() - started
    end = (START + pd.Timedelta(days=days)).to_pydatetime()
    started = time.perf_counter()
    adapter.materialize(end=end - pd.Timedelta(hours=1))
    full = time.perf_counter() - started
    started = time.perf_counter()
    adapter.materialize(end=end, incremental=True)
    incremental = time.perf_counter() - started
    result: dict[str, Any] = {
        "homes": homes, "days": days, "label_rows": homes * days * 24, "generate_s": generated, "apply_s": applied,
        "materialize_full_s": full, "materialize_incremental_s": incremental,
        "online": _online(adapter, homes, reads),
    }  # fmt: skip
    if online_only:
        return result | {"online_only": True}
    result["push_freshness"] = _push_freshness(adapter, 200)
    for step in STEPS:
        result[step] = _in_fresh_process(step, root, homes, days)
    result["ratio_to_baseline"] = result["training-set"]["seconds"] / result["baseline"]["seconds"]
    result["joins_ratio_to_baseline"] = result["joins-only"]["seconds"] / result["baseline"]["seconds"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--homes", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--reads", type=int, default=1000, help="online reads of one home")
    parser.add_argument(
        "--online-only", action="store_true", help="apply, materialise and measure online reads only (quick)"
    )
    parser.add_argument("--step", choices=list(STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--lake", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        _run_step(args.step, args.lake, args.homes, args.days)
        return
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory(prefix="eliq-bench-features-") as tmp:
        result = bench(args.homes, args.days, args.reads, Path(tmp), args.online_only)
    _print(result)
    _save(result)


def _save(result: dict[str, Any]) -> None:
    """Add the run to ``RESULTS``, replacing an earlier run of the same size (so both sizes can be kept); an
    ``--online-only`` run replaces only the online figures of an earlier full run of its size."""
    RESULTS.parent.mkdir(exist_ok=True)
    runs = json.loads(RESULTS.read_text()).get("runs", []) if RESULTS.is_file() else []
    size = (result["homes"], result["days"])
    earlier = next((r for r in runs if (r.get("homes"), r.get("days")) == size), None)
    if result.get("online_only") and earlier is not None and not earlier.get("online_only"):
        result = earlier | {"online": result["online"]}
    runs = [r for r in runs if (r.get("homes"), r.get("days")) != size]
    runs = sorted([*runs, result], key=lambda r: (r["homes"], r["days"]))
    meta = {"cpu_count": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version()}
    RESULTS.write_text(json.dumps({"runs": runs, **meta}, indent=2))
    print(f"written to {RESULTS}")


def _print(r: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"eliq feature store: {r['homes']:,} homes × {r['days']} days ({r['label_rows']:,} label rows)"
    )
    for column in ("measurement", "figure", "peak [GiB]"):
        table.add_column(column, justify="right" if column != "measurement" else "left")
    for row in [*_online_rows(r["online"]), *([] if r.get("online_only") else _offline_rows(r))]:
        table.add_row(*row)
    Console(width=140).print(table)


def _online_rows(on: dict[str, Any]) -> list[tuple[str, str, str]]:
    def p(figures: dict[str, float]) -> str:
        return f"p50 {figures['p50_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms"

    def ratio(feast: dict[str, float], reader: dict[str, float]) -> str:
        return f"p50 {feast['p50_ms'] / reader['p50_ms']:.0f}×, p99 {feast['p99_ms'] / reader['p99_ms']:.0f}×"

    rd = on["reader"]
    return [
        (f"online, 1 home, {on['features']} features: Feast path", p(on["one_home"]), ""),
        (f"  direct reader ({rd['backend']}), columns", p(rd["one_home"]), ""),
        ("  direct reader, as a frame", p(rd["one_home_frame"]), ""),
        ("  speed-up of the reader (columns)", ratio(on["one_home"], rd["one_home"]), ""),
        ("online, 100 homes in one call: Feast path", p(on["hundred_homes"]), ""),
        ("  direct reader, columns", p(rd["hundred_homes"]), ""),
        ("  direct reader, as a frame", p(rd["hundred_homes_frame"]), ""),
        ("  speed-up of the reader (columns)", ratio(on["hundred_homes"], rd["hundred_homes"]), ""),
        ("  building the reader (once)", f"{rd['build_s'] * 1000:.0f} ms", ""),
    ]


def _offline_rows(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        ("push → readable online", f"p50 {r['push_freshness']['p50_ms']:.1f} ms, p99 {r['push_freshness']['p99_ms']:.1f} ms", ""),
        ("training set, forecast_v1", f"{r['training-set']['seconds']:.1f} s", f"{r['training-set']['peak_gib']:.2f}"),
        ("  same joins, no on-demand views", f"{r['joins-only']['seconds']:.1f} s", f"{r['joins-only']['peak_gib']:.2f}"),
        ("  baseline: pandas merge_asof", f"{r['baseline']['seconds']:.1f} s", f"{r['baseline']['peak_gib']:.2f}"),
        ("  ratio to baseline (full / joins)", f"{r['ratio_to_baseline']:.1f}× / {r['joins_ratio_to_baseline']:.1f}×", ""),
        ("Feast file store, 1 home × 30 days", f"{r['feast-file-store']['seconds']:.1f} s (as-of store {r['feast-file-store']['asof_seconds']:.2f} s)", f"{r['feast-file-store']['peak_gib']:.2f}"),
        ("materialise, full", f"{r['materialize_full_s']:.1f} s", ""),
        ("materialise, incremental (1 h)", f"{r['materialize_incremental_s']:.1f} s", ""),
        ("apply", f"{r['apply_s']:.1f} s", ""),
    ]  # fmt: skip


if __name__ == "__main__":
    main()
