"""The one definition of the workflow: prep → features → train → evaluate → register → score → monitor.

The steps are typed functions in :mod:`pipelines.steps`; this module only wires them: which upstream outputs each
step receives (as keyword arguments) and which run parameters it takes. The local runner
(:mod:`pipelines.runner`), ``eliq pipeline step`` (used by the MLflow project entry points) and the Azure ML
components (:mod:`pipelines.azure.components`) all execute a step through :func:`execute_step`, so there is no
second implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pipelines.steps import data, model, monitor
from pipelines.steps.context import StepContext, StepOutput

RUN_PARAMS = ("input_uri", "truth_uri")


@dataclass(frozen=True)
class StepSpec:
    """One step of the workflow.

    Attributes:
        name: the step's name (``--steps``, the run record, the MLproject entry point's suffix).
        run: the step function: ``run(ctx, **inputs, **params) -> output``.
        output: the type of its output.
        inputs: keyword argument → the upstream step whose output it receives.
        params: the run parameters (:data:`RUN_PARAMS`) it takes as keyword arguments.
        summary: one line for ``--help`` and the docs.
    """

    name: str
    run: Callable[..., StepOutput]
    output: type[StepOutput]
    inputs: Mapping[str, str] = field(default_factory=dict)
    params: tuple[str, ...] = ()
    summary: str = ""


class UnknownStepError(KeyError):
    """A step name that is not in the workflow; the message lists the known ones."""

    def __str__(self) -> str:
        return str(self.args[0])


class Workflow:
    """An ordered set of steps whose inputs name earlier steps only.

    Args:
        steps: the steps in execution order.

    Raises:
        ValueError: a step's input names a step that is not before it.
    """

    def __init__(self, steps: tuple[StepSpec, ...]) -> None:
        self.steps = steps
        seen: set[str] = set()
        for spec in steps:
            late = [up for up in spec.inputs.values() if up not in seen]
            if late:
                raise ValueError(f"step {spec.name!r} reads {late}, which do not run before it")
            seen.add(spec.name)

    def __iter__(self) -> Iterator[StepSpec]:
        return iter(self.steps)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.steps)

    def get(self, name: str) -> StepSpec:
        """The step called ``name``.

        Raises:
            UnknownStepError: there is none.
        """
        for spec in self.steps:
            if spec.name == name:
                return spec
        raise UnknownStepError(f"unknown step {name!r}; the workflow's steps are {', '.join(self.names)}")

    def select(self, names: tuple[str, ...] | list[str] | None) -> tuple[StepSpec, ...]:
        """The named steps in workflow order (all when ``names`` is ``None`` or empty)."""
        if not names:
            return self.steps
        wanted = {self.get(name).name for name in names}
        return tuple(spec for spec in self.steps if spec.name in wanted)

    def with_step(self, name: str, **changes: Any) -> Workflow:
        """A copy with one step changed, e.g. ``run=`` another function (tests inject failures this way)."""
        self.get(name)
        return Workflow(tuple(replace(s, **changes) if s.name == name else s for s in self.steps))


WORKFLOW = Workflow(
    (
        StepSpec(
            "prep",
            data.prep,
            data.PrepOutput,
            params=RUN_PARAMS,
            summary="input files → raw, processed and curated zones, quality report",
        ),
        StepSpec(
            "features",
            data.features,
            data.FeaturesOutput,
            {"prepared": "prep"},
            summary="feature tables, Feast registry, online store",
        ),
        StepSpec(
            "train",
            model.train,
            model.TrainOutput,
            {"featured": "features"},
            summary="backtest, fit, log to MLflow, register as challenger",
        ),
        StepSpec(
            "evaluate",
            model.evaluate,
            model.EvaluateOutput,
            {"trained": "train"},
            summary="backtest the challenger on the current data, evaluation report",
        ),
        StepSpec(
            "register",
            model.register,
            model.RegisterOutput,
            {"trained": "train", "evaluated": "evaluate"},
            summary="promotion gate: challenger → champion if it beats champion and baselines",
        ),
        StepSpec(
            "score",
            model.score,
            model.ScoreOutput,
            {"registered": "register"},
            summary="batch-score every client's homes into the curated zone",
        ),
        StepSpec(
            "monitor",
            monitor.monitor,
            monitor.MonitorOutput,
            {"scored": "score"},
            summary="drift, performance and data-quality reports, thresholds",
        ),
    )
)


def execute_step(
    spec: StepSpec,
    ctx: StepContext,
    upstream: Mapping[str, StepOutput],
    params: Mapping[str, Any] | None = None,
) -> StepOutput:
    """Run one step with the outputs of the upstream steps that ran (others are passed as absent) and its params.

    Args:
        spec: the step.
        ctx: its context.
        upstream: step name → output, for the upstream steps whose outputs exist.
        params: run parameters; the step receives those it declares.
    """
    kwargs: dict[str, Any] = {kw: upstream[step] for kw, step in spec.inputs.items() if step in upstream}
    kwargs.update({name: (params or {}).get(name) for name in spec.params})
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    return spec.run(ctx, **kwargs)
