"""``eliq train|evaluate|tune|predict … forecast`` and ``eliq models promote|rollback|show …``.

Each group takes the model family as its subcommand (``forecast`` today; the other families join as subcommands
of the same groups).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from pipelines.cli.app import app, settings_of

train_app = typer.Typer(
    help="Train a model family, backtest it, log it to MLflow and register it.", no_args_is_help=True
)
evaluate_app = typer.Typer(
    help="Backtest a registered model version on the current data.", no_args_is_help=True
)
tune_app = typer.Typer(help="Tune a model family's hyper-parameters with Optuna.", no_args_is_help=True)
predict_app = typer.Typer(help="Forecast homes with a registered model version.", no_args_is_help=True)
models_app = typer.Typer(help="The model registry: promote, roll back, show.", no_args_is_help=True)
for name, group in (
    ("train", train_app),
    ("evaluate", evaluate_app),
    ("tune", tune_app),
    ("predict", predict_app),
    ("models", models_app),
):
    app.add_typer(group, name=name)

AliasOption = Annotated[str, typer.Option(help="Registry alias: champion or challenger.")]


@contextmanager
def _model_errors() -> Iterator[None]:
    """Known failures become one red line and exit code 1."""
    from pydantic import ValidationError

    from pipelines.cli.progress import console
    from training.integrations.mlflow_registry import RegistryError

    try:
        yield
    except (RegistryError, FileNotFoundError, KeyError, ValueError, ValidationError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        console.print(f"[red]error:[/red] {message}")
        raise typer.Exit(code=1) from err


def _say(message: str) -> None:
    from pipelines.cli.progress import console

    console.print(f"[dim]·[/dim] {message}")


@train_app.command("forecast")
def train_forecast(
    ctx: typer.Context,
    params_file: Annotated[
        Path | None, typer.Option(help="JSON of global LightGBM parameters (e.g. from `eliq tune forecast`).")
    ] = None,
    report_dir: Annotated[Path | None, typer.Option(help="Also keep the evaluation report here.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the run's ids and metrics here (JSON).")] = None,
) -> None:
    """Backtest against the baselines, fit on all data, log to MLflow, register as challenger."""
    from pipelines.cli.progress import console
    from training.steps.forecast_train import train_forecast as train
    from training.steps.forecast_train import write_outcome

    with _model_errors():
        params = json.loads(params_file.read_text()) if params_file else None
        outcome = train(settings_of(ctx), params=params, progress=_say, report_dir=_folder(report_dir))
    print_comparison(outcome.comparison, "day-ahead hourly backtest (24-h horizon), every home")
    for name, table in outcome.sample_comparisons.items():
        homes = int(table["homes"].max()) if "homes" in table.columns else "?"
        print_comparison(table, f"with {name}, on its sample of {homes} homes (same rows)")
    console.print(
        f"[green]registered[/green] {outcome.model_name} version {outcome.version} as challenger "
        f"(run {outcome.run_id}); report: {outcome.report_dir}"
    )
    if out:
        write_outcome(outcome, out)


@evaluate_app.command("forecast")
def evaluate_forecast(
    ctx: typer.Context,
    alias: AliasOption = "challenger",
    report_dir: Annotated[Path | None, typer.Option(help="Also keep the evaluation report here.")] = None,
) -> None:
    """Backtest the configuration behind an alias on the current data, with the baselines; log the run."""
    from pipelines.cli.progress import console
    from training.steps.forecast_train import evaluate_forecast as evaluate

    with _model_errors():
        outcome = evaluate(settings_of(ctx), alias=alias, progress=_say, report_dir=_folder(report_dir))
    print_comparison(
        outcome.comparison, f"{outcome.model_name} v{outcome.version} ({alias}), day-ahead hourly"
    )
    console.print(f"evaluation run {outcome.run_id}; report: {outcome.report_dir}")


def _folder(path: Path | None) -> str | None:
    if path is None:
        return None
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


@tune_app.command("forecast")
def tune_forecast(
    ctx: typer.Context,
    trials: Annotated[int, typer.Option(help="Trials to run now (a stored study resumes).")] = 20,
    timeout: Annotated[float | None, typer.Option(help="Start no trial after this many seconds.")] = None,
    params_out: Annotated[
        Path, typer.Option(help="Write the best parameters here, for `eliq train forecast --params-file`.")
    ] = Path("tuned_forecast_params.json"),
) -> None:
    """Tune the global LightGBM with Optuna (TPE sampler, median pruning); log the study to MLflow."""
    from pipelines.cli.progress import console, progress_bars
    from training.steps.forecast_tune import tune_forecast as tune

    with _model_errors(), progress_bars() as bars:
        done = 0

        def on_trial(trial: Any) -> None:
            nonlocal done
            done += 1
            bars("trials", done, trials)

        result = tune(
            settings_of(ctx), n_trials=trials, timeout_s=timeout, params_out=params_out, on_trial=on_trial
        )
    console.print(
        f"study {result.study_name}: {result.n_new} new trials ({result.n_complete} complete, "
        f"{result.n_pruned} pruned in all); best next-day NRMSE {result.best_value:.4f}"
    )
    console.print(f"best parameters: {result.best_params}")
    console.print(
        f"[green]wrote[/green] {params_out}; train with `eliq train forecast --params-file {params_out}`"
    )


@predict_app.command("forecast")
def predict_forecast(
    ctx: typer.Context,
    homes: Annotated[str | None, typer.Option(help="Comma-separated home ids (default: every home).")] = None,
    issue_time: Annotated[
        str | None,
        typer.Option(
            help="ISO 8601 issue time; naive = each home's local time (default: the trained time "
            "on the date of the last reading)."
        ),
    ] = None,
    alias: AliasOption = "champion",
    resolution: Annotated[str, typer.Option(help="hourly, daily, monthly or all.")] = "all",
    out: Annotated[Path | None, typer.Option(help="Write the forecasts here: .parquet or .csv.")] = None,
) -> None:
    """Forecast homes at an issue time with the model version behind an alias."""
    from pipelines.cli.progress import console, progress_bars
    from training.steps.forecast_predict import predict_forecast as predict

    chosen = [h.strip() for h in homes.split(",") if h.strip()] if homes else None
    with _model_errors(), progress_bars() as bars:
        outcome = predict(
            settings_of(ctx),
            homes=chosen,
            issue_time=issue_time,
            alias=alias,
            resolution=resolution,
            progress=lambda done, total: bars("homes", done, total),
        )
    frame = outcome.forecasts
    console.print(
        f"{outcome.model_name} v{outcome.version} ({alias}): {frame['home_id'].nunique():,} homes, "
        f"{len(frame):,} rows, cold start for {int(frame.groupby('home_id')['cold_start'].any().sum())} homes"
    )
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(out, index=False) if out.suffix == ".csv" else frame.to_parquet(out, index=False)
        console.print(f"[green]wrote[/green] {out}")
    else:
        print_frame(frame.groupby(["home_id", "resolution"]).head(3).head(30), "first rows")


@models_app.command("promote")
def promote(
    ctx: typer.Context,
    family: Annotated[str, typer.Argument(help="Model family: forecast.")],
) -> None:
    """Promote the challenger to champion if it beats the champion and every baseline by the configured margin."""
    from pipelines.cli.progress import console
    from training.steps.forecast_promote import promote_forecast

    _known_family(family)
    with _model_errors():
        outcome = promote_forecast(settings_of(ctx), progress=_say)
    decision = outcome.decision
    for reason in decision.reasons:
        console.print(f"  {reason}")
    if decision.promote:
        console.print(f"[green]promoted[/green] version {outcome.challenger_version} to champion")
    else:
        console.print(
            f"[yellow]not promoted[/yellow]: version {outcome.challenger_version} stays challenger; "
            f"champion is {outcome.champion_version or 'none'}"
        )


@models_app.command("rollback")
def rollback(
    ctx: typer.Context,
    family: Annotated[str, typer.Argument(help="Model family: forecast.")],
) -> None:
    """Move the champion alias back to the previous champion."""
    from pipelines.cli.progress import console
    from training.steps.forecast_promote import rollback_forecast

    _known_family(family)
    with _model_errors():
        moved = rollback_forecast(settings_of(ctx))
    console.print(
        f"[green]rolled back[/green] {moved['model']} champion: version {moved['from']} → {moved['to']}"
    )


@models_app.command("show")
def show(
    ctx: typer.Context,
    family: Annotated[str, typer.Argument(help="Model family: forecast.")],
) -> None:
    """The versions behind champion and challenger, and the champion history."""
    from pipelines.cli.progress import console
    from training.integrations.mlflow_registry import aliased, champion_history
    from training.integrations.mlflow_tracking import configure_tracking, registered_model_name

    _known_family(family)
    settings = settings_of(ctx)
    configure_tracking(settings.training)
    name = registered_model_name(settings.training, family)
    for alias in ("champion", "challenger"):
        version = aliased(name, alias)
        console.print(
            f"{alias:<11} {version.version if version else '-':>4}  {version.uri if version else ''}"
        )
    with _model_errors():
        try:
            history = champion_history(name)
        except Exception as err:  # the model is not registered yet
            raise ValueError(f"{name} is not registered: run `eliq train {family}` first") from err
    console.print(f"champion history: {', '.join(history) or '-'}")


def _known_family(family: str) -> None:
    if family != "forecast":
        from pipelines.cli.progress import console

        console.print(f"[red]error:[/red] unknown model family {family!r}; known: forecast")
        raise typer.Exit(code=2)


def print_comparison(table: Any, title: str) -> None:
    """The headline comparison: one row per forecaster, the global model's improvement on NRMSE."""
    columns = [
        c
        for c in ("forecaster", "rows", "nrmse", "mae", "mase", "pinball", "coverage", "portfolio_mape")
        if c in table.columns
    ]
    print_frame(table[columns].sort_values("nrmse"), title)


def print_frame(frame: Any, title: str) -> None:
    from rich.table import Table

    from pipelines.cli.progress import console

    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column), justify="right")
    for row in frame.itertuples(index=False):
        table.add_row(*(_cell(v) for v in row))
    console.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return str(value)
