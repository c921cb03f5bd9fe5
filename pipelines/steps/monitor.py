"""The last step of the workflow: ``monitor`` (drift, performance and data quality with Evidently)."""

from __future__ import annotations

import dataclasses
from typing import Any

from pipelines.steps.context import StepContext, StepOutput
from pipelines.steps.model import ScoreOutput


class MonitorOutput(StepOutput):
    """The monitoring reports of the run.

    Attributes:
        report_html: the run's summary report, linking the Evidently reports (open it in a browser).
        reports: report name (``drift``, ``performance``, ``quality``) → its Evidently HTML file.
        metrics_json: every number of the run as JSON.
        workspace: the Evidently workspace the snapshot was added to (``eliq monitor ui``).
        breaches: the thresholds crossed (empty: all within bounds). A breach does not fail the step;
            ``eliq monitor check`` turns breaches into an exit code and an alert record.
    """

    report_html: str
    reports: dict[str, str]
    metrics_json: str
    workspace: str
    breaches: list[Any]


def monitor(ctx: StepContext, *, scored: ScoreOutput | None = None) -> MonitorOutput:
    """Compare the recent window with the model's training window and check the thresholds
    (``monitoring.steps.monitor_forecast``, what ``eliq monitor`` runs).

    Args:
        ctx: the step's context; the reports go to ``<out_dir>/report``.
        scored: ``score``'s output when it ran in the same run (ordering: the newest forecasts are monitored).
    """
    from monitoring.steps import monitor_forecast

    outcome = monitor_forecast(ctx.settings, out_dir=str(ctx.folder("report")), progress=ctx.progress.note)
    return MonitorOutput(
        report_html=str(outcome.report_html),
        reports={str(k): str(v) for k, v in outcome.reports.items()},
        metrics_json=str(outcome.metrics_json),
        workspace=str(outcome.workspace),
        breaches=[_plain(b) for b in outcome.breaches],
    )


def _plain(value: Any) -> Any:
    """A breach as JSON values, whatever its type (dataclass, pydantic model, mapping or text)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _scalar(v) for k, v in dataclasses.asdict(value).items()}
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): _scalar(v) for k, v in value.items()}
    return str(value)


def _scalar(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)
