"""A counter per home that moves whenever the API changes what the forecast model reads of that home.

Ingested readings and profile changes bump it; the forecast cache (:mod:`serving.families.forecast_cache`) keys
each stored forecast by it, so a stored forecast is never served after its home's inputs changed. The counters live
in the readings ledger's SQLite file (``<serving.state_dir>/readings.db``), so an ingestion bumps them in the same
transaction that stores the readings, and every worker process sees a bump at once.

Invariants:
    A version only grows. A home that was never changed through the API has version 0.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from serving.sqlite_state import immediate_transaction, thread_connection

VERSIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS home_versions (home_id TEXT PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID;
"""
_BUMP = "INSERT INTO home_versions VALUES (?, 1) ON CONFLICT(home_id) DO UPDATE SET version = version + 1"
_CHUNK = 500  # keys per statement, far below SQLite's parameter limit


def bump_versions(conn: sqlite3.Connection, home_ids: Sequence[str]) -> None:
    """Bump the versions of ``home_ids`` inside the caller's open transaction on the ledger file."""
    conn.executemany(_BUMP, [(h,) for h in dict.fromkeys(home_ids)])


class HomeInputVersions:
    """Reads and bumps the per-home input versions; safe to share between threads (one connection per thread).

    Args:
        path: the ledger's SQLite file (``<state_dir>/readings.db``).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()

    def of(self, home_ids: Sequence[str]) -> dict[str, int]:
        """The version of each of ``home_ids`` (0 for a home never changed through the API)."""
        conn = self._connection()
        found: dict[str, int] = {}
        ids = list(dict.fromkeys(home_ids))
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            found.update(
                conn.execute(f"SELECT home_id, version FROM home_versions WHERE home_id IN ({marks})", chunk)
            )
        return {h: int(found.get(h, 0)) for h in ids}

    def bump(self, home_ids: Sequence[str]) -> None:
        """Bump the versions of ``home_ids`` in a transaction of their own (a profile created, replaced or deleted)."""
        with immediate_transaction(self._connection()) as conn:
            bump_versions(conn, home_ids)

    def _connection(self) -> sqlite3.Connection:
        return thread_connection(self._local, self.path, VERSIONS_SCHEMA)
