"""``eliq prep run``: every source from input files to the curated zone and the quality report.

The run is incremental and idempotent: a file already in the manifest is a no-op; only the buckets that new or
superseded files touched are rebuilt. A file's manifest entry is ``committed`` once everything derived from it is
written, so a rerun after a crash finishes the work the crash interrupted.

Besides the files under ``--input``, a run reads what the service's data-management API wrote into the lake since
the last run (:mod:`data_prep.ingest.api_inputs`), leaves homes deleted through the API out of the curated zone
(:mod:`data_prep.deleted_homes`) and purges them once their retention period is over (:mod:`data_prep.purge`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa

from contracts.config import Settings
from contracts.schemas import Source
from contracts.storage import Lake, Zone
from data_prep.ingest.api_inputs import LakeInput, discover_api_inputs
from data_prep.ingest.discovery import InputFile, discover_inputs
from data_prep.ingest.readings import FileContext, parse_readings_file
from data_prep.ingest.source_spec import SourceSpec
from data_prep.ingest.staging import quarantine_path
from data_prep.parallel import WorkerPool, start_workers, worker_state
from data_prep.prep_stages import SmallTables, prep_workers
from data_prep.quality.rules import RuleSet, load_rules
from data_prep.quality_run import ReportPlotter
from data_prep.raw_zone import CopiedFile, RawZone

Progress = Callable[[str, int, int], None]


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


class NothingUsableError(RuntimeError):
    """No row of any new input could be used; the message says why."""


@dataclass
class PrepResult:
    """What a prep run did and where its outputs are.

    Attributes:
        files_seen, files_new: input files and API files listed, and those new to the manifest.
        api_files_new: the new files among them that the service's API wrote.
        homes_purged: homes whose data this run purged (their retention period was over).
        homes_excluded: deleted homes the curated zone leaves out, waiting for their purge.
    """

    lake_uri: str
    files_seen: int = 0
    files_new: int = 0
    api_files_new: int = 0
    rows_in: int = 0
    rows_processed: int = 0
    rows_quarantined: int = 0
    buckets_rebuilt: list[int] = field(default_factory=list)
    report_paths: dict[str, str] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    homes_purged: list[str] = field(default_factory=list)
    homes_excluded: list[str] = field(default_factory=list)


def run_prep(
    input_uri: str | None,
    settings: Settings,
    spec: SourceSpec | None = None,
    sources: set[Source] | None = None,
    truth_uri: str | None = None,
    progress: Progress = _no_progress,
    now: datetime | None = None,
    include_api: bool = True,
) -> PrepResult:
    """Ingest ``input_uri`` and the API's files into the lake of ``settings`` and rebuild what changed.

    Args:
        input_uri: a file or a folder of input files (local path or fsspec URI); ``None`` for the API's files only.
        settings: the configuration; ``settings.storage.root`` is the lake.
        spec: declarations that override ``_source.yaml`` files (e.g. from ``--spec``).
        sources: only these sources; all when ``None``.
        truth_uri: the sample data's ``_truth`` folder, to score detection and imputation in the report.
        progress: called with (stage, done, total) as work advances.
        now: the time of the run (tests pin it); readings after it are future timestamps, and homes whose
            ``purge_after`` is before it are purged.
        include_api: also ingest the readings and profiles the service's API wrote into the lake since the last
            run. Deleted homes are excluded and purged either way.

    Raises:
        NothingUsableError: new inputs arrived but not one row of them could be used.
        data_prep.ingest.discovery.InputError: the input path is missing or holds unknown files.
    """
    from data_prep import prep_stages
    from data_prep.home_lifecycle import begin_lifecycle, finish_lifecycle

    now = now or datetime.now(UTC)
    lake = Lake.from_settings(settings.storage)
    if prep_workers(lake, settings) > 1:
        start_workers(_stage)
    rules = load_rules(settings.prep.rules_file)
    raw = RawZone(lake)
    manifest = raw.read_manifest()
    n_buckets = settings.prep.n_buckets
    lifecycle = begin_lifecycle(lake, manifest, n_buckets, now)
    inputs = _discover(lake, manifest, input_uri, spec, sources, include_api)
    result = PrepResult(lake.uri, files_seen=len(inputs), homes_purged=list(lifecycle.purged))
    result.homes_excluded = sorted(lifecycle.exclusions.excluded)
    new_rows, small = _ingest(lake, raw, manifest, inputs, settings, rules, now, progress, result)
    result.buckets_rebuilt = _buckets_to_rebuild(
        lake, manifest, lifecycle.buckets_to_rebuild(n_buckets), small.tables[Source.BILLS], n_buckets
    )
    excluded = lifecycle.exclusions.excluded
    with ReportPlotter(prep_workers(lake, settings) > 1) as plotter:
        prep_stages.rebuild_buckets(
            lake, manifest, result.buckets_rebuilt, small, settings, rules, progress, excluded, plotter.start
        )
        finish_lifecycle(lake, lifecycle, n_buckets)
        prep_stages.settle_counts(lake, manifest, lifecycle.purged_rows)
        manifest.loc[~manifest["committed"], "committed"] = True
        raw.write_manifest(manifest)
        _summarise(manifest, inputs, result)
        if result.files_new and new_rows == 0:
            raise NothingUsableError(
                f"none of the {result.files_new} new file(s) had a usable row; see the quarantine in "
                f"{lake.path(Zone.QUARANTINE)} for each row's reason"
            )
        result.report_paths = prep_stages.write_quality_report(
            lake, manifest, truth_uri, settings, progress, plotter.helper
        )
    return result


def _buckets_to_rebuild(
    lake: Lake, manifest: pd.DataFrame, lifecycle_buckets: set[int], bills: pd.DataFrame, n_buckets: int
) -> list[int]:
    """The buckets that uncommitted reading files touched, those whose homes were deleted or purged
    (``lifecycle_buckets``), and every bucket with curated rows when a small source changed."""
    from data_prep import prep_stages

    pending = manifest[~manifest["committed"]]
    buckets = prep_stages.pending_buckets(lake, pending[pending["source"] == Source.READINGS.value])
    buckets |= lifecycle_buckets
    if {Source(s) for s in pending["source"].unique()} - {Source.READINGS}:
        # New profiles, bills, weather or prices change every home's curated rows.
        buckets |= prep_stages.curated_buckets(lake, bills, n_buckets)
    return sorted(buckets)


def _discover(
    lake: Lake,
    manifest: pd.DataFrame,
    input_uri: str | None,
    spec: SourceSpec | None,
    sources: set[Source] | None,
    include_api: bool,
) -> list[InputFile | LakeInput]:
    """The input files under ``input_uri``, then the API's files in the lake."""
    found: list[InputFile | LakeInput] = []
    if input_uri is not None:
        found += [i for i in discover_inputs(input_uri, spec) if sources is None or i.source in sources]
    if include_api:
        found += discover_api_inputs(lake, manifest, sources)
    return found


def _ingest(
    lake: Lake,
    raw: RawZone,
    manifest: pd.DataFrame,
    inputs: list[InputFile | LakeInput],
    settings: Settings,
    rules: RuleSet,
    now: datetime,
    progress: Progress,
    result: PrepResult,
) -> tuple[int, SmallTables]:
    """Register every input, stage the new ones, and record them; returns the rows staged and the small tables.

    The small sources' files (profiles, bills, weather, prices) are copied first. Once they are registered, a
    thread of this process stages them and rebuilds their processed tables, the homes table and the lookups
    (:func:`~data_prep.prep_stages.rebuild_small_sources`), which the buckets need next, while the reading files
    are copied; the worker processes stage each reading file as soon as it is copied.

    Invariants:
        The manifest is written only once the new files are staged: after a crash, their hashes are unknown and a
        rerun ingests them again. A small source's processed table may then already hold the new files' rows (it is
        written while the readings are copied); a rerun with the same files rebuilds it, as they are new again.
    """
    # The small sources first, each source in its order.
    inputs = sorted(inputs, key=lambda item: item.source is Source.READINGS)
    n_small = sum(item.source is not Source.READINGS for item in inputs)
    jobs: list[StageJob] = []
    state = {"lake": lake, "settings": settings, "rules": rules, "now": now}
    with (
        WorkerPool(_stage, prep_workers(lake, settings), state) as readings_pool,
        ThreadPoolExecutor(1) as side,
    ):
        small_work = _start_small_sources(side, lake, manifest, jobs, rules) if n_small == 0 else None
        for done, (item, copied) in enumerate(zip(inputs, _copy_in(raw, inputs, now), strict=True)):
            progress("copy", done, len(inputs))
            job = _register(raw, manifest, item, copied, now)
            if job is not None:
                jobs.append(job)
                result.api_files_new += isinstance(item, LakeInput)
                if job.source is Source.READINGS:  # parsed while the next files are copied
                    readings_pool.submit(job)
            if done + 1 == n_small:  # every small file registered: their tables are built while readings copy
                small_work = _start_small_sources(side, lake, manifest, jobs, rules)
        assert small_work is not None  # started before the loop, or at its last small file
        progress("copy", len(inputs), len(inputs))
        result.files_new = len(jobs)
        readings = [j for j in jobs if j.source is Source.READINGS]
        others = [j for j in jobs if j.source is not Source.READINGS]
        progress("parse", 0, len(jobs))
        staged = readings_pool.results(on_done=lambda done, total: progress("parse", done, len(jobs)))
        staged_others, small = small_work.result()
    progress("parse", len(jobs), len(jobs))
    outcomes = dict(zip([j.sha256 for j in readings + others], staged + staged_others, strict=True))
    staged_total = 0
    for job in jobs:
        rows_in, rows_staged, quarantine = outcomes[job.sha256]
        lake.write_table(quarantine_path(lake, job.source.value, job.sha256), quarantine)
        result.messages.extend(_quarantine_messages(job.logical_name, quarantine))
        row = manifest.index[manifest["sha256"] == job.sha256][0]
        manifest.loc[row, ["rows_in", "rows_staged"]] = [rows_in, rows_staged]
        staged_total += rows_staged
    if jobs:
        raw.write_manifest(manifest)
    return staged_total, small


def _register(
    raw: RawZone,
    manifest: pd.DataFrame,
    item: InputFile | LakeInput,
    copied: CopiedFile | None,
    now: datetime,
) -> StageJob | None:
    """Record one input in the manifest; the job that stages it when it is new, else ``None``."""
    if isinstance(item, LakeInput):  # the API's file: recorded where it is, read with the contract as is
        registration, item_spec = raw.register_in_place(item, manifest, now), SourceSpec()
    else:
        registration, item_spec = raw.register(item, manifest, now, copied), item.spec
    if not registration.is_new:
        return None
    row = manifest.index[manifest["sha256"] == registration.sha256][0]
    seq = int(manifest["ingest_seq"].loc[row])
    return StageJob(
        item.source, item.logical_name, item_spec, registration.raw_path, registration.sha256, seq
    )


def _start_small_sources(
    side: ThreadPoolExecutor, lake: Lake, manifest: pd.DataFrame, jobs: list[StageJob], rules: RuleSet
) -> Future[tuple[list[tuple[int, int, pa.Table]], SmallTables]]:
    """Stage the small sources' new files of ``jobs`` and rebuild their tables on ``side``, once every small file
    is registered in ``manifest`` (the sources changed are those with files not committed yet)."""
    changed = {Source(s) for s in manifest.loc[~manifest["committed"], "source"].unique()} - {Source.READINGS}
    others = [j for j in jobs if j.source is not Source.READINGS]
    return side.submit(_small_sources, lake, manifest.copy(), others, changed, rules)


def _small_sources(
    lake: Lake, manifest: pd.DataFrame, jobs: list[StageJob], changed: set[Source], rules: RuleSet
) -> tuple[list[tuple[int, int, pa.Table]], SmallTables]:
    """Stage the small sources' new files, then rebuild the processed table of each changed small source and derive
    what the buckets read from them (the homes table, the weather and price lookups)."""
    from data_prep import prep_stages
    from data_prep.small_sources import parse_small_file

    staged = [
        parse_small_file(lake, j.raw_path, j.source, j.logical_name, j.sha256, j.ingest_seq, j.spec, rules)
        for j in jobs
    ]
    parts = {j.sha256: file.part for j, file in zip(jobs, staged, strict=True)}
    small = prep_stages.rebuild_small_sources(lake, manifest, changed, rules, parts)
    return [(file.rows_in, file.rows_staged, file.quarantine) for file in staged], small


def _copy_in(raw: RawZone, inputs: list[InputFile | LakeInput], now: datetime) -> Iterator[CopiedFile | None]:
    """Each input file copied into the lake, in order, two at a time (hashing and file I/O release the GIL); ``None``
    for the API's files, which are in the lake already."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield from pool.map(
            lambda n_item: (
                None if isinstance(n_item[1], LakeInput) else raw.copy_in(n_item[1], now, n_item[0])
            ),
            enumerate(inputs),
        )


@dataclass(frozen=True)
class StageJob:
    """One new raw file to stage."""

    source: Source
    logical_name: str
    spec: SourceSpec
    raw_path: str
    sha256: str
    ingest_seq: int


def _stage(job: StageJob) -> tuple[int, int, pa.Table]:
    """Stage one raw readings file (in a worker); returns (rows_in, rows_staged, quarantine)."""
    s = worker_state()
    lake, settings, rules = s["lake"], s["settings"], s["rules"]
    parsed = parse_readings_file(
        lake,
        job.raw_path,
        FileContext(job.logical_name, job.sha256, job.ingest_seq),
        job.spec,
        rules.readings,
        settings.prep.n_buckets,
        s["now"],
        settings.prep.csv_block_bytes,
    )
    return parsed.rows_in, parsed.rows_staged, parsed.quarantine


def _quarantine_messages(logical_name: str, quarantine: pa.Table, limit: int = 3) -> list[str]:
    """A few readable lines naming file, line and reason, for the console."""
    frame = quarantine.to_pandas()
    if frame.empty:
        return []
    lines = [
        f"{logical_name}:{'' if pd.isna(r.line) else int(r.line)}: {r.reason}"
        + (f" ({r.detail})" if isinstance(r.detail, str) else "")
        for r in frame.head(limit).itertuples()
    ]
    if len(frame) > limit:
        lines.append(f"{logical_name}: … {len(frame) - limit} more quarantined row(s)")
    return lines


def _summarise(manifest: pd.DataFrame, inputs: list[InputFile | LakeInput], result: PrepResult) -> None:
    seen = manifest[
        manifest["source_file"].isin([i.logical_name for i in inputs]) & (manifest["status"] == "active")
    ]
    result.rows_in = int(pd.to_numeric(seen["rows_in"], errors="coerce").fillna(0).sum())
    result.rows_processed = int(pd.to_numeric(seen["rows_processed"], errors="coerce").fillna(0).sum())
    result.rows_quarantined = int(pd.to_numeric(seen["rows_quarantined"], errors="coerce").fillna(0).sum())


__all__ = ["NothingUsableError", "PrepResult", "run_prep"]
