"""Regressions of the readings row checks (issue 2 review): nanosecond timestamps, home ids with control
characters, and "NaN" kWh read the same way from CSV, Parquet and the service's readings API.

Every test runs real files through the real readers on an in-memory or temporary lake.
"""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.schemas import Reason
from contracts.storage import Lake, Zone
from data_prep.ingest.columns import _CAST_CHUNK_ROWS, _CAST_PIECE_ROWS, is_missing, to_float, to_utc
from data_prep.ingest.profiles import parse_profiles
from data_prep.ingest.readings import FileContext, parse_readings_file, row_checks
from data_prep.ingest.source_spec import SourceSpec
from data_prep.ingest.staging import QuarantineLog, read_staged_bucket, staged_buckets
from data_prep.ingest.table_reader import read_batches
from data_prep.ingest.tables import BILLS, parse_table_batch
from data_prep.quality.rules import load_rules
from data_prep.run import run_prep
from tests.conftest import settings_for

NOW = datetime(2026, 1, 1, tzinfo=UTC)
RULES = load_rules().readings
HOUR_NS = 3_600_000_000_000
START_NS = 1_735_689_600_000_000_000  # 2025-01-01T00:00:00Z [ns since the epoch]


def _parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def _parse(data: bytes, name: str, spec: SourceSpec | None = None):
    """Parse one readings file on a fresh in-memory lake: the outcome, its staged rows and its quarantine."""
    lake = Lake(f"memory://row-checks-{uuid.uuid4().hex}")
    path = lake.path("in", name)
    lake.write_bytes(path, data)
    context = FileContext(name, uuid.uuid4().hex * 2, 0)
    parsed = parse_readings_file(lake, path, context, spec or SourceSpec(), RULES, 4, NOW)
    shas = [context.sha256]
    parts = [
        read_staged_bucket(lake, "readings", shas, b) for b in sorted(staged_buckets(lake, "readings", shas))
    ]
    rows = pd.concat(parts, ignore_index=True).sort_values("line") if parts else pd.DataFrame()
    return parsed, rows, parsed.quarantine.to_pandas().sort_values("line")


def _checks(home_ids: list, stamps: list, kwh: list, spec: SourceSpec | None = None):
    table = pa.table(
        {
            "home_id": pa.array(home_ids, pa.string()),
            "ts": pa.array(stamps, pa.string()),
            "kwh": pa.array(kwh, pa.string()),
        }
    )
    return row_checks(table, spec or SourceSpec(), RULES, NOW)


# --- 1. nanosecond timestamps -----------------------------------------------------------------------------------

_NS_STAMPS = [
    START_NS,
    START_NS + HOUR_NS + 1,
    START_NS + 2 * HOUR_NS,
]  # the middle one has 1 ns past the second


@pytest.mark.parametrize(
    ("data", "name", "spec"),
    [
        pytest.param(
            _parquet(
                pa.table(
                    {
                        "home_id": ["h1"] * 3,
                        "ts": pa.array(_NS_STAMPS, pa.timestamp("ns", tz="UTC")),
                        "kwh": [1.0, 2.0, 3.0],
                    }
                )
            ),
            "ns.parquet",
            None,
            id="parquet-timestamp-ns-utc",
        ),
        pytest.param(
            _parquet(
                pa.table(
                    {
                        "home_id": ["h1"] * 3,
                        "ts": pa.array(
                            [s + HOUR_NS for s in _NS_STAMPS], pa.timestamp("ns")
                        ),  # naive Stockholm time, one hour ahead of UTC in winter
                        "kwh": [1.0, 2.0, 3.0],
                    }
                )
            ),
            "naive_ns.parquet",
            SourceSpec(timezone="Europe/Stockholm"),
            id="parquet-timestamp-ns-naive-with-zone",
        ),
        pytest.param(
            b"home_id,ts,kwh\n"
            b"h1,2025-01-01T00:00:00.000000000+00:00,1\n"
            b"h1,2025-01-01T01:00:00.000000001+00:00,2\n"
            b"h1,2025-01-01T02:00:00.000000000+00:00,3\n",
            "iso9.csv",
            None,
            id="csv-iso-9-digits-with-offset",
        ),
        pytest.param(
            b"home_id,ts,kwh\n"
            b"h1,2025-01-01T00:00:00.000000000Z,1\n"
            b"h1,2025-01-01T01:00:00.000000001Z,2\n"
            b"h1,2025-01-01T02:00:00.000000000Z,3\n",
            "iso9z.csv",
            None,
            id="csv-iso-9-digits-zulu",
        ),
        pytest.param(
            b"home_id,ts,kwh\n"
            b"h1,2025-01-01 01:00:00.000000000,1\n"
            b"h1,2025-01-01 02:00:00.000000001,2\n"
            b"h1,2025-01-01 03:00:00.000000000,3\n",
            "iso9_naive.csv",
            SourceSpec(timezone="Europe/Stockholm"),
            id="csv-iso-9-digits-naive-with-zone",
        ),
    ],
)
def test_nanosecond_timestamps_keep_exact_rows_and_quarantine_finer_ones(data, name, spec):
    parsed, rows, quarantine = _parse(data, name, spec)
    first = 2 if name.endswith(".csv") else 1
    assert rows["ts"].tolist() == [
        pd.Timestamp("2025-01-01T00:00Z"),
        pd.Timestamp("2025-01-01T02:00Z"),
    ]
    assert rows["line"].tolist() == [first, first + 2]
    assert quarantine[["line", "reason"]].to_dict("records") == [
        {"line": first + 1, "reason": Reason.BAD_TIMESTAMP.value}
    ]
    assert "microsecond" in quarantine["detail"].iloc[0]
    assert parsed.rows_in == 3 == parsed.rows_staged + len(quarantine)


def test_parquet_seconds_beyond_the_pipeline_range_are_quarantined():
    seconds = [START_NS // 10**9, 10**13, START_NS // 10**9 + 3600]  # the middle one is in the year 318857
    table = pa.table(
        {"home_id": ["h1"] * 3, "ts": pa.array(seconds, pa.timestamp("s", tz="UTC")), "kwh": [1.0] * 3}
    )
    parsed, rows, quarantine = _parse(_parquet(table), "seconds.parquet")
    assert rows["line"].tolist() == [1, 3]
    assert quarantine[["line", "reason"]].to_dict("records") == [{"line": 2, "reason": "bad_timestamp"}]
    assert quarantine["detail"].tolist() == ["ts is outside 1677-09-21..2262-04-11"]
    assert parsed.rows_in == 3 == parsed.rows_staged + len(quarantine)


@pytest.mark.parametrize(
    "stamp",
    [
        pytest.param("1600-01-01T00:00:00Z", id="before-1677-arrow-form"),
        pytest.param("1600-01-01T00:00:00.5Z", id="before-1677-pandas-form"),
        pytest.param("1600-01-01 00:00:00+00:00", id="before-1677-space"),
    ],
)
def test_a_time_outside_the_pipeline_range_is_bad_whatever_parses_it(stamp):
    alone = _checks(["h1"], [stamp], ["1"])
    among_bad = _checks(["h1", "h1"], [stamp, "garbage"], ["1", "1"])  # the batch takes the slower parser
    assert alone.reasons[0] == among_bad.reasons[0] == Reason.BAD_TIMESTAMP.value
    assert among_bad.reasons[1] == Reason.BAD_TIMESTAMP.value


_STAMP = st.tuples(
    st.integers(0, 24 * 360),  # hour of 2025, before NOW in any offset
    st.integers(0, 59),  # second
    st.text(alphabet="0123456789", max_size=9),  # fractional digits
    st.sampled_from(["Z", "+00:00", "+02:00", "-05:30"]),
)


def _stamp_text(hour: int, second: int, digits: str, offset: str) -> str:
    base = (pd.Timestamp("2025-01-01") + pd.Timedelta(hours=hour, seconds=second)).strftime(
        "%Y-%m-%dT%H:%M:%S"
    )
    return f"{base}{'.' + digits if digits else ''}{offset}"


def _expected_us(hour: int, second: int, digits: str, offset: str) -> int | None:
    """The exact UTC instant [us since the epoch], or None when the digits go finer than a microsecond."""
    if digits[6:].strip("0"):
        return None
    sign = -1 if offset.startswith("-") else 1
    offset_min = 0 if offset == "Z" else sign * (int(offset[1:3]) * 60 + int(offset[4:6]))
    us = int(digits[:6].ljust(6, "0")) if digits else 0
    return START_NS // 1000 + (hour * 3600 + second - offset_min * 60) * 1_000_000 + us


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_STAMP, min_size=1, max_size=12))
def test_any_iso_precision_is_kept_exactly_or_quarantined_alone(stamps):
    texts = [_stamp_text(*s) for s in stamps]
    checked = row_checks(
        pa.table({"home_id": ["h1"] * len(texts), "ts": texts, "kwh": ["1"] * len(texts)}),
        SourceSpec(),
        RULES,
        NOW,
    )
    got = checked.parsed["ts"].cast(pa.int64()).to_pylist()
    for i, stamp in enumerate(stamps):
        expected = _expected_us(*stamp)
        if expected is None:
            assert checked.reasons[i] == Reason.BAD_TIMESTAMP.value and got[i] is None, texts[i]
        else:
            assert checked.reasons[i] is None and got[i] == expected, texts[i]
    alone = _checks(["h1"], [texts[-1]], ["1"])  # a row's outcome does not depend on its neighbours
    assert alone.reasons[0] == checked.reasons[-1]


# --- 2. home ids with control characters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "home_id",
    [
        pytest.param("h1\x00x", id="nul-inside"),
        pytest.param("\x00", id="nul-only"),
        pytest.param("h1\x00", id="nul-at-end"),
        pytest.param("h1\x01", id="start-of-heading"),
        pytest.param("h1\tx", id="tab"),
        pytest.param("h1\nx", id="newline"),
        pytest.param("h1\x7f", id="delete"),
        pytest.param("h1\x85", id="c1-next-line"),
    ],
)
def test_home_id_with_control_characters_is_malformed(home_id):
    checked = _checks([home_id, "h1"], ["2025-01-01T00:00:00Z"] * 2, ["1", "1"])
    assert checked.reasons.tolist() == [Reason.MALFORMED_ROW.value, None]
    assert checked.details[0] == "home_id holds control characters"


@pytest.mark.parametrize(
    "home_id",
    [
        pytest.param("h1 x", id="inner-space"),
        pytest.param("hö-ï", id="accents"),
        pytest.param("家-1", id="cjk"),
        pytest.param("h1\u2028x", id="line-separator-is-not-a-control-character"),
    ],
)
def test_printable_home_ids_are_kept(home_id):
    checked = _checks([home_id], ["2025-01-01T00:00:00Z"], ["1"])
    assert checked.reasons.tolist() == [None]


def test_prep_keeps_homes_that_differ_after_a_nul_apart(tmp_path):
    """One bucket holds every home, so a hash that stops at NUL would merge "h1" and "h1\\x00x" in deduplicate."""
    folder = tmp_path / "in" / "readings"
    folder.mkdir(parents=True)
    lines = ["home_id,ts,kwh"]
    for hour in range(6):
        lines += [f"h1,2025-01-01T{hour:02d}:00:00Z,1.0", f"h1\x00x,2025-01-01T{hour:02d}:00:00Z,2.0"]
    (folder / "r.csv").write_text("\n".join(lines) + "\n")
    settings = settings_for(str(tmp_path / "lake"), n_buckets=1)
    result = run_prep(str(tmp_path / "in"), settings, now=NOW)
    lake = Lake.from_settings(settings.storage)
    processed = lake.read_table(lake.path(Zone.PROCESSED, "readings")).to_pandas()
    quarantine = lake.read_table(lake.path(Zone.QUARANTINE)).to_pandas()
    assert processed["home_id"].unique().tolist() == ["h1"]
    assert processed["kwh_raw"].tolist() == [1.0] * 6  # h1's own values, none replaced by the other id's
    assert set(quarantine["reason"]) == {Reason.MALFORMED_ROW.value}
    assert sorted(quarantine["line"]) == [3, 5, 7, 9, 11, 13]
    assert quarantine["home_id"].tolist() == ["h1\x00x"] * 6
    assert (result.rows_in, result.rows_processed, result.rows_quarantined) == (12, 6, 6)


def test_bill_and_profile_with_a_control_character_in_the_home_id_are_rejected(tmp_path):
    path = tmp_path / "bills.csv"
    path.write_text(
        "home_id,period_start,period_end,kwh\nh1,2025-01-01,2025-02-01,300\nh1\x00x,2025-01-01,2025-02-01,900\n"
    )
    log = QuarantineLog("bills", "bills.csv")
    (batch,) = list(read_batches(Lake(str(tmp_path)).fs, str(path)))
    bills, n_records = parse_table_batch(batch, BILLS, SourceSpec(), log)
    assert n_records == 2 and bills["home_id"].tolist() == ["h1"]
    assert log.table().to_pandas()[["line", "reason"]].to_dict("records") == [
        {"line": 3, "reason": "malformed_row"}
    ]

    log = QuarantineLog("profiles", "homes.jsonl")
    documents = [
        (1, '{"home_id": "h1", "client_id": "acme"}'),
        (2, '{"home_id": "h1\\u0000x", "client_id": "acme"}'),
    ]
    profiles = parse_profiles(documents, "homes.jsonl", 0, log)
    assert profiles["home_id"].tolist() == ["h1"]
    rejected = log.table().to_pandas()
    assert rejected[["line", "reason"]].to_dict("records") == [{"line": 2, "reason": "invalid_document"}]
    assert "control characters" in rejected["detail"].iloc[0]


# --- 3. "NaN" kWh: the same outcome from every reader -------------------------------------------------------------

_MISSING_TEXT = ["NaN", "nan", "", "null", "NULL", "None", "NA", "n/a", " nan ", "-nan"]
_NOT_FINITE_TEXT = ["inf", "-inf", "Infinity", "1e400"]


def _hours(n: int) -> list[str]:
    return [f"2025-01-01T{h:02d}:00:00Z" for h in range(n)]


def _outcomes(quarantine: pd.DataFrame, first_line: int, n: int) -> list[tuple[str | None, str | None]]:
    by_line = quarantine.set_index("line")
    return [(by_line["reason"].get(first_line + i), by_line["detail"].get(first_line + i)) for i in range(n)]


def _csv_outcomes(kwh: list[str]) -> list:
    stamps = _hours(len(kwh))
    text = "home_id,ts,kwh\n" + "".join(f"h1,{t},{v}\n" for t, v in zip(stamps, kwh, strict=True))
    _, _, quarantine = _parse(text.encode(), "r.csv")
    return _outcomes(quarantine, 2, len(kwh))


def _parquet_outcomes(kwh: pa.Array) -> list:
    table = pa.table({"home_id": ["h1"] * len(kwh), "ts": _hours(len(kwh)), "kwh": kwh})
    _, _, quarantine = _parse(_parquet(table), "r.parquet")
    return _outcomes(quarantine, 1, len(kwh))


def _service_outcomes(kwh: list) -> list:
    from serving.data_management import validate_readings

    rows = [{"home_id": "h1", "ts": t, "kwh": v} for t, v in zip(_hours(len(kwh)), kwh, strict=True)]
    _, rejected = validate_readings(rows, "acme", lambda _: "acme", RULES, NOW)
    by_line = {r.line: (r.reason, r.detail) for r in rejected}
    return [by_line.get(i, (None, None)) for i in range(len(kwh))]


def test_missing_kwh_has_one_reason_in_csv_parquet_and_the_api():
    kwh = [*_MISSING_TEXT, "0.5"]
    missing = ("missing_field", "kwh is missing (empty, null or NaN)")
    expected = [missing] * len(_MISSING_TEXT) + [(None, None)]
    assert _csv_outcomes(kwh) == expected
    assert _parquet_outcomes(pa.array(kwh, pa.string())) == expected
    assert _service_outcomes(kwh) == expected
    floats = pa.array([float("nan"), None, 0.5], pa.float64())  # a real NaN and a null, in a typed column
    assert _parquet_outcomes(floats) == [missing, missing, (None, None)]
    assert _service_outcomes([float("nan"), None, 0.5]) == [missing, missing, (None, None)]


def test_infinite_kwh_is_a_bad_number_in_csv_parquet_and_the_api():
    kwh = [*_NOT_FINITE_TEXT, "0.5"]
    bad = ("bad_number", "kwh is not a finite number")
    expected = [bad] * len(_NOT_FINITE_TEXT) + [(None, None)]
    assert _csv_outcomes(kwh) == expected
    assert _parquet_outcomes(pa.array(kwh, pa.string())) == expected
    assert _service_outcomes(kwh) == expected
    assert _parquet_outcomes(pa.array([np.inf, -np.inf, 0.5])) == [bad, bad, (None, None)]


@pytest.mark.parametrize("value", [pytest.param(v, id=repr(v)) for v in ["NaN", "", "null", "inf"]])
def test_optional_columns_follow_the_same_rule(value):
    table = pa.table(
        {
            "home_id": ["h1"],
            "ts": ["2025-01-01T00:00:00Z"],
            "kwh": ["1"],
            "pv_kwh": [value],
            "export_kwh": ["0"],
        }
    )
    checked = row_checks(table, SourceSpec(), RULES, NOW)
    if value == "inf":
        assert (checked.reasons[0], checked.details[0]) == ("bad_number", "pv_kwh is not a finite number")
    else:  # an optional value may be missing: the row is kept with a null
        assert checked.reasons[0] is None and np.isnan(checked.parsed["pv_kwh"][0])


_CELL = st.tuples(
    st.sampled_from(["h1", "h2", "h1\x00x", "\x00", "h1\x7f", "h1\x85", "", "NA", " h3 "]),
    st.sampled_from(
        [
            "2025-01-01T00:00:00Z",
            "2025-01-01T01:00:00.000000001Z",
            "2025-01-01T02:00:00.000000000+00:00",
            "2025-01-01 03:00:00+01:00",
            "2025-01-01T04:00:00.5Z",
            "1600-01-01T00:00:00Z",
            "",
            "nope",
        ]
    ),
    st.sampled_from(["1.5", "NaN", "nan", "", "null", "None", "N/A", "inf", "abc", "-0.2", " 2 "]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_CELL, min_size=1, max_size=15))
def test_csv_and_parquet_give_every_row_the_same_outcome(cells):
    """The same logical rows as CSV text and as a Parquet file of text columns: each row staged with the same
    values or quarantined with the same reason and detail, and every row counted once."""
    text = "home_id,ts,kwh\n" + "".join(f"{h},{t},{k}\n" for h, t, k in cells)
    columns = {name: [c[i] for c in cells] for i, name in enumerate(("home_id", "ts", "kwh"))}
    csv_parsed, csv_rows, csv_quarantine = _parse(text.encode(), "r.csv")
    pq_parsed, pq_rows, pq_quarantine = _parse(_parquet(pa.table(columns)), "r.parquet")
    assert csv_parsed.rows_in == pq_parsed.rows_in == len(cells)
    for parsed, quarantine in ((csv_parsed, csv_quarantine), (pq_parsed, pq_quarantine)):
        assert parsed.rows_staged + len(quarantine) == len(cells)
    assert _outcomes(csv_quarantine, 2, len(cells)) == _outcomes(pq_quarantine, 1, len(cells))
    if len(csv_rows) or len(pq_rows):
        kept = ["home_id", "ts", "kwh"]
        staged_csv = csv_rows.assign(line=csv_rows["line"] - 1)[["line", *kept]].reset_index(drop=True)
        pd.testing.assert_frame_equal(staged_csv, pq_rows[["line", *kept]].reset_index(drop=True))


# --- 4. a column's values are read one by one, whatever their neighbours --------------------------------------

# Numbers that pandas' to_numeric and arrow's cast both read (or both reject); a column with any bad value used to
# be read by to_numeric, so these are the outcomes that column gave.
_TRICKY_NUMBERS = [
    "1", "1.", ".5", "+1", "-1", "-0", "00012", "5.", "1e5", "1E+05", "1e-5", ".5e-2", "1.e1", "1e0005",
    "1e-400", "4.9e-324", "12345678901234567890123", "0.1000000000000000055511151231257827", "9007199254740993",
    "1.7976931348623157e308", "1.7976931348623159e308", "1e400", "-1e400", "inf", "-inf", "+inf", "Infinity",
    " 1.5", "1.5 ", "\t1.5\n", "\x0b1\x0c", "1\r", "  -2e3  ", "\xa01.5", "1 5", "- 1", "--1", "+-1", "1e", "e5",
    ".", "+", "-", ".e1", "1e+", "0x10", "1_000", "\u0661", "1d5", "1.5f", "1,5", "1.2.3", "1\x00", "ERR",
    "", "  ", "nan", "NaN", "-nan", " nan ", "null", "None", "N/A", "#N/A", None,
]  # fmt: skip


def _to_numeric_outcome(value: str | None) -> tuple[float, bool, bool]:
    """(value, absent, bad) as the to_numeric reading gave them."""
    number = float(pd.to_numeric(pd.Series([value, "x"], dtype=object), errors="coerce")[0])
    absent = bool(np.isnan(number) and is_missing(pa.array([value], pa.string()))[0])
    bad = not absent and not np.isfinite(number)
    return (np.nan if absent or bad else number), absent, bad


@pytest.mark.parametrize("value", [pytest.param(v, id=repr(v)) for v in _TRICKY_NUMBERS])
def test_a_number_reads_as_to_numeric_read_it_among_bad_values(value):
    expected = _to_numeric_outcome(value)
    for column in ([value, "ERR"], ["ERR", value], [value]):
        values, absent, bad = to_float(pa.array(column, pa.string()))
        i = column.index(value)
        got = (float(values[i]), bool(absent[i]), bool(bad[i]))
        np.testing.assert_equal(got, expected)


def test_a_number_does_not_depend_on_its_neighbours():
    """Texts that pandas' and arrow's parsers read differently: a value gets one outcome, in any column."""
    texts = [
        "0e99999999999",
        "0" * 400 + "1",
        "1" * 40 + "e-30",
        "0." + "0" * 400 + "1e400",
        *_TRICKY_NUMBERS,
    ]
    alone = [to_float(pa.array([t], pa.string())) for t in texts]
    far = _CAST_CHUNK_ROWS + 5  # the bad value in another chunk than the text, and in the same one
    piece = ["1"] * _CAST_PIECE_ROWS  # and in the same chunk, in another piece
    for i, text in enumerate(texts):
        for column, position in (
            ([text, "ERR"], 0),
            ([text, *["1"] * far, "ERR"], 0),
            (["ERR", *["1"] * far, text], far + 1),
            ([*piece, text, *piece, "ERR"], len(piece)),
            (["1", "ERR", *piece, text], len(piece) + 2),
        ):
            got = [part[position] for part in to_float(pa.array(column, pa.string()))]
            np.testing.assert_equal(got, [part[0] for part in alone[i]], err_msg=repr(text))


def test_dst_repeats_resolve_in_file_order_across_parsing_chunks():
    """The second 02:30 of the autumn change is standard time though it sits in the next chunk of the column."""
    n = _CAST_CHUNK_ROWS + 2
    stamps = ["2025-01-01T00:00:00Z"] * n
    first, second = _CAST_CHUNK_ROWS - 1, _CAST_CHUNK_ROWS  # the last row of one chunk, the first of the next
    stamps[first] = stamps[second] = "2025-10-26 02:30:00"
    utc, reasons, _ = to_utc(pa.array(stamps), "Europe/Stockholm", np.zeros(n, dtype=np.int64))
    assert [utc[first], utc[second]] == [pd.Timestamp("2025-10-26T00:30Z"), pd.Timestamp("2025-10-26T01:30Z")]
    assert pd.isna(reasons).all()


@pytest.mark.parametrize(
    "stamp",
    [
        pytest.param("2025-01-01T00:00:00+00:00", id="offset"),
        pytest.param("2025-01-01T00:00:00.5Z", id="fraction"),
        pytest.param("2025-01-01 00:00:00+01:00", id="space"),
        pytest.param("2025-01-01T00:00:00+\u0660\u0661:00", id="arabic-indic-offset"),
        pytest.param("2025-01-01T00:00:00Z\n", id="final-newline"),
        pytest.param("2025-01-01T25:00:00Z", id="hour-25"),
        pytest.param("2025-01-01 00:00:00", id="naive"),
        pytest.param("2025-03-30 02:30:00", id="naive-nonexistent"),
        pytest.param("1600-01-01T00:00:00Z", id="before-1677"),
        pytest.param("2025-01-01T00:00:00.000000001Z", id="nanosecond"),
    ],
)
@pytest.mark.parametrize("timezone", [None, "Europe/Stockholm"])
def test_a_timestamp_does_not_depend_on_its_neighbours(stamp, timezone):
    alone = to_utc(pa.array([stamp]), timezone)
    far = _CAST_CHUNK_ROWS + 5
    piece = ["2025-01-01T00:00:00Z"] * _CAST_PIECE_ROWS  # a bad value in the same chunk, in another piece
    for column, position in (
        ([stamp, "bad"], 0),
        (["2025-01-01T00:00:00Z"] * far + [stamp], far),
        (["bad"] * far + [stamp], far),
        ([*piece, stamp, *piece, "bad"], len(piece)),
        ([piece[0], "bad", *piece, stamp], len(piece) + 2),
    ):
        utc, reasons, details = to_utc(pa.array(column), timezone)
        assert (utc[position], reasons[position], details[position]) == (
            alone[0][0],
            alone[1][0],
            alone[2][0],
        )
