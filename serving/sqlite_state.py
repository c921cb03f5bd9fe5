"""The serving layer's small SQLite state files (API keys, API-registered homes, the readings ledger)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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


def thread_connection(local: threading.local, path: Path, schema: str) -> sqlite3.Connection:
    """This thread's autocommit connection to ``path``, opened (with ``schema`` applied) on first use; WAL, so
    readers never wait for a writer.

    Args:
        local: the owner's thread-local holder; the connection is kept on it as ``connection``.
        path: the SQLite file (its folder is created).
        schema: ``CREATE … IF NOT EXISTS`` statements.
    """
    conn: sqlite3.Connection | None = getattr(local, "connection", None)
    if conn is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(schema)
        local.connection = conn
    return conn
