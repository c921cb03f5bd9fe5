"""The model steps of the workflow: ``train``, ``evaluate``, ``register`` (the promotion gate) and ``score``.

Each calls the training layer's step function, the one ``eliq train|evaluate forecast``, ``eliq models promote``
and ``eliq score forecast`` call, and returns its identifiers as an explicit output.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipelines.steps.context import StepContext, StepOutput
from pipelines.steps.data import FeaturesOutput


class StepOrderError(RuntimeError):
    """The registry moved under the workflow (another run trained or promoted meanwhile); the message says how."""


class TrainOutput(StepOutput):
    """The trained version.

    Attributes:
        run_id: the MLflow training run.
        model_name: the registered model.
        version: the new version, now ``challenger``.
        report_dir: the evaluation report of the backtest (``report.html`` inside).
        comparison: the day-ahead backtest table, one row per forecaster (``nrmse``, ``mae``, ``coverage`` …).
    """

    run_id: str
    model_name: str
    version: str
    report_dir: str
    comparison: list[dict[str, Any]]


def train(ctx: StepContext, *, featured: FeaturesOutput | None = None) -> TrainOutput:
    """Backtest against the baselines, fit on all data, log to MLflow, register as challenger
    (``eliq train forecast``).

    Args:
        ctx: the step's context; the report goes to ``<out_dir>/report``.
        featured: ``features``' output when it ran in the same run (ordering: training reads ``forecast_v1``).
    """
    from training.steps.forecast_train import train_forecast

    outcome = train_forecast(ctx.settings, progress=ctx.progress.note, report_dir=str(ctx.folder("report")))
    return TrainOutput(
        run_id=outcome.run_id,
        model_name=str(outcome.model_name),
        version=str(outcome.version),
        report_dir=outcome.report_dir,
        comparison=_records(outcome.comparison),
    )


class EvaluateOutput(StepOutput):
    """The challenger's evaluation on the current data.

    Attributes:
        run_id: the MLflow evaluation run.
        model_name: the registered model.
        version: the version evaluated.
        alias: the alias it was reached through.
        report_dir: the evaluation report (``report.html`` inside).
        comparison: the day-ahead backtest table, one row per forecaster.
        reused_training_run: ``True`` when ``train``'s backtest of this run is the evaluation (same version, same
            data snapshot) and ``run_id`` is the training run.
    """

    run_id: str
    model_name: str
    version: str
    alias: str
    report_dir: str
    comparison: list[dict[str, Any]]
    reused_training_run: bool = False


def evaluate(ctx: StepContext, *, trained: TrainOutput | None = None) -> EvaluateOutput:
    """Backtest the challenger's configuration on the lake's current data and log an evaluation run
    (``eliq evaluate forecast --alias challenger``).

    When ``train`` ran in the same run, the challenger is still its version and the curated data are still the
    bytes it read, its backtest already is this evaluation (the same configuration on the same rows), so it is
    recorded as such instead of being computed a second time (``pipeline.evaluate_reuses_training``).

    Args:
        ctx: the step's context; the report goes to ``<out_dir>/report``.
        trained: ``train``'s output when it ran in the same run: the challenger must still be that version.

    Raises:
        StepOrderError: the challenger is no longer the version ``train`` registered.
    """
    from training.steps.forecast_train import evaluate_forecast

    alias = "challenger"
    if trained is not None and ctx.settings.pipeline.evaluate_reuses_training:
        reused = _training_evaluation(ctx, trained, alias)
        if reused is not None:
            return reused
    outcome = evaluate_forecast(
        ctx.settings, alias=alias, progress=ctx.progress.note, report_dir=str(ctx.folder("report"))
    )
    if trained is not None and str(outcome.version) != trained.version:
        raise StepOrderError(
            f"the challenger is version {outcome.version}, not version {trained.version} trained in this run: "
            "another run registered a model meanwhile; restart the run"
        )
    return EvaluateOutput(
        run_id=outcome.run_id,
        model_name=str(outcome.model_name),
        version=str(outcome.version),
        alias=alias,
        report_dir=outcome.report_dir,
        comparison=_records(outcome.comparison),
    )


def _training_evaluation(ctx: StepContext, trained: TrainOutput, alias: str) -> EvaluateOutput | None:
    """``train``'s backtest as the evaluation, when the version behind ``alias`` and the data are unchanged."""
    from mlflow import MlflowClient

    from contracts.storage import Lake
    from training.integrations.mlflow_registry import aliased
    from training.integrations.mlflow_tracking import configure_tracking, data_snapshot_id

    configure_tracking(ctx.settings.training)
    current = aliased(trained.model_name, alias)
    if current is None or current.version != trained.version:
        return None
    tags = MlflowClient().get_run(trained.run_id).data.tags
    if tags.get("data_snapshot") != data_snapshot_id(Lake.from_settings(ctx.settings.storage)):
        return None
    ctx.progress.note(
        f"version {trained.version} was backtested by train on the same data: that is the evaluation"
    )
    return EvaluateOutput(
        run_id=trained.run_id,
        model_name=trained.model_name,
        version=trained.version,
        alias=alias,
        report_dir=trained.report_dir,
        comparison=trained.comparison,
        reused_training_run=True,
    )


class RegisterOutput(StepOutput):
    """The promotion gate's decision.

    Attributes:
        run_id: the MLflow run recording the decision.
        promoted: the challenger became champion.
        challenger_version: the version judged.
        champion_version: the champion after the step (``None``: there is none).
        previous_champion: the champion before it.
        reasons: one line per rival, whether the challenger cleared it.
        scores: day-ahead NRMSE per forecaster on the gate's backtest.
    """

    run_id: str
    promoted: bool
    challenger_version: str
    champion_version: str | None
    previous_champion: str | None
    reasons: list[str]
    scores: dict[str, float]


def register(
    ctx: StepContext, *, trained: TrainOutput | None = None, evaluated: EvaluateOutput | None = None
) -> RegisterOutput:
    """Judge the challenger against the champion and the baselines; promote it if it clears the gate
    (``eliq models promote forecast``).

    Args:
        ctx: the step's context.
        trained: ``train``'s output when it ran in the same run: the challenger must still be that version.
        evaluated: ``evaluate``'s output (ordering: the gate runs after the evaluation is logged).

    Raises:
        StepOrderError: the challenger is no longer the version ``train`` registered.
    """
    from training.steps.forecast_promote import promote_forecast

    outcome = promote_forecast(ctx.settings, progress=ctx.progress.note)
    if trained is not None and outcome.challenger_version != trained.version:
        raise StepOrderError(
            f"the gate judged version {outcome.challenger_version}, not version {trained.version} trained in "
            "this run: another run registered a model meanwhile; restart the run"
        )
    decision = outcome.decision
    return RegisterOutput(
        run_id=outcome.run_id,
        promoted=decision.promote,
        challenger_version=outcome.challenger_version,
        champion_version=outcome.champion_version,
        previous_champion=outcome.previous_champion,
        reasons=list(decision.reasons),
        scores={str(k): float(v) for k, v in decision.scores.items()},
    )


class ScoreOutput(StepOutput):
    """The forecasts stored in the curated zone.

    Attributes:
        alias: the alias scored with.
        model_version: the version that made the forecasts.
        issue_date: the local issue date of the forecasts.
        files: client → lake path of its stored forecasts.
        homes: homes forecast, over every client.
        rows: forecast rows stored.
        homes_without_forecast: client → homes without recent readings.
        clients_without_forecast: client → why none of its homes could be scored (e.g. no curated readings).
    """

    alias: str
    model_version: str
    issue_date: str
    files: dict[str, str]
    homes: int
    rows: int
    homes_without_forecast: dict[str, list[str]]
    clients_without_forecast: dict[str, str]


def score(ctx: StepContext, *, registered: RegisterOutput | None = None) -> ScoreOutput:
    """Forecast every home of each client with the version behind ``pipeline.score_alias`` and store the forecasts
    in the curated zone (``eliq score forecast --client C`` for each client).

    Args:
        ctx: the step's context.
        registered: ``register``'s output when it ran in the same run; scoring with ``champion`` needs one.

    A client none of whose homes has curated readings near the issue time is recorded in
    ``clients_without_forecast`` and the others are scored.

    Raises:
        StepOrderError: the gate left no champion to score with.
        KeyError: a configured client has no home, or there is no client.
        ValueError: no client could be scored.
    """
    from training.steps.forecast_score import score_forecast

    alias = ctx.settings.pipeline.score_alias
    if registered is not None and alias == "champion" and registered.champion_version is None:
        raise StepOrderError(
            f"no champion to score with: the gate did not promote version {registered.challenger_version} "
            f"({'; '.join(registered.reasons)})"
        )
    clients = list(ctx.settings.pipeline.score_clients) or curated_clients(ctx)
    if not clients:
        raise KeyError("no client to score: the curated homes have no client_id; set pipeline.score_clients")
    files: dict[str, str] = {}
    missing: dict[str, list[str]] = {}
    unscored: dict[str, str] = {}
    homes = rows = 0
    version = issue_date = ""
    for client in clients:
        ctx.progress.note(f"scoring the homes of {client}")
        try:
            outcome = score_forecast(ctx.settings, client, alias=alias, progress=_bars(ctx, client))
        except ValueError as err:  # none of the client's homes has readings near the issue time
            unscored[client] = str(err)
            continue
        files[client] = outcome.path
        homes, rows = homes + outcome.n_homes, rows + outcome.n_rows
        version, issue_date = outcome.model_version, max(issue_date, outcome.issue_date)
        if outcome.homes_without_forecast:
            missing[client] = list(outcome.homes_without_forecast)
    if not files:
        raise ValueError(f"no client could be scored: {unscored}")
    return ScoreOutput(
        alias=alias,
        model_version=version,
        issue_date=issue_date,
        files=files,
        homes=homes,
        rows=rows,
        homes_without_forecast=missing,
        clients_without_forecast=unscored,
    )


def _bars(ctx: StepContext, client: str) -> Callable[[int, int], None]:
    """Progress of one client's homes as a bar named after the client."""

    def update(done: int, total: int) -> None:
        ctx.progress.update(client, done, total)

    return update


def curated_clients(ctx: StepContext) -> list[str]:
    """Every client id of the curated homes, sorted.

    Raises:
        FileNotFoundError: the curated zone has no homes yet.
    """
    from contracts.storage import Lake, Zone

    lake = Lake.from_settings(ctx.settings.storage)
    path = lake.path(Zone.CURATED, "homes", "homes.parquet")
    if not lake.exists(path):
        raise FileNotFoundError(f"no curated homes at {path}: run the prep step first")
    homes = lake.read_table(path).to_pandas()
    if "client_id" not in homes.columns:
        return []
    return sorted(str(c) for c in homes["client_id"].dropna().unique() if str(c))


def _records(table: Any) -> list[dict[str, Any]]:
    """A small result table as JSON-able records (numbers as floats, missing as ``None``)."""
    import json

    return list(json.loads(table.to_json(orient="records")))
