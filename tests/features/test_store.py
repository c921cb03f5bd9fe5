"""The Feast feature store through eliq's adapter: a real Feast repository (file registry, SQLite online store) in a
temporary folder on a temporary lake.

The feature tables are written in code with the transforms' own Arrow schemas, so they have exactly the spec's
columns, and with values that say where they come from: ``kwh_lag_1h``, ``temp_c`` and ``price_eur_mwh`` are the
number of hours from ``START`` to the row's ``event_timestamp``. A training set that returned a row from after its
cut-off would show it as a value larger than the cut-off's hour.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from contracts.feature_settings import FeatureStoreSettings
from contracts.storage import Lake, home_bucket
from features.store import FeaturesNotAppliedError, FeatureStoreAdapter, FeatureTableMissingError
from features.transforms.consumption import CONSUMPTION_SCHEMA
from features.transforms.home import HOME_SCHEMA
from features.transforms.price import PRICE_SCHEMA
from features.transforms.weather import WEATHER_SCHEMA

# One worker imports Feast (about 6 s) and builds the module's store once.
pytestmark = [
    pytest.mark.xdist_group("feast"),
    pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::DeprecationWarning"),
]

START = pd.Timestamp("2025-01-06", tz="UTC")  # a Monday
HOUR = pd.Timedelta(hours=1)
N_HOURS = 72
N_BUCKETS = 4
WP_SE, WP_DE = "59.300_18.000", "52.500_13.400"
HOMES = pd.DataFrame(
    {
        "home_id": ["h1", "h2", "h3"],
        "country": ["SE", "DE", "SE"],
        "price_area": ["SE3", "DE", "SE3"],
        "weather_point": [WP_SE, WP_DE, WP_SE],
        "lat": [59.3, 52.5, 59.4],
        "lon": [18.0, 13.4, 18.1],
    }
)
REVISED_TEMP = 999.0  # a weather revision for WP_DE's last hour, issued 3 h after that hour


def hours_since_start(stamps: pd.Series) -> np.ndarray:
    return ((pd.to_datetime(stamps, utc=True) - START) / HOUR).to_numpy()


def _table(frame: pd.DataFrame, schema: pa.Schema, rng: np.random.Generator) -> pa.Table:
    """``frame`` completed with random values for every other column of ``schema``."""
    for field in schema:
        if field.name in frame:
            continue
        if pa.types.is_floating(field.type):
            frame[field.name] = rng.random(len(frame))
        elif pa.types.is_integer(field.type):
            frame[field.name] = rng.integers(0, 2, len(frame))
        else:
            frame[field.name] = "x"
    return pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)


def write_feature_tables(lake: Lake, homes_with_meter: tuple[str, ...] = ("h1", "h2")) -> None:
    """The four feature tables of the spec for ``HOMES`` over ``N_HOURS`` hours from ``START``."""
    rng = np.random.default_rng(0)
    ends = START + HOUR * np.arange(1, N_HOURS + 1)
    consumption = pd.DataFrame(
        {
            "home_id": np.repeat(homes_with_meter, N_HOURS),
            "event_timestamp": np.tile(ends, len(homes_with_meter)),
        }
    )
    consumption["kwh_lag_1h"] = hours_since_start(consumption["event_timestamp"])
    for home in HOMES["home_id"]:  # every bucket a known home falls in gets its file, as the builder does
        bucket = home_bucket(home, N_BUCKETS)
        rows = consumption[consumption["home_id"].map(lambda h, b=bucket: home_bucket(h, N_BUCKETS) == b)]
        path = lake.path("features", "consumption", f"bucket={bucket:03d}.parquet")
        lake.write_table(path, _table(rows.copy(), CONSUMPTION_SCHEMA, rng))
    starts = START + HOUR * np.arange(N_HOURS)
    weather = pd.DataFrame(
        {"weather_point": np.repeat([WP_SE, WP_DE], N_HOURS), "event_timestamp": np.tile(starts, 2)}
    )
    weather["available_at"] = weather["event_timestamp"]
    weather["temp_c"] = hours_since_start(weather["event_timestamp"])
    revision = weather.iloc[[-1]].assign(available_at=starts[-1] + 3 * HOUR, temp_c=REVISED_TEMP)
    lake.write_table(
        lake.path("features", "weather", "weather.parquet"),
        _table(pd.concat([weather, revision]), WEATHER_SCHEMA, rng),
    )
    price = pd.DataFrame(
        {"price_area": np.repeat(["SE3", "DE"], N_HOURS), "event_timestamp": np.tile(starts, 2)}
    )
    price["price_eur_mwh"] = hours_since_start(price["event_timestamp"])
    lake.write_table(lake.path("features", "price", "price.parquet"), _table(price, PRICE_SCHEMA, rng))
    home = HOMES.assign(
        event_timestamp=pd.Timestamp("1970-01-01", tz="UTC"), floor_area_m2=[70.0, 120.0, 95.0]
    )
    lake.write_table(lake.path("features", "home", "home.parquet"), _table(home, HOME_SCHEMA, rng))


def make_adapter(lake_root: Path, repo_dir: Path | None = None) -> FeatureStoreAdapter:
    settings = FeatureStoreSettings(repo_dir=str(repo_dir) if repo_dir else None)
    return FeatureStoreAdapter(Lake(str(lake_root)), settings, n_buckets=N_BUCKETS)


def entities(home_id: str, *cutoffs: pd.Timestamp) -> pd.DataFrame:
    return pd.DataFrame({"home_id": home_id, "event_timestamp": list(cutoffs)})


@pytest.fixture(scope="module")
def lake_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("feature-lake")
    write_feature_tables(Lake(str(root)))
    return root


@pytest.fixture(scope="module")
def store(lake_root) -> FeatureStoreAdapter:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adapter = make_adapter(lake_root)
        adapter.apply()
    return adapter


# --- definitions and registry --------------------------------------------------------------------------------


def test_apply_registers_every_view_with_descriptions_and_owner(store):
    from features.definitions import OWNER

    catalog = store.list_features()
    assert set(catalog["view"]) == {
        "consumption", "weather", "price", "home_profile", "pv", "consumption_live", "calendar", "daylight",
    }  # fmt: skip
    assert (catalog["description"].str.len() > 0).all(), catalog.loc[catalog["description"] == "", "feature"]
    assert (catalog["owner"] == OWNER).all()
    served = set(catalog.loc[catalog["services"].str.contains("forecast_v1"), "feature"])
    assert {"kwh_lag_1h", "temp_c", "price_rank_in_day", "pv_kwp", "hour", "is_holiday", "daylight"} <= served
    assert not {"weather_point", "price_area", "client_id", "country"} & served  # keys, not model inputs


ARROW_OF = {"Float32": pa.float32(), "Float64": pa.float64(), "Int64": pa.int64(), "String": pa.string()}


@pytest.mark.parametrize(
    ("views", "schema", "not_features"),
    [
        pytest.param(["consumption"], CONSUMPTION_SCHEMA, {"home_id"}, id="consumption"),
        pytest.param(["weather"], WEATHER_SCHEMA, {"weather_point", "available_at"}, id="weather"),
        pytest.param(["price"], PRICE_SCHEMA, {"price_area"}, id="price"),
        pytest.param(["home_profile", "pv"], HOME_SCHEMA, {"home_id"}, id="home"),
    ],
)
def test_views_declare_exactly_the_columns_and_types_the_transforms_write(views, schema, not_features):
    from features.definitions import build_definitions

    definitions = build_definitions("/lake/features")
    declared = {f.name: f.dtype for view in views for f in definitions.view(view).schema}
    assert set(declared) == set(schema.names) - not_features - {"event_timestamp"}
    for name, dtype in declared.items():
        assert schema.field(name).type == ARROW_OF[dtype.name.title().replace("_", "")], name


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda s: s.online_features(["h1"]), id="online"),
        pytest.param(lambda s: s.training_set(entities("h1", START + 5 * HOUR)), id="training-set"),
        pytest.param(lambda s: s.list_features(), id="list"),
        pytest.param(
            lambda s: s.push_readings(pd.DataFrame({"home_id": ["h1"], "ts": [START], "kwh": [0.1]}), 15),
            id="push",
        ),
    ],
)
def test_a_request_before_apply_says_which_command_to_run(tmp_path, lake_root, call):
    fresh = make_adapter(lake_root, repo_dir=tmp_path / "never-applied")
    with pytest.raises(FeaturesNotAppliedError, match="eliq features apply"):
        call(fresh)


# --- training sets ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cutoff", "expected_hours"),
    [
        pytest.param(START + 10 * HOUR, 10.0, id="exactly-at-a-row"),
        pytest.param(START + 10.5 * HOUR, 10.0, id="between-rows-takes-the-earlier"),
        pytest.param(START + 0.5 * HOUR, np.nan, id="before-the-first-row"),
        pytest.param(START + (N_HOURS + 24) * HOUR, float(N_HOURS), id="last-row-within-ttl"),
        pytest.param(START + (N_HOURS + 49) * HOUR, np.nan, id="older-than-ttl"),
    ],
)
def test_training_set_takes_the_latest_row_at_or_before_the_cutoff(store, cutoff, expected_hours):
    row = store.training_set(entities("h1", cutoff)).iloc[0]
    np.testing.assert_equal(float(row["kwh_lag_1h"]), expected_hours)


def test_training_set_never_returns_a_value_from_after_the_cutoff(store):
    rng = np.random.default_rng(1)
    cutoffs = START + pd.to_timedelta(rng.uniform(0, N_HOURS + 1.9, 300), unit="h")  # before the revision
    frame = pd.DataFrame({"home_id": rng.choice(["h1", "h2"], 300), "event_timestamp": cutoffs, "label": 1.0})
    result = store.training_set(frame)
    cutoff_hours = hours_since_start(frame["event_timestamp"])
    for column in ("kwh_lag_1h", "temp_c", "price_eur_mwh"):
        assert (result[column].dropna() <= cutoff_hours[result[column].notna()]).all(), column
    expected = np.where(cutoff_hours >= 1, np.minimum(np.floor(cutoff_hours), N_HOURS), np.nan)
    np.testing.assert_array_equal(result["kwh_lag_1h"].to_numpy(float), expected)
    assert list(result.columns[:4]) == ["home_id", "event_timestamp", "label", "target_ts"]
    pd.testing.assert_series_equal(result["event_timestamp"], frame["event_timestamp"], check_dtype=False)


@pytest.mark.parametrize(
    ("hours_after_last", "expected_temp"),
    [
        pytest.param(1, float(N_HOURS - 1), id="revision-not-yet-issued"),
        pytest.param(4, REVISED_TEMP, id="revision-issued"),
    ],
)
def test_weather_revision_is_used_only_once_issued(store, hours_after_last, expected_temp):
    cutoff = START + (N_HOURS - 1 + hours_after_last) * HOUR
    row = store.training_set(entities("h2", cutoff)).iloc[0]
    assert row["temp_c"] == expected_temp


def test_unknown_home_gets_nulls_and_request_time_features(store):
    result = store.training_set(entities("nobody", START + 30 * HOUR)).iloc[0]
    assert pd.isna(result[["kwh_lag_1h", "temp_c", "price_eur_mwh", "floor_area_m2", "pv_kwp"]]).all()
    assert result["hour"] == 6 and result["is_holiday"] == -1 and result["daylight"] == -1


def test_asof_store_gives_the_values_feast_file_store_gives(store, lake_root):
    """Same values as Feast's Dask store, row for row; unlike it, no label row is dropped.

    The Dask store drops an entity row when a view has rows for its key but none usable at the cut-off (all later,
    or all older than the TTL); the as-of store keeps the row with nulls.
    """
    from feast import FeatureStore, RepoConfig

    from features.store_config import repo_config_values

    values = repo_config_values(store.settings, store.layout) | {"offline_store": {"type": "file"}}
    dask = FeatureStore(config=RepoConfig(repo_path=store.layout.repo_dir, **values))
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {
            "home_id": rng.choice(["h1", "h2", "h3", "nobody"], 40),
            "weather_point": rng.choice([WP_SE, WP_DE], 40),
            "price_area": rng.choice(["SE3", "DE"], 40),
            "event_timestamp": START + pd.to_timedelta(rng.uniform(-2, N_HOURS + 60, 40), unit="h"),
            "row": np.arange(40),
        }
    )
    refs = ["consumption:kwh_lag_1h", "consumption:kwh_mean_24h", "weather:temp_c", "price:price_eur_mwh",
            "price:price_rank_in_day", "home_profile:floor_area_m2", "home_profile:country"]  # fmt: skip
    ours, theirs = (
        fs.get_historical_features(frame, refs, filter_by_created_timestamp=True).to_df().set_index("row")
        for fs in (store.store, dask)
    )
    assert sorted(ours.index) == list(range(40)) and len(theirs) > 20
    columns = [r.split(":")[1] for r in refs]
    pd.testing.assert_frame_equal(
        ours.loc[theirs.index.sort_values(), columns], theirs.sort_index()[columns], check_dtype=False
    )


# --- errors naming the missing table ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("remove", "named"),
    [
        pytest.param(
            lambda: f"consumption/bucket={home_bucket('h1', N_BUCKETS):03d}.parquet", "bucket=", id="bucket"
        ),
        pytest.param(lambda: "weather/weather.parquet", "weather.parquet", id="weather-table"),
    ],
)
def test_a_missing_source_partition_is_named(tmp_path, lake_root, remove, named):
    copy = tmp_path / "lake"
    shutil.copytree(lake_root, copy, ignore=shutil.ignore_patterns("_feast"))
    missing = copy / "features" / remove()
    missing.unlink()
    adapter = make_adapter(copy)
    adapter.apply()
    with pytest.raises(FeatureTableMissingError, match=named) as caught:
        adapter.training_set(entities("h1", START + 5 * HOUR))
    assert str(missing) in str(caught.value) and "eliq features build" in str(caught.value)


# --- online store ----------------------------------------------------------------------------------------------


@pytest.fixture
def fresh_online(tmp_path, lake_root) -> FeatureStoreAdapter:
    """An adapter with its own registry and online store on the shared lake."""
    adapter = make_adapter(lake_root, repo_dir=tmp_path / "feast")
    adapter.apply()
    return adapter


def test_materialize_full_then_incremental(fresh_online):
    first = fresh_online.materialize(end=(START + 24 * HOUR).to_pydatetime())
    assert set(first["mode"]) == {"full"}
    assert fresh_online.online_features(["h1"])["kwh_lag_1h"].iloc[0] == 24
    second = fresh_online.materialize(end=(START + 48 * HOUR).to_pydatetime(), incremental=True)
    modes = second.set_index("view")["mode"]
    assert modes["consumption"] == "incremental" and modes["home_profile"] == "full"
    assert second.set_index("view").loc["consumption", "start"] == START + 24 * HOUR
    online = fresh_online.online_features(["h1", "h2"])
    assert online["kwh_lag_1h"].tolist() == [48, 48] and online["floor_area_m2"].tolist() == [70.0, 120.0]


def test_unknown_home_online_gets_nulls_not_an_error(fresh_online):
    fresh_online.materialize(end=(START + 24 * HOUR).to_pydatetime())
    online = fresh_online.online_features(["h1", "nobody"]).set_index("home_id")
    assert online.loc["nobody", ["kwh_lag_1h", "temp_c", "price_eur_mwh", "floor_area_m2"]].isna().all()
    assert online.loc["h1", ["kwh_lag_1h", "temp_c", "price_eur_mwh", "floor_area_m2"]].notna().all()


def test_online_request_time_features_use_the_homes_local_calendar(fresh_online):
    fresh_online.materialize(end=(START + 24 * HOUR).to_pydatetime())
    christmas = pd.Timestamp("2025-12-25 10:00", tz="UTC").to_pydatetime()
    online = fresh_online.online_features(["h2", "h1"], target_ts=christmas).set_index("home_id")
    assert online.loc["h2", ["hour", "weekday", "month", "is_holiday", "daylight"]].tolist() == [
        11,
        3,
        12,
        1,
        1,
    ]
    assert online.loc["h1", "hour"] == 11  # Stockholm is UTC+1 in winter too


def test_a_pushed_reading_is_online_right_after(fresh_online):
    reading = pd.DataFrame(
        {
            "home_id": ["h1", "h1"],
            "ts": [START, START + pd.Timedelta(minutes=15)],
            "kwh": [0.1, 0.3],
            "interval_min": 15,
        }
    )
    pushed = fresh_online.push_readings(reading)
    assert pushed["event_timestamp"].iloc[0] == START + pd.Timedelta(minutes=30)
    live = fresh_online.online_features(["h1", "nobody"], service="live_v1").set_index("home_id")
    assert live.loc["h1", ["kwh_latest", "kw_latest", "interval_min_latest"]].tolist() == [0.3, 1.2, 15]
    assert live.loc["h1", "reading_start_ts"] == START + pd.Timedelta(minutes=15)
    assert live.loc["nobody", ["kwh_latest", "kw_latest"]].isna().all()


@pytest.mark.parametrize(
    ("frame", "interval", "message"),
    [
        pytest.param(pd.DataFrame({"home_id": ["h1"], "ts": [START]}), 15, "kwh", id="no-kwh"),
        pytest.param(
            pd.DataFrame({"home_id": ["h1"], "ts": [START], "kwh": [1.0]}),
            None,
            "interval_min",
            id="no-interval",
        ),
        pytest.param(
            pd.DataFrame({"home_id": ["h1"], "ts": [START], "kwh": [1.0]}), 0, "positive", id="zero-interval"
        ),
    ],
)
def test_pushed_readings_are_validated(frame, interval, message):
    from features.store_online import live_rows

    with pytest.raises(ValueError, match=message):
        live_rows(frame, interval)


def test_a_lake_behind_fsspec_serves_offline_and_online(tmp_path):
    """The same store on ``memory://``, as it would be on ``abfs://``: only the registry and SQLite are local."""
    lake = Lake(f"memory://eliq-features-{tmp_path.name}")
    write_feature_tables(lake)
    adapter = FeatureStoreAdapter(lake, FeatureStoreSettings(repo_dir=str(tmp_path)), n_buckets=N_BUCKETS)
    adapter.apply()
    assert adapter.training_set(entities("h1", START + 5 * HOUR))["kwh_lag_1h"].iloc[0] == 5
    adapter.materialize(end=(START + 10 * HOUR).to_pydatetime())
    assert adapter.online_features(["h1"])["temp_c"].iloc[0] == 10


# --- configuration ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("redis://127.0.0.1:6379/0", "127.0.0.1:6379,db=0", id="plain"),
        pytest.param("redis://:s3cret@cache:6380/2", "cache:6380,db=2,password=s3cret", id="password"),
        pytest.param("rediss://cache", "cache:6379,db=0,ssl=true", id="tls-defaults"),
    ],
)
def test_redis_url_becomes_feasts_connection_string(url, expected):
    from features.store_config import redis_connection_string

    assert redis_connection_string(url) == expected


def test_a_remote_lake_needs_a_local_repo_dir(tmp_path):
    from features.store_config import layout_for

    lake = Lake("memory://eliq-test-lake")
    with pytest.raises(ValueError, match="repo_dir"):
        layout_for(lake, FeatureStoreSettings())
    layout = layout_for(lake, FeatureStoreSettings(repo_dir=str(tmp_path)))
    assert layout.features_root == "memory://eliq-test-lake/features" and layout.repo_dir == tmp_path


def test_generated_yaml_has_no_password(tmp_path):
    import yaml

    from features.store_config import FeastRepoLayout, write_feature_store_yaml

    settings = FeatureStoreSettings(
        online_store="redis", redis_url="redis://:hunter2@cache:6379/1", registry="sql",
        registry_url="postgresql+psycopg://feast:hunter2@db:5432/feast",
    )  # fmt: skip
    path = write_feature_store_yaml(settings, FeastRepoLayout("/lake/features", tmp_path))
    text = path.read_text()
    assert "hunter2" not in text
    values = yaml.safe_load(text)
    assert values["online_store"]["connection_string"] == "cache:6379,db=1,password=${FEAST_REDIS_PASSWORD}"
    assert values["offline_store"]["type"] == "features.store_offline.AsofFileOfflineStore"


# --- the command line ------------------------------------------------------------------------------------------


def test_cli_apply_materialize_list_online_and_training_set(tmp_path, lake_root):
    from typer.testing import CliRunner

    from pipelines.cli import features  # noqa: F401  (registers the commands)
    from pipelines.cli.app import app

    config = tmp_path / "eliq.yaml"
    config.write_text(f"storage:\n  root: {lake_root}\nprep:\n  n_buckets: {N_BUCKETS}\n")
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, ["--config", str(config), "features", *args])
        assert result.exit_code == 0, result.output
        return result.output

    assert "applied" in run("apply")
    run("materialize", "--end", str((START + 24 * HOUR).tz_localize(None)))
    assert "kwh_lag_1h" in run("list")
    assert "h1" in run("online", "--home", "h1", "--home", "nobody")
    labels = tmp_path / "labels.csv"
    entities("h1", START + 5 * HOUR, START + 6 * HOUR).to_csv(labels, index=False)
    run("training-set", "--entities", str(labels), "--out", str(tmp_path / "train.parquet"))
    assert pd.read_parquet(tmp_path / "train.parquet")["kwh_lag_1h"].tolist() == [5.0, 6.0]
    missing = runner.invoke(app, ["--config", str(config), "features", "training-set", "--entities", "nope.csv",
                                  "--out", str(tmp_path / "x.parquet")])  # fmt: skip
    assert missing.exit_code == 1 and "not found" in missing.output


def test_cli_request_before_apply_exits_1_naming_the_command(tmp_path, lake_root):
    from typer.testing import CliRunner

    from pipelines.cli import features  # noqa: F401
    from pipelines.cli.app import app

    config = tmp_path / "eliq.yaml"
    config.write_text(f"storage:\n  root: {tmp_path / 'empty-lake'}\n")
    result = CliRunner().invoke(app, ["--config", str(config), "features", "online", "--home", "h1"])
    assert result.exit_code == 1 and "eliq features apply" in result.output


# --- the real feature tables -----------------------------------------------------------------------------------


def test_tables_built_by_the_transforms_serve_end_to_end(small_demo, tmp_path):
    from data_prep.run import run_prep
    from features.transforms.build import build_feature_tables
    from tests.conftest import settings_for

    settings = settings_for(str(tmp_path / "lake"))
    run_prep(str(small_demo), settings)
    lake = Lake(str(tmp_path / "lake"))
    build_feature_tables(lake, settings.prep.n_buckets)
    adapter = FeatureStoreAdapter.from_settings(settings)
    adapter.apply()
    homes = pd.read_parquet(tmp_path / "lake" / "features" / "home" / "home.parquet")["home_id"].tolist()
    cutoff = pd.Timestamp("2025-01-20 12:00", tz="UTC")
    train = adapter.training_set(pd.DataFrame({"home_id": homes, "event_timestamp": cutoff}))
    assert train["kwh_lag_1h"].notna().mean() > 0.5 and train["temp_c"].notna().mean() > 0.5
    adapter.materialize(end=cutoff.to_pydatetime())
    online = adapter.online_features(homes[:3])
    assert online["kwh_lag_1h"].notna().any() and len(online) == 3
