"""Promotion and rollback of the forecast's ``champion``.

:func:`promote_forecast` refits the challenger's and the champion's configurations on one hourly backtest of the
lake's current data, with the baselines on the same origins and rows, and lets
:class:`~training.forecast.promotion.PromotionGate` decide on the day-ahead NRMSE. The decision and its numbers are
logged as a run of the experiment and tagged on the challenger's version. :func:`rollback_forecast` moves
``champion`` back to the previous champion.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from training.forecast.promotion import CHALLENGER, CHAMPION, PromotionDecision
from training.steps.forecast_train import FAMILY, Progress, load_frames, model_params

HEADLINE_GROUP = "day+1"


@dataclass(frozen=True)
class PromotionOutcome:
    """A promotion step's result.

    Attributes:
        decision: the gate's verdict and numbers.
        challenger_version: the version judged.
        champion_version: the champion after the step.
        previous_champion: the champion before it (``None`` when there was none).
        run_id: the MLflow run that records the decision.
    """

    decision: PromotionDecision
    challenger_version: str
    champion_version: str | None
    previous_champion: str | None
    run_id: str


def promote_forecast(settings: Any, progress: Progress | None = None) -> PromotionOutcome:
    """Judge the challenger against the champion and the baselines; promote it when it clears the gate.

    Raises:
        RegistryError: there is no challenger.
    """
    import mlflow

    from training.forecast.frames import HourlyPanel
    from training.forecast.promotion import PromotionGate
    from training.forecast.training_run import BASELINES, ForecastTrainingConfig
    from training.integrations.mlflow_registry import RegistryError, aliased, record_decision, set_champion
    from training.integrations.mlflow_tracking import configure_tracking, experiment_id, registered_model_name

    say = progress or (lambda _: None)
    configure_tracking(settings.training)
    name = registered_model_name(settings.training, FAMILY)
    challenger = aliased(name, CHALLENGER)
    if challenger is None:
        raise RegistryError(f"{name} has no challenger: run `eliq train forecast` first")
    champion = aliased(name, CHAMPION)
    configs = {CHALLENGER: model_params(challenger.run_id)}
    if champion is not None and champion.version != challenger.version:
        configs[CHAMPION] = model_params(champion.run_id)
    config = ForecastTrainingConfig.from_settings(settings.training.forecast)
    say("loading the curated data")
    panel = HourlyPanel.from_frames(*load_frames(settings))
    config = config.fitted_to(panel)
    say("backtesting the challenger, the champion and the baselines")
    scores = _day_ahead_scores(panel, config, configs)
    gate = PromotionGate(margin=settings.training.forecast.promotion_margin)
    decision = gate.decide(scores, BASELINES, champion=CHAMPION in configs)
    if champion is not None and champion.version == challenger.version:
        decision = PromotionDecision(
            False, decision.metric, decision.margin, scores, {}, ("already champion",)
        )
    with mlflow.start_run(
        experiment_id=experiment_id(settings.training, FAMILY), run_name="promote-forecast"
    ) as run:
        mlflow.set_tags(
            {
                "family": FAMILY,
                "step": "promote",
                "challenger_version": challenger.version,
                "champion_version": champion.version if champion else "none",
                "decision": "promoted" if decision.promote else "rejected",
            }
        )
        mlflow.log_metrics({f"{decision.metric}_{k}": v for k, v in scores.items()})
        mlflow.log_text(json.dumps(decision.as_dict(), indent=2), "promotion/decision.json")
    record_decision(name, challenger.version, decision.as_dict())
    if decision.promote:
        now: str | None = set_champion(name, challenger.version).version
    else:
        now = champion.version if champion else None
    return PromotionOutcome(
        decision, challenger.version, now, champion.version if champion else None, run.info.run_id
    )


def _day_ahead_scores(panel: Any, config: Any, configs: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Hourly day-ahead NRMSE of each configuration and each baseline on one backtest (the same rows)."""
    from training.forecast import metrics
    from training.forecast.backtest import run_backtest
    from training.forecast.forecast_sets import HourlyResolution
    from training.forecast.training_run import forecaster_factories

    result = run_backtest(
        panel,
        HourlyResolution(config.schedule()),
        forecaster_factories("hourly", configs),
        config.plan(panel),
    )
    headline = result.forecasts[result.forecasts["group"] == HEADLINE_GROUP]
    table = metrics.metric_table(headline).set_index("forecaster")
    return {str(k): float(v) for k, v in table["nrmse"].items()}


def rollback_forecast(settings: Any) -> dict[str, str]:
    """Move ``champion`` back to the previous champion; returns the versions before and after."""
    from training.integrations.mlflow_registry import aliased, rollback_champion
    from training.integrations.mlflow_tracking import configure_tracking, registered_model_name

    configure_tracking(settings.training)
    name = registered_model_name(settings.training, FAMILY)
    before = aliased(name, CHAMPION)
    after = rollback_champion(name)
    return {"model": name, "from": before.version if before else "none", "to": after.version}


def outcome_record(outcome: PromotionOutcome) -> dict[str, Any]:
    """The outcome as plain JSON-able values."""
    record = asdict(outcome)
    record["decision"] = outcome.decision.as_dict()
    return record
