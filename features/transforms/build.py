"""Build every feature table of the lake's ``features/`` folder from its curated and processed zones.

Layout (Feast reads these as FileSource offline data):
    ``features/consumption/bucket=NNN.parquet``: one file per home bucket, the bucket of the curated zone.
    ``features/weather/weather.parquet``, ``features/price/price.parquet``, ``features/home/home.parquet``.

Memory stays bounded: consumption is built one bucket of homes at a time. Every table is written, empty when its
input is absent, so a Feast source always finds its file.

Invariants:
    Each file is written atomically (``Lake.write_table``); a reader sees the previous version or the new one.
    Each table's ``event_timestamp`` is the moment all of its row's values were known (see each module).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa

from contracts.schemas import HOME_ID, KWH, LAT, LON, PRICE_AREA, PRICE_EUR_MWH, TS
from contracts.storage import Lake, Zone
from features.transforms.consumption import CONSUMPTION_SCHEMA, SHARE_IMPUTED, consumption_feature_table
from features.transforms.home import HOME_SCHEMA, home_feature_table
from features.transforms.price import PRICE_SCHEMA, price_feature_table
from features.transforms.weather import WEATHER_INPUTS, WEATHER_SCHEMA, weather_feature_table

FEATURES_ZONE = "features"
Progress = Callable[[str, int, int], None]


@dataclass
class FeatureTablesResult:
    """What a build wrote: rows per table and the paths of its files."""

    lake_uri: str
    rows: dict[str, int] = field(default_factory=dict)
    paths: dict[str, list[str]] = field(default_factory=dict)
    homes_with_consumption: int = 0

    def add(self, table: str, path: str, rows: int) -> None:
        self.rows[table] = self.rows.get(table, 0) + rows
        self.paths.setdefault(table, []).append(path)


def feature_table_path(lake: Lake, table: str, bucket: int | None = None) -> str:
    """The path of a feature table's file: ``features/<table>/<table>.parquet`` or ``…/bucket=NNN.parquet``."""
    name = f"bucket={bucket:03d}.parquet" if bucket is not None else f"{table}.parquet"
    return lake.path(FEATURES_ZONE, table, name)


def _read_or_none(lake: Lake, path: str, columns: list[str] | None = None) -> pd.DataFrame | None:
    """The table at ``path`` (a file or a hive-partitioned folder), only ``columns`` that it has; None if absent."""
    if not lake.exists(path):
        return None
    if columns is not None:
        import pyarrow.dataset as ds

        available = set(
            ds.dataset(path, filesystem=lake.fs, format="parquet", partitioning="hive").schema.names
        )
        columns = [c for c in columns if c in available]
    return lake.read_table(path, columns=columns).to_pandas()


def _write(
    lake: Lake, result: FeatureTablesResult, name: str, path: str, frame: pd.DataFrame, schema: pa.Schema
) -> None:
    lake.write_table(path, pa.Table.from_pandas(frame, schema=schema, preserve_index=False))
    result.add(name, path, len(frame))


def build_feature_tables(lake: Lake, n_buckets: int, progress: Progress | None = None) -> FeatureTablesResult:
    """Build and write every feature table of the spec from the lake's curated and processed zones.

    Args:
        lake: the lake; reads ``curated/homes``, ``curated/consumption_hourly``, ``processed/weather`` and
            ``processed/prices``, writes ``features/``.
        n_buckets: the home buckets of the curated zone (``settings.prep.n_buckets``).
        progress: called with (stage, done, total) as work advances.

    Raises:
        FileNotFoundError: the curated zone has no homes table (run ``eliq prep run`` first).

    Invariants:
        One bucket of homes is in memory at a time; a stale consumption bucket file (from a larger ``n_buckets``)
        is removed, so the folder holds exactly the current buckets. A metered home without a profile gets a
        home row with every attribute unknown.
    """
    report = progress or (lambda stage, done, total: None)
    result = FeatureTablesResult(lake_uri=lake.uri)
    homes = _read_or_none(lake, lake.path(Zone.CURATED, "homes", "homes.parquet"))
    if homes is None:
        raise FileNotFoundError(f"no curated homes table in {lake.uri}: run `eliq prep run` first")
    _build_small_tables(lake, result, report)
    metered = _build_consumption(lake, result, homes, n_buckets, report)
    report("home", 0, 1)
    unprofiled = pd.DataFrame({HOME_ID: sorted(metered - set(homes[HOME_ID].astype(str)))})
    everyone = pd.concat([homes, unprofiled], ignore_index=True) if len(unprofiled) else homes
    _write(lake, result, "home", feature_table_path(lake, "home"), home_feature_table(everyone), HOME_SCHEMA)
    report("home", 1, 1)
    return result


def _build_consumption(
    lake: Lake, result: FeatureTablesResult, homes: pd.DataFrame, n_buckets: int, report: Progress
) -> set[str]:
    """Write one consumption file per bucket, removing stale ones; returns the homes that have rows.

    Invariants:
        One bucket of homes is in memory at a time.
    """
    zones = (
        homes.drop_duplicates(HOME_ID).set_index(HOME_ID)["timezone"] if "timezone" in homes else pd.Series()
    )
    metered: set[str] = set()
    for bucket in range(n_buckets):
        report("consumption", bucket, n_buckets)
        folder = lake.path(Zone.CURATED, "consumption_hourly", f"bucket={bucket:03d}")
        hourly = _read_or_none(lake, folder, [HOME_ID, TS, KWH, SHARE_IMPUTED])
        table = consumption_feature_table(hourly if hourly is not None else _empty_hourly(), zones)
        metered.update(table[HOME_ID].unique())
        path = feature_table_path(lake, "consumption", bucket)
        _write(lake, result, "consumption", path, table, CONSUMPTION_SCHEMA)
    report("consumption", n_buckets, n_buckets)
    current = set(result.paths["consumption"])
    lake.rm([p for p in lake.glob(lake.path(FEATURES_ZONE, "consumption", "*.parquet")) if p not in current])
    result.homes_with_consumption = len(metered)
    return metered


def _build_small_tables(lake: Lake, result: FeatureTablesResult, report: Progress) -> None:
    """The weather and price tables: each input fits in memory (grid points and areas, not homes)."""
    builders = {
        "weather": ("weather", weather_feature_table, WEATHER_SCHEMA, [LAT, LON, TS, *WEATHER_INPUTS]),
        "price": ("prices", price_feature_table, PRICE_SCHEMA, [PRICE_AREA, TS, PRICE_EUR_MWH]),
    }
    for name, (source, build, schema, columns) in builders.items():
        report(name, 0, 1)
        frame = _read_or_none(lake, lake.path(Zone.PROCESSED, source, f"{source}.parquet"), columns)
        table = build(frame) if frame is not None else schema.empty_table().to_pandas()
        _write(lake, result, name, feature_table_path(lake, name), table, schema)
        report(name, 1, 1)


def _empty_hourly() -> pd.DataFrame:
    return pd.DataFrame(
        {
            HOME_ID: pd.Series(dtype=object),
            TS: pd.Series(dtype="datetime64[ns, UTC]"),
            KWH: pd.Series(dtype=float),
            SHARE_IMPUTED: pd.Series(dtype=float),
        }
    )
