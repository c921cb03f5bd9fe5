"""Series-level rules: duplicates, interval inference, grid alignment, ranges and the regular grid."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data_prep.quality.rules import ReadingRules
from data_prep.readings_grid import align, build_grid, deduplicate, infer_intervals


def staged(rows):
    """Staged rows from (home, ts, kwh[, ingest_seq]) tuples."""
    frame = pd.DataFrame(
        [
            {
                "home_id": r[0],
                "ts": pd.Timestamp(r[1], tz="UTC"),
                "kwh": r[2],
                "pv_kwh": np.nan,
                "export_kwh": np.nan,
                "source_file": f"f{r[3] if len(r) > 3 else 0}",
                "line": i + 2,
                "ingest_seq": r[3] if len(r) > 3 else 0,
                "is_mean_kw": False,
            }
            for i, r in enumerate(rows)
        ]
    )
    return frame


def test_first_ingested_row_wins_and_repeats_are_classified():
    frame = staged(
        [
            ("h1", "2025-01-01 01:00", 9.0, 1),  # later file, conflicting
            ("h1", "2025-01-01 01:00", 1.0, 0),
            ("h1", "2025-01-01 01:00", 1.0, 0),  # exact repeat
            ("h1", "2025-01-01 02:00", 2.0, 0),
        ]
    )
    kept, dropped = deduplicate(frame)
    assert kept["kwh"].tolist() == [1.0, 2.0]
    assert sorted(dropped["reason"]) == ["conflicting_duplicate", "duplicate"]


@pytest.mark.parametrize(
    ("freq", "expected"),
    [
        pytest.param("15min", 15, id="15min"),
        pytest.param("30min", 30, id="30min"),
        pytest.param("h", 60, id="hourly"),
    ],
)
def test_interval_is_inferred_per_home(freq, expected):
    ts = pd.date_range("2025-01-01", periods=50, freq=freq)
    ts = ts.delete([3, 4, 10])  # gaps do not fool the mode
    frame = staged(
        [("h1", t, 1.0) for t in ts]
        + [("h2", t, 1.0) for t in pd.date_range("2025-01-01", periods=5, freq="D")]
    )
    intervals = infer_intervals(frame).set_index("home_id")
    assert intervals.loc["h1", "interval_min"] == expected
    assert intervals.loc["h2", "interval_min"] == 1440


def test_daily_local_midnights_across_dst_stay_daily():
    local = pd.date_range("2025-03-25", "2025-04-05", freq="D", tz="Europe/Stockholm").tz_convert("UTC")
    frame = staged([("h1", t.tz_localize(None), 10.0) for t in local])
    intervals = infer_intervals(frame)
    aligned, rejected = align(frame, intervals, ReadingRules())
    assert intervals["interval_min"].item() == 1440
    assert rejected.empty
    assert aligned["slot"].diff().dropna().eq(1).all()


def test_off_grid_and_out_of_range_rows_are_rejected():
    frame = staged(
        [
            ("h1", "2025-01-01 00:00", 1.0),
            ("h1", "2025-01-01 01:00", 1.0),
            ("h1", "2025-01-01 01:07", 1.0),  # off grid
            ("h1", "2025-01-01 02:00", 1.0),
            ("h1", "2025-01-01 03:00", 500.0),  # 500 kW for an hour
        ]
    )
    aligned, rejected = align(frame, infer_intervals(frame), ReadingRules(max_kw=100))
    assert rejected.set_index("line")["reason"].to_dict() == {4: "off_grid_timestamp", 6: "out_of_range"}
    assert len(aligned) == 3


def test_mean_power_becomes_energy_with_the_interval():
    frame = staged([("h1", t, 2.0) for t in pd.date_range("2025-01-01", periods=4, freq="30min")])
    frame["is_mean_kw"] = True
    aligned, _ = align(frame, infer_intervals(frame), ReadingRules())
    assert aligned["kwh"].tolist() == [1.0] * 4  # 2 kW for half an hour


def test_grid_fills_absent_slots_per_home_without_crossing_homes():
    frame = staged(
        [("h1", "2025-01-01 00:00", 1.0), ("h1", "2025-01-01 03:00", 4.0)]
        + [("h2", t, 2.0) for t in pd.date_range("2025-01-01", periods=8, freq="15min")]
    )
    intervals = infer_intervals(frame)
    aligned, _ = align(frame, intervals, ReadingRules())
    grid = build_grid(aligned, intervals)
    h1 = grid[grid["home_id"] == "h1"]
    assert h1["ts"].dt.hour.tolist() == [0, 1, 2, 3]
    assert h1["kwh"].isna().tolist() == [False, True, True, False]
    assert h1["source_file"].isna().tolist() == [False, True, True, False]
    assert (grid[grid["home_id"] == "h2"]["interval_min"] == 15).all()
    assert len(grid) == 4 + 8


def test_quarter_hours_roll_up_to_hours_with_the_worst_flag():
    from data_prep.processed_zone import hourly_rollup

    ts = pd.date_range("2025-01-01", periods=8, freq="15min", tz="UTC")
    grid = pd.DataFrame(
        {
            "home_id": "h1",
            "ts": ts,
            "kwh": [0.25, 0.25, 0.25, 0.25, 0.5, np.nan, 0.5, 0.5],
            "pv_kwh": np.nan,
            "export_kwh": np.nan,
            "interval_min": 15,
            "quality_flag": ["ok", "imputed", "ok", "ok", "ok", "missing", "ok", "ok"],
        }
    )
    hourly = hourly_rollup(grid)
    assert hourly["kwh"].tolist()[0] == pytest.approx(1.0)
    assert np.isnan(hourly["kwh"].tolist()[1])  # an hour with a missing quarter has no total
    assert hourly["quality_flag"].tolist() == ["imputed", "missing"]
    assert hourly["share_imputed"].tolist()[0] == pytest.approx(0.25)
