"""Series-level rules: duplicates, interval inference, grid alignment, ranges and the regular grid."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data_prep.grid_layout import build_grid
from data_prep.quality.rules import ReadingRules
from data_prep.readings_grid import align, deduplicate, infer_intervals
from data_prep.sorted_runs import run_codes, stable_order


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
    from data_prep.hourly_rollup import hourly_rollup

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


@pytest.mark.parametrize(
    "spans",
    [
        pytest.param((3, 10**6, 30, 5), id="keys-merge"),
        pytest.param((3, 2**40, 2**30, 2**20), id="keys-too-wide-to-merge"),
    ],
)
def test_stable_order_is_a_lexsort(spans):
    rng = np.random.default_rng(0)
    keys = [rng.integers(-span, span, size=2000) for span in spans]
    keys[0] = np.abs(keys[0])
    np.testing.assert_array_equal(stable_order(*keys), np.lexsort(keys[::-1]))


@pytest.mark.parametrize("sort", [pytest.param(False, id="appearance"), pytest.param(True, id="sorted")])
@pytest.mark.parametrize(
    "values",
    [
        pytest.param(["b", "b", "a", None, None, "b", np.nan, "c"], id="object-with-nulls"),
        pytest.param(pd.array(["b", "b", None, "a"], dtype="string"), id="string-dtype"),
        pytest.param(np.array(["x", pd.NA, pd.NA, "x"], dtype=object), id="pd-na-in-object"),
    ],
)
def test_run_codes_equal_factorize(values, sort):
    column = pd.Series(values)
    codes, uniques = run_codes(column, sort=sort)
    expected_codes, expected_uniques = pd.factorize(column, sort=sort)
    np.testing.assert_array_equal(codes, expected_codes)
    assert list(uniques) == list(expected_uniques)


def _rollup_by_groupby(grid):
    """hourly_rollup written with pandas group-bys: the semantics the array version must keep to the last bit."""
    columns = [
        "home_id",
        "ts",
        "kwh",
        "pv_kwh",
        "export_kwh",
        "interval_min",
        "quality_flag",
        "share_imputed",
    ]
    order = ["ok", "imputed", "anomaly", "missing"]
    filled = grid["kwh"].notna() & (grid["quality_flag"] != "ok")
    hourly = grid[grid["interval_min"] == 60].assign(share_imputed=filled.astype(float))[columns]
    sub = grid[grid["interval_min"] < 60].assign(
        ts=lambda d: d["ts"].dt.floor("h"),
        flag_rank=lambda d: d["quality_flag"].map({f: i for i, f in enumerate(order)}),
        imputed=filled.astype(float),
    )
    grouped = sub.groupby(["home_id", "ts"], sort=True)
    out = grouped[["kwh", "pv_kwh", "export_kwh"]].sum(min_count=1)
    out["interval_min"] = grouped["interval_min"].first()
    expected = 60 // out["interval_min"]
    out.loc[grouped["kwh"].count() < expected, "kwh"] = np.nan
    out["share_imputed"] = grouped["imputed"].sum() / expected
    out["quality_flag"] = np.array(order, dtype=object)[grouped["flag_rank"].max().to_numpy()]
    out.loc[out["kwh"].isna(), "quality_flag"] = "missing"
    rolled = out.reset_index()[columns]
    return pd.concat([hourly, rolled], ignore_index=True).sort_values(["home_id", "ts"], ignore_index=True)


def test_rollup_of_mixed_intervals_equals_pandas_group_sums():
    from data_prep.hourly_rollup import hourly_rollup

    rng = np.random.default_rng(7)
    parts = []
    for home, minutes, n in [("a", 15, 400), ("b", 60, 90), ("c", 30, 200), ("d", 1440, 9)]:
        ts = pd.date_range("2025-03-01 00:45", periods=n, freq=f"{minutes}min", tz="UTC")
        kwh = rng.random(n) / 3.0  # sums of a few thirds round differently with and without compensation
        kwh[rng.random(n) < 0.05] = np.nan
        parts.append(
            pd.DataFrame(
                {
                    "home_id": home,
                    "ts": ts,
                    "interval_min": np.int32(minutes),
                    "kwh": kwh,
                    "pv_kwh": np.where(rng.random(n) < 0.5, rng.random(n) / 7.0, np.nan),
                    "export_kwh": np.nan,
                    "quality_flag": rng.choice(["ok", "ok", "ok", "imputed", "anomaly"], size=n).astype(
                        object
                    ),
                }
            )
        )
    grid = pd.concat(parts, ignore_index=True)
    grid.loc[grid["kwh"].isna(), "quality_flag"] = "missing"
    pd.testing.assert_frame_equal(hourly_rollup(grid), _rollup_by_groupby(grid), check_exact=True)


def test_processed_table_equals_pyarrow_from_pandas():
    import pyarrow as pa

    from contracts.schemas import PROCESSED_READINGS
    from data_prep.processed_zone import to_processed_table

    n = 6
    grid = pd.DataFrame(
        {
            "home_id": ["h1"] * 3 + ["h2"] * 3,
            "ts": pd.date_range("2025-01-01", periods=n, freq="h", tz="UTC"),
            "kwh": [1.0, np.nan, 2.0, 3.0, 4.0, np.nan],
            "kwh_raw": [1.0, np.nan, 9.0, 3.0, 4.0, np.nan],
            "pv_kwh": np.nan,
            "export_kwh": 0.5,
            "interval_min": np.int32(60),
            "quality_flag": ["ok", "missing", "anomaly", "ok", "ok", "missing"],
            "anomaly": [None, None, "spike", None, None, None],
            "imputation_strategy": [None, None, "linear", None, np.nan, None],
            "source_file": ["f1", None, "f1", "f2", "f2", None],
            "kept_out": 0,  # not a processed column
        }
    )
    table = to_processed_table(grid)
    columns = [f.name for f in PROCESSED_READINGS]
    expected = pa.Table.from_pandas(grid[columns], schema=PROCESSED_READINGS, preserve_index=False)
    assert table.schema.equals(expected.schema, check_metadata=True)
    assert table.equals(expected)


def test_bucket_builder_agrees_with_the_frame_rules():
    from contracts.config import ImputationSettings
    from data_prep.processed_zone import ReadingsBucketBuilder
    from data_prep.quality.rules import RuleSet

    local = pd.date_range("2025-03-20", "2025-04-10", freq="D", tz="Europe/Stockholm").tz_convert("UTC")
    quarters = pd.date_range("2025-01-01", periods=300, freq="15min")
    hours = pd.date_range("2025-01-01", periods=200, freq="h")
    rows = (
        [("q", t, 0.1 * (i % 7), i % 2) for i, t in enumerate(quarters) if i % 17 != 3]  # with gaps to fill
        + [("d", t.tz_localize(None), 10.0, 1) for t in local]
        + [("h", t, 1.0 + (i % 5), 0) for i, t in enumerate(hours) if i % 13 != 5]
        + [
            ("h", "2025-01-01 03:00", 9.0, 1),  # a later file repeats with another value
            ("h", "2025-01-01 04:00", 5.0, 1),  # the same value: a plain duplicate
            ("h", "2025-01-01 05:07", 1.0, 0),  # off the grid
            ("h", "2025-01-01 05:00", 900.0, 0),  # out of range, in a gap
        ]
    )
    frame = staged(rows).sample(frac=1.0, random_state=1, ignore_index=True)
    frame["is_mean_kw"] = frame["home_id"] == "q"
    rules = RuleSet()
    built = ReadingsBucketBuilder(rules, ImputationSettings()).build(frame)

    kept, duplicates = deduplicate(frame)
    intervals = infer_intervals(kept, rules.readings.known_intervals_min)
    aligned, rejected = align(kept, intervals, rules.readings)
    grid = build_grid(aligned, intervals)
    pd.testing.assert_frame_equal(
        built.grid[list(grid.columns)].drop(columns="kwh"), grid.drop(columns="kwh")
    )
    pd.testing.assert_series_equal(built.grid["kwh_raw"], grid["kwh"], check_names=False)
    quarantine = pd.concat([duplicates, rejected], ignore_index=True)
    pd.testing.assert_frame_equal(built.quarantine, quarantine)
    assert sorted(quarantine["reason"]) == [
        "conflicting_duplicate",
        "duplicate",
        "off_grid_timestamp",
        "out_of_range",
    ]
    assert (built.n_homes, built.n_rows) == (3, len(grid))
