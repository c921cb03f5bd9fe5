"""The Evidently workspace: a local folder with one project per monitored model and a snapshot per report and run.

``evidently ui --workspace <folder>`` (or ``eliq monitor ui``) browses it: each project's dashboard (built here
when the project is created) plots the share of drifted features, the temperature's drift score, the forecast's
MAE and P10–P90 coverage, and the daily completeness over the runs; every snapshot opens as its full report.

A snapshot is filed at the end of its current window, not at the wall-clock time of the run, so runs replayed
over past data line up on the dashboard's time axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitoring.evidently_reports import Snapshot, import_evidently


@dataclass(frozen=True)
class StoredSnapshot:
    """A snapshot added to the workspace.

    Attributes:
        name: the snapshot's name (``data drift: all homes`` …).
        project_id: the workspace project.
        snapshot_id: the snapshot.
    """

    name: str
    project_id: str
    snapshot_id: str


def open_project(workspace: str, name: str, description: str) -> tuple[Any, Any]:
    """The workspace at ``workspace`` (created if absent) and its project ``name`` (created, with its dashboard,
    on first use)."""
    Workspace = import_evidently("evidently.ui.workspace").Workspace
    Path(workspace).mkdir(parents=True, exist_ok=True)
    space = Workspace(workspace)
    found = space.search_project(name)
    if found:
        return space, found[0]
    project = space.create_project(name, description=description)
    _add_dashboard(project)
    project.save()
    return space, project


def add_snapshots(workspace: str, project_name: str, snapshots: list[Snapshot]) -> list[StoredSnapshot]:
    """Add each snapshot to the model's project (creating the project first if needed)."""
    space, project = open_project(
        workspace, project_name, f"Drift, accuracy and data quality of {project_name} (eliq monitoring)"
    )
    stored = []
    for snapshot in snapshots:
        ref = space.add_run(project.id, snapshot.run, name=snapshot.name)
        stored.append(StoredSnapshot(snapshot.name, str(project.id), str(ref.id)))
    return stored


def project_runs(workspace: str, project_name: str) -> list[str]:
    """The snapshot ids of a project (empty when the workspace or the project does not exist)."""
    Workspace = import_evidently("evidently.ui.workspace").Workspace
    if not Path(workspace).is_dir():
        return []
    space = Workspace(workspace)
    found = space.search_project(project_name)
    return [str(s) for s in space.list_runs(found[0].id)] if found else []


def _add_dashboard(project: Any) -> None:
    from evidently.sdk.models import PanelMetric
    from evidently.sdk.panels import counter_panel, line_plot_panel, text_panel

    def metric(name: str, legend: str, **labels: str) -> Any:
        return PanelMetric(legend=legend, metric=f"evidently:metric_v2:{name}", metric_labels=labels)

    panels = [
        text_panel(title=project.name, description="eliq monitoring: one point per run and report"),
        counter_panel(
            title="Share of drifted features (last run)",
            values=[metric("DriftedColumnsCount", "share", value_type="share")],
            size="half",
        ),
        line_plot_panel(
            title="Share of drifted features",
            values=[metric("DriftedColumnsCount", "share", value_type="share")],
            size="half",
        ),
        line_plot_panel(
            title="Drift score of temp_c and kwh_lag_24h",
            values=[
                metric("ValueDrift", "temp_c", column="temp_c"),
                metric("ValueDrift", "kwh_lag_24h", column="kwh_lag_24h"),
                metric("ValueDrift", "kwh", column="kwh"),
            ],
        ),
        line_plot_panel(
            title="Forecast MAE [kWh]", values=[metric("MAE", "MAE", value_type="mean")], size="half"
        ),
        line_plot_panel(
            title="P10–P90 coverage", values=[metric("MeanValue", "coverage", column="inside")], size="half"
        ),
        line_plot_panel(
            title="Daily completeness (mean, min)",
            values=[
                metric("MeanValue", "mean", column="completeness"),
                metric("MinValue", "min", column="completeness"),
            ],
        ),
    ]
    for panel in panels:
        project.dashboard.add_panel(panel)
