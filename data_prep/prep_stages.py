"""The stages of a prep run after ingestion: small sources, reading buckets, curated tables and row accounting."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from contracts.config import Settings
from contracts.schemas import HOME_ID, LAT, LON, Source
from contracts.storage import Lake, Zone
from data_prep import curated_zone as curated
from data_prep.curated_hourly import WEATHER_VALUES, HourlyLookup, nearest_points
from data_prep.hourly_rollup import hourly_rollup
from data_prep.ingest.staging import read_staged_bucket, staged_buckets
from data_prep.parallel import map_in_workers, worker_state
from data_prep.processed_zone import (
    ReadingsBucketBuilder,
    bucket_outputs,
    write_processed_bucket,
    write_series_outcome,
)
from data_prep.quality.rules import RuleSet
from data_prep.small_sources import build_small_table

SMALL_SOURCES = (Source.PROFILES, Source.BILLS, Source.WEATHER, Source.PRICES)


def _active(manifest: pd.DataFrame, source: Source) -> list[str]:
    rows = manifest[(manifest["source"] == source.value) & (manifest["status"] == "active")]
    return rows["sha256"].tolist()


def _read_or_empty(lake: Lake, path: str) -> pd.DataFrame:
    return lake.read_table(path).to_pandas() if lake.exists(path) else pd.DataFrame()


@dataclass(frozen=True)
class SmallTables:
    """The small sources' processed tables, with what every bucket derives from them, built once per run.

    Attributes:
        tables: the processed table of each small source (empty when it has none).
        homes: home attributes with the nearest weather point of each home (:func:`homes_table`).
        lookups: weather by point and hour, prices by area and hour (``None`` without weather or prices).
    """

    tables: dict[Source, pd.DataFrame]
    homes: pd.DataFrame
    lookups: tuple[HourlyLookup | None, HourlyLookup | None]


def rebuild_small_sources(
    lake: Lake,
    manifest: pd.DataFrame,
    changed: set[Source],
    rules: RuleSet,
    staged: Mapping[str, pa.Table] | None = None,
) -> SmallTables:
    """Rebuild the processed table of every changed small source, read the others as they are, and derive the
    homes table and the lookups from them.

    Args:
        staged: the parts this run staged, by file hash, so that they are not read back.
    """
    tables = {}
    for source in SMALL_SOURCES:
        if source in changed:
            tables[source], _ = build_small_table(lake, source, _active(manifest, source), rules, staged)
        else:
            tables[source] = _read_or_empty(
                lake, lake.path(Zone.PROCESSED, source.value, f"{source.value}.parquet")
            )
    return SmallTables(tables, homes_table(tables), _lookups(tables))


def pending_buckets(lake: Lake, pending: pd.DataFrame) -> set[int]:
    """The buckets that uncommitted reading files (new or superseded) touched."""
    return staged_buckets(lake, Source.READINGS.value, pending["sha256"])


def all_buckets(lake: Lake) -> set[int]:
    return staged_buckets(lake, Source.READINGS.value)


def curated_buckets(lake: Lake, bills: pd.DataFrame, n_buckets: int) -> set[int]:
    """Every bucket with curated rows to write or to remove: those with staged readings, those of the homes with
    bills, and those with a monthly file (whose homes may have lost their bills)."""
    from data_prep.home_rows import bucket_of_path

    billed = {int(b) for b in curated.bill_buckets(bills, n_buckets)} if len(bills) else set()
    monthly = lake.glob(lake.path(Zone.CURATED, "consumption_monthly", "bucket=*.parquet"))
    return all_buckets(lake) | billed | {b for p in monthly if (b := bucket_of_path(p)) is not None}


def homes_table(small: dict[Source, pd.DataFrame]) -> pd.DataFrame:
    """Home attributes with the nearest weather point of each home."""
    profiles = small[Source.PROFILES]
    if profiles.empty:
        return pd.DataFrame(
            columns=[HOME_ID, LAT, LON, "price_area", "timezone", "weather_lat", "weather_lon"]
        )
    weather = small[Source.WEATHER]
    points = weather[[LAT, LON]].drop_duplicates() if not weather.empty else pd.DataFrame(columns=[LAT, LON])
    return profiles.merge(nearest_points(profiles, points), on=HOME_ID, how="left")


def rebuild_buckets(
    lake: Lake,
    manifest: pd.DataFrame,
    buckets: list[int],
    small: SmallTables,
    settings: Settings,
    rules: RuleSet,
    progress: Any,
    excluded: frozenset[str] = frozenset(),
    on_last: Callable[[], None] | None = None,
) -> None:
    """Rebuild processed and curated readings for ``buckets``; each worker holds one bucket of homes at a time.

    Args:
        excluded: deleted homes (tombstoned, not purged yet): kept in the processed zone, left out of the curated
            zone (consumption and the homes table, which is written at every run).
        on_last: called once only the last bucket is left, when a worker has nothing more to do.
    """
    homes = small.homes
    state = _bucket_state(lake, manifest, small, settings, rules, excluded)
    progress("buckets", 0, len(buckets))

    def on_done(done: int, total: int) -> None:
        progress("buckets", done, total)
        if on_last is not None and done == total - 1:
            on_last()

    map_in_workers(_rebuild_bucket, buckets, prep_workers(lake, settings), state, on_done=on_done)
    progress("buckets", len(buckets), len(buckets))
    _write_homes(lake, homes[~homes[HOME_ID].isin(excluded)])


def prep_workers(lake: Lake, settings: Settings) -> int:
    """Worker processes for a run: none for a ``memory://`` lake, which other processes cannot see."""
    return 1 if "memory" in lake.fs.protocol else settings.prep.workers


def _bucket_state(
    lake: Lake,
    manifest: pd.DataFrame,
    small: SmallTables,
    settings: Settings,
    rules: RuleSet,
    excluded: frozenset[str],
) -> dict[str, Any]:
    """What every bucket reads, derived once per run.

    Workers receive the weather and price lookups as dense arrays rather than the tables they are built from: half
    the bytes to send, and no worker rebuilds them.
    """
    return {
        "lake": lake,
        "manifest": manifest[
            (manifest["source"] == Source.READINGS.value) & (manifest["status"] == "active")
        ],
        "homes": small.homes,
        "zones": small.homes.set_index(HOME_ID)["timezone"]
        if "timezone" in small.homes
        else pd.Series(dtype=object),
        "lookups": small.lookups,
        "bills": small.tables[Source.BILLS],
        "builder": ReadingsBucketBuilder(rules, settings.prep.imputation),
        "n_buckets": settings.prep.n_buckets,
        "excluded": sorted(excluded),
        # The report's sample series comes from the lowest bucket holding rows, whichever worker finishes first.
        "sample_bucket": min(all_buckets(lake), default=-1),
    }


def _rebuild_bucket(bucket: int) -> None:
    s = worker_state()
    lake = s["lake"]
    staged = read_staged_bucket(lake, Source.READINGS.value, _active(s["manifest"], Source.READINGS), bucket)
    built = s["builder"].build(staged) if not staged.empty else None
    if built is None or built.n_rows == 0:  # no rows, or a series rule quarantined every one
        _clear_bucket(lake, bucket)
        if built is not None:
            write_series_outcome(lake, bucket, built)
        curated.write_billed_months(lake, bucket, s["bills"], s["n_buckets"], s["excluded"])
        return
    grid, hourly = built.grid, hourly_rollup(built.grid, built.coded)
    write_processed_bucket(lake, bucket, built, hourly, sample=bucket == s["sample_bucket"])
    excluded = grid[HOME_ID].isin(s["excluded"]).to_numpy() if s["excluded"] else np.zeros(len(grid), bool)
    if excluded.all():  # every home with readings is deleted: at most the billed months of the others
        lake.rm(curated.curated_files(lake, bucket))
        curated.write_billed_months(lake, bucket, s["bills"], s["n_buckets"], s["excluded"])
        return
    if excluded.any():  # filtering copies every column: only when a home is left out
        grid, hourly = grid[~excluded], hourly[~hourly[HOME_ID].isin(s["excluded"])]
    curated.write_curated_bucket(
        lake,
        bucket,
        grid,
        hourly,
        s["homes"],
        s["zones"],
        s["bills"],
        s["lookups"],
        s["n_buckets"],
        s["excluded"],
    )


def _lookups(
    small: dict[Source, pd.DataFrame],
) -> tuple[HourlyLookup | None, HourlyLookup | None]:
    """Weather by point and hour, prices by area and hour, built once per run."""
    weather, prices = small[Source.WEATHER], small[Source.PRICES]
    weather_lookup = None
    if not weather.empty:
        values = [c for c in WEATHER_VALUES if c in weather.columns]
        weather_lookup = HourlyLookup(weather, [LAT, LON], values)
    price_lookup = None if prices.empty else HourlyLookup(prices, ["price_area"], ["price_eur_mwh"])
    return weather_lookup, price_lookup


def _write_homes(lake: Lake, homes: pd.DataFrame) -> None:
    intervals = [
        lake.read_table(p).to_pandas()
        for p in lake.glob(lake.path(Zone.PROCESSED, "readings", "_intervals", "*.parquet"))
    ]
    if intervals:
        homes = homes.merge(pd.concat(intervals), on=HOME_ID, how="left")
    lake.write_table(
        lake.path(Zone.CURATED, "homes", "homes.parquet"),
        pa.Table.from_pandas(homes.reset_index(drop=True), preserve_index=False),
    )


def _clear_bucket(lake: Lake, bucket: int) -> None:
    """Remove every output of a bucket that no longer has rows on the grid."""
    lake.rm([*bucket_outputs(lake, bucket), *curated.curated_files(lake, bucket)])


def settle_counts(lake: Lake, manifest: pd.DataFrame, purged: pd.DataFrame | None = None) -> None:
    """Fill ``rows_processed``, ``rows_quarantined`` and ``rows_purged`` of every active file from what the zones
    now hold and what purges removed.

    Args:
        lake: the lake.
        manifest: the manifest, updated in place.
        purged: rows purged per file, ``staged`` and ``quarantined``, indexed by ``ingest_seq``
            (:func:`data_prep.purge.apply_purge_log`).

    Invariants:
        ``rows_in == rows_processed + rows_quarantined + rows_purged`` for every active file.
    """
    series = _series_quarantine_counts(lake)
    active = manifest["status"] == "active"
    staged = _counts(manifest["rows_staged"])
    key = manifest["source"] + "\x00" + manifest["source_file"]
    lost = _counts(key.map(series))
    purged = purged if purged is not None else pd.DataFrame(columns=["staged", "quarantined"])
    staged_purged = _counts(manifest["ingest_seq"].map(purged["staged"]))
    quarantined_purged = _counts(manifest["ingest_seq"].map(purged["quarantined"]))
    manifest.loc[active, "rows_processed"] = (staged - staged_purged - lost)[active]
    rows_quarantined = _counts(manifest["rows_in"]) - staged + lost - quarantined_purged
    manifest.loc[active, "rows_quarantined"] = rows_quarantined[active]
    manifest.loc[active, "rows_purged"] = (staged_purged + quarantined_purged)[active]


def _series_quarantine_counts(lake: Lake) -> pd.Series:
    """Rows quarantined by cross-file and series rules, by (source, source_file)."""
    frames = []
    for path in lake.glob(lake.path(Zone.QUARANTINE, "readings_series", "*.parquet")):
        frames.append(lake.read_table(path, columns=["source", "source_file"]).to_pandas())
    for source in SMALL_SOURCES:
        path = lake.path(Zone.QUARANTINE, f"{source.value}_series", "all.parquet")
        if lake.exists(path):
            frames.append(lake.read_table(path, columns=["source", "source_file"]).to_pandas())
    if not frames:
        return pd.Series(dtype=np.int64)
    rows = pd.concat(frames, ignore_index=True)
    return (rows["source"] + "\x00" + rows["source_file"]).value_counts()


def write_quality_report(
    lake: Lake,
    manifest: pd.DataFrame,
    truth_uri: str | None,
    settings: Settings,
    progress: Any,
    plot_helper: Any = None,
) -> dict[str, str]:
    """Render the run's quality report (:func:`data_prep.quality_run.write_run_report`; ``plot_helper`` draws
    its plots when given)."""
    from data_prep.quality_run import write_run_report

    progress("report", 0, 1)
    paths = write_run_report(lake, manifest, truth_uri, progress, plot_helper)
    progress("report", 1, 1)
    return paths


def _counts(values: pd.Series) -> pd.Series:
    """Row counts as int64, 0 where unknown (the manifest's count columns are object-typed while files stage)."""
    return pd.to_numeric(values, errors="coerce").fillna(0).astype(np.int64)
