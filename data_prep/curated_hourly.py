"""Curated hourly consumption: each home's hourly kWh joined with its nearest weather point and its area's spot price.

Layout: ``curated/consumption_hourly/bucket=NNN/month=YYYY-MM/part-0.parquet``, so one home's rows are read from one
bucket folder (:func:`read_home_hourly`) and one month's from one ``month=`` folder per bucket.

Invariants:
    Weather and prices join on the same UTC hour as the consumption they describe; nothing from a later hour.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from contracts.schemas import (
    HOME_ID,
    LAT,
    LON,
    PRICE_AREA,
    PRICE_EUR_MWH,
    TS,
    WEATHER_OPTIONAL,
)
from contracts.storage import Lake, Zone, home_bucket
from data_prep.sorted_runs import Coded, arrow_column, run_codes, with_nulls

EARTH_RADIUS_KM = 6371.0
WEATHER_VALUES = ("temp_c", "ghi_w_m2", *WEATHER_OPTIONAL)
HOME_ATTRIBUTES = ("weather_lat", "weather_lon", PRICE_AREA)
# Their stored types, also in a bucket where no home has a value (Arrow would infer a null type there).
_ATTRIBUTE_TYPES = {"weather_lat": pa.float64(), "weather_lon": pa.float64(), PRICE_AREA: pa.string()}
HOURLY_STATISTICS = [HOME_ID, TS]  # what readers filter hourly files on; the others' cost 15 % of a write


def _hours(ts: pd.Series) -> np.ndarray:
    """The hours since 1970-01-01 [h] of each timestamp, rounded down; one division in the column's own unit."""
    per_second = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[ts.array.unit]
    return np.asarray(ts.array.asi8 // (3600 * per_second))


def nearest_points(homes: pd.DataFrame, points: pd.DataFrame) -> pd.DataFrame:
    """The nearest weather point of each home with a position, by great-circle distance.

    Returns:
        ``home_id``, ``weather_lat``, ``weather_lon``, ``weather_distance_km`` [km]; homes without a position are absent.
    """
    located = homes.dropna(subset=[LAT, LON])
    if located.empty or points.empty:
        return pd.DataFrame(columns=[HOME_ID, "weather_lat", "weather_lon", "weather_distance_km"])
    h_lat, h_lon = np.radians(located[LAT].to_numpy())[:, None], np.radians(located[LON].to_numpy())[:, None]
    p_lat, p_lon = np.radians(points[LAT].to_numpy())[None, :], np.radians(points[LON].to_numpy())[None, :]
    a = np.sin((p_lat - h_lat) / 2) ** 2 + np.cos(h_lat) * np.cos(p_lat) * np.sin((p_lon - h_lon) / 2) ** 2
    distance = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0, 1)))
    best = distance.argmin(axis=1)
    return pd.DataFrame(
        {
            HOME_ID: located[HOME_ID].to_numpy(),
            "weather_lat": points[LAT].to_numpy()[best],
            "weather_lon": points[LON].to_numpy()[best],
            "weather_distance_km": distance[np.arange(len(located)), best],
        }
    )


class HourlyLookup:
    """Hourly values by key (a weather point, a price area) and UTC hour, as dense arrays for fast joins.

    Args:
        frame: one row per key and hour.
        keys: the key columns.
        values: the value columns.
    """

    def __init__(self, frame: pd.DataFrame, keys: list[str], values: list[str]) -> None:
        index = pd.MultiIndex.from_frame(frame[keys]) if len(keys) > 1 else pd.Index(frame[keys[0]])
        self.key_index = index.unique()
        hours = _hours(frame[TS])
        self.first_hour = int(hours.min()) if len(hours) else 0
        self.n_hours = int(hours.max()) - self.first_hour + 1 if len(hours) else 0
        row, col = self.key_index.get_indexer(index), hours - self.first_hour
        self.arrays: dict[str, np.ndarray] = {}
        for value in values:
            array = np.full((len(self.key_index), self.n_hours), np.nan)
            array[row, col] = frame[value].to_numpy(dtype=float)
            self.arrays[value] = array
        self._files: dict[str, str] | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as the paths of its arrays, which are saved once to a temporary folder and memory-mapped where
        they are unpickled.

        A run sends its lookups to every worker process: about 100 MB of weather for 1,000 homes over a year. Mapped
        from one file, the workers share those pages instead of each receiving and holding a copy. The folder is
        removed when this lookup is garbage-collected, which its owner (the run) outlives its workers to do.
        """
        if self._files is None:
            folder = tempfile.mkdtemp(prefix="eliq-lookup-")
            weakref.finalize(self, shutil.rmtree, folder, ignore_errors=True)
            self._files = {}
            for position, (name, array) in enumerate(self.arrays.items()):
                self._files[name] = os.path.join(folder, f"{position}.npy")
                np.save(self._files[name], array)
        return _mapped_lookup, (self.key_index, self.first_hour, self.n_hours, self._files)

    def lookup(self, keys: pd.DataFrame | pd.Series, ts: pd.Series) -> dict[str, np.ndarray]:
        """The values at each (key, hour); NaN where the key or the hour is unknown."""
        return self.values_at(self.rows_of(keys), ts)

    def rows_of(self, keys: pd.DataFrame | pd.Series) -> np.ndarray:
        """The row of each key in the lookup's arrays; -1 where the key is unknown."""
        index = pd.MultiIndex.from_frame(keys) if isinstance(keys, pd.DataFrame) else pd.Index(keys)
        return np.asarray(self.key_index.get_indexer(index))

    def values_at(self, row: np.ndarray, ts: pd.Series) -> dict[str, np.ndarray]:
        """The values at each (row from :meth:`rows_of`, hour); NaN where either is unknown."""
        col = _hours(ts) - self.first_hour
        known = (row >= 0) & (col >= 0) & (col < self.n_hours)
        all_known = bool(known.all())
        cells = row * self.n_hours + col if all_known else np.where(known, row * self.n_hours + col, 0)
        out = {}
        for name, array in self.arrays.items():
            values = array.ravel().take(cells) if array.size else np.full(len(row), np.nan)
            if not all_known:
                values[~known] = np.nan
            out[name] = values
        return out


class _HomesOfRows(NamedTuple):
    """The home of each row of a long frame, and each home's attributes, resolved once per home."""

    code: np.ndarray  # per row, the home's position in ``ids``; -1 for a missing home id
    ids: np.ndarray  # the homes, ascending (:func:`run_codes` with ``sort``)
    attributes: pd.DataFrame  # HOME_ATTRIBUTES per home, then an all-null row (code -1)


def _mapped_lookup(key_index: pd.Index, first_hour: int, n_hours: int, files: dict[str, str]) -> HourlyLookup:
    """A lookup whose arrays are memory-mapped, read-only, from the files :meth:`HourlyLookup.__reduce__` saved."""
    lookup = HourlyLookup.__new__(HourlyLookup)
    lookup.key_index, lookup.first_hour, lookup.n_hours = key_index, first_hour, n_hours
    # Viewed as plain arrays (the mapping stays alive through ``.base``): what is taken from them is plain too.
    lookup.arrays = {name: np.load(path, mmap_mode="r").view(np.ndarray) for name, path in files.items()}
    lookup._files = files
    return lookup


def _homes_of_rows(hourly: pd.DataFrame, homes: pd.DataFrame) -> _HomesOfRows:
    code, ids = run_codes(hourly[HOME_ID], sort=True)
    attributes = homes.set_index(HOME_ID)[list(HOME_ATTRIBUTES)].reindex([*ids, None])
    return _HomesOfRows(code, ids, attributes)


def _joined_values(
    hourly: pd.DataFrame, of: _HomesOfRows, weather: HourlyLookup | None, prices: HourlyLookup | None
) -> dict[str, np.ndarray]:
    """Per row, the values of the home's weather point and the price of its area; NaN where an input is absent.

    The weather values the lookup has come first, then the price, then the weather values it lacks.
    """
    out = {}
    if weather is not None:
        points = of.attributes[["weather_lat", "weather_lon"]].set_axis([LAT, LON], axis=1)
        out.update(weather.values_at(weather.rows_of(points)[of.code], hourly[TS]))
    if prices is not None:
        area_rows = prices.rows_of(of.attributes[PRICE_AREA])[of.code]
        out[PRICE_EUR_MWH] = prices.values_at(area_rows, hourly[TS])[PRICE_EUR_MWH]
    for column in (*WEATHER_VALUES, PRICE_EUR_MWH):
        if column not in out:
            out[column] = np.full(len(hourly), np.nan)
    return out


def enrich_hourly(
    hourly: pd.DataFrame, homes: pd.DataFrame, weather: HourlyLookup | None, prices: HourlyLookup | None
) -> pd.DataFrame:
    """Hourly consumption with the home's weather point values and price; absent inputs leave nulls.

    The home attributes and lookup keys are resolved once per home, not once per row.
    """
    of = _homes_of_rows(hourly, homes)
    out: dict[str, Any] = {column: hourly[column] for column in hourly.columns}
    for column in HOME_ATTRIBUTES:
        out[column] = of.attributes[column].to_numpy()[of.code]
    out.update(_joined_values(hourly, of, weather, prices))
    return pd.DataFrame(out, index=hourly.index, copy=False)


def write_hourly_bucket(
    lake: Lake,
    bucket: int,
    hourly: pd.DataFrame,
    homes: pd.DataFrame,
    lookups: tuple[HourlyLookup | None, HourlyLookup | None],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Write one bucket's curated hourly files (:func:`write_hourly_partitions`) from its hourly rollup.

    Returns:
        What the daily totals reuse: each row's home code (-1 for a missing id), the homes in code order, and each
        row's ``temp_c`` [°C].
    """
    of = _homes_of_rows(hourly, homes)
    table, temp_c = _curated_hourly_table(hourly, of, homes, lookups)
    write_hourly_partitions(lake, bucket, table)
    return of.code, of.ids, temp_c


def _curated_hourly_table(
    hourly: pd.DataFrame, of: _HomesOfRows, homes: pd.DataFrame, lookups: tuple[HourlyLookup | None, ...]
) -> tuple[pa.Table, np.ndarray]:
    """``pa.Table.from_pandas`` of :func:`enrich_hourly` (pandas metadata included), without the pandas frame.

    Strings that repeat in runs (home ids, flags) and the per-home attributes are converted once per distinct
    value and spread with an Arrow take, instead of once per row.

    Returns:
        The table, and the ``temp_c`` of each row (daily means use it).
    """
    arrays = {column: arrow_column(hourly[column]) for column in hourly.columns if column != HOME_ID}
    ids = Coded(of.code, of.ids).arrow()
    arrays[HOME_ID] = ids if hourly[HOME_ID].dtype == object else arrow_column(hourly[HOME_ID])
    for column in HOME_ATTRIBUTES:
        arrays[column] = Coded.of(of.code, of.attributes[column].to_numpy()).arrow(_ATTRIBUTE_TYPES[column])
    values = _joined_values(hourly, of, *lookups)
    arrays.update(
        {column: with_nulls(pa.float64(), value, np.isnan(value)) for column, value in values.items()}
    )
    names = [*hourly.columns, *HOME_ATTRIBUTES, *values]
    table = pa.Table.from_arrays([arrays[name] for name in names], names=names)
    empty = enrich_hourly(hourly.iloc[:0], homes, *lookups)
    metadata = pa.Table.from_pandas(empty, schema=table.schema, preserve_index=False).schema.metadata
    return table.replace_schema_metadata(metadata), values["temp_c"]


def write_hourly_partitions(lake: Lake, bucket: int, rows: pd.DataFrame | pa.Table) -> int:
    """Write one bucket's hourly rows as one file per month, replacing the bucket's earlier files."""
    folder = lake.path(Zone.CURATED, "consumption_hourly", f"bucket={bucket:03d}")
    table = rows if isinstance(rows, pa.Table) else pa.Table.from_pandas(rows, preserve_index=False)
    written = set()
    for month, part in _month_parts(table):
        path = f"{folder}/month={month}/part-0.parquet"
        lake.write_table(path, part, write_statistics=HOURLY_STATISTICS)
        written.add(path)
    stale = [p for p in lake.glob(f"{folder}/month=*/part-0.parquet") if p not in written]
    lake.rm(stale)
    return len(written)


def _month_parts(table: pa.Table) -> Iterator[tuple[np.datetime64, pa.Table]]:
    """The rows of each UTC month of ``table``, months ascending, rows in table order within a month.

    Rows sorted by (home, time) make a month one run of rows per home: its part is then a zero-copy concatenation
    of slices of ``table`` rather than a take that copies every row.
    """
    months, label = _utc_months(table[TS].to_numpy())
    heads = np.flatnonzero(np.append(True, label[1:] != label[:-1])) if len(label) else label
    if len(heads) > len(label) // 64 + len(months):  # short runs: a take per month is cheaper
        order = np.argsort(label, kind="stable")
        bounds = np.searchsorted(label[order], np.arange(len(months) + 1))
        for month, start, end in zip(months, bounds[:-1], bounds[1:], strict=True):
            if end > start:
                yield month, table.take(pa.array(order[start:end]))
        return
    stops, head_month = np.append(heads[1:], len(label)), label[heads]
    batches = table.combine_chunks().to_batches()  # one batch: slicing it is cheaper than slicing the table
    for m, month in enumerate(months):
        runs = np.flatnonzero(head_month == m)
        if len(runs):
            pieces = [batches[0].slice(heads[run], stops[run] - heads[run]) for run in runs]
            yield month, pa.Table.from_batches(pieces, schema=table.schema)


def _utc_months(ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The months from the first to the last of UTC instants ``ts`` (some may have no row), and the position of
    each row's month among them; with NaT, only the months that have rows, and NaT last (as ``np.unique``)."""
    if not len(ts) or np.isnat(ts).any():
        months, label = np.unique(ts.astype("datetime64[M]"), return_inverse=True)
        return months, label.reshape(-1)
    months = np.arange(ts.min().astype("datetime64[M]"), ts.max().astype("datetime64[M]") + 1)
    return months, np.searchsorted(months.astype(ts.dtype), ts, side="right") - 1


def read_home_hourly(lake: Lake, home_id: str, n_buckets: int) -> pd.DataFrame:
    """One home's curated hourly rows, reading only its bucket's files."""
    folder = lake.path(Zone.CURATED, "consumption_hourly", f"bucket={home_bucket(home_id, n_buckets):03d}")
    if not lake.exists(folder):
        return pd.DataFrame()
    table = lake.read_table(folder, filters=[(HOME_ID, "=", home_id)])
    return table.to_pandas()
