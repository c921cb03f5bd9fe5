"""Rules of the small sources: bills, weather, prices and home profiles."""

from __future__ import annotations

import json
import uuid

import pandas as pd
import pytest

from contracts.schemas import Source
from contracts.storage import Lake, Zone
from data_prep.ingest.source_spec import SourceSpec
from data_prep.quality.rules import load_rules
from data_prep.small_sources import build_small_table, parse_small_file


def _stage(
    source: Source,
    text: str,
    name: str,
    spec: SourceSpec | None = None,
    lake: Lake | None = None,
    seq: int = 0,
):
    lake = lake or Lake(f"memory://sources-{uuid.uuid4().hex}")
    path = lake.path("in", name)
    lake.write_bytes(path, text.encode())
    sha = uuid.uuid4().hex * 2
    staged = parse_small_file(lake, path, source, name, sha, seq, spec or SourceSpec(), load_rules())
    return lake, sha, staged.rows_in, staged.rows_staged, staged.quarantine.to_pandas()


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        pytest.param("h1,2025-02-01,2025-01-01,10", "invalid_period", id="end-before-start"),
        pytest.param("h1,2025-01-01,2025-02-01,-5", "out_of_range", id="negative-bill"),
        pytest.param("h1,2025-01-01,2025-02-01,999999", "out_of_range", id="impossible-bill"),
        pytest.param("h1,someday,2025-02-01,10", "bad_timestamp", id="bad-date"),
        pytest.param("h1,2025-01-01,2025-02-01,ten", "bad_number", id="bad-kwh"),
    ],
)
def test_bill_rules(row, reason):
    _, _, rows_in, staged, quarantine = _stage(
        Source.BILLS, f"home_id,period_start,period_end,kwh\nh2,2025-01-01,2025-02-01,100\n{row}\n", "b.csv"
    )
    assert quarantine[["line", "reason"]].to_dict("records") == [{"line": 3, "reason": reason}]
    assert rows_in == 2 == staged + len(quarantine)


def test_overlapping_and_repeated_bills_are_quarantined_across_files():
    text = "home_id,period_start,period_end,kwh\nh1,2025-01-01,2025-02-01,100\nh1,2025-02-01,2025-03-01,90\n"
    lake, first, *_ = _stage(Source.BILLS, text, "a.csv")
    repeat = (
        "home_id,period_start,period_end,kwh\nh1,2025-01-01,2025-02-01,100\nh1,2025-01-15,2025-02-15,50\n"
    )
    _, second, *_ = _stage(Source.BILLS, repeat, "b.csv", lake=lake, seq=1)
    table, dropped = build_small_table(lake, Source.BILLS, [first, second], load_rules())
    assert len(table) == 2
    assert sorted(dropped["reason"]) == ["duplicate", "overlapping_period"]
    assert lake.exists(lake.path(Zone.QUARANTINE, "bills_series", "all.parquet"))


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        pytest.param("59.5,18.0,2025-01-01T01:00:00Z,95,10", "out_of_range", id="temp-95C"),
        pytest.param("59.5,18.0,2025-01-01T01:00:00Z,1,-10", "out_of_range", id="negative-ghi"),
        pytest.param("59.5,,2025-01-01T01:00:00Z,1,0", "missing_field", id="no-lon"),
    ],
)
def test_weather_rules(row, reason):
    header = "lat,lon,ts,temp_c,ghi_w_m2\n59.5,18.0,2025-01-01T00:00:00Z,-3,0\n"
    *_, staged, quarantine = _stage(Source.WEATHER, header + row + "\n", "w.csv")
    assert quarantine["reason"].tolist() == [reason]
    assert staged == 1


def test_fahrenheit_is_converted_when_declared():
    lake, sha, *_ = _stage(
        Source.WEATHER,
        "lat,lon,ts,temp_c,ghi_w_m2\n40,-75,2025-07-01T18:00:00Z,86,700\n",
        "w.csv",
        SourceSpec(temperature_unit="f"),
    )
    table, _ = build_small_table(lake, Source.WEATHER, [sha], load_rules())
    assert table["temp_c"].item() == pytest.approx(30.0)


@pytest.mark.parametrize(
    ("source", "text"),
    [
        pytest.param(
            Source.WEATHER, "lat,lon,ts,temp_c,ghi_w_m2\n40,-75,2025-07-01T18:00:00Z,20,700\n", id="weather"
        ),
        pytest.param(
            Source.BILLS, "home_id,period_start,period_end,kwh\nh1,2025-01-01,2025-02-01,300\n", id="bills"
        ),
        pytest.param(
            Source.PROFILES, '{"home_id": "h1", "client_id": "acme", "pool": true}\n', id="profiles"
        ),
    ],
)
def test_a_part_staged_in_the_run_builds_the_table_its_stored_copy_builds(source, text):
    lake = Lake(f"memory://sources-{uuid.uuid4().hex}")
    path = lake.path("in", "f.jsonl" if source is Source.PROFILES else "f.csv")
    lake.write_bytes(path, text.encode())
    sha = uuid.uuid4().hex * 2
    staged = parse_small_file(lake, path, source, "f", sha, 1, SourceSpec(), load_rules())
    in_run, _ = build_small_table(lake, source, [sha], load_rules(), {sha: staged.part})
    stored, _ = build_small_table(lake, source, [sha], load_rules())
    assert staged.rows_staged == len(in_run) == 1
    pd.testing.assert_frame_equal(in_run, stored)


def test_prices_in_another_currency_become_eur():
    lake, sha, *_ = _stage(
        Source.PRICES,
        "price_area,ts,price_eur_mwh\nSE3,2025-01-01T00:00:00Z,1000\n",
        "p.csv",
        SourceSpec(currency="SEK", eur_per_unit=0.087),
    )
    table, _ = build_small_table(lake, Source.PRICES, [sha], load_rules())
    assert table["price_eur_mwh"].item() == pytest.approx(87.0)


def _profile(**fields):
    return json.dumps({"home_id": "h1", "client_id": "acme", **fields})


@pytest.mark.parametrize(
    ("document", "field"),
    [
        pytest.param(_profile(floor_area_m2="large"), "floor_area_m2", id="mistyped-area"),
        pytest.param(_profile(build_year="19x0"), "build_year", id="mistyped-year"),
        pytest.param(_profile(pv={"kwp": -1}), "pv.kwp", id="negative-kwp"),
        pytest.param(json.dumps({"home_id": "h1"}), "client_id", id="no-client"),
        pytest.param("{not json", "not JSON", id="not-json"),
    ],
)
def test_bad_profile_is_rejected_with_the_field(document, field):
    *_, staged, quarantine = _stage(
        Source.PROFILES, document + "\n" + _profile(home_id="h2") + "\n", "p.jsonl"
    )
    assert staged == 1
    assert quarantine["line"].tolist() == [1]
    assert field in quarantine["detail"].item()


def test_profiles_keep_unknown_fields_and_accept_missing_ones():
    lake, sha, _, staged, quarantine = _stage(
        Source.PROFILES, _profile(smart_thermostat=True, heat_pump_brand="X") + "\n", "p.jsonl"
    )
    table, _ = build_small_table(lake, Source.PROFILES, [sha], load_rules())
    assert quarantine.empty and staged == 1
    assert json.loads(table["extra_json"].item()) == {"heat_pump_brand": "X", "smart_thermostat": True}
    assert table["floor_area_m2"].isna().item()


def test_latest_profile_of_a_home_wins():
    lake, first, *_ = _stage(Source.PROFILES, _profile(occupants=2) + "\n", "a.jsonl")
    _, second, *_ = _stage(Source.PROFILES, _profile(occupants=5) + "\n", "b.jsonl", lake=lake, seq=1)
    table, _ = build_small_table(lake, Source.PROFILES, [first, second], load_rules())
    assert table["occupants"].tolist() == [5]


def _resolve_by_sorting_values(frame, key, value_columns):
    """The reference: pandas' multi-column sort and ``duplicated`` on the values themselves."""
    import numpy as np
    import pandas as pd

    frame = frame.sort_values([*key, "ingest_seq", "line"], kind="stable", ignore_index=True)
    repeat = frame.duplicated(key, keep="first").to_numpy()
    first = frame.drop_duplicates(key, keep="first").set_index(key)[value_columns]
    repeats = frame[repeat]
    kept = first.reindex(pd.MultiIndex.from_frame(repeats[key])).to_numpy()
    values = repeats[value_columns].to_numpy()
    same = np.all((values == kept) | (pd.isna(values) & pd.isna(kept)), axis=1)
    return frame[~repeat].reset_index(drop=True), repeats.assign(
        reason=np.where(same, "duplicate", "conflicting_duplicate")
    )


@pytest.mark.parametrize("seed", range(5))
def test_duplicates_resolve_as_a_sort_of_the_values_would(seed):
    import numpy as np
    import pandas as pd

    from data_prep.ingest.tables import TableContract, resolve_duplicates

    rng = np.random.default_rng(seed)
    n = 400
    frame = pd.DataFrame(
        {
            "area": rng.choice(np.array(["SE3", "SE1", "NO2", None], dtype=object), n),
            "lat": rng.choice([59.3, 57.7, -33.9, 0.0], n),
            "ts": pd.Timestamp("2025-03-30", tz="UTC") + pd.to_timedelta(rng.integers(0, 6, n), unit="h"),
            "value": np.where(rng.random(n) < 0.1, np.nan, rng.integers(0, 3, n).astype(float)),
            "ingest_seq": rng.integers(0, 3, n),
            "line": rng.permutation(n) + 2,
        }
    )
    key = ["area", "lat", "ts"]
    kept, dropped = resolve_duplicates(frame, TableContract({}, tuple(key)), ["value"])
    want_kept, want_dropped = _resolve_by_sorting_values(frame, key, ["value"])
    assert {"duplicate", "conflicting_duplicate"} <= set(dropped["reason"])
    pd.testing.assert_frame_equal(kept, want_kept)
    pd.testing.assert_frame_equal(dropped.reset_index(drop=True), want_dropped.reset_index(drop=True))
