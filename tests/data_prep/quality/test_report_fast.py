"""The report's fast paths against plain references: PNG encoding against Matplotlib's own, plots drawn by a
helper process against plots drawn here."""

from __future__ import annotations

import io
from concurrent.futures import BrokenExecutor, Executor, Future
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from PIL import Image

from data_prep.quality.figures import fitted_png, new_figure, png_bytes
from data_prep.quality.metrics import (
    file_quality_metrics,
    home_quality_metrics,
    quarantine_counts,
    quarantine_summary,
    run_quality_metrics,
)
from data_prep.quality.report import render_quality_report
from data_prep.quality_run import ReportPlotter, start_plot_helper, write_run_report

T0 = pd.Timestamp("2024-03-30 20:00", tz="UTC")


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def busy_figure() -> Any:
    """Antialiased lines, translucent fills, a legend with a translucent frame and text: every kind of edge."""
    fig = new_figure(5, 3, layout=None)
    ax = fig.subplots()
    x = np.linspace(0, 10, 200)
    ax.plot(x, np.sin(x), label="sin")
    ax.fill_between(x, 0, np.cos(x), alpha=0.3, label="cos")
    ax.scatter(x[::20], np.sin(x[::20]), marker="x", color="red")
    ax.set(title="a title", xlabel="x [h]", ylabel="y [kWh]")
    ax.legend(loc="upper right")
    return fig


def test_png_holds_exactly_the_pixels_matplotlib_saves() -> None:
    fig = busy_figure()
    png = fitted_png(fig)
    reference = io.BytesIO()
    fig.savefig(reference, format="png", dpi=fig.dpi)  # Matplotlib's own PNG (RGBA, default compression)
    assert Image.open(io.BytesIO(png)).mode == "RGB"
    assert Image.open(io.BytesIO(png)).size == Image.open(reference).size == (500, 300)
    np.testing.assert_array_equal(pixels(png), pixels(reference.getvalue()))
    assert png_bytes(fig) == png  # the same figure gives the same bytes


def test_a_figure_is_opaque_so_dropping_alpha_loses_nothing() -> None:
    fig = busy_figure()
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    assert (rgba[..., 3] == 255).all()


class BrokenHelper(Executor):
    """An executor whose process has died: every job fails as a broken pool does."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_exception(BrokenExecutor("the helper process died"))
        return future


@pytest.fixture(scope="module")
def report_args() -> tuple[Any, ...]:
    """Two homes over a DST change with imputed, missing and anomalous slots; one quarantined row."""
    from data_prep.quality.fault_evaluation import evaluate_imputation

    ts = pd.date_range(T0, periods=72, freq="h")
    frames = []
    for home, scale in (("h1", 1.0), ("h2", 3.0)):
        kwh = scale * (1 + np.sin(np.arange(72) / 4))
        frame = pd.DataFrame({"home_id": home, "ts": ts, "kwh": kwh, "kwh_raw": kwh, "interval_min": 60})
        frame["quality_flag"] = "ok"
        frame["imputation_strategy"] = None
        frame["anomaly"] = None
        frame.loc[5:7, ["quality_flag", "imputation_strategy"]] = ["imputed", "linear"]
        frame.loc[20:23, ["quality_flag", "kwh"]] = ["missing", np.nan]
        frame.loc[30, ["anomaly", "kwh_raw"]] = ["spike", 90 * scale]
        frames.append(frame)
    processed = pd.concat(frames, ignore_index=True)
    manifest = pd.DataFrame(
        [
            {
                "source": "readings",
                "source_file": "/in/readings/f1.csv",
                "sha256": "0" * 64,
                "rows_in": 145,
                "rows_processed": 144,
                "rows_quarantined": 1,
                "ingested_at": T0,
                "status": "active",
            }
        ]
    )
    quarantine = pd.DataFrame(
        {
            "source": ["readings"],
            "source_file": ["/in/readings/f1.csv"],
            "line": [2],
            "reason": ["duplicate"],
            "detail": [""],
            "record": ["a,b,c"],
            "home_id": ["h1"],
            "ts": pd.to_datetime([T0], utc=True),
        }
    )
    homes = home_quality_metrics(processed)
    files = file_quality_metrics(manifest, quarantine)
    scores = pd.DataFrame(
        {
            "home_id": ["h1", "h1", "h2", "h2"],
            "gap_class": ["<=24h", "<=3h", "<=3h", "<=3h"],
            "strategy": ["linear", "linear", "linear", "spline"],
            "mae_kwh": [0.4, 0.1, 0.2, 0.15],
            "n_points": [8, 4, 4, 4],
        }
    )
    summary = quarantine_summary(quarantine_counts(quarantine))
    imputation = evaluate_imputation(processed, processed.loc[:, ["home_id", "ts"]].assign(kwh=1.0))
    return (run_quality_metrics(homes, files), homes, files, summary, scores, None, imputation, processed)


def test_plots_drawn_by_a_helper_process_are_the_plots_drawn_here(report_args: tuple[Any, ...]) -> None:
    here = render_quality_report(*report_args)
    helper = start_plot_helper()
    assert helper is not None  # Linux has a fork server
    try:
        there = render_quality_report(*report_args, helper=helper)
    finally:
        helper.shutdown()
    assert {n for n in here if n.startswith("plots/")} == {
        "plots/completeness.png",
        "plots/quarantine_reasons.png",
        "plots/anomalies.png",
        "plots/imputation_mae.png",
        "plots/imputation_truth.png",
        "plots/sample_series.png",
    }
    assert there == here  # every file, to the byte: the HTML embeds the PNGs


def test_a_broken_helper_leaves_the_drawing_to_this_process(report_args: tuple[Any, ...]) -> None:
    assert render_quality_report(*report_args, helper=BrokenHelper()) == render_quality_report(*report_args)


def test_the_report_written_with_a_helper_is_the_report_written_without(
    tmp_path: Any, report_args: tuple[Any, ...]
) -> None:
    from contracts.storage import Lake, Zone
    from data_prep.raw_zone import RawZone

    _, homes, _, _, scores, _, _, processed = report_args
    written = {}
    for name, enabled in (("here", False), ("helper", True)):
        lake = Lake(str(tmp_path / name))
        lake.write_table(lake.path(Zone.QUALITY, "home_metrics", "b0.parquet"), pa.Table.from_pandas(homes))
        lake.write_table(
            lake.path(Zone.QUALITY, "imputation_scores", "b0.parquet"), pa.Table.from_pandas(scores)
        )
        lake.write_table(lake.path(Zone.QUALITY, "sample_series.parquet"), pa.Table.from_pandas(processed))
        with ReportPlotter(enabled) as plotter:
            plotter.start()
            assert (plotter.helper is not None) == enabled
            write_run_report(lake, RawZone(lake).read_manifest(), None, lambda *a: None, plotter.helper)
        root = tmp_path / name / "quality"
        written[name] = {
            str(p.relative_to(root)): p.read_bytes()
            for p in root.rglob("*")
            if p.is_file() and "runs" not in p.parts
        }
        if plotter.helper is not None:
            with pytest.raises(RuntimeError):  # shut down once the run is over
                plotter.helper.submit(print)
    assert "plots/sample_series.png" in written["here"]
    assert written["helper"] == written["here"]


@pytest.mark.parametrize(
    "homes",
    [
        pytest.param(["h2", "h0"], id="some"),
        pytest.param(["h9", "zz"], id="none-known"),
        pytest.param([], id="empty"),
        pytest.param(["h1", None, "h1"], id="repeats-and-none"),
        pytest.param([f"h{i}" for i in range(7)], id="all"),
    ],
)
def test_rows_of_homes_is_isin(homes: list[Any]) -> None:
    from data_prep.quality_run import rows_of_homes

    rng = np.random.default_rng(5)
    home_ids = pd.Series(rng.choice(["h0", "h1", "h2", "h3", "h5", "h6", None], size=500), dtype=object)
    mask = rows_of_homes(pd.Categorical(home_ids), homes)
    np.testing.assert_array_equal(mask, home_ids.isin(homes).to_numpy() & home_ids.notna().to_numpy())
    assert mask.any() == bool(set(homes) & set(home_ids.dropna()))


@pytest.mark.parametrize(
    "as_given",
    [
        pytest.param(lambda ts: ts.dt.tz_convert("Europe/Stockholm"), id="other-zone"),
        pytest.param(lambda ts: ts.dt.strftime("%Y-%m-%dT%H:%M:%S%z"), id="text"),
        pytest.param(lambda ts: ts.astype("datetime64[us, UTC]"), id="utc-microseconds"),
    ],
)
def test_imputation_errors_do_not_depend_on_how_the_truth_gives_its_times(as_given: Any) -> None:
    from data_prep.quality.fault_evaluation import imputation_error_sums

    ts = pd.Series(pd.date_range("2025-03-30 00:00", periods=6, freq="h", tz="UTC"))  # over the DST change
    processed = pd.DataFrame(
        {
            "home_id": ["a"] * 6,
            "ts": ts,
            "kwh": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0],
            "imputation_strategy": [None, "linear", "linear", "spline", None, "linear"],
        }
    )
    clean = pd.DataFrame({"home_id": ["a"] * 6, "ts": ts, "kwh": [1.0, 1.5, 3.0, 4.5, 5.0, np.nan]})
    expected = imputation_error_sums(processed, clean)
    assert expected["n"].tolist() == [1, 1]  # linear at 01:00 (06:00 has no truth), spline at 03:00
    actual = imputation_error_sums(processed, clean.assign(ts=as_given(clean["ts"])))
    pd.testing.assert_frame_equal(actual, expected)
