"""The feature store against the local servers and Feast's own CLI: Redis as the online store, PostgreSQL as the SQL
registry, and ``feast -c features apply`` on a clean copy of the repository folder.

Each test uses its own Feast project (Redis) or its own database (PostgreSQL) and removes it at the end.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from contracts.feature_settings import FeatureStoreSettings
from contracts.storage import Lake
from features.store import FeatureStoreAdapter
from tests.features.test_store import HOUR, N_BUCKETS, START, write_feature_tables

pytestmark = [
    pytest.mark.integration,
    pytest.mark.xdist_group("feast"),
    pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::DeprecationWarning"),
]
REPO = Path(__file__).resolve().parents[2]
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


@pytest.fixture(scope="module")
def lake_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("feature-lake")
    write_feature_tables(Lake(str(root)))
    return root


def _reachable_redis() -> None:
    import redis

    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError:
        pytest.fail("Redis is not running on 127.0.0.1:6379 (.ci/run starts it)")


def test_redis_online_store_serves_materialised_and_pushed_features(lake_root, tmp_path):
    import redis

    _reachable_redis()
    project = f"eliq_it_{uuid.uuid4().hex[:10]}"
    settings = FeatureStoreSettings(
        project=project, online_store="redis", redis_url="redis://127.0.0.1:6379/0", repo_dir=str(tmp_path)
    )
    adapter = FeatureStoreAdapter(Lake(str(lake_root)), settings, n_buckets=N_BUCKETS)
    client = redis.Redis(host="127.0.0.1", port=6379, db=0)
    try:
        adapter.apply()
        adapter.materialize(end=(START + 30 * HOUR).to_pydatetime())
        online = adapter.online_features(["h1", "nobody"]).set_index("home_id")
        assert online.loc["h1", "kwh_lag_1h"] == 30 and pd.isna(online.loc["nobody", "kwh_lag_1h"])
        reading = pd.DataFrame({"home_id": ["h2"], "ts": [START], "kwh": [0.25]})
        adapter.push_readings(reading, interval_min=15)
        live = adapter.online_features(["h2"], service="live_v1")
        assert live["kw_latest"].iloc[0] == 1.0
        assert any(client.scan_iter(match=f"*{project}".encode(), count=1000))
    finally:
        adapter.teardown()
    assert not any(client.scan_iter(match=f"*{project}".encode(), count=1000))


@pytest.fixture
def throwaway_database() -> Iterator[str]:
    """A PostgreSQL database created for one test and dropped after it."""
    import psycopg

    name = f"eliq_feast_it_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as err:
        pytest.fail(f"PostgreSQL is not running on 127.0.0.1:5432 (.ci/run starts it): {err}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_sql_registry_is_shared_between_processes(lake_root, tmp_path, throwaway_database):
    def adapter(folder: str) -> FeatureStoreAdapter:
        settings = FeatureStoreSettings(
            registry="sql",
            registry_url=throwaway_database,
            repo_dir=str(tmp_path / folder),
            registry_cache_ttl_s=0,
        )
        return FeatureStoreAdapter(Lake(str(lake_root)), settings, n_buckets=N_BUCKETS)

    writer = adapter("writer")
    writer.apply()
    reader = adapter("reader")  # another process would see the same: nothing is shared but the database
    catalog = reader.list_features()
    assert {"consumption", "weather", "price", "home_profile", "pv", "calendar"} <= set(catalog["view"])
    train = reader.training_set(pd.DataFrame({"home_id": ["h1"], "event_timestamp": [START + 7 * HOUR]}))
    assert train["kwh_lag_1h"].iloc[0] == 7
    writer.materialize(end=(START + 10 * HOUR).to_pydatetime())
    reader.store.refresh_registry()
    assert reader.store.get_feature_view("consumption").most_recent_end_time == START + 10 * HOUR


def test_feast_cli_applies_the_repository_from_a_clean_copy(tmp_path):
    from feast import FeatureStore

    clone = tmp_path / "clone"
    shutil.copytree(
        REPO / "features", clone / "features", ignore=shutil.ignore_patterns("__pycache__", "_feast")
    )
    feast = Path(sys.executable).parent / "feast"
    done = subprocess.run(
        [str(feast), "-c", "features", "apply"], cwd=clone, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert (clone / "demo" / "registry.db").is_file()
    store = FeatureStore(repo_path=str(clone / "features"))
    assert {s.name for s in store.list_feature_services()} == {"forecast_v1", "live_v1"}
    source = store.get_data_source("consumption_source")
    assert source.path == "../demo/lake/features/consumption"
