"""Batch scoring into the curated zone and the customer-success export, through a real MLflow store (SQLite in a
temp folder) and a temp lake.

The lake holds synthetic homes of two clients (hourly rows from 2025-01-01 to 2025-03-16 UTC, and the daily and
monthly totals data_prep derives from them); a small model is trained, made champion, and scores the homes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from contracts.config import load_settings
from contracts.storage import Lake, Zone
from training.forecast.synthetic import synthetic_hourly

pytestmark = pytest.mark.xdist_group("serving_export")

CLIENT_OF_HOME = {"s000": "acme", "s001": "acme", "s002": "acme", "s003": "globex", "s004": "globex"}
ACME = sorted(h for h, c in CLIENT_OF_HOME.items() if c == "acme")
EARLY, LATE = "2025-02-20T10:00", "2025-03-10T10:00"  # local issue times; the data ends on 2025-03-16
FORECAST = {
    "backtest_days": 3,
    "calibration_days": 7,
    "max_train_rows": 20_000,
    "prophet_homes": 0,
    "params": {
        "n_estimators": 30,
        "learning_rate": 0.2,
        "num_leaves": 15,
        "min_child_samples": 20,
        "quantile_n_estimators": 20,
        "quantile_max_rows": 10_000,
        "n_jobs": 1,
    },
}


def write_lake(root: Path) -> pd.DataFrame:
    """The curated zone of the synthetic homes: hourly, daily, monthly and the homes; returns the hourly rows."""
    from data_prep.curated_zone import daily_from_hourly, monthly_totals

    hourly, homes = synthetic_hourly(n_homes=len(CLIENT_OF_HOME), days=75, seed=5)
    homes["client_id"] = homes["home_id"].map(CLIENT_OF_HOME)
    zones = homes.set_index("home_id")["timezone"]
    daily = daily_from_hourly(hourly.assign(share_imputed=0.0), pd.DataFrame(), zones)
    no_bills = pd.DataFrame(
        {
            "home_id": pd.Series(dtype=str),
            "period_start": pd.Series(dtype="datetime64[ns]"),
            "period_end": pd.Series(dtype="datetime64[ns]"),
            "kwh": pd.Series(dtype=float),
        }
    )
    lake = Lake(str(root))
    tables = {
        ("consumption_hourly", "bucket=000", "part-0.parquet"): hourly,
        ("homes", "homes.parquet"): homes,
        ("consumption_daily", "bucket=000.parquet"): daily,
        ("consumption_monthly", "bucket=000.parquet"): monthly_totals(daily, no_bills),
    }
    for parts, frame in tables.items():
        lake.write_table(lake.path(Zone.CURATED, *parts), pa.Table.from_pandas(frame, preserve_index=False))
    return hourly


def settings_on(tmp: Path):
    return load_settings(
        storage={"root": str(tmp / "lake")},
        training={
            "tracking_uri": f"sqlite:///{tmp / 'mlflow' / 'mlflow.db'}",
            "artifact_root": str(tmp / "mlflow" / "artifacts"),
            "forecast": FORECAST,
        },
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A lake, a champion model, and acme scored at two issue dates and globex at one."""
    from training.integrations.mlflow_registry import set_champion
    from training.steps.forecast_score import score_forecast
    from training.steps.forecast_train import train_forecast

    tmp = tmp_path_factory.mktemp("serving_export")
    hourly = write_lake(tmp / "lake")
    settings = settings_on(tmp)
    run = train_forecast(settings)
    assert run.model_name and run.version
    set_champion(run.model_name, run.version)
    scored = {
        ("acme", EARLY): score_forecast(settings, "acme", issue_time=EARLY),
        ("acme", LATE): score_forecast(settings, "acme", issue_time=LATE),
        ("globex", LATE): score_forecast(settings, "globex", issue_time=LATE),
    }
    return {"tmp": tmp, "settings": settings, "hourly": hourly, "scored": scored, "version": run.version}


def lake_of(store) -> Lake:
    return Lake(str(store["tmp"] / "lake"))


def stored_files(store, client: str) -> list[str]:
    lake = lake_of(store)
    return lake.glob(lake.path(Zone.CURATED, "forecasts", f"client={client}", "*", "*.parquet"))


# --- batch scoring ---


def test_scoring_stores_one_file_per_client_and_issue_date(store):
    version = store["version"]
    names = [p.split("forecasts/", 1)[1] for p in stored_files(store, "acme")]
    assert names == [
        f"client=acme/issue_date=2025-02-20/forecasts-{version}.parquet",
        f"client=acme/issue_date=2025-03-10/forecasts-{version}.parquet",
    ]
    outcome = store["scored"][("acme", EARLY)]
    frame = pd.read_parquet(outcome.path)
    assert sorted(frame["home_id"].unique()) == ACME and outcome.n_homes == 3
    assert (frame["client_id"] == "acme").all() and len(frame) == outcome.n_rows
    assert set(frame["resolution"]) == {"hourly", "daily", "monthly"}
    assert (frame["model_version"] == version).all() and (frame["model_name"] == "eliq-forecast").all()
    assert str(frame["generated_at"].dt.tz) == "UTC" and str(frame["issue_time"].dt.tz) == "UTC"
    assert (frame["generated_at"] == outcome.generated_at).all()


def test_a_rerun_for_the_same_issue_date_and_version_replaces_the_file(store):
    from training.steps.forecast_score import score_forecast

    before = store["scored"][("globex", LATE)]
    again = score_forecast(store["settings"], "globex", issue_time=LATE)
    assert again.path == before.path and again.replaced and not before.replaced
    assert [p for p in stored_files(store, "globex") if "issue_date=2025-03-10" in p] == [again.path]
    stored = pd.read_parquet(again.path)
    assert again.generated_at > before.generated_at
    assert (stored["generated_at"] == again.generated_at).all() and len(stored) == before.n_rows


@pytest.mark.parametrize(
    ("client", "message"),
    [
        pytest.param("nobody", "unknown client 'nobody'", id="unknown-client"),
        pytest.param("../acme", "malformed client id", id="path-in-client-id"),
    ],
)
def test_scoring_an_unknown_client_is_a_clear_error(store, client, message):
    from training.steps.forecast_score import score_forecast

    with pytest.raises(KeyError, match=message):
        score_forecast(store["settings"], client, issue_time=LATE)


def test_a_crash_while_storing_leaves_no_file(store, monkeypatch):
    import contracts.storage
    from training.steps.forecast_score import forecasts_path, score_forecast

    def half_written(table, handle, **kwargs):
        handle.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(contracts.storage.pq, "write_table", half_written)
    with pytest.raises(OSError, match="disk full"):
        score_forecast(store["settings"], "globex", issue_time="2025-03-05T10:00")
    lake = lake_of(store)
    assert not lake.exists(forecasts_path(lake, "globex", "2025-03-05", store["version"]))
    assert lake.glob(lake.path("_tmp", "*")) == []


# --- export ---


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"model_version": str, "period_start": str})


def read_xlsx(path: Path) -> pd.DataFrame:
    return pd.read_excel(path, sheet_name="forecasts", dtype={"model_version": str, "period_start": str})


READERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    "csv": read_csv,
    "parquet": pd.read_parquet,
    "xlsx": read_xlsx,
}


@pytest.fixture(scope="module")
def exports(store, tmp_path_factory):
    """acme's export from 2025-02-01 to 2025-05-01 (exclusive) in every format, read back."""
    from serving.export import export_forecasts

    folder = tmp_path_factory.mktemp("exports")
    out = {}
    for fmt, reader in READERS.items():
        outcome = export_forecasts(
            lake_of(store), "acme", start="2025-02-01", end="2025-05-01", fmt=fmt, out=folder / f"acme.{fmt}"
        )
        out[fmt] = (outcome, reader(outcome.path))
    return out


FORMATS = [pytest.param(fmt, id=fmt) for fmt in READERS]


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_has_the_columns_only_the_clients_homes_and_one_row_per_period(store, exports, fmt):
    from serving.export import EXPORT_COLUMNS

    outcome, frame = exports[fmt]
    assert tuple(frame.columns) == EXPORT_COLUMNS
    assert sorted(frame["home_id"].unique()) == ACME and (frame["client_id"] == "acme").all()
    assert (
        len(frame) == outcome.n_rows and not frame.duplicated(["home_id", "resolution", "period_start"]).any()
    )
    daily = frame[frame["resolution"] == "daily"]
    assert daily["period_start"].min() >= "2025-02-01" and daily["period_start"].max() < "2025-05-01"
    assert (frame["model_version"] == store["version"]).all() and (
        frame["model_name"] == "eliq-forecast"
    ).all()
    assert frame["period_start"].str.match(r"^\d{4}-\d{2}-\d{2}(T\d{2}:00:00Z)?$").all()


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_joins_the_actuals_where_known_and_leaves_them_empty_where_not(store, exports, fmt):
    _, frame = exports[fmt]
    hourly = frame[frame["resolution"] == "hourly"]
    truth = store["hourly"].assign(period_start=store["hourly"]["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    joined = hourly.merge(truth, on=["home_id", "period_start"], how="left")
    assert hourly["actual_kwh"].notna().all()  # both issues' 48 hours are inside the data
    np.testing.assert_allclose(joined["actual_kwh"], joined["kwh"], rtol=1e-9)
    by_period = frame.set_index(["home_id", "resolution", "period_start"])["actual_kwh"]
    s000 = truth[truth["home_id"] == "s000"]
    local_day = s000["ts"].dt.tz_convert(store_zone(store, "s000")).dt.strftime("%Y-%m-%d")
    assert by_period["s000", "daily", "2025-02-25"] == pytest.approx(
        s000.loc[local_day == "2025-02-25", "kwh"].sum()
    )
    assert np.isnan(by_period["s000", "daily", "2025-04-02"])  # after the last reading
    february = s000.loc[local_day.str.startswith("2025-02"), "kwh"].sum()
    assert by_period["s000", "monthly", "2025-02-01"] == pytest.approx(february)
    assert np.isnan(by_period["s000", "monthly", "2025-03-01"])  # March is incomplete: no actual


def store_zone(store, home: str) -> str:
    homes = lake_of(store).read_table(lake_of(store).path(Zone.CURATED, "homes", "homes.parquet")).to_pandas()
    return str(homes.set_index("home_id").loc[home, "timezone"])


def test_overlapping_issues_give_the_latest_issue_of_each_period(exports):
    _, frame = exports["parquet"]
    daily = frame[(frame["resolution"] == "daily") & (frame["home_id"] == "s000")].set_index("period_start")
    issued = daily["issue_time"].dt.strftime("%Y-%m-%d")
    assert issued["2025-03-05"] == "2025-02-20"  # only the early issue reaches it
    assert issued["2025-03-15"] == "2025-03-10"  # both do: the later wins
    assert (issued["2025-04-01":] == "2025-03-10").all()
    assert str(frame["issue_time"].dt.tz) == "UTC"  # parquet keeps the instants typed


@pytest.mark.parametrize("fmt", [pytest.param("csv", id="csv"), pytest.param("parquet", id="parquet")])
def test_csv_and_parquet_get_a_sidecar_with_the_metadata(exports, fmt):
    outcome, frame = exports[fmt]
    assert outcome.metadata_path == outcome.path.with_name(outcome.path.name + ".meta.json")
    meta = json.loads(outcome.metadata_path.read_text())
    assert meta["client_id"] == "acme" and meta["row_count"] == len(frame) == outcome.n_rows
    assert meta["period"] == {"from": "2025-02-01", "to": "2025-05-01", "to_is_exclusive": True}
    assert meta["model_versions"] == [f"eliq-forecast v{frame['model_version'].iloc[0]}"]
    assert meta["generated_at"]["last"].endswith("Z")
    assert [c["name"] for c in meta["columns"]] == list(frame.columns)
    assert "[kWh]" in {c["name"]: c["description"] for c in meta["columns"]}["actual_kwh"]


def test_xlsx_has_an_about_sheet_first_and_no_sidecar(exports):
    import openpyxl

    outcome, frame = exports["xlsx"]
    assert outcome.metadata_path is None
    assert not outcome.path.with_name(outcome.path.name + ".meta.json").exists()
    book = openpyxl.load_workbook(outcome.path, read_only=True)
    assert book.sheetnames == ["about", "forecasts"]
    about = {row[0]: row[1] for row in book["about"].iter_rows(min_row=2, values_only=True) if row[0]}
    assert about["client"] == "acme" and about["row count"] == len(frame)
    assert about["model versions"] == f"eliq-forecast v{frame['model_version'].iloc[0]}"
    assert "2025-02-01 to 2025-05-01" in about["period"] and about["generated at"].endswith("(UTC)")
    assert "[kWh]" in about["kwh_p50"] and "UTC" in about["issue_time"]
    book.close()


def test_export_of_chosen_homes_keeps_only_them(store, tmp_path):
    from serving.export import export_forecasts

    outcome = export_forecasts(
        lake_of(store), "acme", homes=["s002"], start="2025-03-01", end="2025-04-01", out=tmp_path / "x.csv"
    )
    frame = read_csv(outcome.path)
    assert set(frame["home_id"]) == {"s002"} and outcome.n_homes == 1
    assert frame.loc[frame["resolution"] == "monthly", "period_start"].tolist() == ["2025-03-01"]


@pytest.mark.parametrize(
    ("client", "homes", "error", "message"),
    [
        pytest.param("nobody", None, KeyError, "unknown client 'nobody'", id="unknown-client"),
        pytest.param("acme", ["s003"], KeyError, "unknown homes", id="another-clients-home"),
        pytest.param("acme*", None, KeyError, "malformed client id", id="glob-in-client-id"),
    ],
)
def test_export_refuses_unknown_clients_and_other_clients_homes(
    store, tmp_path, client, homes, error, message
):
    from serving.export import export_forecasts

    with pytest.raises(error, match=message):
        export_forecasts(
            lake_of(store), client, homes=homes, start="2025-02-01", end="2025-05-01", out=tmp_path / "x"
        )
    assert list(tmp_path.iterdir()) == []


def test_export_of_a_period_without_forecasts_is_a_clear_error(store, tmp_path):
    from serving.export import export_forecasts

    with pytest.raises(ValueError, match="no stored forecasts"):
        export_forecasts(lake_of(store), "acme", start="2026-01-01", end="2026-02-01", out=tmp_path / "x.csv")


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_crash_mid_write_leaves_no_file(store, tmp_path, monkeypatch, fmt):
    from serving import export, export_files

    def half_written(frame, metadata, path):
        path.write_bytes(b"client_id,home_id\nacme,s0")
        raise OSError("disk full")

    monkeypatch.setitem(export_files._WRITERS, fmt, half_written)
    out = tmp_path / f"acme.{fmt}"
    with pytest.raises(OSError, match="disk full"):
        export.export_forecasts(
            lake_of(store), "acme", start="2025-02-01", end="2025-05-01", fmt=fmt, out=out
        )
    assert list(tmp_path.iterdir()) == []  # neither the file, its sidecar nor a temp file


# --- command line ---


def test_cli_scores_a_client_and_exports_with_the_default_name(store, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import pipelines.cli.export  # noqa: F401  (registers `score` and `export`)
    from pipelines.cli import app

    config = tmp_path / "eliq.yaml"
    tmp = store["tmp"]
    config.write_text(
        json.dumps(
            {
                "storage": {"root": str(tmp / "lake")},
                "training": {
                    "tracking_uri": f"sqlite:///{tmp / 'mlflow' / 'mlflow.db'}",
                    "artifact_root": str(tmp / "mlflow" / "artifacts"),
                },
            }
        )  # JSON is YAML
    )
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    scored = runner.invoke(
        app,
        [
            "--config",
            str(config),
            "score",
            "forecast",
            "--client",
            "globex",
            "--issue-time",
            "2025-03-12T10:00",
        ],
    )
    assert scored.exit_code == 0, scored.output
    assert "2 homes of globex" in " ".join(scored.output.split())  # rich wraps long lines
    assert any("issue_date=2025-03-12" in p for p in stored_files(store, "globex"))
    base = ["--config", str(config), "export", "forecasts", "--client", "globex"]
    exported = runner.invoke(app, [*base, "--from", "2025-03-01", "--to", "2025-04-01", "--format", "xlsx"])
    assert exported.exit_code == 0, exported.output
    written = tmp_path / "forecasts_globex_2025-03-01_2025-04-01.xlsx"
    assert set(read_xlsx(written)["home_id"]) == {"s003", "s004"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["score", "forecast", "--client", "nobody"], "unknown client", id="score-unknown-client"
        ),
        pytest.param(
            ["export", "forecasts", "--client", "nobody", "--from", "2025-03-01", "--to", "2025-04-01"],
            "unknown client",
            id="export-unknown-client",
        ),
        pytest.param(
            ["export", "forecasts", "--client", "acme", "--from", "2025-04-01", "--to", "2025-03-01"],
            "empty period",
            id="export-reversed-period",
        ),
        pytest.param(
            ["export", "forecasts", "--client", "acme", "--from", "March", "--to", "2025-03-01"],
            "is not a date",
            id="export-bad-date",
        ),
    ],
)
def test_cli_errors_are_one_red_line(store, tmp_path, monkeypatch, args, message):
    from typer.testing import CliRunner

    import pipelines.cli.export  # noqa: F401
    from pipelines.cli import app

    config = tmp_path / "eliq.yaml"
    config.write_text(f"storage:\n  root: {store['tmp'] / 'lake'}\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["--config", str(config), *args])
    assert result.exit_code == 1, result.output
    assert "error:" in result.output and message in result.output and "Traceback" not in result.output
