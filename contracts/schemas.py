"""Canonical schemas: the column names, types and units that every layer agrees on.

All meter data moves as one long frame: one row per home and timestamp, ``ts`` in UTC at the interval start, and
value columns with their unit in the name. ``docs/data-contracts.md`` is the prose version of this module.
"""

from __future__ import annotations

from enum import StrEnum

import pyarrow as pa

HOME_ID = "home_id"
TS = "ts"
KWH = "kwh"
PV_KWH = "pv_kwh"
EXPORT_KWH = "export_kwh"
INTERVAL_MIN = "interval_min"
PRICE_AREA = "price_area"
PRICE_EUR_MWH = "price_eur_mwh"
LAT = "lat"
LON = "lon"
TEMP_C = "temp_c"
GHI_W_M2 = "ghi_w_m2"

TS_TYPE = pa.timestamp("us", tz="UTC")

# Optional weather columns, in their canonical units.
WEATHER_OPTIONAL = ("dni_w_m2", "dhi_w_m2", "cloud_cover", "wind_m_s", "humidity")


class Source(StrEnum):
    """The input sources; each is a top-level folder of an input tree."""

    READINGS = "readings"
    BILLS = "bills"
    PROFILES = "profiles"
    WEATHER = "weather"
    PRICES = "prices"


class Reason(StrEnum):
    """Why a row went to quarantine. Every quarantined row carries exactly one."""

    MALFORMED_ROW = "malformed_row"  # wrong number of fields, unparsable line
    MISSING_FIELD = "missing_field"  # a required value is empty
    BAD_TIMESTAMP = "bad_timestamp"  # not a timestamp, or naive without a declared time zone
    BAD_NUMBER = "bad_number"  # a value that is not a number
    FUTURE_TIMESTAMP = "future_timestamp"
    NONEXISTENT_LOCAL_TIME = "nonexistent_local_time"  # a naive local time that the DST change skips
    OFF_GRID_TIMESTAMP = "off_grid_timestamp"  # not aligned to the home's interval
    DUPLICATE = "duplicate"  # same key and value as a row already kept
    CONFLICTING_DUPLICATE = "conflicting_duplicate"  # same key, different value; the first-ingested is kept
    OUT_OF_RANGE = "out_of_range"  # beyond the configured physical range
    INVALID_PERIOD = "invalid_period"  # a bill whose end is not after its start
    OVERLAPPING_PERIOD = "overlapping_period"  # a bill that overlaps an earlier bill of the same home
    INVALID_DOCUMENT = "invalid_document"  # a profile that fails validation
    UNKNOWN_HOME = "unknown_home"


class QualityFlag(StrEnum):
    """The state of a value in the processed zone."""

    OK = "ok"
    IMPUTED = "imputed"
    MISSING = "missing"  # a gap longer than the maximum, or an unfillable slot: kwh is null
    ANOMALY = "anomaly"  # the reading was flagged and masked; kwh holds the imputed value or null


class Anomaly(StrEnum):
    """What anomaly detection found on a reading."""

    OUTLIER = "outlier"  # robust z-score against the home's hour of week
    SPIKE = "spike"
    STUCK = "stuck"  # a flat run longer than the meter should produce
    NEGATIVE = "negative"
    METER_RESET = "meter_reset"
    LEVEL_SHIFT = "level_shift"  # flagged only: a real change of behaviour is possible


# Raw readings after parsing, before the grid: one row per input row that passed validation.
PARSED_READINGS = pa.schema(
    [
        pa.field(HOME_ID, pa.string(), nullable=False),
        pa.field(TS, TS_TYPE, nullable=False),
        pa.field(KWH, pa.float64()),
        pa.field(PV_KWH, pa.float64()),
        pa.field(EXPORT_KWH, pa.float64()),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("line", pa.int64(), nullable=False),
        pa.field("ingest_seq", pa.int64(), nullable=False),
    ]
)

# Processed readings: a regular grid per home at its native interval.
PROCESSED_READINGS = pa.schema(
    [
        pa.field(HOME_ID, pa.string(), nullable=False),
        pa.field(TS, TS_TYPE, nullable=False),
        pa.field(KWH, pa.float64()),
        pa.field("kwh_raw", pa.float64()),
        pa.field(PV_KWH, pa.float64()),
        pa.field(EXPORT_KWH, pa.float64()),
        pa.field(INTERVAL_MIN, pa.int32(), nullable=False),
        pa.field("quality_flag", pa.string(), nullable=False),
        pa.field("anomaly", pa.string()),
        pa.field("imputation_strategy", pa.string()),
        pa.field("source_file", pa.string()),
    ]
)

QUARANTINE = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("line", pa.int64()),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("detail", pa.string()),
        pa.field("record", pa.string()),  # the row as it came, as text
        pa.field(HOME_ID, pa.string()),  # when it could be read
        pa.field(TS, TS_TYPE),  # when it could be read
    ]
)
