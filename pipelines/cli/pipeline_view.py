"""How ``eliq pipeline`` shows a run: rich progress while it runs, a table of the steps and where to open the
results once it ends. Imported by the commands only (rich is already loaded by ``eliq``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

Bars = Callable[[str, int, int], None]


class RichRunObserver:
    """Step events as lines, each step's progress as bars, and a ``pipeline`` bar of the steps done.

    Args:
        console: where lines go.
        bars: the progress-bar callback of :func:`pipelines.cli.progress.progress_bars`.
    """

    def __init__(self, console: Console, bars: Bars) -> None:
        self.console, self.bars = console, bars
        self._done = 0
        self._total = 0

    def update(self, stage: str, done: int, total: int) -> None:
        self.bars(stage, done, total)

    def note(self, message: str) -> None:
        self.console.print(f"  [dim]·[/dim] {escape(message)}")

    def step_started(self, name: str, index: int, total: int) -> None:
        self._total = total
        self.console.print(f"[bold]▶ {name}[/bold] [dim]({index + 1}/{total})[/dim]")

    def step_skipped(self, name: str, reason: str) -> None:
        self._advance()
        self.console.print(f"[cyan]↷ {name}[/cyan] skipped: {reason}")

    def step_finished(self, name: str, seconds: float, output: Any) -> None:
        self._advance()
        self.console.print(f"[green]✔ {name}[/green] {seconds:.1f} s")

    def step_failed(self, name: str, error: BaseException) -> None:
        self.console.print(f"[red]✘ {name}[/red] {type(error).__name__}: {escape(str(error))}")

    def _advance(self) -> None:
        self._done += 1
        if self._total:
            self.bars("pipeline", self._done, self._total)


def steps_table(record: Any) -> Table:
    """One row per step of a run record: status, what the last invocation did, duration, attempts, headline."""
    table = Table(title=f"run {record.run_id}: {record.status}")
    for column in ("step", "status", "last invocation", "duration [s]", "attempts", "result"):
        table.add_column(column)
    current = record.invocations[-1] if record.invocations else None
    for name, step in record.steps.items():
        action = (
            "ran"
            if current and name in current.ran
            else "skipped"
            if current and name in current.skipped
            else "-"
        )
        duration = f"{step.duration_s:.1f}" if step.duration_s is not None else ""
        colour = {"succeeded": "green", "failed": "red", "interrupted": "yellow"}.get(step.status, "white")
        table.add_row(
            name, f"[{colour}]{step.status}[/{colour}]", action, duration, str(step.attempts), headline(step)
        )
    return table


def headline(step: Any) -> str:
    """A short summary of a step's outputs or error."""
    if step.error is not None and step.status != "succeeded":
        return escape(f"{step.error.type}: {step.error.message}")[:200]
    out = step.outputs or {}
    summaries: dict[str, Callable[[dict[str, Any]], str]] = {
        "prep": lambda o: (
            f"{o['files_new']} new files, {o['rows_processed']:,} rows, {o['rows_quarantined']:,} quarantined"
        ),
        "features": lambda o: (
            f"{sum(o['table_rows'].values()):,} feature rows, {len(o['materialized'])} views loaded"
        ),
        "train": lambda o: f"{o['model_name']} v{o['version']} (challenger)",
        "evaluate": lambda o: (
            f"v{o['version']} evaluated, run {o['run_id'][:8]}"
            + (" (train's backtest)" if o.get("reused_training_run") else "")
        ),
        "register": lambda o: (
            ("promoted" if o["promoted"] else "not promoted") + f"; champion v{o['champion_version'] or '-'}"
        ),
        "score": lambda o: f"{o['homes']:,} homes, {o['rows']:,} rows, v{o['model_version']}",
        "monitor": lambda o: f"{len(o['breaches'])} threshold breaches",
    }
    try:
        return summaries[step.name](out) if step.name in summaries and out else ""
    except (KeyError, TypeError):
        return ""


def where_to_look(record: Any, record_path: Path, tracking_uri: str) -> list[tuple[str, str]]:
    """(what, where) lines: the run record, the reports of the steps that ran, the UIs."""
    lines = [("run record", str(record_path))]
    outputs = {name: step.outputs or {} for name, step in record.steps.items()}
    if "quality report" in outputs.get("prep", {}).get("reports", {}):
        lines.append(("quality report", outputs["prep"]["reports"]["quality report"]))
    for step in ("evaluate", "train"):
        if outputs.get(step, {}).get("report_dir"):
            lines.append(("evaluation report", str(Path(outputs[step]["report_dir"]) / "report.html")))
            break
    monitor = outputs.get("monitor", {})
    if monitor.get("report_html"):
        lines.append(("drift report", monitor.get("reports", {}).get("drift", monitor["report_html"])))
        lines.append(("monitoring summary", monitor["report_html"]))
        lines.append(("Evidently UI", "eliq monitor ui"))
    lines.append(("MLflow UI", f"mlflow ui --backend-store-uri {tracking_uri}"))
    return lines


def print_where(console: Console, lines: list[tuple[str, str]]) -> None:
    table = Table(show_header=False, box=None)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")  # a path is printed whole, folded over lines if it must be
    for what, where in lines:
        table.add_row(f"[bold]{what}[/bold]", escape(where))
    console.print(table)
