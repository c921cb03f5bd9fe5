"""``eliq features …``: build the feature tables, register them with Feast, load and read the online store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from pipelines.cli.app import app, settings_of

features_app = typer.Typer(
    help="The feature store: feature tables, Feast registry, online store.", no_args_is_help=True
)
app.add_typer(features_app, name="features")

ServiceOption = Annotated[str, typer.Option(help="Feature service, e.g. forecast_v1.")]


@contextmanager
def _feature_errors() -> Iterator[None]:
    """Known failures become one red line and exit code 1."""
    from pydantic import ValidationError

    from features.store import FeatureStoreError
    from pipelines.cli.progress import console

    try:
        yield
    except (FeatureStoreError, FileNotFoundError, ValueError, ValidationError) as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(code=1) from err


def _adapter(ctx: typer.Context) -> Any:
    from features.store import FeatureStoreAdapter

    return FeatureStoreAdapter.from_settings(settings_of(ctx))


@features_app.command("build")
def build(ctx: typer.Context) -> None:
    """Build the feature tables of the lake's features/ zone from its curated zone."""
    from contracts.storage import Lake
    from pipelines.cli.progress import console, progress_bars

    with _feature_errors():
        from features.transforms.build import build_feature_tables

        settings = settings_of(ctx)
        with progress_bars() as progress:
            result = build_feature_tables(
                Lake.from_settings(settings.storage), settings.prep.n_buckets, progress
            )
    for table, rows in result.rows.items():
        console.print(f"{table:<12} {rows:>12,} rows  {len(result.paths[table])} file(s)")


@features_app.command("apply")
def apply(ctx: typer.Context) -> None:
    """Register every definition of features/definitions.py with the Feast registry."""
    from pipelines.cli.progress import console

    with _feature_errors():
        adapter = _adapter(ctx)
        names = adapter.apply()
    console.print(f"[green]applied[/green] {len(names)} objects to project {adapter.settings.project!r}")
    console.print(f"Feast configuration: {adapter.layout.repo_dir / 'feature_store.yaml'}")


@features_app.command("materialize")
def materialize(
    ctx: typer.Context,
    incremental: Annotated[bool, typer.Option(help="Continue each view from its last run.")] = False,
    start: Annotated[
        datetime | None, typer.Option(help="Earliest event time of a full run, UTC (default: everything).")
    ] = None,
    end: Annotated[
        datetime | None, typer.Option(help="Latest event time to load, UTC (default: now).")
    ] = None,
) -> None:
    """Load the latest feature values into the online store."""
    with _feature_errors():
        runs = _adapter(ctx).materialize(end=end, start=start, incremental=incremental)
    _print_frame(runs.astype(str), "materialised")


@features_app.command("training-set")
def training_set(
    ctx: typer.Context,
    entities: Annotated[
        Path, typer.Option(help="CSV or Parquet with home_id, event_timestamp [, target_ts, labels …].")
    ],
    out: Annotated[Path, typer.Option(help="Output file: .parquet or .csv.")],
    service: ServiceOption = "forecast_v1",
) -> None:
    """Write a point-in-time correct training set for the label rows of --entities."""
    from pipelines.cli.progress import console

    with _feature_errors():
        frame = _read_frame(entities)
        result = _adapter(ctx).training_set(frame, service=service)
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix == ".csv":
            result.to_csv(out, index=False)
        else:
            result.to_parquet(out, index=False)
    console.print(f"[green]wrote[/green] {len(result):,} rows × {result.shape[1]} columns to {out}")


def _read_frame(path: Path) -> Any:
    import pandas as pd

    if not path.is_file():
        raise FileNotFoundError(f"entity file not found: {path}")
    if path.suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    return pd.read_csv(path)


@features_app.command("list")
def list_features(ctx: typer.Context) -> None:
    """List every registered feature with its type, description and owner."""
    with _feature_errors():
        catalog = _adapter(ctx).list_features()
    columns = ["view", "feature", "dtype", "owner", "services", "description"]  # the widest last
    _print_frame(catalog[columns], "registered features", group="view")


@features_app.command("online")
def online(
    ctx: typer.Context,
    home: Annotated[list[str], typer.Option("--home", help="A home id; repeat for several.")],
    service: ServiceOption = "forecast_v1",
) -> None:
    """Read the latest features of some homes from the online store."""
    with _feature_errors():
        frame = _adapter(ctx).online_features(home, service=service)
    _print_frame(frame.set_index("home_id").T.reset_index(names="feature").astype(str), f"{service} online")


def _print_frame(frame: Any, title: str, group: str | None = None) -> None:
    from rich.table import Table

    from pipelines.cli.progress import console

    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column))
    previous = None
    for row in frame.itertuples(index=False):
        values = [str(v) for v in row]
        if group is not None:
            current = getattr(row, group)
            if previous is not None and current != previous:
                table.add_section()
            previous = current
        table.add_row(*values)
    console.print(table)
