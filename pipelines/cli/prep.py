"""``eliq prep …``: ingest sources into the raw, processed and curated zones."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from pipelines.cli.app import app

prep_app = typer.Typer(help="Ingest data into the raw, processed and curated zones.", no_args_is_help=True)
app.add_typer(prep_app, name="prep")

InputOption = Annotated[
    str, typer.Option("--input", "-i", help="Input file or folder (local path or fsspec URI).")
]
SpecOption = Annotated[
    Path | None,
    typer.Option(help="A source spec YAML (time zone, unit, column names) applied to every file."),
]
TimezoneOption = Annotated[
    str | None, typer.Option(help="IANA time zone of naive timestamps, e.g. Europe/Stockholm.")
]
UnitOption = Annotated[
    str | None, typer.Option(help="Energy unit of the values: kwh, wh, mwh, kw_mean or w_mean.")
]


@prep_app.command("run")
def run(
    ctx: typer.Context,
    input: Annotated[
        str | None,
        typer.Option(
            "--input", "-i", help="Input file or folder (local path or fsspec URI); omit for the API's only."
        ),
    ] = None,
    spec: SpecOption = None,
    truth: Annotated[
        str | None, typer.Option(help="The sample data's _truth folder, to score the framework.")
    ] = None,
    api: Annotated[
        bool,
        typer.Option(
            "--api/--no-api", help="Also ingest the readings and profiles sent to the service's API."
        ),
    ] = True,
) -> None:
    """Run every source found under --input and what came through the API, end to end; exclude deleted homes, purge
    those past their retention, and write the quality report."""
    if input is None and not api:
        from pipelines.cli.progress import console

        console.print("[red]error:[/red] nothing to ingest: give --input, or leave out --no-api")
        raise typer.Exit(code=1)
    _run(ctx, input, spec, None, None, None, truth, include_api=api)


def _source_command(source_name: str) -> Any:
    def command(
        ctx: typer.Context,
        input: InputOption,
        spec: SpecOption = None,
        timezone: TimezoneOption = None,
        unit: UnitOption = None,
    ) -> None:
        _run(ctx, input, spec, source_name, timezone, unit, None)

    command.__doc__ = f"Ingest {source_name} only."
    return command


for _name in ("readings", "bills", "profiles", "weather", "prices"):
    prep_app.command(_name)(_source_command(_name))


def _run(
    ctx: typer.Context,
    input_uri: str | None,
    spec_path: Path | None,
    source_name: str | None,
    timezone: str | None,
    unit: str | None,
    truth: str | None,
    include_api: bool = False,
) -> None:
    from pydantic import ValidationError

    from contracts.config import load_settings
    from contracts.schemas import Source
    from data_prep.ingest.discovery import InputError
    from data_prep.ingest.source_spec import SourceSpec, load_spec
    from data_prep.run import NothingUsableError, run_prep
    from pipelines.cli.progress import console, progress_bars

    try:
        settings = load_settings(ctx.obj.get("config"))
        spec = load_spec(spec_path) if spec_path else None
        overrides = {
            k: v for k, v in {"timezone": timezone, "unit": unit, "source": source_name}.items() if v
        }
        if overrides:
            spec = (spec or SourceSpec()).merged(SourceSpec.model_validate(overrides))
        sources = {Source(source_name)} if source_name else None
        with progress_bars() as progress:
            result = run_prep(
                input_uri,
                settings,
                spec=spec,
                sources=sources,
                truth_uri=truth,
                progress=progress,
                include_api=include_api,
            )
    except (InputError, NothingUsableError, FileNotFoundError, ValidationError) as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(code=1) from err
    _print_result(result, console)


def _print_result(result: Any, console: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    for message in result.messages[:20]:
        console.print(f"[yellow]quarantined[/yellow] {escape(message)}")
    if len(result.messages) > 20:
        console.print(
            "[yellow]… and more; every quarantined row is in the quarantine zone with its reason[/yellow]"
        )
    table = Table(title="prep run", show_header=False)
    table.add_row("files seen / new", f"{result.files_seen} / {result.files_new}")
    table.add_row("rows in", f"{result.rows_in:,}")
    table.add_row("rows processed", f"{result.rows_processed:,}")
    table.add_row("rows quarantined", f"{result.rows_quarantined:,}")
    table.add_row("buckets rebuilt", str(len(result.buckets_rebuilt)))
    table.add_row("new files from the API", str(result.api_files_new))
    if result.homes_excluded or result.homes_purged:
        table.add_row(
            "deleted homes left out / purged", f"{len(result.homes_excluded)} / {len(result.homes_purged)}"
        )
    for zone in ("raw", "processed", "quarantine", "curated"):
        table.add_row(f"{zone} zone", f"{result.lake_uri.rstrip('/')}/{zone}")
    for name, path in result.report_paths.items():
        table.add_row(name, path)
    console.print(table)
