"""The data-management domain of the serving layer: meter readings and home profiles sent through the API.

No FastAPI here; ``serving/routes_data.py`` maps these objects to HTTP. ``docs/serving-data-api.md`` is the prose
version: the contracts, idempotency and the retention rule. This module holds readings ingestion and home deletion;
the ledger is :mod:`serving.readings_ledger` and the profiles :mod:`serving.home_profiles` (both re-exported here).

Readings are checked by data_prep's own row rules (``data_prep.ingest.readings`` for fields, numbers, time stamps
and the future; ``data_prep.readings_grid.align`` for the physical range; ``deduplicate`` within a batch), then
against a ledger (``<state_dir>/readings.db``, primary key ``(home_id, ts)``) so that a reading sent twice is stored
once. Each accepted batch becomes one Parquet file in the raw zone and its newest reading per home is pushed to the
online store.

Invariants:
    - Every row of a batch is counted once: ``accepted + duplicates + len(rejected) == len(rows)``.
    - The ledger and the raw zone agree: the ledger commits only after the batch's file is in place, under the
      ledger's write lock; a crash between the two leaves a raw file the ledger does not know, which a resend
      writes again and ``eliq prep run`` deduplicates (at least once in the raw zone, exactly once in the ledger).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd
import pyarrow as pa

from contracts.api_zone import API_READINGS
from contracts.api_zone import API_READINGS_SCHEMA as _RAW_SCHEMA
from contracts.schemas import EXPORT_KWH, HOME_ID, INTERVAL_MIN, KWH, PV_KWH, TS, Reason
from contracts.storage import Lake, Zone
from data_prep.ingest.readings import row_checks
from data_prep.ingest.source_spec import SourceSpec
from data_prep.quality.rules import ReadingRules
from data_prep.readings_grid import align, deduplicate, ts_minutes
from serving.home_profiles import RETENTION_DAYS, RETENTION_RULE, ProfileStore, erase_online_homes
from serving.input_versions import bump_versions
from serving.readings_ledger import LEDGER_FILE, ReadingsLedger, recent_readings

__all__ = [
    "RETENTION_DAYS",
    "RETENTION_RULE",
    "IngestReceipt",
    "ProfileStore",
    "ReadingsIngestor",
    "ReadingsLedger",
    "RejectedReading",
    "delete_home",
    "recent_readings",
    "validate_readings",
]

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_MIN = 60  # a reading without interval_min is hourly, as data_prep assumes for a lone reading
MAX_INTERVAL_MIN = 1440  # the readings contract ends at daily readings; longer periods are bills
# The API takes current readings; older history goes through `eliq prep run`. Earlier times are typing errors.
EARLIEST_TS_US = 946_684_800_000_000  # 2000-01-01T00:00:00Z [us since the epoch]
EARLIEST_TS_TEXT = "ts before 2000-01-01T00:00Z: send older history through `eliq prep run`"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MINUTE_US = 60_000_000


@dataclass(frozen=True)
class RejectedReading:
    """A row of a batch that was not stored, and why (``reason`` is a :class:`contracts.schemas.Reason`)."""

    line: int  # the row's index in the batch, from 0
    reason: str
    detail: str
    home_id: str | None = None
    ts: str | None = None


@dataclass(frozen=True)
class IngestReceipt:
    """What ingesting one batch did.

    Attributes:
        batch_id: the id of the raw file written; ``None`` when nothing new was accepted.
        accepted: rows stored for the first time.
        duplicates: rows already stored with the same kWh (earlier batch or earlier in this batch).
        rejected: the other rows, each with its reason.
        raw_path: the batch's file in the raw zone.
        pushed_homes: homes whose newest reading went to the online store.
    """

    batch_id: str | None
    accepted: int
    duplicates: int
    rejected: tuple[RejectedReading, ...]
    raw_path: str | None = None
    pushed_homes: int = 0


def validate_readings(
    rows: Sequence[Mapping[str, Any]],
    client_id: str,
    owner: Callable[[str], str | None],
    rules: ReadingRules,
    now: datetime,
) -> tuple[pd.DataFrame, list[RejectedReading]]:
    """Apply data_prep's row and range rules, the interval check and ownership to a batch.

    Args:
        rows: mappings with ``home_id``, ``ts`` (ISO 8601 with an offset), ``kwh`` [kWh], optional
            ``interval_min`` [min]; values of any JSON scalar type.
        client_id: the caller; a home it does not own is an ``unknown_home``, whoever owns it.
        owner: the client of a home, ``None`` when unknown.
        rules: data_prep's reading rules.
        now: the time the future-timestamp rule measures from [UTC].

    Returns:
        the valid rows (``home_id``, ``ts`` [UTC], ``ts_us``, ``kwh``, ``interval_min``, ``line``) and the rejected
        ones; each row of ``rows`` is in exactly one of them.
    """
    reasons, details, frame = _field_checks(rows, rules, now)
    homes = frame[HOME_ID].to_numpy()
    owned = {h for h in set(homes[pd.isna(reasons)]) if owner(h) == client_id}
    not_owned = pd.isna(reasons) & ~np.isin(homes, list(owned))
    _fail(reasons, details, not_owned, Reason.UNKNOWN_HOME, "not a home of this client")
    frame = frame[pd.isna(reasons)]
    out_of_range = _range_rule(frame, rules)
    _fail(
        reasons, details, np.isin(np.arange(len(rows)), out_of_range), Reason.OUT_OF_RANGE, _range_text(rules)
    )
    valid = frame[~frame["line"].isin(out_of_range)].reset_index(drop=True)
    bad = np.flatnonzero(pd.notna(reasons))
    rejected = [
        RejectedReading(int(i), str(reasons[i]), str(details[i]), homes[i], _as_text(rows[int(i)].get(TS)))
        for i in bad
    ]
    return valid, rejected


def _field_checks(
    rows: Sequence[Mapping[str, Any]], rules: ReadingRules, now: datetime
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """data_prep's row checks (``data_prep.ingest.readings.row_checks``: ids, times, a finite kWh) plus the API's
    own: the interval, whole minutes, and the earliest time.

    Returns:
        per row the first failing reason (or None) and its detail, and every row parsed: ``home_id``, ``ts``
        [UTC, NaT where bad], ``ts_us``, ``kwh``, ``interval_min`` (-1 where bad), ``line``.
    """
    text = {
        HOME_ID: pa.array([_as_text(r.get(HOME_ID)) for r in rows], pa.string()),
        TS: pa.array([_as_text(r.get(TS)) for r in rows], pa.string()),
        KWH: pa.array([_as_text(r.get(KWH)) for r in rows], pa.string()),
    }
    reasons, details, parsed = row_checks(pa.table(text), SourceSpec(), rules, now)
    ts_us = parsed[TS].cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
    intervals = np.array([_interval(r.get(INTERVAL_MIN)) for r in rows], dtype=np.int64)
    homes = np.array(text[HOME_ID].to_pylist(), dtype=object)
    for mask, reason, detail in (
        (intervals < 0, Reason.BAD_NUMBER, f"interval_min is not 1..{MAX_INTERVAL_MIN} [min]"),
        (ts_us < EARLIEST_TS_US, Reason.OUT_OF_RANGE, EARLIEST_TS_TEXT),
        # data_prep keys readings by the minute; a start with seconds is on no interval's grid
        (ts_us % _MINUTE_US != 0, Reason.OFF_GRID_TIMESTAMP, "ts has seconds: not an interval start"),
    ):
        _fail(reasons, details, mask, reason, detail)
    frame = pd.DataFrame(
        {
            HOME_ID: homes,
            TS: pd.Series(ts_us.astype("datetime64[us]")).dt.tz_localize("UTC"),
            "ts_us": ts_us,
            KWH: parsed[KWH],
            INTERVAL_MIN: intervals,
            "line": np.arange(len(rows), dtype=np.int64),
        }
    )
    return reasons, details, frame


def _as_text(value: Any) -> str | None:
    return None if value is None else value if isinstance(value, str) else str(value)


def _interval(value: Any) -> int:
    """The interval [min]: the default when absent, -1 when it is not a whole number in 1..MAX_INTERVAL_MIN."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return DEFAULT_INTERVAL_MIN
    try:
        number = float(value) if not isinstance(value, bool) else float("nan")
    except (TypeError, ValueError):
        return -1
    return int(number) if number.is_integer() and 1 <= number <= MAX_INTERVAL_MIN else -1


def _fail(reasons: np.ndarray, details: np.ndarray, mask: np.ndarray, reason: Reason, detail: str) -> None:
    new = mask & pd.isna(reasons)
    reasons[new] = reason.value
    details[new] = detail


def _range_rule(frame: pd.DataFrame, rules: ReadingRules) -> np.ndarray:
    """Lines outside data_prep's physical range for their own interval (``align`` with one series per row).

    Each row is its own series with its own phase, so ``align`` applies only the range rule here: grid alignment
    needs a home's whole series and is left to ``eliq prep run``.
    """
    if frame.empty:
        return np.array([], dtype=np.int64)
    keys = frame["line"].astype(str).to_numpy()
    probe = pd.DataFrame(
        {
            HOME_ID: keys,
            TS: frame[TS].to_numpy(),
            KWH: frame[KWH].to_numpy(),
            PV_KWH: np.nan,
            EXPORT_KWH: np.nan,
        }
    ).assign(is_mean_kw=False)
    minutes = frame[INTERVAL_MIN].to_numpy()
    phases = ts_minutes(frame[TS]) % minutes
    intervals = pd.DataFrame({HOME_ID: keys, INTERVAL_MIN: minutes, "phase_min": phases})
    _, bad = align(probe, intervals, rules)
    return bad[HOME_ID].astype(np.int64).to_numpy()


def _range_text(rules: ReadingRules) -> str:
    low = f"{rules.min_kw} kW" if rules.min_kw is not None else "-inf"
    return f"kwh outside [{low}, {rules.max_kw} kW] x the interval"


class ReadingsIngestor:
    """Validates, deduplicates, stores and pushes batches of meter readings.

    Args:
        lake: the lake whose raw zone receives each accepted batch.
        state_dir: the serving state folder holding the ledger.
        rules: data_prep's reading rules (``load_rules(settings.prep.rules_file).readings``).
        features: the feature store adapter to push to; ``None`` skips the push.
    """

    def __init__(self, lake: Lake, state_dir: str | Path, rules: ReadingRules, features: Any = None) -> None:
        self.lake = lake
        self.state_dir = state_dir
        self.rules = rules
        self.features = features

    @property
    def ledger(self) -> ReadingsLedger:
        return ReadingsLedger(Path(self.state_dir) / LEDGER_FILE)

    def ingest(
        self,
        client_id: str,
        rows: Sequence[Mapping[str, Any]],
        owner: Callable[[str], str | None],
        now: datetime | None = None,
    ) -> IngestReceipt:
        """Store the new valid readings of ``rows`` once, and report the others."""
        now = (now or datetime.now(UTC)).astimezone(UTC)
        valid, rejected = validate_readings(rows, client_id, owner, self.rules, now)
        kept, repeats = deduplicate(valid.assign(ingest_seq=0, **{PV_KWH: np.nan, EXPORT_KWH: np.nan}))
        duplicates = int((repeats["reason"] == Reason.DUPLICATE.value).sum())
        rejected += [
            _rejected(rows, line, "the batch holds this reading earlier with another kwh")
            for line in _conflicts(repeats)
        ]
        if kept.empty:
            return IngestReceipt(None, 0, duplicates, _sorted(rejected))
        batch_id = f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:12]}"
        with self.ledger.transaction() as conn:
            stored = ReadingsLedger.stored(conn, kept).merge(kept, on=[HOME_ID, "ts_us"])
            same = stored[stored["kwh_stored"] == stored[KWH]]
            duplicates += len(same)
            for row in stored[stored["kwh_stored"] != stored[KWH]].itertuples():
                rejected.append(_rejected(rows, row.line, f"already stored with kwh={row.kwh_stored}"))
            new = kept[~kept["line"].isin(stored["line"])].reset_index(drop=True)
            if new.empty:
                return IngestReceipt(None, 0, duplicates, _sorted(rejected))
            latest = ReadingsLedger.latest(conn, new[HOME_ID].unique().tolist())
            path = self._write_raw(client_id, batch_id, new, now)
            bump_versions(conn, new[HOME_ID].unique().tolist())  # stored forecasts of these homes are stale
            conn.executemany(
                "INSERT OR IGNORE INTO readings VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (r.home_id, r.ts_us, r.kwh, r.interval_min, client_id, batch_id, _us(now))
                    for r in new.itertuples(index=False)
                ],
            )
        pushed = self._push(new, latest)
        return IngestReceipt(batch_id, len(new), duplicates, _sorted(rejected), path, pushed)

    def _write_raw(self, client_id: str, batch_id: str, new: pd.DataFrame, now: datetime) -> str:
        path = self.lake.path(
            Zone.RAW,
            API_READINGS,
            f"client={quote(client_id, safe='')}",
            f"date={now.astimezone(UTC):%Y-%m-%d}",
            f"{batch_id}.parquet",
        )
        frame = new[[HOME_ID, TS, KWH, INTERVAL_MIN, "line"]].assign(
            client_id=client_id, batch_id=batch_id, ingested_at=pd.Timestamp(now).tz_convert("UTC")
        )
        self.lake.write_table(path, pa.Table.from_pandas(frame, schema=_RAW_SCHEMA, preserve_index=False))
        return path

    def _push(self, new: pd.DataFrame, latest: Mapping[str, int]) -> int:
        """Push each home's newest reading when it is newer than anything stored before (never a backfill)."""
        if self.features is None:
            return 0
        newest = new.loc[new.groupby(HOME_ID)["ts_us"].idxmax()]
        fresh = newest[newest["ts_us"] > newest[HOME_ID].map(latest).fillna(-1).astype(np.int64)]
        if fresh.empty:
            return 0
        try:
            self.features.push_readings(fresh[[HOME_ID, TS, KWH, INTERVAL_MIN]].reset_index(drop=True))
        except Exception as err:  # the readings are stored; the next materialisation brings them online
            log.warning("readings stored but not pushed to the online store: %s", err)
            return 0
        return len(fresh)


def _conflicts(repeats: pd.DataFrame) -> list[int]:
    return [
        int(line) for line in repeats.loc[repeats["reason"] == Reason.CONFLICTING_DUPLICATE.value, "line"]
    ]


def _rejected(rows: Sequence[Mapping[str, Any]], line: Any, detail: str) -> RejectedReading:
    """A ``conflicting_duplicate``: the same home and interval start as a reading kept, with another kWh."""
    row = rows[int(line)]
    reason = Reason.CONFLICTING_DUPLICATE.value
    return RejectedReading(int(line), reason, detail, _as_text(row.get(HOME_ID)), _as_text(row.get(TS)))


def _sorted(rejected: list[RejectedReading]) -> tuple[RejectedReading, ...]:
    return tuple(sorted(rejected, key=lambda r: r.line))


def _us(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def delete_home(
    home_id: str,
    client_id: str,
    profiles: ProfileStore,
    state_dir: str | Path,
    features: Any = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Delete a home the caller owns (the caller checks ownership): online store, ledger, then the tombstone.

    The steps run in that order so that a failure leaves the home in place and a retry finishes the job; the
    tombstone, written last, is what makes the home gone for the API. The home directory is the caller's to update.

    Returns:
        The tombstone: ``home_id``, ``client_id``, ``deleted_at``, ``purge_after`` and ``retention_rule``.
    """
    if features is not None:
        erase_online_homes(features, [home_id])
    ReadingsLedger(Path(state_dir) / LEDGER_FILE).forget_home(home_id)
    return profiles.mark_deleted(home_id, client_id, now)
