"""The serving layer's small SQLite state files (API keys, API-registered homes, the readings ledger)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def immediate_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction on an autocommit connection. ``BEGIN IMMEDIATE`` takes SQLite's write lock up front,
    so writers queue cleanly and a check-then-write inside it is atomic."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
