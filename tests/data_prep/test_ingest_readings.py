"""Row-level parsing of meter readings: every row is staged or quarantined with a reason and its line."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.storage import Lake, home_bucket
from data_prep.ingest.readings import FileContext, parse_readings_file
from data_prep.ingest.source_spec import SourceSpec, spec_from_text
from data_prep.ingest.staging import read_staged_bucket, staged_buckets
from data_prep.quality.rules import load_rules

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _parse(text: str, spec: SourceSpec | None = None, name: str = "r.csv", block_bytes: int = 16 << 20):
    lake = Lake(f"memory://ingest-{uuid.uuid4().hex}")
    path = lake.path("in", name)
    lake.write_bytes(path, text.encode())
    context = FileContext(name, uuid.uuid4().hex * 2, 0)
    parsed = parse_readings_file(
        lake, path, context, spec or SourceSpec(), load_rules().readings, 4, NOW, block_bytes=block_bytes
    )
    shas = [context.sha256]
    staged = [
        read_staged_bucket(lake, "readings", shas, b) for b in sorted(staged_buckets(lake, "readings", shas))
    ]
    rows = pd.concat(staged, ignore_index=True) if staged else pd.DataFrame()
    return parsed, rows


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        pytest.param("h1,2025-01-01T01:00:00+00:00,1.5,extra", "malformed_row", id="extra-field"),
        pytest.param("h1,2025-01-01T01:00:00+00:00,abc", "bad_number", id="text-in-kwh"),
        pytest.param(",2025-01-01T01:00:00+00:00,1.0", "missing_field", id="empty-home"),
        pytest.param("h1,,1.0", "missing_field", id="empty-ts"),
        pytest.param("h1,2025-01-01T01:00:00+00:00,", "missing_field", id="empty-kwh"),
        pytest.param("h1,yesterday,1.0", "bad_timestamp", id="unparsable-ts"),
        pytest.param("h1,2025-01-01 01:00:00,1.0", "bad_timestamp", id="naive-without-zone"),
        pytest.param("h1,2031-01-01T01:00:00Z,1.0", "future_timestamp", id="future"),
    ],
)
def test_bad_row_is_quarantined_with_its_line_and_reason(line, reason):
    text = f"home_id,ts,kwh\nh1,2025-01-01T00:00:00+00:00,1.0\n{line}\nh1,2025-01-01T02:00:00+00:00,2.0\n"
    parsed, rows = _parse(text)
    quarantine = parsed.quarantine.to_pandas()
    assert quarantine[["line", "reason"]].to_dict("records") == [{"line": 3, "reason": reason}]
    assert rows["line"].tolist() == [2, 4]  # lines after a malformed one keep their numbers
    assert parsed.rows_in == 3 == parsed.rows_staged + len(quarantine)


def test_offsets_become_utc():
    parsed, rows = _parse("home_id,ts,kwh\nh1,2025-01-01T01:00:00+01:00,1\nh1,2025-01-01T00:00:00Z,2\n")
    assert parsed.quarantine.num_rows == 0
    assert set(rows["ts"]) == {pd.Timestamp("2025-01-01T00:00:00Z")}


def test_naive_local_time_resolves_dst_in_file_order():
    spec = SourceSpec(timezone="Europe/Stockholm", unit="wh")
    text = (
        "home_id,ts,kwh\n"
        "h1,2025-03-30 01:00:00,1000\n"
        "h1,2025-03-30 02:00:00,1000\n"  # skipped by the spring change
        "h1,2025-10-26 02:00:00,1000\n"  # first 02:00 of autumn: summer time
        "h1,2025-10-26 02:00:00,2000\n"  # second 02:00: standard time
    )
    parsed, rows = _parse(text, spec)
    quarantine = parsed.quarantine.to_pandas()
    assert quarantine["reason"].tolist() == ["nonexistent_local_time"]
    autumn = rows.sort_values("line").tail(2)
    assert autumn["ts"].tolist() == [
        pd.Timestamp("2025-10-26T00:00:00Z"),
        pd.Timestamp("2025-10-26T01:00:00Z"),
    ]
    assert rows["kwh"].tolist() == [1.0, 1.0, 2.0]  # Wh to kWh


@pytest.mark.parametrize("block_bytes", [64, 96, 128, 1 << 20])
def test_dst_repeated_hour_is_resolved_across_blocks(block_bytes):
    """The two 02:00 of an autumn night, read in different blocks, are still summer time then standard time."""
    spec = SourceSpec(timezone="Europe/Stockholm")
    homes = ["h1", "h2", "h3"]
    lines = [f"{h},2025-10-26 02:00:00,{n}" for n in (1, 2) for h in homes]  # a block ends between the pairs
    parsed, rows = _parse("home_id,ts,kwh\n" + "\n".join(lines) + "\n", spec, block_bytes=block_bytes)
    assert parsed.quarantine.num_rows == 0
    for home, series in rows.sort_values("line").groupby("home_id"):
        assert series["ts"].tolist() == [
            pd.Timestamp("2025-10-26T00:00:00Z"),
            pd.Timestamp("2025-10-26T01:00:00Z"),
        ], home
        assert series["kwh"].tolist() == [1.0, 2.0]


def test_spec_composes_date_and_hour_and_maps_columns():
    spec = spec_from_text(
        "timezone: UTC\ncolumns: {kwh: energy_kWh}\nconstants: {home_id: hue_1}\n"
        "timestamp: {date_column: date, date_format: '%m/%d/%Y', hour_column: hour}\n"
    )
    parsed, rows = _parse("date,hour,energy_kWh\n6/1/2012,0,1.5\n6/1/2012,13,0.5\n", spec)
    assert parsed.quarantine.num_rows == 0
    assert rows["home_id"].unique().tolist() == ["hue_1"]
    assert rows["ts"].tolist() == [pd.Timestamp("2012-06-01T00:00Z"), pd.Timestamp("2012-06-01T13:00Z")]


def test_spec_naming_an_absent_column_quarantines_every_row():
    parsed, rows = _parse(
        "home_id,ts,energy\nh1,2025-01-01T00:00:00Z,1\n", SourceSpec(columns={"kwh": "kWh"})
    )
    assert rows.empty
    assert parsed.quarantine.to_pandas()["detail"].str.contains("kWh").all()


_GOOD = st.builds(
    lambda h, hour, v: f"h{h},2025-01-01T{hour:02d}:00:00+00:00,{v}",
    st.integers(0, 3),
    st.integers(0, 23),
    st.floats(0, 10, allow_nan=False).map(lambda v: round(v, 3)),
)
_BAD = st.sampled_from(
    ["h1,2025-01-01T00:00:00Z,x", ",,", "h1,nope,1", "a,b,c,d", "h2,2025-01-01T00:00:00Z", ""]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(_GOOD, _BAD, st.text(alphabet="abc,;: 0123", max_size=20)), min_size=1, max_size=40)
)
def test_every_row_is_counted_once(lines):
    parsed, rows = _parse("home_id,ts,kwh\n" + "\n".join(lines) + "\n")
    quarantine = parsed.quarantine.to_pandas()
    assert parsed.rows_in == len(lines)
    assert parsed.rows_in == len(rows) + len(quarantine)
    assert len(rows) == parsed.rows_staged
    lines_seen = sorted([*rows.get("line", pd.Series(dtype=int)).tolist(), *quarantine["line"].tolist()])
    assert lines_seen == list(range(2, len(lines) + 2))


def test_staged_rows_go_to_their_homes_bucket_in_file_order():
    """Rows of interleaved homes, read in several blocks: each bucket's part holds its homes' rows, by line."""
    homes = [f"h{i}" for i in range(12)]
    lines = [f"{h},2025-01-01T{hour:02d}:00:00Z,{hour}" for hour in range(4) for h in homes]
    lines.insert(7, "h3,nope,1")
    lake = Lake(f"memory://ingest-{uuid.uuid4().hex}")
    path = lake.path("in", "r.csv")
    lake.write_bytes(path, ("home_id,ts,kwh\n" + "\n".join(lines) + "\n").encode())
    context = FileContext("r.csv", uuid.uuid4().hex * 2, 0)
    parsed = parse_readings_file(
        lake, path, context, SourceSpec(), load_rules().readings, 4, NOW, block_bytes=300
    )
    shas = [context.sha256]
    parts = {b: read_staged_bucket(lake, "readings", shas, b) for b in staged_buckets(lake, "readings", shas)}
    assert sorted(parts) == list(parsed.buckets)
    for bucket, part in parts.items():
        assert {home_bucket(h, 4) for h in part["home_id"]} == {bucket}
        assert part["line"].is_monotonic_increasing
    staged_lines = sorted(line for part in parts.values() for line in part["line"])
    assert staged_lines == [n for n in range(2, len(lines) + 2) if n != 9]
    assert parsed.quarantine.to_pandas()["line"].tolist() == [9]
