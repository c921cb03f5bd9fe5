"""The lake layout of what the service's data-management API writes, shared by serving (the writer) and data_prep
(the reader, which never imports serving). ``docs/serving-data-api.md`` is the prose version.

Layout, under the raw zone:
    ``raw/api_readings/client=<client>/date=<ingest date>/<batch_id>.parquet``: one file per accepted batch of
        readings (:data:`API_READINGS_SCHEMA`), written once and never changed by the service.
    ``raw/api_profiles/<home_id>.json``: the current profile document of each home created or updated through the
        API (:class:`contracts.home_profile.HomeProfile`); ``PUT`` replaces it in place.
    ``raw/api_profiles/_deleted/<home_id>.json``: the tombstone of a deleted home (:data:`TOMBSTONE_FIELDS`).

A client id and a home id in a file or folder name are percent-encoded (:func:`encode_name`), so any id is one
path segment.

Invariants:
    ``purge_after`` = ``deleted_at`` + :data:`RETENTION_DAYS`; both are ISO 8601 with an offset [UTC].
"""

from __future__ import annotations

from urllib.parse import quote, unquote

import pyarrow as pa

from contracts.schemas import HOME_ID, INTERVAL_MIN, KWH, TS, TS_TYPE

API_READINGS = "api_readings"
API_PROFILES = "api_profiles"
DELETED = "_deleted"  # the tombstones' folder under API_PROFILES
RETENTION_DAYS = 30
RETENTION_RULE = (
    f"the home's lake data (API profile, raw readings, curated rows) is kept {RETENTION_DAYS} days after "
    "deleted_at, then purged; the home_id cannot be reused before that"
)
TOMBSTONE_FIELDS = (HOME_ID, "client_id", "deleted_at", "purge_after", "retention_rule")

API_READINGS_SCHEMA = pa.schema(
    [
        pa.field(HOME_ID, pa.string(), nullable=False),
        pa.field(TS, TS_TYPE, nullable=False),
        pa.field(KWH, pa.float64(), nullable=False),
        pa.field(INTERVAL_MIN, pa.int32(), nullable=False),
        pa.field("line", pa.int64(), nullable=False),  # the row's index in its batch, from 0
        pa.field("client_id", pa.string(), nullable=False),
        pa.field("batch_id", pa.string(), nullable=False),
        pa.field("ingested_at", TS_TYPE, nullable=False),
    ]
)


def encode_name(value: str) -> str:
    """``value`` as one path segment: percent-encoded, ``/`` included (``h/1`` → ``h%2F1``)."""
    return quote(value, safe="")


def decode_name(segment: str) -> str:
    """The id that :func:`encode_name` turned into ``segment``."""
    return unquote(segment)
