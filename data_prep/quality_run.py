"""The quality report of a prep run: metrics read back from the lake bucket by bucket, rendered and written.

Outputs, under ``quality/``: ``report.html`` (self-contained), ``report.md`` with ``plots/*.png``,
``metrics.json`` (also kept per run under ``runs/<UTC time>/``), ``home_metrics.parquet`` and ``file_metrics.parquet``.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa

from contracts.schemas import HOME_ID, PROCESSED_READINGS
from contracts.storage import Lake, Zone

Progress = Callable[[str, int, int], None]


SCORE_COLUMNS = ["home_id", "gap_class", "strategy", "mae_kwh", "n_points"]


def _concat(lake: Lake, pattern: str, columns: list[str] | None = None) -> pd.DataFrame:
    """The rows of every Parquet file matching ``pattern``, in path order, as one frame.

    One multi-threaded read of all the files and one conversion to pandas, rather than one of each per file.
    The files' schemas are unified, so a column that is all null in one file takes the type it has in the
    others. ``columns`` name the columns of the empty frame returned when no file has a row.
    """
    import pyarrow.dataset as ds

    paths = lake.glob(pattern)
    if paths:
        files = ds.dataset(paths, filesystem=lake.fs, format="parquet")
        schema = pa.unify_schemas([fragment.physical_schema for fragment in files.get_fragments()])
        table = files.replace_schema(schema).to_table()
        if table.num_rows:
            return table.to_pandas()
    return pd.DataFrame(columns=columns)


def read_quarantine(lake: Lake) -> pd.DataFrame:
    """Every quarantined row of the lake (small next to the data: rejected rows only)."""
    from contracts.schemas import QUARANTINE

    rows = _concat(lake, lake.path(Zone.QUARANTINE, "**", "*.parquet"))
    return rows if not rows.empty else QUARANTINE.empty_table().to_pandas()


def start_plot_helper() -> ProcessPoolExecutor | None:
    """A process that imports Matplotlib at once and then draws the report's plots (pass it to
    :func:`write_run_report`; :class:`ReportPlotter` starts and shuts it down); None where there is no fork server.

    Drawing the plots takes about 0.9 s of CPU, 0.35 s of it importing Matplotlib. Started while this process
    still has other work and a core is free (while the last bucket is built, or at least while the report reads
    its metrics), the helper imports meanwhile, and this process never imports Matplotlib at all.

    Invariants: only for a run with workers, whose fork server (:mod:`data_prep.parallel`) is running: the
    helper is forked from that server, never from this process, whose Arrow thread pools make a fork unsafe.
    """
    import multiprocessing

    from data_prep.quality.figures import preload

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return None  # a spawned helper would first import pandas and the project: about 1.5 s
    helper = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver"))
    helper.submit(preload)
    return helper


class ReportPlotter:
    """The report's plot process (:func:`start_plot_helper`) for one run: started on demand, shut down on exit.

    Args:
        enabled: whether the run has a fork server to start it from (a run with worker processes).
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.helper: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Start the process, once; call it when a core is about to be free (the last bucket is being built)."""
        if self.enabled and self.helper is None:
            self.helper = start_plot_helper()

    def __enter__(self) -> ReportPlotter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.helper is not None:
            self.helper.shutdown(wait=True, cancel_futures=True)


def write_run_report(
    lake: Lake,
    manifest: pd.DataFrame,
    truth_uri: str | None,
    progress: Progress,
    helper: ProcessPoolExecutor | None = None,
) -> dict[str, str]:
    """Compute the run's quality metrics, render the report into the lake, and return where its files are.

    Args:
        helper: draws the plots (:func:`start_plot_helper`); None draws them in this process.
    """
    from data_prep.quality import metrics as m
    from data_prep.quality.report import render_quality_report

    quarantine = read_quarantine(lake)
    home_parts = _concat(lake, lake.path(Zone.QUALITY, "home_metrics", "*.parquet"))
    if home_parts.empty:  # no readings yet: the columns of an empty bucket
        home_parts = m.home_quality_metrics(PROCESSED_READINGS.empty_table().to_pandas())
    home_metrics = m.combine_home_metrics([home_parts])
    file_metrics = m.file_quality_metrics(manifest, quarantine)
    bill_check = _concat(lake, lake.path(Zone.QUALITY, "bill_check", "*.parquet"))
    run_metrics = m.run_quality_metrics(
        home_metrics, file_metrics, bill_check if not bill_check.empty else None
    )
    scores = _concat(lake, lake.path(Zone.QUALITY, "imputation_scores", "*.parquet"), SCORE_COLUMNS)
    selection = _concat(lake, lake.path(Zone.QUALITY, "imputation_selection", "*.parquet"))
    sample_path = lake.path(Zone.QUALITY, "sample_series.parquet")
    sample = lake.read_table(sample_path).to_pandas() if lake.exists(sample_path) else None
    detection, imputation_eval = (None, None)
    if truth_uri is not None:
        detection, imputation_eval = _score_against_truth(lake, truth_uri, quarantine, progress)
    files = render_quality_report(
        run_metrics,
        home_metrics,
        file_metrics,
        m.quarantine_summary(m.quarantine_counts(quarantine)),
        scores,
        detection_eval=detection,
        imputation_eval=imputation_eval,
        sample_series=sample,
        selection=selection if not selection.empty else None,
        helper=helper,
    )
    for name, data in files.items():
        lake.write_bytes(lake.path(Zone.QUALITY, name), data)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    lake.write_bytes(lake.path(Zone.QUALITY, "runs", stamp, "metrics.json"), files["metrics.json"])
    lake.write_table(
        lake.path(Zone.QUALITY, "home_metrics.parquet"),
        pa.Table.from_pandas(home_metrics, preserve_index=False),
    )
    lake.write_table(
        lake.path(Zone.QUALITY, "file_metrics.parquet"),
        pa.Table.from_pandas(file_metrics, preserve_index=False),
    )
    return {
        "quality report": lake.path(Zone.QUALITY, "report.html"),
        "quality report (markdown)": lake.path(Zone.QUALITY, "report.md"),
        "quality metrics": lake.path(Zone.QUALITY, "metrics.json"),
    }


def rows_of_homes(home_ids: pd.Categorical, homes: Any) -> np.ndarray:
    """The mask of the rows of ``homes``, as ``isin`` but null ids match nothing; by integer codes, as the
    truth of every bucket is picked from one table (matching its strings per bucket took 7 ms per 270k rows)."""
    wanted = home_ids.categories.get_indexer(pd.Index(homes).dropna().unique())
    return np.isin(home_ids.codes, wanted[wanted >= 0])


def _score_against_truth(
    lake: Lake, truth_uri: str, quarantine: pd.DataFrame, progress: Progress
) -> tuple[Any, Any]:
    """Detection precision/recall against the fault log and imputation error against clean truth, per bucket."""
    from data_prep.quality import fault_detections as fd
    from data_prep.quality import fault_evaluation as fe

    fs, root = fsspec.core.url_to_fs(truth_uri)
    faults = fd.normalise_fault_log(pd.read_csv(io.BytesIO(fs.cat_file(f"{root}/faults.csv"))))
    clean_path = f"{root}/readings_clean.parquet"
    clean = pd.read_parquet(io.BytesIO(fs.cat_file(clean_path))) if fs.exists(clean_path) else None
    clean_homes = pd.Categorical(clean[HOME_ID]) if clean is not None else None
    events, slots, intervals, errors = [], [], [], []
    buckets = lake.glob(lake.path(Zone.PROCESSED, "readings", "bucket=*.parquet"))
    for done, path in enumerate(buckets):
        progress("scoring", done, len(buckets))
        processed = lake.read_table(path).to_pandas()
        events.append(fd.processed_detection_events(processed))
        slots.append(fd.fault_slot_counts(faults, processed, fe.SLOT_FAULT_TYPES))
        intervals.append(fd.home_intervals(processed))
        if clean is not None and clean_homes is not None:
            rows = rows_of_homes(clean_homes, processed[HOME_ID].unique())
            errors.append(fe.imputation_error_sums(processed, clean.loc[rows]))
    progress("scoring", len(buckets), len(buckets))
    interval_of_home = pd.concat(intervals) if intervals else pd.Series(dtype="int64")
    events.append(
        fd.quarantine_detection_events(quarantine, interval_of_home, sources=faults["source"].unique())
    )
    slot_counts = (
        pd.concat(slots, ignore_index=True)
        if slots
        else pd.DataFrame(columns=["fault_id", "n_gap_flagged", "n_landed"])
    )
    detection = fe.evaluate_detection(
        faults, pd.concat(events, ignore_index=True), slot_counts, interval_of_home
    )
    imputation = fe.combine_imputation_errors(errors) if errors else None
    return detection, imputation
