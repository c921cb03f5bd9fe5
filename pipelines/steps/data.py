"""The data steps of the workflow: ``prep`` (input files → the lake's zones) and ``features`` (curated zone →
feature tables → Feast registry → online store)."""

from __future__ import annotations

from pipelines.steps.context import StepContext, StepOutput


class StepInputError(ValueError):
    """A step was not given an input it needs; the message names it and where to set it."""


class PrepOutput(StepOutput):
    """What ``prep`` did.

    Attributes:
        lake_uri: the lake written.
        input_uri: the input folder read.
        files_seen: input files found.
        files_new: files not seen before (a known file is a no-op).
        rows_in: rows read from the new files.
        rows_processed: rows that reached the processed zone.
        rows_quarantined: rows quarantined, with their reasons.
        buckets_rebuilt: home buckets rebuilt.
        reports: the quality report's files by name (``quality report`` is the HTML one).
    """

    lake_uri: str
    input_uri: str
    files_seen: int
    files_new: int
    rows_in: int
    rows_processed: int
    rows_quarantined: int
    buckets_rebuilt: int
    reports: dict[str, str]


def prep(ctx: StepContext, *, input_uri: str | None = None, truth_uri: str | None = None) -> PrepOutput:
    """Ingest every source under ``input_uri`` into the lake and rebuild what changed (``eliq prep run``).

    Args:
        ctx: the step's context.
        input_uri: the raw input folder (local path or fsspec URI); ``None`` = ``pipeline.input_uri``.
        truth_uri: the sample data's ``_truth`` folder; ``None`` = ``pipeline.truth_uri``.

    Raises:
        StepInputError: no input folder given or configured.
        data_prep.run.NothingUsableError: new inputs arrived but not one row could be used.
    """
    from data_prep.run import run_prep

    pipeline = ctx.settings.pipeline
    uri = input_uri or pipeline.input_uri
    if not uri:
        raise StepInputError("prep needs the raw input folder: pass --input or set pipeline.input_uri")
    result = run_prep(
        uri, ctx.settings, truth_uri=truth_uri or pipeline.truth_uri, progress=ctx.progress.update
    )
    return PrepOutput(
        lake_uri=result.lake_uri,
        input_uri=uri,
        files_seen=result.files_seen,
        files_new=result.files_new,
        rows_in=result.rows_in,
        rows_processed=result.rows_processed,
        rows_quarantined=result.rows_quarantined,
        buckets_rebuilt=len(result.buckets_rebuilt),
        reports=dict(result.report_paths),
    )


class FeaturesOutput(StepOutput):
    """What ``features`` built and loaded.

    Attributes:
        table_rows: rows per feature table written to the lake's ``features/`` zone.
        feast_objects: objects applied to the Feast registry.
        feast_repo: the generated Feast repository (``feature_store.yaml``).
        materialized: one entry per view loaded into the online store: ``view``, ``start``, ``end``, ``mode``.
    """

    table_rows: dict[str, int]
    feast_objects: int
    feast_repo: str
    materialized: list[dict[str, str]]


def features(ctx: StepContext, *, prepared: PrepOutput | None = None) -> FeaturesOutput:
    """Build the feature tables, register them with Feast and load the online store incrementally
    (``eliq features build``, ``apply``, ``materialize --incremental``).

    Args:
        ctx: the step's context.
        prepared: ``prep``'s output when it ran in the same run (ordering only: the lake is the data path).

    Raises:
        FileNotFoundError: the curated zone is empty (``prep`` has not run on this lake).
    """
    from contracts.storage import Lake
    from features.store import FeatureStoreAdapter
    from features.transforms.build import build_feature_tables

    settings = ctx.settings
    ctx.progress.note("building the feature tables")
    built = build_feature_tables(
        Lake.from_settings(settings.storage), settings.prep.n_buckets, ctx.progress.update
    )
    adapter = FeatureStoreAdapter.from_settings(settings)
    ctx.progress.note("registering the definitions with Feast")
    names = adapter.apply()
    ctx.progress.note("loading the online store")
    runs = adapter.materialize(incremental=True)
    return FeaturesOutput(
        table_rows={str(k): int(v) for k, v in built.rows.items()},
        feast_objects=len(names),
        feast_repo=str(adapter.layout.repo_dir),
        materialized=runs.astype(str).to_dict("records"),
    )
