"""``eliq pipeline …``: run the workflow locally (resumable), run one step (MLflow projects, Azure ML components),
compile and submit it to Azure ML, show a run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from pipelines.cli.app import app

pipeline_app = typer.Typer(
    help="The workflow prep → features → train → evaluate → register → score → monitor.", no_args_is_help=True
)
app.add_typer(pipeline_app, name="pipeline")

InputOption = Annotated[
    str | None, typer.Option("--input", "-i", help="Raw input folder for prep (default: pipeline.input_uri).")
]
TruthOption = Annotated[
    str | None, typer.Option(help="The sample data's _truth folder, to score the quality framework.")
]
AzureOption = Annotated[bool, typer.Option("--azure", help="Target Azure ML (the only cloud target).")]
CloudConfigOption = Annotated[
    Path | None,
    typer.Option(help="The eliq config of the cloud steps (default: pipeline.azure.config_file)."),
]


def _settings(ctx: typer.Context) -> Any:
    from contracts.config import load_settings

    return load_settings(_config(ctx))


def _config(ctx: typer.Context) -> Any:
    return ctx.obj.get("config") if ctx.obj else None


@contextmanager
def _known_errors() -> Iterator[None]:
    """Known failures become one red line and exit code 1."""
    from pydantic import ValidationError

    from pipelines.cli.progress import console

    try:
        yield
    except typer.Exit:  # click's Exit is a RuntimeError: let it through
        raise
    except (FileNotFoundError, KeyError, ValueError, RuntimeError, ValidationError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        console.print(f"[red]error:[/red] {message}")
        raise typer.Exit(code=1) from err


def _split(values: list[str] | None) -> list[str]:
    return [name.strip() for value in values or [] for name in value.split(",") if name.strip()]


@pipeline_app.command("run")
def run(
    ctx: typer.Context,
    steps: Annotated[
        list[str] | None,
        typer.Option(
            "--steps", "-s", help="Steps to run, comma-separated or repeated (default: pipeline.steps)."
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume/--restart",
            help="Continue the latest unfinished run (skipping its completed steps), or start anew.",
        ),
    ] = True,
    run_id: Annotated[str | None, typer.Option(help="Resume (or create) this run id.")] = None,
    input: InputOption = None,
    truth: TruthOption = None,
) -> None:
    """Run the workflow locally; a failed or interrupted run is resumed where it stopped."""
    from pipelines.cli.pipeline_view import RichRunObserver, print_where, steps_table, where_to_look
    from pipelines.cli.progress import console, progress_bars
    from pipelines.mlflow_project import detach_project_run, project_tags, tag_project_run
    from pipelines.run_record import RunStore
    from pipelines.runner import StepFailedError, run_workflow

    project = detach_project_run()
    with _known_errors():
        settings = _settings(ctx)
        try:
            with progress_bars() as bars:
                record = run_workflow(
                    settings,
                    steps=_split(steps) or None,
                    params={"input_uri": input, "truth_uri": truth},
                    run_id=run_id,
                    restart=not resume,
                    observer=RichRunObserver(console, bars),
                    config=str(_config(ctx)) if _config(ctx) else None,
                )
        except StepFailedError as err:
            console.print(steps_table(err.record))
            console.print(f"[red]error:[/red] {err}")
            console.print(
                f"run record: {err.record_path} (failed); fix the cause, then `eliq pipeline run` resumes"
            )
            if project:
                tag_project_run(
                    project, project_tags(f"run:{err.record.run_id}", "failed", err.record_path, {})
                )
            raise typer.Exit(code=1) from err
        except KeyboardInterrupt as err:
            console.print(
                "[yellow]interrupted[/yellow]: `eliq pipeline run` resumes the run where it stopped"
            )
            raise typer.Exit(code=130) from err
    path = RunStore(settings.pipeline.runs_dir).record_path(record.run_id)
    console.print(steps_table(record))
    print_where(console, where_to_look(record, path, settings.training.tracking_uri))
    if project:
        outputs = {name: step.outputs or {} for name, step in record.steps.items()}
        tag_project_run(project, project_tags(f"run:{record.run_id}", record.status, str(path), outputs))


@pipeline_app.command("step")
def step(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(help="The step: prep, features, train, evaluate, register, score, monitor.")
    ],
    input: InputOption = None,
    truth: TruthOption = None,
    upstream: Annotated[
        list[Path] | None,
        typer.Option(help="A folder holding an upstream step's record.json (repeat for several)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for the step's record.json and files (default: <runs_dir>/steps/…)."),
    ] = None,
) -> None:
    """Run one step on its own and write its record (the MLproject entry points and Azure ML components use this)."""
    from pipelines.cli.pipeline_view import RichRunObserver, headline
    from pipelines.cli.progress import console, progress_bars
    from pipelines.mlflow_project import detach_project_run, project_tags, tag_project_run
    from pipelines.run_record import STEP_RECORD_FILE, RunStore
    from pipelines.runner import read_step_records, resolve_params, run_step
    from pipelines.workflow import WORKFLOW, UnknownStepError

    project = detach_project_run()
    try:
        spec = WORKFLOW.get(name)
    except UnknownStepError as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(code=2) from err
    with _known_errors():
        settings = _settings(ctx)
        ups = read_step_records(upstream or [])
        params = resolve_params(settings, {"input_uri": input, "truth_uri": truth})
        folder = out or RunStore(settings.pipeline.runs_dir).steps_dir() / f"{name}-{RunStore.new_run_id()}"
        with progress_bars() as bars:
            record = run_step(spec, settings, ups, params, folder, RichRunObserver(console, bars))
    path = Path(record.out_dir) / STEP_RECORD_FILE
    if project:
        tags = project_tags(f"step:{name}", record.status, str(path), {name: record.outputs or {}})
        tag_project_run(project, tags)
    if record.status != "succeeded":
        console.print(f"[red]error:[/red] step {name!r} failed: {headline(record)}")
        console.print(f"step record: {path}")
        raise typer.Exit(code=1)
    console.print(f"[green]{name}[/green]: {headline(record)}")
    console.print(f"step record: {path}")


@pipeline_app.command("show")
def show(
    ctx: typer.Context,
    run_id: Annotated[str | None, typer.Argument(help="The run (default: the latest).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole record as JSON.")] = False,
) -> None:
    """Show a run record: the steps, what ran or was skipped, durations, errors and where the results are."""
    from pipelines.cli.pipeline_view import print_where, steps_table, where_to_look
    from pipelines.cli.progress import console
    from pipelines.run_record import RunStore

    with _known_errors():
        settings = _settings(ctx)
        store = RunStore(settings.pipeline.runs_dir)
        record = store.load(run_id) if run_id else store.latest()
        if record is None:
            raise FileNotFoundError(f"no run yet in {store.runs_dir}: start one with `eliq pipeline run`")
    if as_json:
        typer.echo(record.model_dump_json(indent=2))
        return
    console.print(steps_table(record))
    for invocation in record.invocations:
        console.print(
            f"[dim]{invocation.started_at:%Y-%m-%d %H:%M:%S}Z[/dim] {invocation.status}: "
            f"ran {', '.join(invocation.ran) or '-'}; skipped {', '.join(invocation.skipped) or '-'}"
        )
    print_where(
        console, where_to_look(record, store.record_path(record.run_id), settings.training.tracking_uri)
    )


@pipeline_app.command("compile")
def compile_(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Folder for the YAML files.")],
    azure: AzureOption = False,
    cloud_config: CloudConfigOption = None,
) -> None:
    """Compile the workflow for Azure ML: pipeline job, components, environment, daily schedule (offline)."""
    from pipelines.cli.progress import console

    _need_azure(azure)
    with _known_errors():
        from pipelines.azure.compile import compile_azure

        compiled = compile_azure(_settings(ctx), out, config_path=cloud_config)
    console.print(
        f"[green]compiled and validated[/green] {len(compiled.components)} components into {compiled.out_dir}"
    )
    for what, path in (
        ("pipeline job", compiled.pipeline),
        ("schedule", compiled.schedule),
        ("environment", compiled.environment),
    ):
        console.print(f"  {what:<13} {path}")
    console.print(f"submit: `eliq pipeline submit --azure` or `az ml job create -f {compiled.pipeline}`")


@pipeline_app.command("submit")
def submit(
    ctx: typer.Context,
    azure: AzureOption = False,
    schedule: Annotated[bool, typer.Option(help="Also create or update the daily schedule.")] = False,
    out: Annotated[Path, typer.Option(help="Where the compiled YAML is kept.")] = Path("build/azureml"),
    cloud_config: CloudConfigOption = None,
) -> None:
    """Compile, then submit the workflow to the Azure ML workspace of pipeline.azure.workspace."""
    from pipelines.cli.progress import console

    _need_azure(azure)
    with _known_errors():
        from pipelines.azure.submit import workspace_identity

        settings = _settings(ctx)
        identity = workspace_identity(settings.pipeline.azure.workspace)
        from pipelines.azure.compile import compile_azure
        from pipelines.azure.submit import ml_client, submit_azure

        compiled = compile_azure(settings, out, config_path=cloud_config)
        outcome = submit_azure(ml_client(identity), compiled, schedule=schedule)
    console.print(
        f"[green]submitted[/green] {outcome.job_name} to {identity.workspace_name}: {outcome.studio_url}"
    )
    if outcome.schedule_name:
        console.print(
            f"schedule {outcome.schedule_name}: {settings.pipeline.schedule.cron} ({settings.pipeline.schedule.time_zone})"
        )


def _need_azure(azure: bool) -> None:
    if not azure:
        from pipelines.cli.progress import console

        console.print("[red]error:[/red] choose a target: --azure (the only one)")
        raise typer.Exit(code=2)
