"""``eliq score forecast`` (batch scoring of a client's homes into the lake) and ``eliq export forecasts`` (the
stored forecasts with the actuals, for Power BI and Excel)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli.app import app, settings_of

score_app = typer.Typer(
    help="Score a client's homes with a registered model and store the forecasts in the lake.",
    no_args_is_help=True,
)
export_app = typer.Typer(
    help="Export stored forecasts with the actuals, for customer success (Power BI, Excel).",
    no_args_is_help=True,
)
app.add_typer(score_app, name="score")
app.add_typer(export_app, name="export")

ClientOption = Annotated[str, typer.Option("--client", help="The client (tenant) id.")]


class ExportFormat(StrEnum):
    """The export file formats."""

    CSV = "csv"
    PARQUET = "parquet"
    XLSX = "xlsx"


@contextmanager
def _known_errors(*extra: type[Exception]) -> Iterator[None]:
    """Known failures (and ``extra`` ones) become one red line and exit code 1."""
    from pydantic import ValidationError

    from pipelines.cli.progress import console

    known: tuple[type[Exception], ...] = (KeyError, ValueError, FileNotFoundError, ValidationError, *extra)
    try:
        yield
    except known as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        console.print(f"[red]error:[/red] {message}")
        raise typer.Exit(code=1) from err


@score_app.command("forecast")
def score_forecast(
    ctx: typer.Context,
    client: ClientOption,
    issue_time: Annotated[
        str | None,
        typer.Option(
            help="ISO 8601 issue time; naive = each home's local time (default: the trained time on the date "
            "of the last reading)."
        ),
    ] = None,
    alias: Annotated[str, typer.Option(help="Registry alias: champion or challenger.")] = "champion",
) -> None:
    """Forecast every home of a client and store the forecasts in the curated zone (one file per issue date)."""
    from pipelines.cli.progress import console, progress_bars
    from training.integrations.mlflow_registry import RegistryError
    from training.steps.forecast_score import score_forecast as score

    with _known_errors(RegistryError), progress_bars() as bars:
        outcome = score(
            settings_of(ctx),
            client,
            issue_time=issue_time,
            alias=alias,
            progress=lambda done, total: bars("homes", done, total),
        )
    verb = "replaced" if outcome.replaced else "stored"
    console.print(
        f"[green]{verb}[/green] {outcome.n_rows:,} rows for {outcome.n_homes:,} homes of {client}, issued "
        f"{outcome.issue_date}, {outcome.model_name} v{outcome.model_version} ({alias}): {outcome.path}"
    )
    if outcome.homes_without_forecast:
        missing = outcome.homes_without_forecast
        console.print(
            f"[yellow]no forecast[/yellow] for {len(missing)} homes without recent readings: "
            f"{', '.join(missing[:10])}{' …' if len(missing) > 10 else ''}"
        )


@export_app.command("forecasts")
def export_forecasts(
    ctx: typer.Context,
    client: ClientOption,
    start: Annotated[str, typer.Option("--from", help="First local date of the periods (YYYY-MM-DD).")],
    end: Annotated[
        str, typer.Option("--to", help="Local date after the last period (YYYY-MM-DD, exclusive).")
    ],
    homes: Annotated[str | None, typer.Option(help="Comma-separated home ids (default: all).")] = None,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="File format.")] = ExportFormat.CSV,
    out: Annotated[
        Path | None, typer.Option(help="The file to write (default: forecasts_<client>_<from>_<to>.<ext>).")
    ] = None,
) -> None:
    """Write a client's stored forecasts, with the actuals where known, as one long table Power BI reads."""
    from contracts.storage import Lake
    from pipelines.cli.progress import console
    from serving.export import export_forecasts as export

    chosen = homes.split(",") if homes is not None else None
    with _known_errors(OSError):  # e.g. an output folder that cannot be written
        lake = Lake.from_settings(settings_of(ctx).storage)
        outcome = export(lake, client, homes=chosen, start=start, end=end, fmt=fmt.value, out=out)
    sidecar = (
        f" (metadata: {outcome.metadata_path})" if outcome.metadata_path else " (metadata: sheet 'about')"
    )
    console.print(
        f"[green]wrote[/green] {outcome.path}: {outcome.n_rows:,} rows, {outcome.n_homes:,} homes, "
        f"{', '.join(outcome.model_versions)}{sidecar}"
    )
