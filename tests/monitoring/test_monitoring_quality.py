"""Data quality over time: daily completeness and anomalies, batch and real-time freshness, their thresholds."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from contracts.monitoring_settings import MonitoringSettings
from contracts.storage import Lake, Zone
from monitoring.quality import (
    PROCESSED_COLUMNS,
    daily_quality,
    newest_reading_ends,
    processed_window,
    quality_result,
    realtime_newest_end,
)
from monitoring.thresholds import quality_breaches
from monitoring.windows import Window

DAY = pd.Timestamp("2025-02-01", tz="UTC")


def _processed() -> pd.DataFrame:
    """Home a: 4 hourly slots on day 1 (one imputed, one spike) and 2 on day 2 (one missing);
    home b: 15-minute slots, 4 on day 2, all ok."""
    rows = [
        ("a", DAY, 1.0, 1.0, 60, "ok", None, None),
        ("a", DAY + pd.Timedelta(hours=1), 1.2, None, 60, "imputed", None, "linear"),
        ("a", DAY + pd.Timedelta(hours=2), 1.1, 9.0, 60, "anomaly", "spike", "linear"),
        ("a", DAY + pd.Timedelta(hours=3), 1.0, 1.0, 60, "ok", None, None),
        ("a", DAY + pd.Timedelta(hours=24), 1.0, 1.0, 60, "ok", None, None),
        ("a", DAY + pd.Timedelta(hours=25), None, None, 60, "missing", None, None),
        *[("b", DAY + pd.Timedelta(minutes=1440 + 15 * i), 0.2, 0.2, 15, "ok", None, None) for i in range(4)],
    ]
    return pd.DataFrame(rows, columns=PROCESSED_COLUMNS)


def test_daily_completeness_and_anomaly_counts():
    daily = daily_quality(_processed()).set_index("day")
    counts = ["n_slots", "n_observed", "n_imputed", "n_anomaly"]
    assert daily.loc["2025-02-01", counts].tolist() == [4, 2, 2, 1]
    assert daily.loc["2025-02-01", "n_anomaly_spike"] == 1
    assert daily.loc["2025-02-01", "completeness"] == pytest.approx(0.5)
    assert daily.loc["2025-02-02", ["homes", "n_slots", "n_observed", "n_missing"]].tolist() == [2, 6, 5, 1]


def test_freshness_and_quality_thresholds():
    processed = _processed()
    newest = newest_reading_ends(processed)
    assert newest["a"] == DAY + pd.Timedelta(hours=26)  # the missing slot is on the grid: it ends there
    assert newest["b"] == DAY + pd.Timedelta(hours=25)  # 24:45 + 15 min
    as_of = DAY + pd.Timedelta(hours=60)
    result = quality_result(processed, newest, DAY + pd.Timedelta(hours=59, minutes=30), as_of, 24.0)
    assert result.batch_age_h == pytest.approx(34.0)
    assert result.realtime_age_min == pytest.approx(30.0)
    assert result.stale_homes == 2
    assert result.completeness == pytest.approx(7 / 10)
    assert result.anomalies["spike"] == 1
    breached = {b.metric for b in quality_breaches(result, MonitoringSettings())}
    assert breached == {"completeness", "anomaly_share", "batch_age_h", "realtime_age_min"}
    fresh = quality_result(processed, newest, None, DAY + pd.Timedelta(hours=27), 24.0)
    loose = MonitoringSettings(quality={"min_completeness": 0.5, "max_anomaly_share": None})
    assert fresh.realtime_age_min is None  # no API readings: nothing to judge
    assert quality_breaches(fresh, loose) == []


def test_lake_readers_find_the_window_and_the_newest_api_reading(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    processed = _processed()
    processed["ts"] = processed["ts"].astype("datetime64[us, UTC]")
    bucket = lake.path(Zone.PROCESSED, "readings", "bucket=000.parquet")
    lake.write_table(bucket, pa.Table.from_pandas(processed))
    window = processed_window(lake, Window(DAY + pd.Timedelta(hours=24), DAY + pd.Timedelta(days=2)))
    assert sorted(window["home_id"].unique()) == ["a", "b"] and len(window) == 6
    for date, ts in (("2025-02-02", "2025-02-02T10:00"), ("2025-02-03", "2025-02-03T08:45")):
        api = pd.DataFrame({"home_id": ["a"], "ts": [pd.Timestamp(ts, tz="UTC")], "interval_min": [15]})
        path = lake.path(Zone.RAW, "api_readings", "client=acme", f"date={date}", "batch.parquet")
        lake.write_table(path, pa.Table.from_pandas(api))
    newest = realtime_newest_end(lake, pd.Timestamp("2025-02-03T12:00", tz="UTC"))
    assert newest == pd.Timestamp("2025-02-03T09:00", tz="UTC")
    assert realtime_newest_end(Lake(str(tmp_path / "empty")), DAY) is None
