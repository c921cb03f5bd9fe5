"""The home directory (who owns which home) and the history reader (a forecast's model input), on a small
partitioned lake in a temporary folder and the directory's real SQLite file; no model needed."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from contracts.forecast_model_io import HISTORY_COLUMNS
from contracts.storage import Lake
from serving.history import HistoryReader, last_reading_before, merge_readings
from serving.home_directory import HomeDirectory, HomeTakenError
from tests.serving.service_fixtures import N_BUCKETS, write_partitioned_curated
from training.forecast.synthetic import synthetic_hourly

CURATED = pd.DataFrame({"home_id": ["a1", "a2", "b1"], "client_id": ["acme", "acme", "globex"]})


@pytest.fixture
def directory(tmp_path) -> HomeDirectory:
    return HomeDirectory(CURATED, tmp_path / "homes.db")


def test_the_curated_homes_belong_to_their_clients(directory):
    assert directory.owner("a1") == "acme" and directory.owner("b1") == "globex"
    assert directory.owner("nobody") is None
    assert directory.homes_of("acme") == ["a1", "a2"] and len(directory) == 3


def test_a_registered_home_is_its_clients_and_cannot_be_taken(directory, tmp_path):
    directory.register("n1", "acme")
    directory.register("n1", "acme")  # idempotent
    with pytest.raises(HomeTakenError, match="taken") as raised:
        directory.register("n1", "globex")
    assert "acme" not in str(raised.value)  # the owner is not named
    with pytest.raises(HomeTakenError):
        directory.register("b1", "acme")  # a curated home of another client
    again = HomeDirectory(CURATED, tmp_path / "homes.db")  # another worker, or after a restart
    assert again.owner("n1") == "acme" and again.homes_of("acme") == ["a1", "a2", "n1"]


def test_a_forgotten_home_has_no_owner_even_while_the_lake_still_has_it(directory):
    assert directory.forget("a1") and not directory.forget("a1")
    assert directory.owner("a1") is None and directory.homes_of("acme") == ["a2"]
    directory.refresh(CURATED)  # the curated row is still there after a prep run
    assert directory.owner("a1") is None
    directory.register("a1", "globex")  # a forgotten id may be registered again
    assert directory.owner("a1") == "globex"


def test_threads_share_the_directory(directory):
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: directory.register(f"t{i}", "acme"), range(40)))
        owners = list(pool.map(directory.owner, [f"t{i}" for i in range(40)]))
    assert owners == ["acme"] * 40


def test_an_api_hour_replaces_the_curated_reading_and_keeps_its_weather():
    ts = pd.date_range("2025-03-01", periods=3, freq="h", tz="UTC")
    curated = pd.DataFrame({"home_id": "a1", "ts": ts, "kwh": [1.0, 2.0, 3.0], "temp_c": [5.0, 6.0, 7.0]})
    api = pd.DataFrame({"home_id": "a1", "ts": [ts[2], ts[2] + pd.Timedelta(hours=1)], "kwh": [9.0, 4.0]})
    merged = merge_readings(curated, api)
    assert merged["kwh"].tolist() == [1.0, 2.0, 9.0, 4.0]
    assert merged["temp_c"].tolist()[:3] == [5.0, 6.0, 7.0] and np.isnan(merged["temp_c"].iloc[3])


def test_an_hour_is_used_only_once_it_has_ended():
    ts = pd.date_range("2025-03-01 06:00", periods=6, freq="h", tz="UTC")
    hourly = pd.DataFrame({"home_id": "a1", "ts": ts, "kwh": 1.0})
    assert last_reading_before(hourly, {"a1": pd.Timestamp("2025-03-01 09:00", tz="UTC")}) == {
        "a1": pd.Timestamp("2025-03-01 08:00", tz="UTC")
    }


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Lake:
    hourly, homes = synthetic_hourly(n_homes=4, days=100, seed=2)
    lake = Lake(str(tmp_path_factory.mktemp("history") / "lake"))
    write_partitioned_curated(lake, hourly, homes)
    return lake


def test_the_history_is_the_window_before_the_issue_of_the_homes_asked_for(lake):
    reader = HistoryReader(lake, N_BUCKETS, history_days=30)
    issue = pd.Timestamp("2025-03-15T10:00")
    start, end = reader.window(["s001"], issue.to_pydatetime(), "hourly")
    hourly = reader.hourly(["s001", "s002"], start, end)
    assert set(hourly["home_id"]) == {"s001", "s002"} and list(hourly.columns) == list(HISTORY_COLUMNS)
    assert hourly["ts"].min() == start and hourly["ts"].max() < end
    assert (
        pd.Timestamp("2025-02-13", tz="UTC") - pd.Timedelta(days=1)
        <= start
        <= pd.Timestamp("2025-02-13", tz="UTC")
    )


def test_without_an_issue_time_the_window_ends_with_the_data_and_covers_the_history(lake):
    reader = HistoryReader(lake, N_BUCKETS, history_days=30)
    history = reader.read(["s003"], pd.DataFrame({"home_id": ["s003"]}), None, "hourly")
    last = history.hourly["ts"].max()
    assert last == pd.Timestamp("2025-04-10 23:00", tz="UTC")  # the last synthetic hour
    assert last - history.hourly["ts"].min() >= pd.Timedelta(days=30)


def test_a_home_without_readings_gets_one_empty_row(lake):
    reader = HistoryReader(lake, N_BUCKETS, history_days=30)
    history = reader.read(["s000", "new"], pd.DataFrame({"home_id": ["s000", "new"]}), None, "daily")
    assert history.homes_without_rows == ("new",)
    rows = history.frame[history.frame["home_id"] == "new"]
    assert len(rows) == 1 and rows["kwh"].isna().all()
    assert rows["ts"].iloc[0] >= history.frame["ts"].min()  # inside the other homes' hours
