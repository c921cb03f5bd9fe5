"""The purge: once a deleted home's ``purge_after`` has passed, its data leaves the lake.

Every ``eliq prep run`` purges, before it ingests anything, the homes whose tombstone
(:mod:`data_prep.deleted_homes`) is due at the run's ``now``. For each such home it removes:

- in the raw zone, the home's API profile document (``raw/api_profiles/<home_id>.json``) and its API readings: a
  batch file holding only readings of homes being purged is deleted, one holding other homes' readings too is
  rewritten without them. The manifest entries of deleted files become ``purged``. Files delivered under
  ``--input`` are kept as delivered (immutable copies, usually of many homes); what was derived from them goes;
- in the processed, quarantine, curated and quality zones, every row of the home: staged rows, the processed
  grid and hourly roll-up, the profile and bill tables, quarantined rows, curated consumption, homes and stored
  forecasts, quality tables; and the staged files and quarantine of the API files deleted above;
- last, the tombstone: from then on the id may be used again.

The homes due at one run are planned in one pass over the files, and each file is rewritten once. The feature
tables (``features/``) are rewritten from the curated zone by the next ``eliq features build``; the online store
and the service's ledger forgot the home when it was deleted.

The purge log, ``raw/_purge_log.jsonl``, has one JSON object a line, two per home purged:

- ``{"event": "planned", "home_id", "client_id", "deleted_at", "purge_after", "at", "delete": [paths],
  "rewrite": {path: rows}, "entries": {ingest_seq: {"staged": rows, "quarantined": rows}},
  "purged_entries": [ingest_seq], "api_readings_rows", "api_profile"}``: what the purge is about to remove,
  written before anything is removed;
- ``{"event": "purged", "home_id", "deleted_at", "at", "files_deleted", "files_rewritten", "rows_removed",
  "api_readings_removed", "api_profile_removed"}``: written once it is done.

Invariants:
    A purge is planned once and logged before it removes anything; each step is idempotent and the tombstone goes
    last. A crash leaves every file whole (:meth:`contracts.storage.Lake.write_table` is atomic), and the next run
    finds the tombstone, reuses the logged plan and finishes it. The manifest's row counts come from the logged
    plans (:func:`apply_purge_log`), so each purged row is counted once however often a purge is resumed.
"""

from __future__ import annotations

import json
import posixpath
from datetime import datetime
from typing import Any

import pandas as pd

from contracts.api_zone import API_PROFILES, API_READINGS, encode_name
from contracts.schemas import Source
from contracts.storage import Lake, Zone, home_bucket
from data_prep.deleted_homes import Tombstone
from data_prep.home_rows import drop_home_rows, home_files, home_row_counts
from data_prep.ingest.staging import quarantine_path, staged_dir

PURGE_LOG = "_purge_log.jsonl"
DERIVED_ZONES = (Zone.PROCESSED, Zone.QUARANTINE, Zone.CURATED, Zone.QUALITY)
_SOURCES = frozenset(s.value for s in Source)


def read_purge_log(lake: Lake) -> list[dict[str, Any]]:
    """Every record of the purge log, oldest first (empty before the first purge)."""
    path = lake.path(Zone.RAW, PURGE_LOG)
    if not lake.exists(path):
        return []
    return [json.loads(line) for line in lake.read_bytes(path).decode().splitlines() if line.strip()]


def _append(lake: Lake, records: list[dict[str, Any]]) -> None:
    """Add records to the log: the whole file is written again, atomically (the log is small)."""
    if not records:
        return
    path = lake.path(Zone.RAW, PURGE_LOG)
    before = lake.read_bytes(path) if lake.exists(path) else b""
    lines = b"".join(json.dumps(r, sort_keys=True).encode() + b"\n" for r in records)
    lake.write_bytes(path, before + lines)


def purge_due_homes(
    lake: Lake, manifest: pd.DataFrame, tombstones: list[Tombstone], n_buckets: int, now: datetime
) -> list[str]:
    """Purge every home whose tombstone is due at ``now``; returns the homes purged.

    The due homes are planned together (one pass over the lake's files) and purged together (each file rewritten
    once, without all of their rows).

    Args:
        lake: the lake.
        manifest: the raw zone's manifest (read only: :func:`apply_purge_log` updates it from the log).
        tombstones: the lake's tombstones.
        n_buckets: the home buckets of the zones (``prep.n_buckets``).
        now: the time of the run [UTC].
    """
    due = [t for t in tombstones if t.is_due(now)]
    if not due:
        return []
    records = read_purge_log(lake)
    planned = {_key(r): r for r in records if r["event"] == "planned"}
    done = {_key(r) for r in records if r["event"] == "purged"}
    fresh = plan_purges(lake, manifest, [t for t in due if _tombstone_key(t) not in planned], n_buckets, now)
    _append(lake, fresh)
    planned.update({_key(plan): plan for plan in fresh})
    plans = [planned[_tombstone_key(t)] for t in due]
    execute_purges(lake, plans)
    _append(lake, [_summary(plan, now) for plan in plans if _key(plan) not in done])
    lake.rm([t.path for t in due])
    return [t.home_id for t in due]


def _key(record: dict[str, Any]) -> tuple[str, str]:
    return record["home_id"], record["deleted_at"]


def _tombstone_key(tombstone: Tombstone) -> tuple[str, str]:
    return tombstone.home_id, tombstone.deleted_at.isoformat()


def plan_purges(
    lake: Lake, manifest: pd.DataFrame, tombstones: list[Tombstone], n_buckets: int, now: datetime
) -> list[dict[str, Any]]:
    """What purging the homes of ``tombstones`` removes: one ``planned`` record each (see the module)."""
    plans = {t.home_id: _empty_plan(t, now) for t in tombstones}
    if plans:
        _plan_raw(lake, manifest, tombstones, plans)
        _plan_derived(lake, manifest, plans, n_buckets)
    return list(plans.values())


def _empty_plan(tombstone: Tombstone, now: datetime) -> dict[str, Any]:
    return {
        "event": "planned",
        "home_id": tombstone.home_id,
        "client_id": tombstone.client_id,
        "deleted_at": tombstone.deleted_at.isoformat(),
        "purge_after": tombstone.purge_after.isoformat(),
        "at": now.isoformat(),
        "delete": [],
        "rewrite": {},
        "entries": {},
        "purged_entries": [],
        "api_readings_rows": 0,
        "api_profile": False,
    }


def _plan_raw(
    lake: Lake, manifest: pd.DataFrame, tombstones: list[Tombstone], plans: dict[str, dict[str, Any]]
) -> None:
    """The homes' API files: profile documents to delete; readings files to delete (only their rows) or rewrite;
    and the staged files and quarantine of every file deleted, whose manifest entries become ``purged``."""
    gone: dict[str, list[str]] = {}
    for home, plan in plans.items():
        document = lake.path(Zone.RAW, API_PROFILES, f"{encode_name(home)}.json")
        gone[home] = [document]
        if lake.exists(document):
            plan["delete"].append(document)
            plan["api_profile"] = True
    by_client: dict[str | None, set[str]] = {}
    for tombstone in tombstones:
        by_client.setdefault(tombstone.client_id, set()).add(tombstone.home_id)
    for client, homes in by_client.items():
        for path in _api_readings_files(lake, client):
            counts, total = home_row_counts(lake, path, homes)
            for home, rows in counts.items():
                plans[home]["api_readings_rows"] += rows
                if sum(counts.values()) == total:  # nothing but due homes' readings: the file goes
                    plans[home]["delete"].append(path)
                    gone[home].append(path)
                else:
                    plans[home]["rewrite"][path] = rows
    for home, plan in plans.items():
        entries = manifest[manifest["raw_path"].isin(gone[home])]
        plan["purged_entries"] = sorted(int(seq) for seq in entries["ingest_seq"])
        for entry in entries.itertuples():
            source, sha = str(entry.source), str(entry.sha256)
            for path in (staged_dir(lake, source, sha), quarantine_path(lake, source, sha)):
                if lake.exists(path):
                    plan["delete"].append(path)


def _api_readings_files(lake: Lake, client: str | None) -> list[str]:
    """The API's readings files of ``client`` (of every client when ``None``)."""
    folder = lake.path(Zone.RAW, API_READINGS)
    if client is not None:  # a home's readings are under its own client's folder
        folder = posixpath.join(folder, f"client={encode_name(client)}")
    if not lake.exists(folder):
        return []
    return sorted(p for p in lake.fs.find(folder) if p.endswith(".parquet"))


def _plan_derived(
    lake: Lake, manifest: pd.DataFrame, plans: dict[str, dict[str, Any]], n_buckets: int
) -> None:
    """The homes' rows in the derived zones, and how many of them were each manifest entry's staged rows or its
    own quarantine."""
    deleted = {p for plan in plans.values() for p in plan["delete"]}
    skipped = tuple(f"{p}/" for p in deleted)
    seq_of = dict(zip(manifest["sha256"].str[:16], manifest["ingest_seq"].astype(int), strict=True))
    buckets = {home_bucket(home, n_buckets) for home in plans}
    for path in home_files(lake, DERIVED_ZONES, buckets):
        if path in deleted or path.startswith(skipped):
            continue
        counts, _ = home_row_counts(lake, path, plans.keys())
        kind, sha16 = _entry_part(lake, path)
        for home, rows in counts.items():
            plans[home]["rewrite"][path] = rows
            if kind is not None and sha16 in seq_of:
                tally = plans[home]["entries"].setdefault(str(seq_of[sha16]), {"staged": 0, "quarantined": 0})
                tally[kind] += rows


def _entry_part(lake: Lake, path: str) -> tuple[str | None, str]:
    """Whether ``path`` is a file's staged rows (``staged``) or its own quarantine (``quarantined``), and the
    file's hash prefix; (None, "") for any other table."""
    parts = posixpath.relpath(path, lake.root).split("/")
    if parts[:2] == [Zone.PROCESSED.value, "_parsed"] and len(parts) == 5 and parts[2] in _SOURCES:
        return "staged", parts[3]
    if parts[0] == Zone.QUARANTINE.value and len(parts) == 3 and parts[1] in _SOURCES:
        return "quarantined", parts[2].removesuffix(".parquet")
    return None, ""


def execute_purges(lake: Lake, plans: list[dict[str, Any]]) -> None:
    """Carry out plans: rewrite each of their files once without their homes' rows, then delete their files.

    Idempotent: a file already without the rows is left as it is, a file already deleted is skipped.
    """
    drops: dict[str, set[str]] = {}
    for plan in plans:
        for path in plan["rewrite"]:
            drops.setdefault(path, set()).add(plan["home_id"])
    for path, homes in sorted(drops.items()):
        drop_home_rows(lake, path, homes)
    lake.rm(sorted({p for plan in plans for p in plan["delete"]}))


def _summary(plan: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "event": "purged",
        "home_id": plan["home_id"],
        "deleted_at": plan["deleted_at"],
        "at": now.isoformat(),
        "files_deleted": len(plan["delete"]),
        "files_rewritten": len(plan["rewrite"]),
        "rows_removed": int(sum(plan["rewrite"].values())),  # from the files rewritten
        "api_readings_removed": plan["api_readings_rows"],
        "api_profile_removed": plan["api_profile"],
    }


def apply_purge_log(manifest: pd.DataFrame, records: list[dict[str, Any]]) -> pd.DataFrame:
    """Mark the entries of purged files ``purged`` in ``manifest`` (in place), and return the rows each other entry
    lost to purges.

    Returns:
        ``staged`` and ``quarantined`` rows purged, indexed by ``ingest_seq`` (entries never purged are absent).
    """
    plans = [r for r in records if r["event"] == "planned"]
    gone = {int(seq) for plan in plans for seq in plan["purged_entries"]}
    rows_gone = manifest["ingest_seq"].isin(gone)
    manifest.loc[rows_gone, "status"] = "purged"
    manifest.loc[rows_gone, "committed"] = True
    rows = [{"ingest_seq": int(seq), **tally} for plan in plans for seq, tally in plan["entries"].items()]
    if not rows:
        return pd.DataFrame(
            columns=["staged", "quarantined"], index=pd.Index([], name="ingest_seq"), dtype="int64"
        )
    return pd.DataFrame(rows).groupby("ingest_seq")[["staged", "quarantined"]].sum()


def purged_homes(records: list[dict[str, Any]]) -> set[str]:
    """The homes the log says were purged."""
    return {r["home_id"] for r in records if r["event"] == "purged"}
