"""The processed zone's fast paths against plain pandas / pyarrow references.

A bucket keeps its text columns as codes (:class:`data_prep.sorted_runs.Coded`) from the build to the writes; the
anomaly detectors take medians from a sorted table. Each fast path must give exactly what the plain version gives.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from contracts.config import ImputationSettings, load_settings
from contracts.schemas import PROCESSED_READINGS
from contracts.storage import Lake
from data_prep.hourly_rollup import HOURLY_READINGS, hourly_rollup
from data_prep.processed_zone import (
    ReadingsBucketBuilder,
    _home_intervals,
    bucket_file,
    to_processed_table,
    write_processed_bucket,
)
from data_prep.quality.anomalies import AnomalyScanner, HomeGrid, default_detector_config
from data_prep.quality.anomalies.grid import _table_median, grouped_median
from data_prep.quality.imputation import ImputationSelector
from data_prep.quality.imputation.grid import GapContext
from data_prep.quality.metrics import home_quality_metrics
from data_prep.quality.rules import RuleSet
from data_prep.sorted_runs import Coded, run_codes


def _staged(seed: int = 3) -> pd.DataFrame:
    """Staged rows of homes at 15, 30 and 60 minutes and a day (local midnight across DST), with gaps, faults,
    several files per home and a repeat."""
    rng = np.random.default_rng(seed)
    parts = []
    for home, freq, n, start in [
        ("q15", "15min", 900, "2025-03-28 00:05"),  # a phase: readings at :05, :20, ...
        ("h30", "30min", 600, "2025-03-29 12:00"),
        ("a60", "h", 500, "2025-03-27 00:00"),
        ("b60", "h", 24 * 20, "2025-03-20 00:00"),
    ]:
        ts = pd.date_range(start, periods=n, freq=freq, tz="UTC")
        kwh = rng.gamma(2.0, 0.2, n)
        kwh[rng.random(n) < 0.05] = 30.0  # spikes and outliers
        keep = rng.random(n) > 0.08  # gaps to impute
        keep[100:200] = home != "b60"  # a gap too long to impute: missing
        parts.append(pd.DataFrame({"home_id": home, "ts": ts[keep], "kwh": kwh[keep]}))
    local = pd.date_range("2025-03-15", "2025-04-20", freq="D", tz="Europe/Stockholm").tz_convert("UTC")
    parts.append(pd.DataFrame({"home_id": "d24", "ts": local, "kwh": rng.gamma(5.0, 2.0, len(local))}))
    frame = pd.concat(parts, ignore_index=True)
    frame["pv_kwh"] = np.where(rng.random(len(frame)) < 0.3, rng.random(len(frame)), np.nan)
    frame["export_kwh"] = np.nan
    frame["source_file"] = "f" + (frame["ts"].dt.day // 10).astype(str) + "_" + frame["home_id"]
    frame["line"] = np.arange(len(frame)) + 2
    frame["ingest_seq"] = 0
    frame["is_mean_kw"] = False
    repeat = frame.iloc[[10]].assign(ingest_seq=1, kwh=99.0)  # a conflicting repeat from a later file
    return pd.concat([frame, repeat], ignore_index=True).sample(
        frac=1.0, random_state=seed, ignore_index=True
    )


@pytest.fixture(scope="module")
def built():
    result = ReadingsBucketBuilder(RuleSet(), ImputationSettings()).build(_staged())
    assert result is not None and result.coded
    return result


def test_coded_columns_are_the_grid_columns(built):
    for name, coded in built.coded.items():
        np.testing.assert_array_equal(coded.objects(), built.grid[name].to_numpy())
        assert not pd.isna(coded.values).any()
    assert set(built.grid["quality_flag"]) >= {"ok", "imputed", "anomaly"}
    assert built.grid["anomaly"].notna().any() and built.grid["source_file"].isna().any()


@pytest.mark.parametrize(
    "codes, values",
    [
        ([], []),
        ([-1], ["a"]),
        ([0], ["a"]),
        ([1, 1, -1, 0, 0, 1, -1, -1], ["b", "a"]),
        ([0, 1, 0, 1], ["x", "y"]),
    ],
)
def test_coded_arrow_equals_pyarrow_of_objects(codes, values):
    coded = Coded(np.array(codes, dtype=np.int64), np.array(values, dtype=object))
    expected = pa.array(list(coded.objects()), type=pa.string())
    assert coded.arrow(pa.string()).equals(expected)


def test_coded_of_drops_missing_values_and_ascending_equals_sorted_factorize():
    coded = Coded.of(np.array([2, 0, 1, 1, 3, 0]), np.array(["b", None, "a", np.nan], dtype=object))
    assert list(coded.objects()) == ["a", "b", None, None, None, "b"]
    column = pd.Series(["c", "a", None, "c", "b", "a"], dtype=object)
    ascending = Coded(*run_codes(column)).ascending()
    codes, uniques = run_codes(column, sort=True)
    np.testing.assert_array_equal(ascending.codes, codes)
    assert list(ascending.values) == list(uniques)


def test_processed_table_from_codes_equals_from_pandas(built):
    columns = [f.name for f in PROCESSED_READINGS]
    expected = pa.Table.from_pandas(built.grid[columns], schema=PROCESSED_READINGS, preserve_index=False)
    for table in (to_processed_table(built.grid, built.coded), to_processed_table(built.grid)):
        assert table.schema.equals(expected.schema, check_metadata=True)
        assert table.equals(expected)


def test_metrics_from_codes_equal_metrics_from_strings_and_groupby_counts(built):
    metrics = home_quality_metrics(built.grid, built.coded)
    pd.testing.assert_frame_equal(metrics, home_quality_metrics(built.grid))
    grid = built.grid
    has_value = grid["kwh"].notna()
    flag = grid["quality_flag"]
    indicators = pd.DataFrame(
        {
            "n_slots": True,
            "n_observed": (flag == "ok") & grid["kwh_raw"].notna(),
            "n_imputed": has_value & ((flag == "imputed") | grid["imputation_strategy"].notna()),
            "n_missing": ~has_value,
            "n_anomaly": grid["anomaly"].notna(),
            **{f"n_anomaly_{k}": grid["anomaly"] == k for k in ("spike", "outlier", "stuck", "negative")},
        }
    )
    expected = indicators.groupby(grid["home_id"]).sum().reset_index()
    assert expected[["n_anomaly", "n_missing", "n_imputed"]].to_numpy().sum(axis=0).all()
    pd.testing.assert_frame_equal(metrics[expected.columns], expected, check_dtype=False)


def test_home_intervals_equal_groupby_first(built):
    expected = built.grid.groupby("home_id", as_index=False)["interval_min"].first()
    pd.testing.assert_frame_equal(_home_intervals(built.grid, built.coded), expected)
    shuffled = built.grid.sample(frac=1.0, random_state=2, ignore_index=True)  # homes not in runs, nor sorted
    expected = shuffled.groupby("home_id", as_index=False)["interval_min"].first()
    pd.testing.assert_frame_equal(_home_intervals(shuffled), expected)


def test_rollup_from_codes_equals_rollup_from_strings(built):
    expected = hourly_rollup(built.grid)
    assert set(expected["interval_min"]) == {15, 30, 60}
    pd.testing.assert_frame_equal(hourly_rollup(built.grid, built.coded), expected, check_exact=True)


def test_readings_hourly_holds_the_sub_hourly_homes_and_is_written_when_empty(built, tmp_path):
    lake = Lake.from_settings(load_settings(storage={"root": str(tmp_path)}).storage)
    hourly = hourly_rollup(built.grid)
    write_processed_bucket(lake, 0, built, hourly)
    sub_hourly = hourly[hourly["interval_min"] < 60].reset_index(drop=True)
    written = pq.read_table(bucket_file(lake, "readings_hourly", 0))
    reference = pa.Table.from_pandas(sub_hourly, preserve_index=False)  # what the rollup gave before
    assert written.schema.equals(reference.schema, check_metadata=True)
    assert written.equals(reference)
    assert written.schema.equals(HOURLY_READINGS)
    readings = pq.read_table(bucket_file(lake, "readings", 0))
    assert readings.equals(to_processed_table(built.grid))

    hourly_only = built.grid["interval_min"].to_numpy() == 60
    only = ReadingsBucketBuilder(RuleSet(), ImputationSettings()).build(
        _staged()[lambda f: f["home_id"].isin(built.grid.loc[hourly_only, "home_id"].unique())]
    )
    write_processed_bucket(lake, 1, only, hourly_rollup(only.grid))
    empty = pq.read_table(bucket_file(lake, "readings_hourly", 1))
    assert empty.num_rows == 0
    assert empty.schema.equals(written.schema, check_metadata=True)


def test_detectors_and_imputation_give_codes_equal_to_their_frames(built):
    grid = HomeGrid.from_frame(built.grid.assign(kwh=built.grid["kwh_raw"]))
    anomaly, masked = AnomalyScanner(default_detector_config()).fit_transform_coded(grid)
    flags = AnomalyScanner(default_detector_config()).fit_transform_grid(grid)
    np.testing.assert_array_equal(anomaly.objects(), flags["anomaly"].to_numpy())
    np.testing.assert_array_equal(masked, flags["masked"].to_numpy())
    frame = built.grid.assign(kwh=np.where(masked, np.nan, built.grid["kwh_raw"]))
    kwh, imputed, strategy = ImputationSelector().fit_transform_coded(GapContext.from_frame(frame))
    filled = ImputationSelector().fit_transform_context(GapContext.from_frame(frame))
    np.testing.assert_array_equal(kwh, filled["kwh"].to_numpy())
    np.testing.assert_array_equal(imputed, filled["imputed"].to_numpy())
    np.testing.assert_array_equal(strategy.objects(), filled["imputation_strategy"].to_numpy())


def _pandas_median(values: np.ndarray, key: np.ndarray, n_groups: int) -> np.ndarray:
    return pd.Series(values).groupby(key).median().reindex(range(n_groups)).to_numpy(dtype=np.float64)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_table_median_equals_pandas_to_the_last_bit(seed):
    rng = np.random.default_rng(seed)
    n_groups, n = 50, 3000
    key = rng.integers(0, n_groups - 3, n)  # the last groups are empty
    values = rng.choice([0.1, 0.2, 0.3, 1 / 3, 2 / 3, -0.0, 0.0, 7.0], n) + rng.integers(0, 3, n) / 7.0
    values[rng.random(n) < 0.1] = np.nan
    values[key == 5] = np.nan  # a group without values
    values[np.flatnonzero(key == 7)[:1]] = np.inf
    position = np.zeros(n, dtype=np.int64)
    for k in range(n_groups):  # a distinct place per value of a group
        rows = np.flatnonzero(key == k)
        position[rows] = rng.permutation(len(rows))
    expected = _pandas_median(values, key, n_groups)
    table = _table_median(values, key, n_groups, position)
    assert table is not None
    np.testing.assert_array_equal(table, expected)
    np.testing.assert_array_equal(grouped_median(values, key, n_groups, position), expected)
    np.testing.assert_array_equal(grouped_median(values, key, n_groups), expected)
    shared = position.copy()
    shared[np.flatnonzero(key == 1)[:2]] = 0  # two values in one place: pandas takes over
    np.testing.assert_array_equal(grouped_median(values, key, n_groups, shared), expected)


@pytest.mark.parametrize(
    "minutes, start",
    [(15, "2025-01-01 00:05"), (30, "2025-01-01 00:30"), (60, "2025-01-01 03:00"), (120, None)],
)
def test_week_position_is_distinct_per_home_and_slot(minutes, start):
    rng = np.random.default_rng(minutes)
    frames = []
    for home, n, first in [("a", 1500, start or "2025-01-01 01:00"), ("b", 777, "2025-02-03 13:00")]:
        ts = pd.date_range(first, periods=n, freq=f"{minutes}min", tz="UTC")
        kwh = rng.random(n)
        kwh[rng.random(n) < 0.2] = np.nan
        frames.append(pd.DataFrame({"home_id": home, "ts": ts, "kwh": kwh, "interval_min": minutes}))
    daily = pd.date_range("2025-03-01", "2025-04-30", freq="D", tz="Europe/Stockholm").tz_convert("UTC")
    frames.append(
        pd.DataFrame({"home_id": "d", "ts": daily, "kwh": rng.random(len(daily)), "interval_min": 1440})
    )
    grid = HomeGrid.from_frame(pd.concat(frames, ignore_index=True))
    key = grid.home_code * 168 + grid.week_slot
    pairs = pd.DataFrame({"key": key, "position": grid.week_position})
    assert not pairs.duplicated().any()
    by_slot = _table_median(grid.kwh, key, grid.n_homes * 168, grid.week_position)
    assert by_slot is not None
    np.testing.assert_array_equal(by_slot, _pandas_median(grid.kwh, key, grid.n_homes * 168))
    row_in_home = np.arange(grid.n_rows) - grid.per_row(grid.starts)
    by_home = _table_median(grid.kwh, grid.home_code, grid.n_homes, row_in_home)
    assert by_home is not None
    np.testing.assert_array_equal(by_home, _pandas_median(grid.kwh, grid.home_code, grid.n_homes))
