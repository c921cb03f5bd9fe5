"""The realistic sample-data generator: layout, physics, reproducibility and an exact fault log."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import pytest

from data_prep.sample_data import DemoDataSummary, generate_demo_data
from data_prep.sample_data.homes import CITIES

READINGS_COLUMNS = ["home_id", "ts", "kwh", "pv_kwh", "export_kwh"]
WEATHER_COLUMNS = [
    "lat",
    "lon",
    "ts",
    "temp_c",
    "ghi_w_m2",
    "dni_w_m2",
    "dhi_w_m2",
    "cloud_cover",
    "wind_m_s",
]
WEATHER_COLUMNS += ["humidity"]
WINTER = {"homes": 12, "days": 28, "seed": 3, "fault_rate": 10.0}  # faults ×10 so every kind shows up
SUMMER = {"homes": 16, "days": 7, "seed": 5, "start": "2025-06-16", "fault_rate": 0.0}


class Tree:
    """A generated tree: read its files whatever filesystem it is on."""

    def __init__(self, uri: str, summary: DemoDataSummary) -> None:
        self.fs, root = fsspec.core.url_to_fs(uri)
        self.root = root.rstrip("/")
        self.summary = summary

    def path(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def exists(self, rel: str) -> bool:
        return bool(self.fs.exists(self.path(rel)))

    def text(self, rel: str) -> str:
        return self.fs.cat_file(self.path(rel)).decode()

    def csv(self, rel: str) -> pd.DataFrame:
        return pd.read_csv(io.StringIO(self.text(rel)), dtype=str, keep_default_na=False)

    def parquet(self, rel: str) -> pd.DataFrame:
        return pd.read_parquet(self.path(rel), filesystem=self.fs)

    def readings(self, rel: str) -> pd.DataFrame:
        """Well-formed rows of a readings CSV, with ``line`` numbers; malformed lines are dropped."""
        lines = self.text(rel).splitlines()
        assert lines[0] == ",".join(READINGS_COLUMNS)
        rows = [line.split(",") for line in lines[1:]]
        frame = pd.DataFrame([r for r in rows if len(r) == 5], columns=READINGS_COLUMNS)
        frame["line"] = [i + 2 for i, r in enumerate(rows) if len(r) == 5]
        frame["utc"] = pd.to_datetime(frame["ts"], utc=True, errors="coerce", format="ISO8601")
        for column in ("kwh", "pv_kwh", "export_kwh"):
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
        return frame[(frame["home_id"] != "") & frame["utc"].notna() & frame["kwh"].notna()]

    def profiles(self) -> list[dict[str, Any]]:
        docs = [json.loads(line) for line in self.text("profiles/homes.jsonl").splitlines()]
        docs += [json.loads(self.fs.cat_file(p)) for p in self.fs.glob(self.path("profiles/docs/*.json"))]
        return docs


@pytest.fixture(scope="module")
def winter(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    out = str(tmp_path_factory.mktemp("winter"))
    stages: list[tuple[str, int, int]] = []
    summary = generate_demo_data(out, progress=lambda *a: stages.append(a), **WINTER)
    assert [s for s in dict.fromkeys(stage for stage, _, _ in stages)] == [
        "weather",
        "prices",
        "homes",
        "files",
    ]
    homes = [(done, total) for stage, done, total in stages if stage == "homes"]
    assert stages[-1] == ("files", 1, 1) and homes[0][0] == 0 and homes[-1][0] == homes[-1][1] > 0
    return Tree(out, summary)


@pytest.fixture(scope="module")
def summer() -> Tree:
    uri = "memory://sample-data-summer"
    return Tree(uri, generate_demo_data(uri, **SUMMER))


def _faults(tree: Tree, fault_type: str) -> pd.DataFrame:
    log = tree.csv("_truth/faults.csv")
    rows = log[log["fault_type"] == fault_type]
    assert len(rows) > 0, f"no {fault_type} injected; raise WINTER['fault_rate']"
    return rows


def _clean(tree: Tree) -> pd.DataFrame:
    clean = tree.parquet("_truth/readings_clean.parquet")
    return clean.set_index(["home_id", "ts"])["kwh"]


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not() -> None:
    def texts(uri: str, seed: int) -> dict[str, bytes]:
        summary = generate_demo_data(uri, homes=6, days=5, seed=seed, fault_rate=20.0)
        fs, root = fsspec.core.url_to_fs(uri)
        return {
            f: fs.cat_file(f"{root}/{f}") for f in summary.files if f.endswith((".csv", ".jsonl", ".json"))
        }

    first, again = texts("memory://repro-a", 11), texts("memory://repro-b", 11)
    other = texts("memory://repro-c", 12)
    assert first == again
    assert first["readings/hourly/part-0000.csv"] != other["readings/hourly/part-0000.csv"]


def test_every_file_and_column_of_the_layout_is_present(winter: Tree) -> None:
    expected_files = [
        "readings/15min/part-0000.csv",
        "readings/hourly/part-0000.csv",
        "readings/daily/part-0000.csv",
        "readings/local_wh/part-0000.csv",
        "readings/local_wh/_source.yaml",
        "readings/late/part-0000.csv",
        "bills/bills.csv",
        "profiles/homes.jsonl",
        "weather/weather.parquet",
        "prices/prices.csv",
        "_truth/faults.csv",
        "_truth/readings_clean.parquet",
        "_truth/categories.parquet",
        "_truth/pv_production.parquet",
    ]
    assert [f for f in expected_files if not winter.exists(f)] == []
    assert set(expected_files) <= set(winter.summary.files)
    assert not winter.exists("_tmp"), "temporary files were left behind"
    assert winter.fs.glob(winter.path("profiles/docs/*.json"))
    columns = {
        "bills/bills.csv": ["home_id", "period_start", "period_end", "kwh"],
        "prices/prices.csv": ["price_area", "ts", "price_eur_mwh"],
        "_truth/faults.csv": [
            "fault_id", "fault_type", "source", "file", "home_id", "ts_start", "ts_end", "n_rows", "detail",
        ],
    }  # fmt: skip
    for rel, names in columns.items():
        assert list(winter.csv(rel).columns) == names, rel
    for rel in (
        "readings/15min/part-0000.csv",
        "readings/late/part-0000.csv",
        "readings/local_wh/part-0000.csv",
    ):
        assert winter.text(rel).splitlines()[0] == ",".join(READINGS_COLUMNS)
    weather = winter.parquet("weather/weather.parquet")
    assert list(weather.columns) == WEATHER_COLUMNS
    assert str(weather["ts"].dt.tz) == "UTC"
    categories = winter.parquet("_truth/categories.parquet")
    assert list(categories.columns[:2]) == ["home_id", "ts"] and len(categories.columns) == 11
    assert list(winter.parquet("_truth/pv_production.parquet").columns) == ["home_id", "ts", "pv_kwh"]
    assert list(winter.parquet("_truth/readings_clean.parquet").columns) == [
        "home_id",
        "ts",
        "kwh",
        "interval_min",
    ]


def test_profiles_carry_every_field_tenants_and_an_unknown_one(winter: Tree) -> None:
    docs = winter.profiles()
    assert len(docs) == WINTER["homes"]
    required = {
        "home_id",
        "client_id",
        "lat",
        "lon",
        "country",
        "price_area",
        "timezone",
        "has_ev",
        "ev",
        "pv",
    }
    assert all(required <= set(d) for d in docs)
    assert len({d["client_id"] for d in docs}) >= 2
    weather = winter.parquet("weather/weather.parquet")[["lat", "lon"]].drop_duplicates()
    on_grid = [((weather["lat"] == d["lat"]) & (weather["lon"] == d["lon"])).any() for d in docs]
    assert not any(on_grid), "homes should sit between weather grid points"
    big = generate_demo_data("memory://profiles-many", homes=150, days=2, seed=1, write_truth=False)
    many = Tree("memory://profiles-many", big).profiles()
    assert any("smart_thermostat" in d or "tariff" in d for d in many)


def test_mixed_resolutions_have_their_own_files_and_timestamps(winter: Tree) -> None:
    counts = winter.summary.homes_per_resolution
    assert all(counts[r] > 0 for r in ("15min", "hourly", "daily", "monthly", "local_wh"))
    quarter = winter.readings("readings/15min/part-0000.csv")
    steps = quarter.groupby("home_id")["utc"].diff().dropna()
    assert (steps == pd.Timedelta(minutes=15)).mean() > 0.95
    assert quarter["ts"].str.endswith("+00:00").all()
    daily = winter.readings("readings/daily/part-0000.csv")
    assert daily["ts"].str.match(r"^\d{4}-\d\d-\d\dT00:00:00\+0[12]:00$").all()
    readings_homes = set(quarter["home_id"]) | set(
        winter.readings("readings/hourly/part-0000.csv")["home_id"]
    )
    bill_homes = set(winter.csv("bills/bills.csv")["home_id"])
    assert (
        len(bill_homes) == WINTER["homes"] and not readings_homes >= bill_homes
    )  # monthly homes: bills only


@pytest.mark.parametrize(
    ("start", "hour", "count"),
    [
        pytest.param("2025-03-29", "2025-03-30 02:00:00", 0, id="spring-hour-skipped"),
        pytest.param("2025-10-25", "2025-10-26 02:00:00", 2, id="autumn-hour-twice"),
    ],
)
def test_local_wh_files_are_naive_wall_clock_in_wh(start: str, hour: str, count: int) -> None:
    uri = f"memory://local-wh-{start}"
    summary = generate_demo_data(uri, homes=20, days=3, seed=2, start=start, resolution_mix={"hourly": 1.0})
    tree = Tree(uri, summary)
    assert tree.text("readings/local_wh/_source.yaml") == "timezone: Europe/Stockholm\nunit: wh\n"
    local = tree.csv("readings/local_wh/part-0000.csv")
    per_home = local.groupby("home_id")["ts"].apply(lambda ts: int((ts == hour).sum()))
    assert (per_home == count).all()
    assert not local["ts"].str.contains("T|\\+").any()
    clean = _clean(tree)
    utc = (
        pd.to_datetime(local["ts"]).dt.tz_localize("Europe/Stockholm", ambiguous="infer").dt.tz_convert("UTC")
    )
    clean_kwh = clean.loc[list(zip(local["home_id"], utc, strict=True))].to_numpy()
    np.testing.assert_allclose(local["kwh"].astype(float), clean_kwh * 1000, atol=1e-6)


def test_categories_sum_to_consumption(winter: Tree) -> None:
    categories = winter.parquet("_truth/categories.parquet")
    parts = [c for c in categories.columns if c.endswith("_kwh")]
    assert (categories[parts] >= 0).all().all()
    no_pv = {d["home_id"] for d in winter.profiles() if d.get("pv") is None}
    clean = winter.parquet("_truth/readings_clean.parquet")
    hourly = clean[(clean["interval_min"] == 60) & clean["home_id"].isin(no_pv)]
    assert len(hourly) > 0
    merged = hourly.merge(categories, on=["home_id", "ts"])
    assert len(merged) == len(hourly)
    np.testing.assert_allclose(merged[parts].sum(axis=1), merged["kwh"], atol=1.5e-3)


def test_pv_homes_export_at_summer_midday_and_produce_nothing_at_night(summer: Tree) -> None:
    pv = summer.parquet("_truth/pv_production.parquet")
    hour = pv["ts"].dt.hour
    assert pv.loc[hour.isin([22, 23, 0]), "pv_kwh"].max() == 0.0
    assert (pv[hour.isin([10, 11])].groupby("home_id")["pv_kwh"].mean() > 0.3).all()
    readings = pd.concat(
        [summer.readings(f"readings/{r}/part-0000.csv") for r in ("15min", "hourly")], ignore_index=True
    )
    pv_rows = readings[readings["home_id"].isin(pv["home_id"]) & readings["export_kwh"].notna()]
    assert pv_rows["home_id"].nunique() >= 1
    utc_hour = pv_rows["utc"].dt.hour
    assert pv_rows.loc[utc_hour.isin([10, 11]), "export_kwh"].sum() > 0
    assert pv_rows.loc[utc_hour.isin([22, 23, 0]), "export_kwh"].sum() == 0
    both = pv_rows[["kwh", "export_kwh"]]
    assert ((both["kwh"] == 0) | (both["export_kwh"] == 0)).all(), "the meter nets import against export"


def test_heating_rises_as_temperature_falls(winter: Tree) -> None:
    electric = {
        d["home_id"]: (d["lat"], d["lon"])
        for d in winter.profiles()
        if d.get("heating_types") and d["heating_types"][0] in ("direct_electric", "heat_pump")
    }
    assert electric
    weather = winter.parquet("weather/weather.parquet")
    points = weather[["lat", "lon"]].drop_duplicates().to_numpy()
    categories = winter.parquet("_truth/categories.parquet").set_index("home_id")
    correlations = []
    for home, (lat, lon) in electric.items():
        k = np.argmin((points[:, 0] - lat) ** 2 + (points[:, 1] - lon) ** 2)
        temp = weather[(weather["lat"] == points[k, 0]) & (weather["lon"] == points[k, 1])].set_index("ts")
        heat = categories.loc[home].set_index("ts")["heating_kwh"]
        daily = pd.DataFrame({"heat": heat, "temp": temp["temp_c"]}).dropna().resample("D").mean()
        correlations.append(daily["heat"].corr(daily["temp"]))
    assert np.mean(correlations) < -0.5


def test_prices_correlate_negatively_with_temperature(winter: Tree) -> None:
    prices = winter.csv("prices/prices.csv")
    prices["ts"] = pd.to_datetime(prices["ts"], utc=True)
    prices["price_eur_mwh"] = prices["price_eur_mwh"].astype(float)
    weather = winter.parquet("weather/weather.parquet")
    points = weather[["lat", "lon"]].drop_duplicates().to_numpy()
    correlations = []
    for area, group in prices.groupby("price_area"):
        lat, lon = next((c[2], c[3]) for c in CITIES if c[1] == area)
        k = np.argmin((points[:, 0] - lat) ** 2 + (points[:, 1] - lon) ** 2)
        temp = weather[(weather["lat"] == points[k, 0]) & (weather["lon"] == points[k, 1])].set_index("ts")
        daily = pd.DataFrame({"p": group.set_index("ts")["price_eur_mwh"], "t": temp["temp_c"]}).resample("D")
        means = daily.mean()
        correlations.append(means["p"].corr(means["t"]))
    assert len(correlations) == 10
    assert np.mean(correlations) < -0.2


@pytest.mark.parametrize(
    "fault_type",
    [
        pytest.param("spike", id="spike-is-10x-clean"),
        pytest.param("negative", id="negative-is-minus-clean"),
        pytest.param("meter_reset", id="reset-below-minus-100x-typical"),
        pytest.param("wrong_unit", id="wrong-unit-is-1000x"),
        pytest.param("stuck", id="stuck-repeats-one-value"),
    ],
)
def test_logged_value_faults_are_in_the_files(winter: Tree, fault_type: str) -> None:
    clean = _clean(winter)
    files = {}
    for fault in _faults(winter, fault_type).itertuples():
        if fault.file not in files:
            files[fault.file] = winter.readings(fault.file)
        rows = files[fault.file]
        start, end = pd.Timestamp(fault.ts_start), pd.Timestamp(fault.ts_end)
        run = rows[(rows["home_id"] == fault.home_id) & rows["utc"].between(start, end)]
        assert len(run) == int(fault.n_rows), fault
        truth = clean.loc[fault.home_id].reindex(run["utc"]).to_numpy()
        written = run["kwh"].to_numpy()
        if fault_type == "spike":
            assert (written >= 10 * truth - 1e-3).all() and (truth > 0).all()
        elif fault_type == "negative":
            np.testing.assert_allclose(written, -truth)
        elif fault_type == "meter_reset":
            assert written[0] < -100 * clean.loc[fault.home_id].median()
        elif fault_type == "wrong_unit":
            np.testing.assert_allclose(written, truth * 1000, atol=1e-6)
        else:
            assert len(set(written)) == 1 and not np.allclose(truth, written[0])


def test_logged_gaps_and_late_rows_are_absent_from_the_main_files(winter: Tree) -> None:
    late = winter.readings("readings/late/part-0000.csv")
    for fault_type in ("gap_short", "gap_long", "late_arrival"):
        for fault in _faults(winter, fault_type).itertuples():
            main_file = (
                fault.detail.removeprefix("withheld from ") if fault_type == "late_arrival" else fault.file
            )
            rows = winter.readings(main_file)
            start, end = pd.Timestamp(fault.ts_start), pd.Timestamp(fault.ts_end)
            in_run = (rows["home_id"] == fault.home_id) & rows["utc"].between(start, end)
            assert not in_run.any(), fault
            in_late = (late["home_id"] == fault.home_id) & late["utc"].between(start, end)
            assert in_late.sum() == (int(fault.n_rows) if fault_type == "late_arrival" else 0), fault


def test_logged_duplicates_and_conflicts_repeat_their_key(winter: Tree) -> None:
    for fault_type in ("duplicate", "conflicting_duplicate"):
        for fault in _faults(winter, fault_type).itertuples():
            rows = winter.readings(fault.file)
            start, end = pd.Timestamp(fault.ts_start), pd.Timestamp(fault.ts_end)
            run = rows[(rows["home_id"] == fault.home_id) & rows["utc"].between(start, end)]
            values = run.groupby("utc")["kwh"].agg(["count", "nunique"])
            assert (values["count"] == 2).all() and len(values) == int(fault.n_rows), fault
            assert (values["nunique"] == (1 if fault_type == "duplicate" else 2)).all(), fault


def test_logged_dst_shift_relabels_rows_with_local_wall_clock(winter: Tree) -> None:
    clean = _clean(winter)
    zones = {d["home_id"]: d["timezone"] for d in winter.profiles()}
    for fault in _faults(winter, "dst_shift").itertuples():
        rows = winter.readings(fault.file)
        home = rows[rows["home_id"] == fault.home_id].set_index("utc")
        start = pd.Timestamp(fault.ts_start)
        offset = start.tz_convert(zones[fault.home_id]).utcoffset()
        assert start not in home.index, fault
        assert home.loc[start + offset, "kwh"] == pytest.approx(clean.loc[(fault.home_id, start)]), fault


def test_logged_malformed_rows_match_the_corrupt_lines(winter: Tree) -> None:
    log = _faults(winter, "malformed_row")
    for file, faults in log.groupby("file"):
        lines = winter.text(str(file)).splitlines()[1:]
        well_formed = winter.readings(str(file))
        assert len(lines) - len(well_formed) == len(faults), file


def test_logged_profile_faults_are_in_the_documents(winter: Tree) -> None:
    docs = {d["home_id"]: d for d in winter.profiles()}
    for fault in _faults(winter, "profile_missing_field").itertuples():
        assert fault.detail not in docs[fault.home_id]
    for fault in _faults(winter, "profile_mistyped_field").itertuples():
        name, value = fault.detail.split("=")
        assert docs[fault.home_id][name] == value.strip("'")


def test_fault_rate_zero_writes_exactly_the_clean_readings(summer: Tree) -> None:
    assert summer.summary.n_faults == 0
    assert len(summer.csv("_truth/faults.csv")) == 0
    assert not summer.exists("readings/late/part-0000.csv")
    clean = _clean(summer)
    for resolution in ("15min", "hourly", "daily"):
        rows = summer.readings(f"readings/{resolution}/part-0000.csv")
        assert len(summer.text(f"readings/{resolution}/part-0000.csv").splitlines()) == len(rows) + 1
        truth = clean.loc[list(zip(rows["home_id"], rows["utc"], strict=True))].to_numpy()
        np.testing.assert_array_equal(rows["kwh"].to_numpy(), truth)
    n_clean = len(clean) - summer.summary.rows_per_source["readings/local_wh"]
    assert n_clean == sum(
        summer.summary.rows_per_source[f"readings/{r}"] for r in ("15min", "hourly", "daily")
    )


def test_default_demo_has_every_fault_type_a_few_times() -> None:
    summary = generate_demo_data("memory://default-demo", write_truth=False)
    assert {k: v for k, v in summary.fault_counts.items() if v < 3} == {}


def test_a_crash_leaves_no_half_written_file(tmp_path: Path) -> None:
    def crash(stage: str, done: int, total: int) -> None:
        if stage == "homes" and done == 2:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        generate_demo_data(str(tmp_path), homes=8, days=3, seed=1, progress=crash)
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert "_truth/categories.parquet" not in written and not any(w.startswith("_tmp/") for w in written)
    for rel in (w for w in written if w.startswith("readings/")):
        assert (tmp_path / rel).read_text().endswith("\n")


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"homes": 0}, id="no-homes"),
        pytest.param({"days": 0}, id="no-days"),
        pytest.param({"fault_rate": -1.0}, id="negative-fault-rate"),
        pytest.param({"resolution_mix": {"weekly": 1.0}}, id="unknown-resolution"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        generate_demo_data("memory://refused", **kwargs)
