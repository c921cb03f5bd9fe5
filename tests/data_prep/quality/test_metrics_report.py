"""Quality metrics, fault-log evaluation and the quality report, on small hand-built frames."""

from __future__ import annotations

import base64
import io
import json
import re
import struct

import numpy as np
import pandas as pd
import pytest

from data_prep.quality.fault_detections import resolve_files
from data_prep.quality.fault_evaluation import (
    combine_imputation_errors,
    evaluate_fault_log,
    evaluate_imputation,
    imputation_error_sums,
)
from data_prep.quality.metrics import (
    combine_home_metrics,
    file_quality_metrics,
    home_quality_metrics,
    quarantine_counts,
    quarantine_summary,
    run_quality_metrics,
)
from data_prep.quality.report import render_quality_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
T0 = pd.Timestamp("2024-03-04 00:00", tz="UTC")


def grid(home_id: str, n: int, interval_min: int = 60, kwh: float = 1.0) -> pd.DataFrame:
    """A processed grid of ``n`` ok slots of one home."""
    return pd.DataFrame(
        {
            "home_id": home_id,
            "ts": pd.date_range(T0, periods=n, freq=f"{interval_min}min"),
            "kwh": kwh,
            "kwh_raw": kwh,
            "interval_min": interval_min,
            "quality_flag": "ok",
            "anomaly": pd.Series([None] * n, dtype=object),
            "imputation_strategy": pd.Series([None] * n, dtype=object),
            "source_file": f"/lake/input/readings/{home_id}.csv",
        }
    )


def flag(frame: pd.DataFrame, rows: list[int] | slice, **values: object) -> None:
    for column, value in values.items():
        frame.loc[rows, column] = value


def slot(i: int, interval_min: int = 60) -> str:
    return (T0 + pd.Timedelta(minutes=i * interval_min)).isoformat()


@pytest.fixture()
def processed() -> pd.DataFrame:
    """Home a (hourly, 10 slots): 5 ok, 1 level shift kept, 2 imputed, 1 missing, 1 spike masked and imputed.
    Home b (15-min, 4 slots): all ok."""
    a = grid("a", 10)
    flag(a, [5], anomaly="level_shift")
    flag(a, [6, 7], kwh_raw=np.nan, kwh=1.5, quality_flag="imputed", imputation_strategy="linear")
    flag(a, [8], kwh_raw=np.nan, kwh=np.nan, quality_flag="missing")
    flag(a, [9], kwh_raw=50.0, kwh=1.2, quality_flag="anomaly", anomaly="spike", imputation_strategy="linear")
    return pd.concat([a, grid("b", 4, interval_min=15)], ignore_index=True)


def manifest_row(
    source_file: str, rows_in: int, processed: int, quarantined: int, status: str = "active"
) -> dict:
    return {
        "source": "readings",
        "source_file": source_file,
        "sha256": "0" * 64,
        "rows_in": rows_in,
        "rows_processed": processed,
        "rows_quarantined": quarantined,
        "ingested_at": T0,
        "status": status,
    }


def quarantine_rows(
    rows: list[tuple[str, str, str | None, int | None]], source: str = "readings"
) -> pd.DataFrame:
    """(source_file, reason, home_id, slot index or None) per quarantined row."""
    return pd.DataFrame(
        {
            "source": source,
            "source_file": [r[0] for r in rows],
            "line": range(2, len(rows) + 2),
            "reason": [r[1] for r in rows],
            "detail": "",
            "record": "a,b,c",
            "home_id": [r[2] for r in rows],
            "ts": pd.to_datetime([None if r[3] is None else slot(r[3]) for r in rows], utc=True),
        }
    )


# --- metrics -----------------------------------------------------------------------------------------------


def test_home_metrics_count_each_slot_once(processed: pd.DataFrame) -> None:
    metrics = home_quality_metrics(processed).set_index("home_id")
    a = metrics.loc["a"]
    assert (a["n_slots"], a["n_observed"], a["n_imputed"], a["n_missing"]) == (10, 6, 3, 1)
    assert a["completeness"] == pytest.approx(0.6)
    assert a["share_imputed"] == pytest.approx(0.3)
    assert (a["n_anomaly_spike"], a["n_anomaly_level_shift"], a["n_anomaly"]) == (1, 1, 2)
    assert a["span_end"] - a["span_start"] == pd.Timedelta(hours=9)
    b = metrics.loc["b"]
    assert (b["interval_min"], b["completeness"], b["share_imputed"]) == (15, 1.0, 0.0)


def test_home_metrics_of_buckets_combine_to_the_whole(processed: pd.DataFrame) -> None:
    # Home a is split across the two parts on purpose: the combination must still equal the whole.
    parts = [home_quality_metrics(processed.iloc[:4]), home_quality_metrics(processed.iloc[4:])]
    pd.testing.assert_frame_equal(combine_home_metrics(parts), home_quality_metrics(processed))


def test_home_metrics_do_not_depend_on_row_order(processed: pd.DataFrame) -> None:
    shuffled = processed.sample(frac=1.0, random_state=0)
    pd.testing.assert_frame_equal(home_quality_metrics(shuffled), home_quality_metrics(processed))


@pytest.mark.parametrize(
    ("rows_in", "n_processed", "n_quarantined", "balanced"),
    [
        pytest.param(10, 7, 3, True, id="balanced"),
        pytest.param(10, 7, 2, False, id="one-row-lost"),
        pytest.param(10, 8, 3, False, id="one-row-too-many"),
    ],
)
def test_file_metrics_balance(rows_in: int, n_processed: int, n_quarantined: int, balanced: bool) -> None:
    manifest = pd.DataFrame([manifest_row("/in/readings/x.csv", rows_in, n_processed, n_quarantined)])
    quarantine = quarantine_rows(
        [
            ("/in/readings/x.csv", "duplicate", "a", 1),
            ("/in/readings/x.csv", "off_grid_timestamp", "a", 2),
            ("/in/readings/x.csv", "malformed_row", None, None),
        ]
    )
    files = file_quality_metrics(manifest, quarantine)
    row = files.iloc[0]
    assert bool(row["rows_balance_ok"]) is balanced
    assert row["validity"] == pytest.approx(n_processed / rows_in)
    assert row["consistency"] == pytest.approx(1 - 2 / rows_in)
    assert (row["n_quarantine_duplicate"], row["n_quarantine_malformed_row"]) == (1, 1)
    assert bool(row["quarantine_rows_match"]) is (n_quarantined == 3)


def test_file_metrics_skip_superseded_and_flag_files_the_manifest_lacks() -> None:
    manifest = pd.DataFrame(
        [
            manifest_row("/in/readings/x.csv", 5, 5, 0, status="superseded"),
            manifest_row("/in/readings/x.csv", 6, 6, 0),
        ]
    )
    quarantine = quarantine_rows([("/in/readings/ghost.csv", "malformed_row", None, None)])
    files = file_quality_metrics(manifest, quarantine).set_index("source_file")
    assert files.loc["/in/readings/x.csv", "rows_in"] == 6
    assert not files.loc["/in/readings/ghost.csv", "in_manifest"]
    assert not files.loc["/in/readings/ghost.csv", "rows_balance_ok"]


def test_run_metrics_weight_by_slots_and_check_bills(processed: pd.DataFrame) -> None:
    homes = home_quality_metrics(processed)
    files = file_quality_metrics(
        pd.DataFrame([manifest_row("/in/readings/x.csv", 20, 18, 2)]), quarantine_rows([])
    )
    bills = pd.DataFrame(
        {
            "home_id": ["a", "a", "b"],
            "period_start": [T0] * 3,
            "period_end": [T0 + pd.Timedelta(days=30)] * 3,
            "bill_kwh": [100.0, 100.0, 100.0],
            "readings_kwh": [104.0, 80.0, 50.0],
            "coverage": [1.0, 0.99, 0.4],  # the third is too poorly covered to judge
        }
    )
    run = run_quality_metrics(homes, files, bills, bill_tolerance=0.05, min_bill_coverage=0.95)
    # 10 observed slots of 14: the slot-weighted figure, not the mean of 0.6 and 1.0.
    assert run["completeness"] == pytest.approx(10 / 14)
    assert run["share_imputed"] == pytest.approx(3 / 14)
    assert (run["n_bills_checked"], run["n_bills_agreeing"]) == (2, 1)
    assert run["bill_agreement_share"] == pytest.approx(0.5)
    assert run["validity"] == pytest.approx(0.9)
    assert (run["anomaly_spike"], run["rows_balance_ok"]) == (1, True)
    json.dumps(run, allow_nan=False)  # plain JSON scalars, no NaN


# --- fault evaluation --------------------------------------------------------------------------------------

FAULTS_CSV = """fault_id,fault_type,source,file,home_id,ts_start,ts_end,n_rows,detail
F1,spike,readings,readings/h1.csv,h1,{s11},{s11},1,one interval after the detection
F2,stuck,readings,readings/h1.csv,h1,{s20},{s23},4,
F3,negative,readings,readings/h1.csv,h1,{s45},{s45},1,never flagged
F4,gap_short,readings,readings/h1.csv,h1,{s30},{s31},2,
F5,malformed_row,readings,readings/batch/f1.csv,,,,1,
F6,malformed_row,readings,readings/batch/f1.csv,,,,1,only one quarantined line in f1
F7,duplicate,readings,readings/h1.csv,h1,{s5},{s5},1,
F8,spike,readings,readings/h1.csv,h1,{s12},{s12},1,two intervals from the detection
F9,late_arrival,readings,readings/late.csv,h1,{s34},{s37},4,
F10,profile_mistyped_field,profiles,profiles/h1.json,h1,,,1,
F11,profile_missing_field,profiles,profiles/h3.json,h3,,,1,
"""


@pytest.fixture()
def detection_case() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    text = FAULTS_CSV.format(**{f"s{i}": slot(i) for i in range(48)})
    faults = pd.read_csv(io.StringIO(text))
    h1 = grid("h1", 48)
    flag(h1, [10], anomaly="spike", quality_flag="anomaly", imputation_strategy="linear")
    flag(h1, slice(20, 23), anomaly="stuck", quality_flag="anomaly", imputation_strategy="linear")
    flag(h1, [40], anomaly="outlier", quality_flag="anomaly", imputation_strategy="linear")  # no fault here
    flag(h1, [30, 31], kwh_raw=np.nan, quality_flag="imputed", imputation_strategy="linear")
    flag(h1, [36], kwh_raw=np.nan, quality_flag="imputed", imputation_strategy="linear")  # 1 late row lost
    quarantine = pd.concat(
        [
            quarantine_rows(
                [
                    ("/lake/input/readings/h1.csv", "duplicate", "h1", 5),
                    ("/lake/input/readings/batch/f1.csv", "malformed_row", None, None),
                    ("/lake/input/readings/batch/f2.csv", "bad_number", None, None),  # no fault in f2
                ]
            ),
            quarantine_rows(
                [("/lake/input/profiles/h1.json", "invalid_document", "h1", None)], source="profiles"
            ),
        ],
        ignore_index=True,
    )
    return faults, h1, quarantine


def test_detection_recall_matches_hand_count(detection_case: tuple[pd.DataFrame, ...]) -> None:
    faults, processed, quarantine = detection_case
    evaluation = evaluate_fault_log(faults, processed, quarantine)
    per_fault = evaluation.faults.set_index("fault_id")
    detected = set(per_fault.index[per_fault["detected"]])
    assert detected == {"F1", "F2", "F4", "F5", "F7", "F9", "F10", "F11"}
    recall = evaluation.by_fault_type.set_index("fault_type")
    assert recall.loc["spike", "recall"] == pytest.approx(0.5)  # F1 within ±1 interval, F8 two away
    assert recall.loc["negative", "recall"] == 0.0  # missed
    assert recall.loc["malformed_row", "recall"] == pytest.approx(0.5)  # one quarantined line, two faults
    assert recall.loc["late_arrival", ["metric", "recall"]].tolist() == ["landed", pytest.approx(0.75)]
    assert recall.loc["profile_missing_field", ["metric", "recall"]].tolist() == ["accepted", 1.0]
    assert recall.loc["gap_short", "recall"] == 1.0


def test_detection_precision_counts_runs_as_events(detection_case: tuple[pd.DataFrame, ...]) -> None:
    faults, processed, quarantine = detection_case
    by_code = evaluate_fault_log(faults, processed, quarantine).by_code.set_index("code")
    assert by_code.loc["stuck", ["n_events", "precision"]].tolist() == [1, 1.0]  # four rows, one event
    assert by_code.loc["spike", "precision"] == 1.0
    assert by_code.loc["outlier", "precision"] == 0.0  # false positive: no fault near slot 40
    assert by_code.loc["bad_number", "precision"] == 0.0  # a file without injected faults
    assert by_code.loc["malformed_row", "precision"] == 1.0
    assert by_code.loc["invalid_document", "precision"] == 1.0


@pytest.mark.parametrize(
    ("offset", "interval_min", "detected"),
    [
        pytest.param(0, 15, True, id="same-slot"),
        pytest.param(1, 15, True, id="one-interval-late"),
        pytest.param(-1, 15, True, id="one-interval-early"),
        pytest.param(2, 15, False, id="two-intervals-late"),
        pytest.param(2, 60, False, id="two-hours-late-hourly"),
    ],
)
def test_detection_tolerance_is_one_interval_of_the_home(
    offset: int, interval_min: int, detected: bool
) -> None:
    processed = grid("h1", 20, interval_min=interval_min)
    flag(processed, [10 + offset], anomaly="spike", quality_flag="anomaly")
    faults = pd.DataFrame(
        {
            "fault_id": ["F1"],
            "fault_type": ["spike"],
            "source": ["readings"],
            "file": ["readings/h1.csv"],
            "home_id": ["h1"],
            "ts_start": [slot(10, interval_min)],
            "ts_end": [slot(10, interval_min)],
            "n_rows": [1],
            "detail": [""],
        }
    )
    evaluation = evaluate_fault_log(faults, processed, quarantine_rows([]))
    assert bool(evaluation.faults.loc[0, "detected"]) is detected


@pytest.mark.parametrize(
    ("source_file", "expected"),
    [
        pytest.param("/lake/input/readings/a.csv", "readings/a.csv", id="under-input-root"),
        pytest.param("readings/a.csv", "readings/a.csv", id="same-path"),
        pytest.param("abfs://c@acct.dfs.core.windows.net/in/readings/a.csv", "readings/a.csv", id="uri"),
        pytest.param("/lake/input/myreadings/a.csv", None, id="suffix-not-at-a-folder-boundary"),
    ],
)
def test_quarantine_files_resolve_to_fault_log_paths(source_file: str, expected: str | None) -> None:
    assert resolve_files([source_file], ["readings/a.csv", "a.csv/b.csv"]).get(source_file) == expected


# --- imputation against truth ------------------------------------------------------------------------------


def test_imputation_error_per_strategy() -> None:
    processed = grid("a", 6, kwh=2.0)
    flag(processed, [0, 1], quality_flag="imputed", imputation_strategy="linear")
    processed.loc[[0, 1], "kwh"] = [3.0, 1.0]  # errors +1 and -1
    flag(processed, [2], quality_flag="imputed", imputation_strategy="seasonal_naive", kwh=4.0)  # error +2
    flag(processed, [5], quality_flag="imputed", imputation_strategy="linear", kwh=9.0)  # no truth: dropped
    clean = pd.DataFrame({"home_id": "a", "ts": [slot(i) for i in range(5)], "kwh": 2.0, "interval_min": 60})
    table = evaluate_imputation(processed, clean).set_index("imputation_strategy")
    assert table.loc["linear", ["n", "mae_kwh", "rmse_kwh", "bias_kwh"]].tolist() == [2, 1.0, 1.0, 0.0]
    assert table.loc["seasonal_naive", ["n", "mae_kwh", "bias_kwh"]].tolist() == [1, 2.0, 2.0]
    halves = [
        imputation_error_sums(processed.iloc[:1], clean),
        imputation_error_sums(processed.iloc[1:], clean),
    ]
    pd.testing.assert_frame_equal(combine_imputation_errors(halves), table.reset_index())


# --- report ------------------------------------------------------------------------------------------------


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_report_renders_every_file(processed: pd.DataFrame, detection_case: tuple[pd.DataFrame, ...]) -> None:
    faults, h1, quarantine = detection_case
    manifest = pd.DataFrame([manifest_row("/lake/input/readings/batch/f1.csv", 10, 9, 1)])
    files = file_quality_metrics(manifest, quarantine)
    homes = home_quality_metrics(processed)
    run = run_quality_metrics(homes, files)
    scores = pd.DataFrame(
        {
            "home_id": ["a", "a", "b", "b"],
            "gap_class": ["<=24h", "<=3h", "<=3h", "<=3h"],
            "strategy": ["linear", "linear", "linear", "spline"],
            "mae_kwh": [0.4, 0.1, 0.2, 0.15],
            "n_points": [8, 4, 4, 4],
        }
    )
    clean = processed.loc[:, ["home_id", "ts"]].assign(kwh=1.0)
    out = render_quality_report(
        run,
        homes,
        files,
        quarantine_summary(quarantine_counts(quarantine)),
        scores,
        detection_eval=evaluate_fault_log(faults, h1, quarantine),
        imputation_eval=evaluate_imputation(processed, clean),
        sample_series=processed,
    )
    plots = {name for name in out if name.startswith("plots/")}
    assert {"report.html", "report.md", "metrics.json"} <= set(out)
    expected = ["completeness", "quarantine_reasons", "anomalies", "imputation_mae", "detection"]
    expected += ["imputation_truth", "sample_series"]
    assert plots == {f"plots/{n}.png" for n in expected}
    for name in plots:
        width, height = png_size(out[name])
        assert width > 100 and height > 100
    page = out["report.html"].decode()
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert sorted(base64.b64decode(e) for e in embedded) == sorted(out[n] for n in plots)
    # Key figures: completeness 10/14 and validity 9/10, and the how-to-read intro.
    assert "71.4 %" in page and "90.0 %" in page and "How to read this report" in page
    markdown = out["report.md"].decode()
    assert all(f"]({name})" in markdown for name in plots)
    assert "| Completeness | 71.4 % |" in markdown
    payload = json.loads(out["metrics.json"])
    assert payload["run"]["completeness"] == pytest.approx(10 / 14)
    spike = next(r for r in payload["detection"]["by_fault_type"] if r["fault_type"] == "spike")
    assert spike["recall"] == pytest.approx(0.5)


def test_report_without_optional_parts_has_no_empty_sections(processed: pd.DataFrame) -> None:
    homes = home_quality_metrics(processed)
    files = file_quality_metrics(
        pd.DataFrame([manifest_row("/in/readings/x.csv", 3, 3, 0)]), quarantine_rows([])
    )
    empty_scores = pd.DataFrame(columns=["home_id", "gap_class", "strategy", "mae_kwh", "n_points"])
    out = render_quality_report(
        run_quality_metrics(homes, files),
        homes,
        files,
        quarantine_summary(quarantine_counts(quarantine_rows([]))),
        empty_scores,
    )
    assert {n for n in out if n.startswith("plots/")} == {"plots/completeness.png", "plots/anomalies.png"}
    page = out["report.html"].decode()
    assert "Detection against the fault log" not in page and "Sample homes" not in page
    assert page.count("data:image/png;base64,") == 2
