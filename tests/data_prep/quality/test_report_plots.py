"""The quality report's plot layout, missing-slot bands and read-back of the lake's parts."""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from contracts.storage import Lake
from data_prep.quality.figures import fit_axes, new_figure
from data_prep.quality.report_plots import _missing_spans
from data_prep.quality_run import _concat


def long_labels(fig: Any) -> None:
    """One bar chart with long category labels and counts large enough for an offset text (``1e7``)."""
    ax = fig.subplots()
    ax.barh(["conflicting_duplicate_of_a_very_long_name", "spike"], [3e7, 1e6])
    ax.set(xlabel="quarantined rows", title="Why rows went to quarantine")


def rotated_labels(fig: Any) -> None:
    """Two panels side by side, rotated category labels, an axis label on the left of each."""
    for ax, ylabel in zip(fig.subplots(1, 2), ["flagged readings", "homes"], strict=True):
        ax.bar(["outlier", "meter_reset", "level_shift"], [12_345, 20, 7])
        ax.set(ylabel=ylabel, title="Anomalies by type")
        ax.tick_params(axis="x", labelrotation=30)


def rows_under_a_legend(fig: Any) -> None:
    """Panels of a time series stacked in rows, one legend for all above them; the first and the last date
    label sit at the very ends of the axis."""
    ts = pd.date_range("2025-04-01", periods=49, freq="h").to_numpy()
    axes = fig.subplots(3, 1, squeeze=False)[:, 0]
    for i, ax in enumerate(axes):
        ax.plot(ts, np.arange(49.0) * (i + 1), label="kwh")
        ax.set(ylabel="[kWh]", title=f"home h{i}")
        ax.margins(x=0)
    axes[-1].set_xlabel("time [UTC]")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center")


def bare_offset_texts(fig: Any) -> None:
    """No title and no axis labels, so only the room kept for the offset texts (``1e7``) holds them."""
    fig.subplots().plot([0, 3e7], [0, 3e7])


@pytest.mark.parametrize(
    ("draw", "size_in"),
    [
        pytest.param(long_labels, (8, 2.4), id="long-labels-and-offset-text"),
        pytest.param(bare_offset_texts, (4, 3), id="offset-texts-alone"),
        pytest.param(rotated_labels, (9, 3.4), id="two-panels-rotated-labels"),
        pytest.param(rows_under_a_legend, (11, 7), id="three-rows-under-a-legend"),
    ],
)
def test_fitted_axes_keep_every_label_inside_the_figure_and_apart(
    draw: Callable[[Any], None], size_in: tuple[float, float]
) -> None:
    fig = new_figure(*size_in, layout=None)
    draw(fig)
    fit_axes(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    # Matplotlib's own extents (tick labels, axis labels, titles, offset texts) are the judge.
    boxes = [ax.get_tightbbox(renderer) for ax in fig.axes]
    boxes += [legend.get_window_extent(renderer) for legend in fig.legends]
    figure = fig.bbox
    for box in boxes:
        assert figure.x0 <= box.x0 and box.x1 <= figure.x1
        assert figure.y0 <= box.y0 and box.y1 <= figure.y1
    assert not any(a.overlaps(b) for a, b in combinations(boxes, 2))
    # ... and the space is used: at most a few points of margin at each edge.
    assert min(b.x0 for b in boxes) - figure.x0 < 20 and figure.x1 - max(b.x1 for b in boxes) < 20
    assert min(b.y0 for b in boxes) - figure.y0 < 20 and figure.y1 - max(b.y1 for b in boxes) < 20


def test_missing_spans_cover_each_missing_slot_and_merge_only_neighbours() -> None:
    from matplotlib.dates import date2num

    # Hourly slots 0..9 with slot 6 absent from the grid: 2-3 are a run, 5 and 7 are not neighbours.
    ts = (pd.Timestamp("2025-01-01") + pd.to_timedelta([0, 1, 2, 3, 4, 5, 7, 8, 9], unit="h")).to_numpy()
    missing = np.array([False, False, True, True, False, True, True, False, True])
    spans = _missing_spans(ts, missing, np.timedelta64(60, "m"))
    hours = [(round((start - date2num(ts[0])) * 24, 6), round(width * 24, 6)) for start, width in spans]
    assert hours == [(2.0, 2.0), (5.0, 1.0), (7.0, 1.0), (9.0, 1.0)]


def test_parts_read_back_as_one_frame_with_their_schemas_unified(tmp_path: Any) -> None:
    lake = Lake(str(tmp_path))
    parts = {
        "a.parquet": pa.table({"home_id": ["h1", "h2"], "detail": pa.array([None, None], pa.null())}),
        "b.parquet": pa.table({"home_id": pa.array([], pa.string()), "detail": pa.array([], pa.string())}),
        "c.parquet": pa.table({"home_id": ["h3"], "detail": ["late"]}),
    }
    for name, table in parts.items():
        lake.write_table(lake.path("parts", name), table)
    frame = _concat(lake, lake.path("parts", "*.parquet"))
    expected = pd.DataFrame({"home_id": ["h1", "h2", "h3"], "detail": [None, None, "late"]})
    pd.testing.assert_frame_equal(frame, expected)
    empty = _concat(lake, lake.path("parts", "b.parquet"), ["home_id", "n"])
    assert empty.empty and list(empty.columns) == ["home_id", "n"]
