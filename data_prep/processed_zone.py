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
from data_prep.quality.rules import RuleSet
from data_prep.readings_grid import align, build_grid, deduplicate, infer_intervals


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
        """Clean one bucket's staged rows; ``None`` when there are none."""
        if staged.empty:
            return None
        kept, duplicates = deduplicate(staged)
        intervals = infer_intervals(kept, self.rules.readings.known_intervals_min)
        aligned, rejected = align(kept, intervals, self.rules.readings)
        quarantine = pd.concat([duplicates, rejected], ignore_index=True)
        if aligned.empty:
            return BucketResult(-1, 0, 0, _counts(aligned, quarantine), quarantine, aligned)
        grid = build_grid(aligned, intervals)
        scores, selection = self._clean(grid)
        return BucketResult(
            -1,
            grid[HOME_ID].nunique(),
            len(grid),
            _counts(aligned, quarantine),
            quarantine,
            grid,
            scores,
            selection,
        )

    def _clean(self, grid: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Flag anomalies, mask them, impute, and set the quality flag, in place; returns the imputation scores."""
        from data_prep.quality.anomalies import AnomalyScanner, default_detector_config
        from data_prep.quality.imputation import ImputationSelector

        grid["kwh_raw"] = grid[KWH]
        detectors = self.rules.anomalies or default_detector_config()
        flags = AnomalyScanner(detectors).fit(grid).transform(grid)
        grid["anomaly"] = flags["anomaly"].to_numpy()
        masked = flags["masked"].to_numpy(dtype=bool)
        grid.loc[masked, KWH] = np.nan
        selector = ImputationSelector(**self.imputation.model_dump()).fit(grid)
        filled = selector.transform(grid)
        grid[KWH] = filled[KWH].to_numpy()
        grid["imputation_strategy"] = filled["imputation_strategy"].to_numpy()
        absent = grid["kwh_raw"].isna().to_numpy()
        flag = np.full(len(grid), QualityFlag.OK.value, dtype=object)
        flag[absent & filled["imputed"].to_numpy()] = QualityFlag.IMPUTED.value
        flag[masked] = QualityFlag.ANOMALY.value
        flag[grid[KWH].isna().to_numpy() & ~masked] = QualityFlag.MISSING.value
        grid["quality_flag"] = flag
        return selector.scores_, selector.selection_


def _counts(aligned: pd.DataFrame, quarantine: pd.DataFrame) -> pd.DataFrame:
    kept = aligned.groupby("source_file").size().rename("rows_processed")
    dropped = quarantine.groupby("source_file").size().rename("rows_quarantined")
    counts = pd.concat([kept, dropped], axis=1).fillna(0).astype(np.int64)
    return counts.rename_axis("source_file").reset_index()


def to_processed_table(grid: pd.DataFrame) -> pa.Table:
    columns = [f.name for f in PROCESSED_READINGS]
    return pa.Table.from_pandas(grid[columns], schema=PROCESSED_READINGS, preserve_index=False)


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
    """
    columns = [HOME_ID, TS, KWH, PV_KWH, EXPORT_KWH, INTERVAL_MIN, "quality_flag", "share_imputed"]
    filled = grid[KWH].notna() & (grid["quality_flag"] != QualityFlag.OK.value)
    is_hourly = (grid[INTERVAL_MIN] == 60).to_numpy()
    hourly = grid[is_hourly].assign(share_imputed=filled.to_numpy()[is_hourly].astype(float))[columns]
    sub = grid[grid[INTERVAL_MIN] < 60]
    if sub.empty:
        return hourly.reset_index(drop=True)
    rank = {flag.value: i for i, flag in enumerate(_FLAG_ORDER)}
    frame = sub[[HOME_ID, KWH, PV_KWH, EXPORT_KWH, INTERVAL_MIN]].assign(
        **{
            TS: sub[TS].dt.floor("h"),
            "flag_rank": sub["quality_flag"].map(rank),
            "imputed": filled.to_numpy()[(grid[INTERVAL_MIN] < 60).to_numpy()].astype(float),
        }
    )
    grouped = frame.groupby([HOME_ID, TS], sort=True)
    out = grouped[[KWH, PV_KWH, EXPORT_KWH]].sum(min_count=1)
    out[INTERVAL_MIN] = grouped[INTERVAL_MIN].first()
    out["flag_rank"] = grouped["flag_rank"].max()
    expected = 60 // out[INTERVAL_MIN]
    out.loc[grouped[KWH].count() < expected, KWH] = np.nan
    out["share_imputed"] = grouped["imputed"].sum() / expected
    out["quality_flag"] = np.array([f.value for f in _FLAG_ORDER], dtype=object)[out["flag_rank"].to_numpy()]
    out.loc[out[KWH].isna(), "quality_flag"] = QualityFlag.MISSING.value
    rolled = out.reset_index()[columns]
    return pd.concat([hourly, rolled], ignore_index=True).sort_values([HOME_ID, TS], ignore_index=True)


_FLAG_ORDER = (QualityFlag.OK, QualityFlag.IMPUTED, QualityFlag.ANOMALY, QualityFlag.MISSING)
