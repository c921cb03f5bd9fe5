"""``eliq serve``: the prediction service, run by ``bentoml serve serving.service:EliqService``.

The service reads the settings from ``$ELIQ_CONFIG``; ``eliq --config FILE serve`` sets it to ``FILE``. BentoML runs
in a child process from the repository root (so that ``serving`` imports); Ctrl+C or SIGTERM to ``eliq serve`` is
forwarded to it, and ``eliq serve`` exits with its exit code.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli.app import app

SERVICE = "serving.service:EliqService"
REPO_ROOT = Path(__file__).resolve().parents[2]


def serve_command(host: str, port: int) -> list[str]:
    """The ``bentoml serve`` command line of the service (workers: :func:`serve_environment`)."""
    return [
        *(sys.executable, "-m", "bentoml", "serve", SERVICE),
        *("--host", host, "--port", str(port), "--working-dir", str(REPO_ROOT)),
    ]


def serve_environment(config: Path | None, workers: int | None = None) -> dict[str, str]:
    """The environment of the server: this one, with ``ELIQ_CONFIG`` set to ``config`` (absolute) when given,
    BentoML's worker count when given, and BentoML's usage reporting off (the server makes no outbound calls)."""
    env = {**os.environ, "BENTOML_DO_NOT_TRACK": "true"}
    if config is not None:
        env["ELIQ_CONFIG"] = str(config.resolve())
    if workers is not None:
        env["BENTOML_CONFIG_OPTIONS"] = f"services.eliq.workers={workers}"
    return env


@app.command("serve")
def serve(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="TCP port to listen on.", min=1, max=65535)] = 3000,
    host: Annotated[str, typer.Option(help="Interface to bind; 0.0.0.0 for every interface.")] = "127.0.0.1",
    workers: Annotated[
        int | None,
        typer.Option(
            help="Worker processes (default: BentoML's, one); each loads the models and stores forecasts.",
            min=1,
        ),
    ] = None,
) -> None:
    """Start the prediction API (BentoML): POST /forecast, the data API, /healthz, /readyz, /docs."""
    import signal
    import subprocess

    from pydantic import ValidationError

    from contracts.config import load_settings
    from pipelines.cli.progress import console

    config = ctx.obj.get("config") if ctx.obj else None
    try:
        settings = load_settings(config)  # a broken config fails here, with its message, not in every worker
    except (FileNotFoundError, ValidationError) as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(code=1) from err
    console.print(
        f"serving on http://{host}:{port} (models: {settings.training.tracking_uri}, "
        f"alias {settings.serving.model_alias}; keys: `eliq clients add`); Ctrl+C stops"
    )
    # Its own session: a signal to this command (Ctrl+C, a supervisor's SIGTERM) reaches BentoML once, forwarded.
    process = subprocess.Popen(
        serve_command(host, port),
        env=serve_environment(config, workers),
        cwd=REPO_ROOT,
        start_new_session=True,
    )
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda received, _frame: process.send_signal(received))
    raise typer.Exit(code=process.wait())
