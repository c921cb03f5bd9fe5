"""The root ``eliq`` app and its global options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="eliq",
    help="eliq: energy forecasting and insights from smart-meter data.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="eliq.yaml to use (default: $ELIQ_CONFIG or ./eliq.yaml)."),
    ] = None,
) -> None:
    ctx.obj = {"config": config}


def settings_of(ctx: typer.Context) -> Any:
    """The settings of the ``--config`` given to ``eliq`` (or ``$ELIQ_CONFIG``, or ``./eliq.yaml``)."""
    from contracts.config import load_settings

    return load_settings(ctx.obj.get("config") if ctx.obj else None)


def main() -> None:
    app()
