"""Which client owns which home: the curated homes of the lake plus the homes created or deleted through the API.

The curated part (``curated/homes/homes.parquet``, written by ``eliq prep run``) is held in memory with each home's
attributes and refreshed by :meth:`HomeDirectory.refresh`. Homes registered or forgotten through the API are kept
in a SQLite file (``<serving.state_dir>/homes.db``), so that every worker process of the service and every restart
sees them at once.

Invariants:
    An entry of the API registry overrides the curated row of the same home: a forgotten home has no owner even
    while the lake still holds its rows, and a home is never moved from one client to another.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from contracts.schemas import HOME_ID
from contracts.storage import Lake, Zone
from serving.sqlite_state import immediate_transaction, thread_connection

DB_FILE = "homes.db"
CLIENT_ID = "client_id"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS homes (
    home_id TEXT PRIMARY KEY, client_id TEXT NOT NULL, forgotten INTEGER NOT NULL DEFAULT 0, changed_at TEXT NOT NULL
) WITHOUT ROWID;
"""
_SELECT_ONE = "SELECT client_id, forgotten FROM homes WHERE home_id = ?"
_UPSERT = (
    "INSERT INTO homes VALUES (?, ?, ?, ?) ON CONFLICT(home_id) DO UPDATE SET "
    "client_id = excluded.client_id, forgotten = excluded.forgotten, changed_at = excluded.changed_at"
)


class HomeTakenError(ValueError):
    """A home that another client owns cannot be registered; the message does not say which client."""


def curated_homes(lake: Lake) -> pd.DataFrame:
    """The lake's curated home attributes, one row per home (an empty frame before ``eliq prep run``)."""
    path = lake.path(Zone.CURATED, "homes", "homes.parquet")
    if not lake.exists(path):
        return pd.DataFrame(columns=[HOME_ID, CLIENT_ID])
    frame = lake.read_table(path).to_pandas()
    return frame.drop_duplicates(HOME_ID, keep="last").reset_index(drop=True)


class HomeDirectory:
    """Home → client, and the curated attributes of each home; safe to share between threads.

    Args:
        curated: the curated home attributes (``home_id``, ``client_id``, …), e.g. :func:`curated_homes`.
        registry_path: the SQLite file of the homes registered or forgotten through the API.
    """

    def __init__(self, curated: pd.DataFrame, registry_path: str | Path) -> None:
        self.registry_path = Path(registry_path)
        self._local = threading.local()
        self._set_curated(curated)

    @classmethod
    def from_lake(cls, lake: Lake, state_dir: str | Path) -> HomeDirectory:
        """The directory of ``lake``'s curated homes with its API registry in ``state_dir``."""
        return cls(curated_homes(lake), Path(state_dir) / DB_FILE)

    def refresh(self, curated: pd.DataFrame) -> None:
        """Replace the curated part (after ``eliq prep run``); API registrations are kept."""
        self._set_curated(curated)

    def _set_curated(self, curated: pd.DataFrame) -> None:
        attributes = curated.drop_duplicates(HOME_ID, keep="last").set_index(HOME_ID, drop=False)
        clients = attributes[CLIENT_ID] if CLIENT_ID in attributes.columns else pd.Series(dtype=object)
        owned = clients.dropna()  # a home without a client is nobody's: no key reaches it
        owners = dict(zip(owned.index.astype(str), owned.astype(str), strict=True))
        self._curated = (
            attributes,
            owners,
        )  # one assignment: a reader sees the old or the new state, not a mix

    def owner(self, home_id: str) -> str | None:
        """The client of ``home_id``; ``None`` when the home is unknown or was forgotten."""
        row = self._connection().execute(_SELECT_ONE, (home_id,)).fetchone()
        return self._owner_of(home_id, row)

    def homes_of(self, client_id: str) -> list[str]:
        """Every home ``client_id`` owns, sorted."""
        rows = self._connection().execute("SELECT home_id, client_id, forgotten FROM homes").fetchall()
        overridden = {home for home, _, _ in rows}
        mine = {h for h, c in self._curated[1].items() if c == client_id and h not in overridden}
        mine |= {home for home, client, forgotten in rows if client == client_id and not forgotten}
        return sorted(mine)

    def all_homes(self) -> list[str]:
        """Every home that has an owner, sorted."""
        rows = self._connection().execute("SELECT home_id, forgotten FROM homes").fetchall()
        overridden = {home for home, _ in rows}
        owned = {h for h in self._curated[1] if h not in overridden}
        return sorted(owned | {home for home, forgotten in rows if not forgotten})

    def register(self, home_id: str, client_id: str) -> None:
        """Record that ``client_id`` owns ``home_id`` (a home created through the API); idempotent.

        Raises:
            HomeTakenError: another client owns the home.
        """
        with self._transaction() as conn:
            current = self._owner_of(home_id, conn.execute(_SELECT_ONE, (home_id,)).fetchone())
            if current is not None and current != client_id:
                raise HomeTakenError(f"home {home_id!r} is taken")
            conn.execute(_UPSERT, (home_id, client_id, 0, datetime.now(UTC).isoformat()))

    def forget(self, home_id: str) -> bool:
        """Remove ``home_id`` from its client (a home deleted through the API); returns whether it had an owner."""
        with self._transaction() as conn:
            current = self._owner_of(home_id, conn.execute(_SELECT_ONE, (home_id,)).fetchone())
            if current is None:
                return False
            conn.execute(_UPSERT, (home_id, current, 1, datetime.now(UTC).isoformat()))
            return True

    def attributes(self, home_ids: Iterable[str]) -> pd.DataFrame:
        """The curated attribute rows of those of ``home_ids`` the lake knows, in the order given."""
        frame = self._curated[0]
        known = [h for h in dict.fromkeys(home_ids) if h in frame.index]
        return frame.loc[known].reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.all_homes())

    def _owner_of(self, home_id: str, row: tuple[str, int] | None) -> str | None:
        if row is not None:
            return None if row[1] else str(row[0])
        return self._curated[1].get(home_id)

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction (see :func:`serving.sqlite_state.immediate_transaction`)."""
        return immediate_transaction(self._connection())

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection (autocommit; WAL, so readers never wait for a writer)."""
        return thread_connection(self._local, self.registry_path, _SCHEMA)
