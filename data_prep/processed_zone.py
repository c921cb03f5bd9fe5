"""The processed zone of meter readings: one bucket of homes at a time, from staged rows to a clean regular grid.

Layout:
    ``processed/readings/bucket=NNN.parquet``: each home on a regular grid at its native interval.
    ``processed/readings_hourly/bucket=NNN.parquet``: the homes read more often than hourly (15 and 30 minutes),
    rolled up to hours; written without rows when a bucket has none. Hourly homes are in ``processed/readings``
    at their native interval already, and ``curated/consumption_hourly`` holds every home by the hour.
    ``quarantine/readings_series/bucket=NNN.parquet``: rows the series-level rules rejected.
    ``processed/readings/_counts/bucket=NNN.parquet``: rows kept and quarantined per source file.
    ``processed/imputation/bucket=NNN.parquet``: the strategy chosen per home and gap class, with every score.

A bucket's text columns (home, flags, files) are made as integer codes (:class:`data_prep.sorted_runs.Coded`) and
kept as such next to the frame (:attr:`BucketResult.coded`), so the writes convert them without reading strings.

Invariants:
    A bucket is rebuilt from all active staged files at once, so its content does not depend on the order in which
    files arrived. Every staged row is either on the grid (with its ``source_file``) or in the bucket's quarantine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

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
from data_prep.grid_layout import GridLayout, grid_layout
from data_prep.hourly_rollup import FLAG_CODE, FLAG_VALUES, HOURLY_READINGS
from data_prep.quality.rules import RuleSet
from data_prep.readings_grid import VALUE_COLUMNS, SortedRows, align_rows, home_intervals
from data_prep.sorted_runs import (
    Coded,
    arrow_table,
    frame_columns,
    run_codes,
)


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
    coded: dict[str, Coded] = field(default_factory=dict)  # the grid's text columns, as built


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
        source = Coded(*run_codes(staged["source_file"], sort=True))
        counts = _counts(source, positions, quarantine)
        if len(good_rows) == 0:
            empty = aligned.frame(staged, good_rows, positions)
            return BucketResult(-1, 0, 0, counts, quarantine, empty)
        layout = grid_layout(home[good_rows], aligned.slot[good_rows], interval_home, phase_home)
        columns = layout.columns(
            rows.home_ids,
            staged[TS].array.as_unit("us").asi8[positions],
            {c: aligned.values[c][good_rows] for c in VALUE_COLUMNS},
            Coded(source.codes[positions], source.values),
        )
        scores, selection = self._clean(columns, rows.home_ids[layout.homes], layout)
        grid = pd.DataFrame(frame_columns(columns), copy=False)
        coded = {name: c for name, c in columns.items() if isinstance(c, Coded)}
        return BucketResult(
            -1, len(layout.homes), len(grid), counts, quarantine, grid, scores, selection, coded
        )

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
        anomaly, masked = AnomalyScanner(detectors).fit_transform_coded(home_grid)
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
        kwh, imputed, strategy = selector.fit_transform_coded(GapContext.build(slot_grid, kwh))
        flag = np.zeros(len(kwh), dtype=np.int8)
        flag[np.isnan(raw) & imputed] = FLAG_CODE[QualityFlag.IMPUTED]
        flag[masked] = FLAG_CODE[QualityFlag.ANOMALY]
        flag[np.isnan(kwh) & ~masked] = FLAG_CODE[QualityFlag.MISSING]
        columns[KWH] = kwh
        columns["kwh_raw"] = raw
        columns["anomaly"] = anomaly
        columns["imputation_strategy"] = strategy
        columns["quality_flag"] = Coded(flag, FLAG_VALUES)
        return selector.scores_, selector.selection_


def _counts(source: Coded, processed: np.ndarray, quarantine: pd.DataFrame) -> pd.DataFrame:
    """Rows processed (``processed``: positions in ``source``, the staged ``source_file``) and quarantined per
    source file."""
    codes = source.codes[processed]
    per_file = np.bincount(codes[codes >= 0], minlength=len(source.values))
    seen = np.flatnonzero(per_file)
    kept = pd.Series(
        per_file[seen], index=pd.Index(source.values[seen], name="source_file"), name="rows_processed"
    )
    dropped = quarantine.groupby("source_file").size().rename("rows_quarantined")
    counts = pd.concat([kept, dropped], axis=1).fillna(0).astype(np.int64)
    return counts.rename_axis("source_file").reset_index()


def to_processed_table(grid: pd.DataFrame, coded: Mapping[str, Coded] | None = None) -> pa.Table:
    """The processed columns of ``grid`` in the :data:`contracts.schemas.PROCESSED_READINGS` schema.

    Args:
        grid: the processed frame.
        coded: text columns of ``grid`` as codes (:attr:`BucketResult.coded`), converted from the codes.
    """
    return arrow_table(grid, PROCESSED_READINGS, coded)


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


# Statistics only where readers filter (home, time) or they are cheap: a bucket is one row group holding every flag
# and many files, so min/max of the text columns would prune nothing, and they cost 10 % of the write.
_STATISTICS_COLUMNS = [HOME_ID, TS, KWH, "kwh_raw", PV_KWH, EXPORT_KWH, INTERVAL_MIN]


def write_processed_bucket(
    lake: Lake, bucket: int, built: BucketResult, hourly: pd.DataFrame, sample: bool = False
) -> None:
    """Write one bucket's processed readings, the hourly rollup of its sub-hourly homes, series quarantine, row
    counts and quality tables.

    Args:
        hourly: :func:`hourly_rollup` of the grid; only its 15- and 30-minute homes are written (an hourly home is
            in ``processed/readings`` at its native interval already), as an empty table when there are none.
        sample: also write the report's sample series (``quality/sample_series.parquet``) from this bucket.
    """
    grid, coded = built.grid, built.coded
    lake.write_table(
        bucket_file(lake, "readings", bucket),
        to_processed_table(grid, coded),
        write_statistics=_STATISTICS_COLUMNS,
    )
    sub_hourly = hourly[INTERVAL_MIN].to_numpy() < 60
    if not sub_hourly.all():  # filtering copies every column
        hourly = hourly.iloc[np.flatnonzero(sub_hourly)]
    lake.write_table(bucket_file(lake, "readings_hourly", bucket), arrow_table(hourly, HOURLY_READINGS))
    write_series_outcome(lake, bucket, built)
    lake.write_table(
        bucket_file(lake, "readings/_intervals", bucket),
        pa.Table.from_pandas(_home_intervals(grid, coded), preserve_index=False),
    )
    from data_prep.quality.imputation.selector import SCORES_SCHEMA, SELECTION_SCHEMA

    for name, frame, schema in (
        ("imputation_scores", built.imputation_scores, SCORES_SCHEMA),
        ("imputation_selection", built.imputation_selection, SELECTION_SCHEMA),
    ):
        if frame is not None:
            lake.write_table(
                bucket_file(lake, name, bucket, Zone.QUALITY),
                pa.Table.from_pandas(frame, schema=schema, preserve_index=False),
            )
    from data_prep.quality.metrics import home_quality_metrics

    metrics = home_quality_metrics(grid, coded)
    lake.write_table(
        bucket_file(lake, "home_metrics", bucket, Zone.QUALITY),
        pa.Table.from_pandas(metrics, preserve_index=False),
    )
    if sample:
        lake.write_table(
            lake.path(Zone.QUALITY, "sample_series.parquet"),
            pa.Table.from_pandas(_sample_series(grid), preserve_index=False),
        )


def write_series_outcome(lake: Lake, bucket: int, built: BucketResult) -> None:
    """Write the rows the bucket's series rules quarantined and the rows kept and quarantined per source file,
    which the manifest's row counts are settled from."""
    lake.write_table(
        bucket_file(lake, "readings_series", bucket, Zone.QUARANTINE), quarantine_table(built.quarantine)
    )
    lake.write_table(
        bucket_file(lake, "readings/_counts", bucket),
        pa.Table.from_pandas(built.counts, preserve_index=False),
    )


def bucket_outputs(lake: Lake, bucket: int) -> list[str]:
    """Every file :func:`write_processed_bucket` writes for ``bucket`` except the sample series."""
    return [
        bucket_file(lake, "readings", bucket),
        bucket_file(lake, "readings_hourly", bucket),
        bucket_file(lake, "readings_series", bucket, Zone.QUARANTINE),
        bucket_file(lake, "readings/_counts", bucket),
        bucket_file(lake, "readings/_intervals", bucket),
        *(bucket_file(lake, name, bucket, Zone.QUALITY) for name in _QUALITY_TABLES),
    ]


_QUALITY_TABLES = ("imputation_scores", "imputation_selection", "home_metrics")


def _home_intervals(grid: pd.DataFrame, coded: Mapping[str, Coded] | None = None) -> pd.DataFrame:
    """Each home's ``interval_min`` (its first row's), sorted by ``home_id``: equals
    ``grid.groupby(HOME_ID, as_index=False)[INTERVAL_MIN].first()``, from the first row of each run of a home."""
    home = Coded.column(grid, HOME_ID, coded)
    codes = home.codes
    new_run = np.ones(len(codes), dtype=bool)
    np.not_equal(codes[1:], codes[:-1], out=new_run[1:])
    heads = np.flatnonzero(new_run & (codes >= 0))
    seen, first = np.unique(codes[heads], return_index=True)  # a home's first run, per home
    order = np.argsort(home.values[seen], kind="stable")
    rows = heads[first[order]]
    intervals = grid[INTERVAL_MIN]
    return pd.DataFrame({HOME_ID: home.values[seen[order]], INTERVAL_MIN: intervals.array.take(rows)})


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
