"""The real datasets beside the repository go through `eliq prep run` with their quirks handled.

They are never copied into the repository; these tests skip when the folder is absent.
"""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from contracts.storage import Lake, Zone
from pipelines.cli import app
from tests.conftest import REPO

pytestmark = pytest.mark.real_data


def _prep(tmp_path, folder, spec):

    config = tmp_path / "eliq.yaml"
    config.write_text(f"storage:\n  root: {tmp_path / 'lake'}\nprep:\n  n_buckets: 2\n")
    args = [
        "--config",
        str(config),
        "prep",
        "run",
        "--input",
        str(folder),
        "--spec",
        str(REPO / "docs" / "source-specs" / spec),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    lake = Lake(str(tmp_path / "lake"))
    return lake


def _processed(lake, home_id):
    frame = lake.read_table(lake.path(Zone.PROCESSED, "readings")).to_pandas()
    return frame[frame["home_id"] == home_id].sort_values("ts", ignore_index=True)


def test_hue_local_time_with_dst_repeats_and_gaps(tmp_path, real_data):
    lake = _prep(tmp_path, real_data / "hue_bc_residential_1", "hue_residential.yaml")
    home = _processed(lake, "hue_residential_1")
    assert (home["interval_min"] == 60).all()
    assert home["ts"].diff().dropna().eq(pd.Timedelta(hours=1)).all()  # one regular UTC grid, DST or not
    autumn = home[(home["ts"] >= "2013-11-03T08:00Z") & (home["ts"] <= "2013-11-03T09:00Z")]
    assert autumn["kwh_raw"].tolist() == [0.532, 0.576]  # both 01:00 readings kept, an hour apart
    assert (
        home["quality_flag"] == "imputed"
    ).sum() >= 20  # the dataset's one-hour gaps are filled and flagged
    quarantine = lake.read_table(lake.path(Zone.QUARANTINE)).to_pandas()
    assert set(quarantine["reason"]) <= {"duplicate", "conflicting_duplicate"}
    manifest = lake.read_table(lake.path(Zone.RAW, "_manifest.parquet")).to_pandas()
    assert (manifest["rows_in"] == manifest["rows_processed"] + manifest["rows_quarantined"]).all()
    assert manifest["rows_in"].item() == 29231


def test_ausgrid_mean_kw_becomes_kwh_per_half_hour(tmp_path, real_data):
    lake = _prep(tmp_path, real_data / "ausgrid_solar_home_customer12", "ausgrid_solar_home.yaml")
    home = _processed(lake, "ausgrid_customer_12")
    raw = pd.read_csv(real_data / "ausgrid_solar_home_customer12" / "customer12_2011-2012_kW.csv")
    assert (home["interval_min"] == 30).all()
    assert home["ts"].iloc[0] == pd.Timestamp("2011-06-30T14:00Z")  # 00:00 AEST (UTC+10)
    assert home["kwh_raw"].sum() == pytest.approx(raw["GC"].sum() / 2)
    assert home["pv_kwh"].sum() == pytest.approx(raw["GG"].sum() / 2)
    hourly = lake.read_table(lake.path(Zone.PROCESSED, "readings_hourly")).to_pandas()
    assert len(hourly) == len(home) // 2  # the processed zone rolls up only homes read more often than hourly
    assert (hourly["interval_min"] == 30).all()


def test_entsoe_prices_melt_into_areas_with_negative_prices(tmp_path, real_data):
    lake = _prep(tmp_path, real_data / "entsoe_day_ahead_prices", "entsoe_day_ahead.yaml")
    prices = lake.read_table(lake.path(Zone.PROCESSED, "prices", "prices.parquet")).to_pandas()
    assert sorted(prices["price_area"].unique()) == ["DE", "DK1", "ES", "FI", "FR", "NL", "NO1", "SE1"]
    assert len(prices) == 17544 * 8
    assert (prices["price_eur_mwh"] < 0).any()
    assert prices.groupby("price_area")["ts"].nunique().eq(17544).all()
