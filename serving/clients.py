"""API keys of the serving layer: which client (tenant) a key belongs to, kept hashed in a SQLite file.

A key is ``eliq_`` followed by 32 random bytes in URL-safe base64. The file keeps only the key's SHA-256 and a
short, non-secret prefix that lets a person tell keys apart in a listing. A key of 256 random bits needs no slow
password hash: nobody can guess it, and its SHA-256 cannot be inverted.

Invariants:
    - the raw key leaves :meth:`ApiKeyStore.add` once, as its return value, and is never written anywhere;
    - a revoked key stays in the file (with ``revoked_at``) and never authenticates again.
"""

from __future__ import annotations

import builtins
import hashlib
import os
import re
import secrets
import sqlite3
import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from serving.sqlite_state import immediate_transaction

KEY_MARKER = "eliq_"
"""Every key starts with this, so that secret scanners and people recognise one."""
KEY_BYTES = 32
PREFIX_CHARS = len(KEY_MARKER) + 8
"""Characters of the key kept in clear for listings: the marker and 48 random bits."""
DB_FILE = "clients.db"
DEFAULT_STATE_DIR = "serving_state"
_CLIENT_ID = re.compile(r"^\S{1,128}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_hash   TEXT PRIMARY KEY,
    key_prefix TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    admin      INTEGER NOT NULL CHECK (admin IN (0, 1)),
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX IF NOT EXISTS api_keys_client ON api_keys (client_id);
CREATE INDEX IF NOT EXISTS api_keys_prefix ON api_keys (key_prefix);
"""


@dataclass(frozen=True)
class Client:
    """The caller behind an API key.

    Attributes:
        client_id: the tenant; it owns the homes whose ``client_id`` is the same.
        admin: the key may call the admin endpoints.
    """

    client_id: str
    admin: bool = False


def hash_key(raw_key: str) -> str:
    """The SHA-256 of a key, in hex: what the store keeps and looks keys up by."""
    return hashlib.sha256(raw_key.encode("utf-8")).hexdigest()


def store_path(settings: Any) -> Path:
    """Where the key store of a deployment lives: ``<settings.serving.state_dir>/clients.db``.

    Args:
        settings: ``contracts.config.Settings``; without a ``serving`` section the state folder is
            ``serving_state`` in the working directory.
    """
    serving = getattr(settings, "serving", None)
    return Path(getattr(serving, "state_dir", None) or DEFAULT_STATE_DIR) / DB_FILE


class ApiKeyStore:
    """API keys in a SQLite file: add, authenticate, list, revoke.

    Safe to share between threads and processes: every thread (of every process) has its own connection, the
    file runs in WAL mode so that readers never wait for a writer, and each write is one transaction. The file
    and its folder are created on first use.

    Args:
        path: the SQLite file, e.g. :func:`store_path` of the settings.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._schema_lock = threading.Lock()
        self._schema_ready = False

    @classmethod
    def from_settings(cls, settings: Any) -> ApiKeyStore:
        """The store at :func:`store_path` of ``settings``."""
        return cls(store_path(settings))

    def add(self, client_id: str, admin: bool = False) -> str:
        """Create a key for a client (a client may hold several, e.g. while rotating).

        Args:
            client_id: the tenant; 1 to 128 characters, no whitespace.
            admin: the key may call the admin endpoints.

        Returns:
            The new raw key. It is not stored and cannot be shown again.

        Raises:
            ValueError: ``client_id`` is empty, too long or contains whitespace.
        """
        if not _CLIENT_ID.match(client_id):
            raise ValueError(f"client id must be 1 to 128 characters without whitespace, got {client_id!r}")
        raw_key = KEY_MARKER + secrets.token_urlsafe(KEY_BYTES)
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO api_keys (key_hash, key_prefix, client_id, admin, created_at) VALUES (?, ?, ?, ?, ?)",
                (hash_key(raw_key), raw_key[:PREFIX_CHARS], client_id, int(admin), _now()),
            )
        return raw_key

    def authenticate(self, raw_key: str) -> Client | None:
        """The client of an active key, or ``None`` for an unknown or revoked key.

        The key is looked up by its hash, so the time taken does not depend on how much of the key is right.
        """
        if not raw_key:
            return None
        row = (
            self._connection()
            .execute(
                "SELECT client_id, admin FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
                (hash_key(raw_key),),
            )
            .fetchone()
        )
        return None if row is None else Client(client_id=row[0], admin=bool(row[1]))

    def list(self) -> builtins.list[dict[str, Any]]:
        """Every key, active and revoked, oldest first, without the key itself.

        Returns:
            One dict per key: ``client_id``, ``key_prefix``, ``admin`` (bool), ``created_at`` and ``revoked_at``
            (ISO 8601 UTC strings; ``revoked_at`` is ``None`` while the key is active).
        """
        rows = (
            self._connection()
            .execute(
                "SELECT client_id, key_prefix, admin, created_at, revoked_at FROM api_keys "
                "ORDER BY created_at, client_id, key_prefix"
            )
            .fetchall()
        )
        return [
            {"client_id": c, "key_prefix": p, "admin": bool(a), "created_at": ca, "revoked_at": ra}
            for c, p, a, ca, ra in rows
        ]

    def revoke(self, target: str) -> int:
        """Revoke the active keys of a client, or one key given by its listed prefix or in full.

        A client id wins over a key prefix when both would match.

        Args:
            target: a client id, a key prefix as :meth:`list` shows it, or a raw key.

        Returns:
            How many keys were revoked (0 when nothing active matched).
        """
        with self._transaction() as conn:
            revoked_at = _now()
            for column, value in (
                ("client_id", target),
                ("key_prefix", target),
                ("key_hash", hash_key(target)),
            ):
                cursor = conn.execute(
                    f"UPDATE api_keys SET revoked_at = ? WHERE {column} = ? AND revoked_at IS NULL",
                    (revoked_at, value),
                )
                if cursor.rowcount:
                    return int(cursor.rowcount)
        return 0

    def close(self) -> None:
        """Close this thread's connection; the next call opens a new one."""
        held = getattr(self._local, "held", None)
        self._local.held = None
        if held is not None and held[0] == os.getpid():
            held[1].close()

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use (and again in a forked child process)."""
        held = getattr(self._local, "held", None)
        if held is not None and held[0] == os.getpid():
            return held[1]
        self._ensure_schema()
        conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
        self._local.held = (os.getpid(), conn)
        return conn

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction (see :func:`serving.sqlite_state.immediate_transaction`)."""
        return immediate_transaction(self._connection())

    def _ensure_schema(self) -> None:
        with self._schema_lock:
            if self._schema_ready:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with sqlite3.connect(self.path, timeout=10.0, isolation_level=None) as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_SCHEMA)
            conn.close()
            self._schema_ready = True


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
