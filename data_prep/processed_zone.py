"""The processed zone of meter readings: one bucket of homes at a time, from staged rows to a clean regular grid.

Layout:
    ``processed/readings/bucket=NNN.parquet``: each home on a regular grid at its native interval.
    ``processed/readings_hourly/bucket=NNN.parquet``: the same, rolled up to hours (15- and 30-minute homes).
    ``quarantine/readings_series/bucket=NNN.parquet``: rows the series-level rules rejected.
    ``processed/readings/_counts/bucket=NNN.parquet``: rows kept and quarantined per source file.
    ``processed/imputation/bucket=NNN.parquet``: the strategy chosen per home and gap class, with every score.

Invariants:
    A bucket is rebuilt from all active staged files at once, so its content does not depend on the order in which
    files arrived. Every staged row is either on the grid (with its ``source_file``) or in the bucket's quarantine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from contracts.config import ImputationSettings
from contracts.schemas import (
    EXPORT_KWH,
    HOME_ID,
    INTERVAL_MIN,
    KWH,
    PROCESSED_READINGS,
    PV_KWH,
    QUARANTINE,
    TS,
    QualityFlag,
)
from contracts.storage import Lake, Zone
from data_prep.quality.rules import RuleSet
from data_prep.readings_grid import (
    VALUE_COLUMNS,
    GridLayout,
    SortedRows,
    align_rows,
    grid_layout,
    home_intervals,
)
from data_prep.sorted_runs import group_sums, run_codes, run_starts, stable_order


def bucket_file(lake: Lake, dataset: str, bucket: int, zone: Zone = Zone.PROCESSED) -> str:
    return lake.path(zone, dataset, f"bucket={bucket:03d}.parquet")


@dataclass(frozen=True)
class BucketResult:
    """What building one bucket produced."""

    bucket: int
    n_homes: int
    n_rows: int
    counts: pd.DataFrame  # source_file, rows_processed, rows_quarantined
    quarantine: pd.DataFrame
    grid: pd.DataFrame  # the processed frame, for metrics and the report
    imputation_scores: pd.DataFrame | None = None
    imputation_selection: pd.DataFrame | None = None


class ReadingsBucketBuilder:
    """Builds the processed readings of one bucket.

    Args:
        rules: validation rules and anomaly detector settings.
        imputation: the :class:`contracts.config.ImputationSettings`.
    """

    def __init__(self, rules: RuleSet, imputation: ImputationSettings) -> None:
        self.rules = rules
        self.imputation = imputation

    def build(self, staged: pd.DataFrame) -> BucketResult | None:
        """Clean one bucket's staged rows; ``None`` when there are none.

        The rules run on arrays (:mod:`data_prep.readings_grid`); the wide frames are built once, at the end.
        """
        if staged.empty:
            return None
        rows = SortedRows.of(staged)
        kept = ~rows.is_repeat
        positions, home, minutes = rows.order[kept], rows.home[kept], rows.minutes[kept]
        interval_home, phase_home = home_intervals(
            home, minutes, len(rows.home_ids), self.rules.readings.known_intervals_min
        )
        aligned = align_rows(
            interval_home[home],
            phase_home[home],
            minutes,
            {c: staged[c].to_numpy()[positions] for c in VALUE_COLUMNS},
            staged["is_mean_kw"].to_numpy()[positions],
            self.rules.readings,
        )
        bad = aligned.bad
        bad_rows, good_rows = np.flatnonzero(bad), np.flatnonzero(~bad)
        rejected = aligned.frame(staged, bad_rows, positions[bad_rows]).assign(
            reason=aligned.reasons(bad_rows)
        )
        quarantine = pd.concat([rows.repeats(staged), rejected], ignore_index=True)
        positions = positions[good_rows]
        counts = _counts(staged["source_file"], positions, quarantine)
        if len(good_rows) == 0:
            empty = aligned.frame(staged, good_rows, positions)
            return BucketResult(-1, 0, 0, counts, quarantine, empty)
        layout = grid_layout(home[good_rows], aligned.slot[good_rows], interval_home, phase_home)
        columns = layout.columns(
            rows.home_ids,
            staged[TS].array.as_unit("us").asi8[positions],
            {c: aligned.values[c][good_rows] for c in VALUE_COLUMNS},
            staged["source_file"].to_numpy(dtype=object)[positions],
        )
        scores, selection = self._clean(columns, rows.home_ids[layout.homes], layout)
        grid = pd.DataFrame(columns, copy=False)
        return BucketResult(-1, len(layout.homes), len(grid), counts, quarantine, grid, scores, selection)

    def _clean(
        self, columns: dict[str, Any], home_ids: np.ndarray, layout: GridLayout
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Flag anomalies, mask them, impute, and set the quality flag; returns the imputation scores.

        Args:
            columns: the grid's columns (:meth:`GridLayout.columns`); ``kwh`` is replaced by the cleaned readings
                and ``kwh_raw``, ``anomaly``, ``imputation_strategy`` and ``quality_flag`` are added, in that order.
            home_ids: the id of each home of ``layout``.
            layout: the grid's layout, which the detectors and the imputation read instead of the frame.
        """
        from data_prep.quality.anomalies import AnomalyScanner, HomeGrid, default_detector_config
        from data_prep.quality.imputation import ImputationSelector
        from data_prep.quality.imputation.grid import GapContext, SlotGrid

        raw, ts_ns = columns[KWH], columns[TS].asi8
        home_grid = HomeGrid(
            kwh=raw,
            ts_ns=ts_ns,
            home_index=pd.Index(home_ids, dtype=object, name=HOME_ID),
            starts=layout.starts,
            lengths=layout.lengths,
            interval_min=layout.home_interval.astype(np.int64),
        )
        detectors = self.rules.anomalies or default_detector_config()
        flags = AnomalyScanner(detectors).fit_transform_grid(home_grid)
        masked = flags["masked"].to_numpy(dtype=bool)
        kwh = raw.copy()
        kwh[masked] = np.nan
        slot_grid = SlotGrid(
            home_ids=home_ids,
            home_first=layout.starts,
            home_last=layout.starts + layout.lengths - 1,
            home_interval_min=home_grid.interval_min,
            code=home_grid.home_code,
            ts_ns=ts_ns,
            weather={},
        )
        selector = ImputationSelector(**self.imputation.model_dump())
        filled = selector.fit_transform_context(GapContext.build(slot_grid, kwh))
        kwh = filled[KWH].to_numpy()
        flag = np.zeros(len(kwh), dtype=np.int8)
        flag[np.isnan(raw) & filled["imputed"].to_numpy()] = _FLAG_CODE[QualityFlag.IMPUTED]
        flag[masked] = _FLAG_CODE[QualityFlag.ANOMALY]
        flag[np.isnan(kwh) & ~masked] = _FLAG_CODE[QualityFlag.MISSING]
        columns[KWH] = kwh
        columns["kwh_raw"] = raw
        columns["anomaly"] = flags["anomaly"].to_numpy()
        columns["imputation_strategy"] = filled["imputation_strategy"].to_numpy()
        columns["quality_flag"] = _FLAG_VALUES[flag]
        return selector.scores_, selector.selection_


def _counts(source_file: pd.Series, processed: np.ndarray, quarantine: pd.DataFrame) -> pd.DataFrame:
    """Rows processed (``processed``: positions in ``source_file``) and quarantined per source file."""
    codes, files = run_codes(source_file, sort=True)
    codes = codes[processed]
    per_file = np.bincount(codes[codes >= 0], minlength=len(files))
    seen = np.flatnonzero(per_file)
    kept = pd.Series(per_file[seen], index=pd.Index(files[seen], name="source_file"), name="rows_processed")
    dropped = quarantine.groupby("source_file").size().rename("rows_quarantined")
    counts = pd.concat([kept, dropped], axis=1).fillna(0).astype(np.int64)
    return counts.rename_axis("source_file").reset_index()


def to_processed_table(grid: pd.DataFrame) -> pa.Table:
    """The processed columns of ``grid`` in the :data:`contracts.schemas.PROCESSED_READINGS` schema.

    Equals ``pa.Table.from_pandas`` of those columns, pandas metadata included; a text column is converted run by
    run (a home's id, its flags and its files repeat over long runs of rows) instead of row by row.
    """
    columns = [f.name for f in PROCESSED_READINGS]
    empty = pa.Table.from_pandas(grid.iloc[:0][columns], schema=PROCESSED_READINGS, preserve_index=False)
    arrays = [_arrow_column(grid[f.name], f.type) for f in PROCESSED_READINGS]
    return pa.Table.from_arrays(arrays, schema=empty.schema)


def _arrow_column(column: pd.Series, arrow_type: pa.DataType) -> pa.Array:
    values = column.to_numpy() if column.dtype == object else None
    heads = run_starts(values) if values is not None and len(values) else None
    if values is None or heads is None:
        return pa.array(column, type=arrow_type, from_pandas=True)
    run_ends = pa.array(np.append(heads[1:], len(values)), type=pa.int64())
    runs = pa.RunEndEncodedArray.from_arrays(
        run_ends, pa.array(values[heads], type=arrow_type, from_pandas=True)
    )
    return pc.run_end_decode(runs)


def quarantine_table(rows: pd.DataFrame) -> pa.Table:
    """Series-level quarantine rows in the quarantine schema."""
    if rows.empty:
        return QUARANTINE.empty_table()
    from data_prep.ingest.staging import QuarantineLog

    records = (rows[HOME_ID].astype(str) + "," + rows[TS].astype(str) + "," + rows[KWH].astype(str)).tolist()
    parts = []
    for source_file, group in rows.groupby("source_file", sort=False):
        log = QuarantineLog("readings", str(source_file))
        log.add(
            group["reason"].to_numpy(),
            group["line"].to_numpy(),
            [records[i] for i in np.flatnonzero(rows["source_file"].to_numpy() == source_file)],
            None,
            group[HOME_ID].tolist(),
            group[TS],
        )
        parts.append(log.table())
    return pa.concat_tables(parts)


def hourly_rollup(grid: pd.DataFrame) -> pd.DataFrame:
    """Roll 15- and 30-minute homes up to hours; hourly homes pass through; daily homes are left out.

    An hour's ``kwh`` is null unless every slot in it has a value. ``share_imputed`` is the share of slots imputed;
    ``quality_flag`` is the worst flag of its slots (missing > anomaly > imputed > ok).

    Invariants:
        The hour of a slot is the hour its interval starts in, so an hour's energy covers exactly that hour.
        Rows come sorted by (``home_id``, ``ts``).
    """
    interval = grid[INTERVAL_MIN].to_numpy()
    flag, flags = run_codes(grid["quality_flag"])
    filled = grid[KWH].notna().to_numpy() & ~np.append(flags == QualityFlag.OK.value, False)[flag]
    hourly_rows = np.flatnonzero(interval == 60)
    columns = {c: _take(grid[c], hourly_rows) for c in _HOURLY_COLUMNS[:-1]}
    columns["share_imputed"] = filled[hourly_rows].astype(float)
    hourly = pd.DataFrame(columns, copy=False)  # fresh arrays: no need to copy them again
    sub_rows = np.flatnonzero(interval < 60)
    if len(sub_rows) == 0:
        return hourly
    both = pd.concat([hourly, _roll_up_to_hours(grid, sub_rows, filled[sub_rows])], ignore_index=True)
    home, _ = run_codes(both[HOME_ID], sort=True)
    both = both.take(stable_order(home, both[TS].array.asi8))
    both.index = pd.RangeIndex(len(both))
    return both


def _take(column: pd.Series, rows: np.ndarray) -> Any:
    """``rows`` of ``column`` as a new array (numpy, or the column's extension array)."""
    values = column.array if isinstance(column.dtype, pd.api.extensions.ExtensionDtype) else column.to_numpy()
    return values.take(rows)


def _roll_up_to_hours(grid: pd.DataFrame, rows: np.ndarray, filled: np.ndarray) -> pd.DataFrame:
    """The hours of the sub-hourly ``rows`` of ``grid`` (``filled``: per row, a value that was filled in)."""
    hour = grid[TS].array.take(rows).floor("h")
    home, home_ids = run_codes(grid[HOME_ID].iloc[rows], sort=True)
    order = stable_order(home, hour.asi8)
    rows, home, hour, filled = rows[order], home[order], hour.take(order), filled[order]
    new_hour = np.ones(len(rows), dtype=bool)
    new_hour[1:] = (home[1:] != home[:-1]) | (hour.asi8[1:] != hour.asi8[:-1])
    first = np.flatnonzero(new_hour)
    size = np.diff(np.append(first, len(rows)))
    out: dict[str, Any] = {HOME_ID: home_ids[home[first]], TS: hour.take(first)}
    for column in (KWH, PV_KWH, EXPORT_KWH):
        out[column], count = group_sums(grid[column].to_numpy()[rows], first, size)
        if column == KWH:
            kwh_count = count
    interval = grid[INTERVAL_MIN].to_numpy()[rows][first]
    expected = 60 // interval
    out[KWH][kwh_count < expected] = np.nan
    out[INTERVAL_MIN] = interval
    flag = grid["quality_flag"].to_numpy()[rows]
    rank = np.zeros(len(rows), dtype=np.int64)
    for code, value in enumerate(_FLAG_VALUES[1:], start=1):
        rank[flag == value] = code
    worst = np.maximum.reduceat(rank, first)
    worst[np.isnan(out[KWH])] = _FLAG_CODE[QualityFlag.MISSING]
    out["quality_flag"] = _FLAG_VALUES[worst]
    out["share_imputed"] = np.add.reduceat(filled.astype(float), first) / expected
    return pd.DataFrame(out, columns=_HOURLY_COLUMNS, copy=False)


_HOURLY_COLUMNS = [HOME_ID, TS, KWH, PV_KWH, EXPORT_KWH, INTERVAL_MIN, "quality_flag", "share_imputed"]
# The order is the rank: the worst flag of an hour's slots is the hour's flag.
_FLAG_ORDER = (QualityFlag.OK, QualityFlag.IMPUTED, QualityFlag.ANOMALY, QualityFlag.MISSING)
_FLAG_VALUES = np.array([f.value for f in _FLAG_ORDER], dtype=object)
_FLAG_CODE = {f: i for i, f in enumerate(_FLAG_ORDER)}


def write_processed_bucket(lake: Lake, bucket: int, built: BucketResult, hourly: pd.DataFrame) -> None:
    """Write one bucket's processed readings, hourly rollup, series quarantine, row counts and quality tables."""
    grid = built.grid
    lake.write_table(bucket_file(lake, "readings", bucket), to_processed_table(grid))
    lake.write_table(
        bucket_file(lake, "readings_hourly", bucket),
        pa.Table.from_pandas(hourly, preserve_index=False),
    )
    lake.write_table(
        bucket_file(lake, "readings_series", bucket, Zone.QUARANTINE), quarantine_table(built.quarantine)
    )
    lake.write_table(
        bucket_file(lake, "readings/_counts", bucket),
        pa.Table.from_pandas(built.counts, preserve_index=False),
    )
    intervals = grid.groupby(HOME_ID, as_index=False)[INTERVAL_MIN].first()
    lake.write_table(
        bucket_file(lake, "readings/_intervals", bucket),
        pa.Table.from_pandas(intervals, preserve_index=False),
    )
    for name, frame in (
        ("imputation_scores", built.imputation_scores),
        ("imputation_selection", built.imputation_selection),
    ):
        if frame is not None:
            lake.write_table(
                bucket_file(lake, name, bucket, Zone.QUALITY),
                pa.Table.from_pandas(frame, preserve_index=False),
            )
    from data_prep.quality.metrics import home_quality_metrics

    metrics = home_quality_metrics(grid)
    lake.write_table(
        bucket_file(lake, "home_metrics", bucket, Zone.QUALITY),
        pa.Table.from_pandas(metrics, preserve_index=False),
    )
    if bucket == 0 or not lake.exists(lake.path(Zone.QUALITY, "sample_series.parquet")):
        sample = _sample_series(grid)
        lake.write_table(
            lake.path(Zone.QUALITY, "sample_series.parquet"),
            pa.Table.from_pandas(sample, preserve_index=False),
        )


def _sample_series(grid: pd.DataFrame, n_homes: int = 2, days: int = 14) -> pd.DataFrame:
    """Two weeks of the homes with the most flagged rows: the part of the data worth looking at."""
    flagged = grid[grid["quality_flag"] != "ok"].groupby(HOME_ID).size().sort_values(ascending=False)
    chosen = list(flagged.index[:n_homes]) or list(grid[HOME_ID].unique()[:n_homes])
    rows = grid[grid[HOME_ID].isin(chosen)]
    flagged_ts = rows.loc[rows["quality_flag"] != "ok", "ts"]
    centre = pd.Timestamp((flagged_ts if len(flagged_ts) else rows["ts"]).median())
    half = pd.Timedelta(days=days / 2)
    window = (rows["ts"] >= centre - half) & (rows["ts"] < centre + half)
    return rows[window].reset_index(drop=True)
