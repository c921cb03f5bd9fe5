"""``generate_demo_data``: a realistic input tree (readings, bills, profiles, weather, prices) and its truth.

The wiring only: homes → weather → prices → batches of homes (:mod:`.batch`) → files (:mod:`.writer`).
"""

from __future__ import annotations

import posixpath
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from contracts.storage import Lake
from data_prep.sample_data.batch import BatchResult, World, simulate_batch
from data_prep.sample_data.consumption import CATEGORIES
from data_prep.sample_data.faults import LATE_FILE, FaultRecord
from data_prep.sample_data.homes import DEFAULT_RESOLUTION_MIX, assign_resolutions, sample_homes, timezones
from data_prep.sample_data.prices import prices_table, simulate_prices
from data_prep.sample_data.profiles import JSONL_FILE, render_profiles
from data_prep.sample_data.timegrid import TimeAxis
from data_prep.sample_data.weather import WeatherGrid, simulate_weather
from data_prep.sample_data.writer import csv_bytes, faults_frame, write_readings, write_table_csv

HOMES_PER_FILE = 50
WORKERS = 2  # batches simulated at once; bounds memory to about WORKERS + 1 batches
LOCAL_WH_SOURCE = b"timezone: Europe/Stockholm\nunit: wh\n"
_STREAMS = {"homes": 1, "resolution": 2, "weather": 3, "prices": 4, "profiles": 5}
_FILE_GROUPS = ("15min", "hourly", "local_wh", "daily", "monthly")
_TS = pa.timestamp("us", "UTC")
_TRUTH_SCHEMAS = {
    "readings_clean": pa.schema(
        [("home_id", pa.string()), ("ts", _TS), ("kwh", pa.float64()), ("interval_min", pa.int32())]
    ),
    "categories": pa.schema(
        [("home_id", pa.string()), ("ts", _TS)] + [(c, pa.float64()) for c in CATEGORIES]
    ),
    "pv_production": pa.schema([("home_id", pa.string()), ("ts", _TS), ("pv_kwh", pa.float64())]),
}

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class DemoDataSummary:
    """What :func:`generate_demo_data` wrote.

    Attributes:
        homes_per_resolution: homes per reading resolution (``local_wh`` homes are hourly homes in local Wh).
        rows_per_source: data rows written per source folder (``readings/hourly``, ``bills``, ``weather`` …).
        files: every file written, relative to the output root.
        fault_counts: injected faults per fault type (all types listed, 0 included).
    """

    homes_per_resolution: dict[str, int]
    rows_per_source: dict[str, int]
    files: tuple[str, ...]
    fault_counts: dict[str, int]

    @property
    def n_faults(self) -> int:
        return sum(self.fault_counts.values())


def generate_demo_data(
    out: str,
    homes: int = 60,
    days: int = 120,
    seed: int = 7,
    start: str = "2025-01-01",
    resolution_mix: dict[str, float] | None = None,
    fault_rate: float = 1.0,
    write_truth: bool = True,
    storage_options: dict | None = None,
    progress: Progress | None = None,
) -> DemoDataSummary:
    """Generate a realistic, reproducible input tree of ``homes`` homes over ``days`` local days.

    Args:
        out: fsspec URI or local path of the output root (``memory://demo`` works).
        homes: number of homes.
        days: number of local days from ``start``.
        seed: the seed; the same seed gives byte-identical CSV files.
        start: first local day (ISO date).
        resolution_mix: share of homes per resolution (``15min``, ``hourly``, ``daily``, ``monthly``); monthly
            homes only get bills. Default 0.25 / 0.55 / 0.10 / 0.10.
        fault_rate: scales every fault type's frequency; 0 writes clean data.
        write_truth: also write ``_truth/`` (fault log, clean readings, categories, PV production).
        storage_options: fsspec options for ``out``.
        progress: called as (stage, done, total): ``weather``, ``prices``, ``homes`` (one step per batch of up
            to 50 homes) and ``files`` (bills, profiles, late rows, fault log).

    Returns:
        Counts of what was written.

    Raises:
        ValueError: non-positive ``homes`` or ``days``, negative ``fault_rate`` or a bad ``resolution_mix``.

    Invariants:
        Every file is written under a temporary name and moved into place when complete. Readings and bills of
        a home do not depend on ``fault_rate``; only the faults do.
    """
    if homes < 1 or days < 1 or fault_rate < 0:
        raise ValueError(f"need homes >= 1, days >= 1, fault_rate >= 0; got {homes}, {days}, {fault_rate}")
    report = progress or (lambda stage, done, total: None)
    lake = Lake(out, storage_options)
    written: dict[str, int] = {}

    table = sample_homes(homes, _rng(seed, "homes"))
    table["resolution"] = assign_resolutions(
        table, resolution_mix or DEFAULT_RESOLUTION_MIX, _rng(seed, "resolution")
    )
    world = _weather_and_prices(lake, written, table, TimeAxis.build(start, days, timezones()), seed, report)

    faults: list[FaultRecord] = []
    bills: list[pd.DataFrame] = []
    late: list[pa.Table] = []
    batches = _plan_batches(table)

    def simulate(batch: tuple[str, int, pd.DataFrame]) -> BatchResult:
        group, part, members = batch
        return simulate_batch(members, group, _part_file(group, part), world, seed, fault_rate)

    report("homes", 0, len(batches))
    with ExitStack() as stack:
        truth = _open_truth(lake, stack, written) if write_truth else {}
        results = zip(batches, _ordered_map(simulate, batches), strict=True)
        for done, ((group, part, _), result) in enumerate(results, start=1):
            _write_batch(lake, written, _part_file(group, part), result, truth)
            faults += result.faults
            bills.append(result.bills)
            late += [result.late] if result.late is not None else []
            report("homes", done, len(batches))
    report("files", 0, 1)
    _write_tail(lake, written, table, bills, late, faults, seed, fault_rate, write_truth)
    _remove_stale(lake, written)
    report("files", 1, 1)
    return DemoDataSummary(
        homes_per_resolution={g: int((table["resolution"] == g).sum()) for g in _FILE_GROUPS},
        rows_per_source=_rows_per_source(written),
        files=tuple(sorted(written)),
        fault_counts=_fault_counts(faults),
    )


def _weather_and_prices(
    lake: Lake, written: dict[str, int], homes: pd.DataFrame, axis: TimeAxis, seed: int, report: Progress
) -> World:
    """Simulate and write the weather around the homes and the prices; return what every batch shares."""
    report("weather", 0, 1)
    grid = WeatherGrid.covering(homes["lat"].to_numpy(), homes["lon"].to_numpy())
    weather = simulate_weather(grid, axis, _rng(seed, "weather"))
    weather_table = weather.to_table(axis.hours_utc)
    lake.write_table(lake.path("weather/weather.parquet"), weather_table)
    written["weather/weather.parquet"] = weather_table.num_rows
    world = World.build(axis, weather)
    report("weather", 1, 1)
    report("prices", 0, 1)
    prices = prices_table(simulate_prices(weather, axis, _rng(seed, "prices")))
    _write(lake, written, "prices/prices.csv", lambda h: write_table_csv(h, prices), prices.num_rows)
    report("prices", 1, 1)
    return world


def _rng(seed: int, stream: str) -> np.random.Generator:
    return np.random.default_rng([seed, _STREAMS[stream]])


def _part_file(group: str, part: int) -> str:
    return f"readings/{group}/part-{part:04d}.csv"


def _ordered_map(
    fn: Callable[[tuple[str, int, pd.DataFrame]], BatchResult], items: list[tuple[str, int, pd.DataFrame]]
) -> Iterator[BatchResult]:
    """``fn`` over ``items`` on ``WORKERS`` threads, yielded in order, at most ``WORKERS`` results ahead.

    Threads overlap one batch's numpy and Arrow work (which release the GIL) with the writing of the previous
    one. Every batch has its own random streams, so the output does not depend on scheduling.
    """
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        pending: deque[Future[BatchResult]] = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) > WORKERS:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _plan_batches(homes: pd.DataFrame) -> list[tuple[str, int, pd.DataFrame]]:
    """(resolution, part number, homes) of every batch: up to ``HOMES_PER_FILE`` homes of one resolution."""
    batches = []
    for group in _FILE_GROUPS:
        members = homes[homes["resolution"] == group]
        for part, first in enumerate(range(0, len(members), HOMES_PER_FILE)):
            batches.append((group, part, members.iloc[first : first + HOMES_PER_FILE]))
    return batches


def _write(
    lake: Lake, written: dict[str, int], rel: str, content: bytes | Callable[[Any], None], n_rows: int
) -> None:
    """Write ``content`` (bytes, or a function filling an open handle) to ``rel`` atomically; count rows."""
    with lake.atomic_open(lake.path(rel)) as handle:
        if isinstance(content, bytes):
            handle.write(content)
        else:
            content(handle)
    written[rel] = n_rows


def _open_truth(lake: Lake, stack: ExitStack, written: dict[str, int]) -> dict[str, pq.ParquetWriter]:
    """Parquet writers of the truth tables, appended to batch by batch and moved into place on exit."""
    writers = {}
    for name, schema in _TRUTH_SCHEMAS.items():
        written[f"_truth/{name}.parquet"] = 0
        handle = stack.enter_context(lake.atomic_open(lake.path(f"_truth/{name}.parquet")))
        writers[name] = stack.enter_context(pq.ParquetWriter(handle, schema, compression="zstd"))
    return writers


def _write_batch(
    lake: Lake, written: dict[str, int], file: str, result: BatchResult, truth: dict[str, pq.ParquetWriter]
) -> None:
    rows, labels = result.rows, result.labels
    if rows is not None and labels is not None:
        _write(lake, written, file, lambda h: write_readings(h, rows, labels, result.value_scale), len(rows))
    if truth:
        for name, part in (
            ("readings_clean", result.clean),
            ("categories", result.categories),
            ("pv_production", result.pv),
        ):
            if part is not None:
                truth[name].write_table(part.cast(_TRUTH_SCHEMAS[name]))
                written[f"_truth/{name}.parquet"] += part.num_rows


def _write_tail(
    lake: Lake,
    written: dict[str, int],
    homes: pd.DataFrame,
    bills: list[pd.DataFrame],
    late: list[pa.Table],
    faults: list[FaultRecord],
    seed: int,
    fault_rate: float,
    write_truth: bool,
) -> None:
    """After the batches: late rows, bills, profiles, the local source's declaration, the fault log."""
    if late:
        late_rows = pa.concat_tables(late)
        _write(lake, written, LATE_FILE, lambda h: write_table_csv(h, late_rows), late_rows.num_rows)
    all_bills = pd.concat(bills).sort_values(["home_id", "period_start"], kind="stable")
    _write(lake, written, "bills/bills.csv", csv_bytes(all_bills), len(all_bills))
    profile_files, profile_faults = render_profiles(homes, fault_rate, _rng(seed, "profiles"))
    faults.extend(profile_faults)
    for rel, data in profile_files.items():
        _write(lake, written, rel, data, data.count(b"\n") if rel == JSONL_FILE else 1)
    if (homes["resolution"] == "local_wh").any():
        _write(lake, written, "readings/local_wh/_source.yaml", LOCAL_WH_SOURCE, 0)
    if write_truth:
        log = faults_frame(faults)
        _write(lake, written, "_truth/faults.csv", csv_bytes(log), len(log))


def _remove_stale(lake: Lake, written: dict[str, int]) -> None:
    """Delete part files and documents a previous, larger run left behind, and the empty temporary folder."""
    patterns = ("readings/*/part-*.csv", "profiles/docs/*.json")
    root = lake.root + "/"
    for pattern in patterns:
        for path in lake.glob(lake.path(pattern)):
            if path.startswith(root) and path[len(root) :] not in written:
                lake.rm([path])
    tmp = lake.path("_tmp")
    if lake.exists(tmp) and not lake.fs.ls(tmp):
        lake.fs.rmdir(tmp)


def _rows_per_source(written: dict[str, int]) -> dict[str, int]:
    totals: Counter[str] = Counter()
    for rel, n_rows in written.items():
        folder = posixpath.dirname(rel)
        source = (
            folder if folder.startswith("readings/") or folder.startswith("_truth") else folder.split("/")[0]
        )
        if folder.startswith("_truth"):
            source = rel.removesuffix(".parquet").removesuffix(".csv")
        totals[source] += n_rows
    return dict(sorted(totals.items()))


def _fault_counts(faults: list[FaultRecord]) -> dict[str, int]:
    from data_prep.sample_data.faults import READING_FAULTS

    counts = Counter(f.fault_type for f in faults)
    names = [*READING_FAULTS, "profile_missing_field", "profile_mistyped_field"]
    return {name: counts.get(name, 0) for name in names}
