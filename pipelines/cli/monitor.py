"""``eliq monitor …``: drift, performance and data-quality reports, threshold checks and the Evidently UI."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from pipelines.cli.app import app, settings_of

monitor_app = typer.Typer(
    help="Monitor drift, performance and data quality with Evidently.", no_args_is_help=True
)
app.add_typer(monitor_app, name="monitor")

ALERT_EXIT_CODE = 3  # a threshold was crossed (1 is an error, as in every eliq command)
DEFAULT_UI_PORT = 8000  # Evidently's default

AsOfOption = Annotated[
    str | None,
    typer.Option(help="Monitoring time, ISO 8601 (naive = UTC; default now). The current window ends here."),
]
OutOption = Annotated[
    Path | None,
    typer.Option(help="Run folder for the reports (default: a new folder under monitoring.runs_dir)."),
]
ReferenceFromOption = Annotated[
    str | None,
    typer.Option(help="Reference window start (date or time, UTC) instead of the training window."),
]
ReferenceToOption = Annotated[
    str | None, typer.Option(help="Reference window end, exclusive (with --reference-from).")
]


@contextmanager
def _monitor_errors() -> Iterator[None]:
    """Known failures become one red line and exit code 1."""
    from pydantic import ValidationError

    from features.store import FeatureStoreError
    from pipelines.cli.progress import console
    from training.integrations.mlflow_registry import RegistryError

    try:
        yield
    except (
        RegistryError,
        FeatureStoreError,
        FileNotFoundError,
        KeyError,
        ValueError,
        ValidationError,
    ) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        console.print(f"[red]error:[/red] {message}")
        raise typer.Exit(code=1) from err


def _say(message: str) -> None:
    from pipelines.cli.progress import console

    console.print(f"[dim]·[/dim] {message}")


def _arguments(
    as_of: str | None, out: Path | None, reference_from: str | None, reference_to: str | None
) -> dict[str, Any]:
    """The step's keyword arguments from the options (times parsed with pandas)."""
    import pandas as pd

    reference = None
    if reference_from is not None and reference_to is not None:
        reference = (pd.Timestamp(reference_from), pd.Timestamp(reference_to))
    elif reference_from is not None or reference_to is not None:
        raise ValueError("give both --reference-from and --reference-to, or neither")
    return {
        "as_of": pd.Timestamp(as_of) if as_of else None,
        "out_dir": str(out) if out else None,
        "reference": reference,
    }


@monitor_app.command("report")
def report(
    ctx: typer.Context,
    as_of: AsOfOption = None,
    out: OutOption = None,
    reference_from: ReferenceFromOption = None,
    reference_to: ReferenceToOption = None,
) -> None:
    """Drift, forecast accuracy and data quality: HTML reports, metrics.json, snapshots in the workspace."""
    from monitoring.steps import monitor_forecast

    with _monitor_errors():
        arguments = _arguments(as_of, out, reference_from, reference_to)
        outcome = monitor_forecast(settings_of(ctx), progress=_say, **arguments)
    _print_outcome(outcome)


@monitor_app.command("check")
def check(
    ctx: typer.Context,
    retrain: Annotated[
        bool, typer.Option("--retrain", help="On drift or degradation, retrain and run the promotion gate.")
    ] = False,
    as_of: AsOfOption = None,
    out: OutOption = None,
    reference_from: ReferenceFromOption = None,
    reference_to: ReferenceToOption = None,
) -> None:
    """The report, then the thresholds: on a breach, write an alert record and exit with code 3."""
    from monitoring.steps import check_forecast
    from pipelines.cli.progress import console

    with _monitor_errors():
        arguments = _arguments(as_of, out, reference_from, reference_to)
        result = check_forecast(settings_of(ctx), retrain=retrain, progress=_say, **arguments)
    _print_outcome(result.monitoring)
    if result.retraining is not None:
        done = result.retraining
        verdict = "[green]promoted[/green]" if done.promoted else "[yellow]not promoted[/yellow]"
        console.print(
            f"retrained: version {done.version} (run {done.run_id}) {verdict}; "
            f"champion is {done.champion_version or 'none'}"
        )
        for reason in done.reasons:
            console.print(f"  {reason}")
    elif result.retrain_skipped:
        console.print(f"[yellow]not retrained[/yellow]: {result.retrain_skipped}")
    if result.alert_path is not None:
        console.print(
            f"[red]alert[/red]: {len(result.monitoring.breaches)} threshold(s) crossed; record {result.alert_path}"
        )
        raise typer.Exit(code=ALERT_EXIT_CODE)
    console.print("[green]ok[/green]: no threshold crossed")


@monitor_app.command("ui")
def ui(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = DEFAULT_UI_PORT,
    workspace: Annotated[
        Path | None, typer.Option(help="Evidently workspace (default: monitoring.workspace).")
    ] = None,
) -> None:
    """Start the Evidently UI on the monitoring workspace (evidently ui --workspace …); prints its URL."""
    import os
    import sys

    from pipelines.cli.progress import console

    folder = workspace or Path(settings_of(ctx).monitoring.workspace)
    folder.mkdir(parents=True, exist_ok=True)
    console.print(f"Evidently UI on workspace {folder}: [bold]http://{host}:{port}[/bold] (Ctrl+C stops it)")
    command = [
        sys.executable,
        "-m",
        "evidently.cli",  # the `evidently` command's module
        "ui",
        "--workspace",
        str(folder),
        "--host",
        host,
        "--port",
        str(port),
    ]
    environment = {**os.environ, "DO_NOT_TRACK": os.environ.get("DO_NOT_TRACK", "1")}  # no usage telemetry
    sys.stderr.flush()
    os.execve(sys.executable, command, environment)


def _print_outcome(outcome: Any) -> None:
    from pipelines.cli.progress import console

    windows = outcome.windows
    model = f"{outcome.model_name} v{outcome.model_version}" if outcome.model_name else "no registered model"
    console.print(
        f"{model}: current {windows.current.start:%Y-%m-%d %H:%M} – {windows.current.end:%Y-%m-%d %H:%M} UTC, "
        f"reference {windows.reference.start:%Y-%m-%d} – {windows.reference.end:%Y-%m-%d} ({windows.reference_source})"
    )
    for breach in outcome.breaches:
        console.print(f"  [yellow]{breach.kind}[/yellow] {breach.message}")
    console.print(f"[green]report[/green] {outcome.report_html}")
    console.print(f"metrics {outcome.metrics_json}")
    console.print(f"workspace {outcome.workspace} (browse: eliq monitor ui)")
