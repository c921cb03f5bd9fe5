"""The ledger of meter readings accepted through the API: one row per ``(home_id, ts)``, in SQLite.

It makes ingestion idempotent (a reading already there is a duplicate, not a new row) and gives the forecast the
readings that arrived after the last ``eliq prep run`` (:func:`recent_readings`). The file is
``<serving.state_dir>/readings.db``; ``ts`` is the interval start in microseconds since the epoch [UTC].
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from contracts.schemas import HOME_ID, INTERVAL_MIN, KWH, TS
from serving.input_versions import VERSIONS_SCHEMA, bump_versions

LEDGER_FILE = "readings.db"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LEDGER_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    home_id TEXT NOT NULL, ts INTEGER NOT NULL, kwh REAL NOT NULL, interval_min INTEGER NOT NULL,
    client_id TEXT NOT NULL, batch_id TEXT NOT NULL, ingested_at INTEGER NOT NULL,
    PRIMARY KEY (home_id, ts)
) WITHOUT ROWID;
"""


class ReadingsLedger:
    """The SQLite ledger of every reading accepted through the API: idempotency and recent history.

    ``ts`` is the interval start in microseconds since the epoch [UTC]. Each call opens its own connection, so one
    ledger serves threads and worker processes alike; writers queue on SQLite's lock.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(_LEDGER_SCHEMA + VERSIONS_SCHEMA)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the ledger's lock from its start (``BEGIN IMMEDIATE``)."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    @staticmethod
    def stored(conn: sqlite3.Connection, rows: pd.DataFrame) -> pd.DataFrame:
        """The stored ``home_id``, ``ts_us``, ``kwh_stored`` of the keys of ``rows`` (``home_id``, ``ts_us``)."""
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS probe (home_id TEXT, ts INTEGER)")
        conn.execute("DELETE FROM probe")
        conn.executemany("INSERT INTO probe VALUES (?, ?)", rows[[HOME_ID, "ts_us"]].itertuples(index=False))
        found = conn.execute(
            "SELECT r.home_id, r.ts, r.kwh FROM probe p JOIN readings r ON r.home_id = p.home_id AND r.ts = p.ts"
        ).fetchall()
        return pd.DataFrame(found, columns=[HOME_ID, "ts_us", "kwh_stored"])

    @staticmethod
    def latest(conn: sqlite3.Connection, home_ids: Sequence[str]) -> dict[str, int]:
        """The newest stored ``ts`` of each home that has one [us since the epoch]."""
        query = "SELECT MAX(ts) FROM readings WHERE home_id = ?"  # one index seek per home
        out = {h: conn.execute(query, (h,)).fetchone()[0] for h in home_ids}
        return {h: int(v) for h, v in out.items() if v is not None}

    def recent(self, home_ids: Sequence[str], since: datetime) -> pd.DataFrame:
        """``home_id``, ``ts_us``, ``kwh``, ``interval_min`` of the homes' readings starting at or after ``since``."""
        ids = sorted({str(h) for h in home_ids})
        if not ids or not self.path.exists():
            return pd.DataFrame(columns=[HOME_ID, "ts_us", KWH, INTERVAL_MIN])
        since = since if since.tzinfo is not None else since.replace(tzinfo=UTC)  # naive is taken as UTC
        since_us = (since - _EPOCH) // timedelta(microseconds=1)
        conn = self._connect()
        try:
            rows = []
            for start in range(0, len(ids), 500):  # far below SQLite's parameter limit
                chunk = ids[start : start + 500]
                rows += conn.execute(
                    f"SELECT home_id, ts, kwh, interval_min FROM readings "
                    f"WHERE home_id IN ({','.join('?' * len(chunk))}) AND ts >= ?",
                    [*chunk, since_us],
                ).fetchall()
        finally:
            conn.close()
        return pd.DataFrame(rows, columns=[HOME_ID, "ts_us", KWH, INTERVAL_MIN])

    def forget_home(self, home_id: str) -> int:
        """Delete a home's readings from the ledger; returns how many there were."""
        with self.transaction() as conn:
            bump_versions(conn, [home_id])
            return conn.execute("DELETE FROM readings WHERE home_id = ?", (home_id,)).rowcount


def recent_readings(state_dir: str | Path, home_ids: Sequence[str], since: datetime) -> pd.DataFrame:
    """The API readings of ``home_ids`` since ``since``, as complete hours, to merge over curated hourly rows.

    Readings of 60 minutes or less are summed per UTC hour; an hour is returned only when its readings cover all of
    it. Daily readings are not hours and are left out.

    Returns:
        ``home_id``, ``ts`` (hour start [UTC]), ``kwh`` [kWh], sorted by home and hour.

    Invariants:
        Only readings whose interval starts at or after ``since`` are used; an hour is never a partial sum.
    """
    rows = ReadingsLedger(Path(state_dir) / LEDGER_FILE).recent(home_ids, since)
    rows = rows[(rows[INTERVAL_MIN] <= 60) & (60 % rows[INTERVAL_MIN].clip(lower=1) == 0)]
    hour_us = 3_600_000_000
    hours = rows.assign(hour=rows["ts_us"] // hour_us * hour_us)
    summed = hours.groupby([HOME_ID, "hour"], as_index=False).agg(
        kwh=(KWH, "sum"), minutes=(INTERVAL_MIN, "sum")
    )
    full = summed[summed["minutes"] == 60].sort_values([HOME_ID, "hour"], ignore_index=True)
    return pd.DataFrame(
        {
            HOME_ID: full[HOME_ID].astype(str),
            TS: pd.to_datetime(full["hour"].to_numpy(np.int64), unit="us", utc=True),
            KWH: full[KWH].astype(float),
        }
    )
