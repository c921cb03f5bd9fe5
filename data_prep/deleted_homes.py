"""Homes deleted through the service's API: their tombstones, and keeping them out of the curated zone.

``DELETE /homes/{home_id}`` writes a tombstone, ``raw/api_profiles/_deleted/<home_id>.json``, with ``deleted_at``
and ``purge_after`` (:mod:`contracts.api_zone`). From the next prep run on, a tombstoned home is out of the curated
zone: the homes table, hourly, daily and monthly consumption and the stored forecasts. ``eliq features build`` and
``materialize`` read the curated zone, so they never load the home back into the online store. Its raw and
processed data stay, as the retention rule promises, until the purge (:mod:`data_prep.purge`).

State: ``raw/_curated_exclusions.json`` lists the homes the curated zone was cleared of at the last run, so that a
run clears only the newly deleted ones, and rebuilds the buckets of a home whose tombstone was taken away by hand
(an undelete) before its purge.

Invariants:
    The state is written after the curated files are cleared: a crash in between clears them again, which finds
    nothing left to remove.
"""

from __future__ import annotations

import json
import logging
import posixpath
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from contracts.api_zone import API_PROFILES, DELETED, RETENTION_DAYS, decode_name
from contracts.schemas import HOME_ID
from contracts.storage import Lake, Zone, home_bucket
from data_prep.home_rows import drop_home_rows, home_files

log = logging.getLogger(__name__)

EXCLUSIONS_FILE = "_curated_exclusions.json"


@dataclass(frozen=True)
class Tombstone:
    """A home deleted through the API.

    Attributes:
        home_id: the home.
        client_id: the client that deleted it (``None`` when the tombstone does not say).
        deleted_at: when it was deleted [UTC].
        purge_after: when its lake data may be purged [UTC].
        path: the tombstone file.
    """

    home_id: str
    client_id: str | None
    deleted_at: datetime
    purge_after: datetime
    path: str

    def is_due(self, now: datetime) -> bool:
        """Whether the retention period is over at ``now``."""
        return self.purge_after <= now


def read_tombstones(lake: Lake) -> list[Tombstone]:
    """Every tombstone in the lake, by home id.

    A tombstone without a readable ``home_id`` is named by its file; one without a readable ``purge_after`` is due
    :data:`~contracts.api_zone.RETENTION_DAYS` after ``deleted_at``, and one without that either is never due
    (its home stays out of the curated zone; a warning names the file).
    """
    paths = lake.glob(lake.path(Zone.RAW, API_PROFILES, DELETED, "*.json"))
    contents = lake.fs.cat(paths) if paths else {}
    return sorted((_tombstone(path, data) for path, data in contents.items()), key=lambda t: t.home_id)


def _tombstone(path: str, data: bytes) -> Tombstone:
    try:
        document = json.loads(data)
    except ValueError:
        document = {}
    document = document if isinstance(document, dict) else {}
    home_id = document.get(HOME_ID)
    if not isinstance(home_id, str):
        home_id = decode_name(posixpath.basename(path).removesuffix(".json"))
    deleted_at = _moment(document.get("deleted_at"))
    purge_after = _moment(document.get("purge_after"))
    if purge_after is None and deleted_at is not None:
        purge_after = deleted_at + timedelta(days=RETENTION_DAYS)
    if deleted_at is None or purge_after is None:
        log.warning(
            "tombstone %s has no readable deleted_at: the home is kept out of curated, never purged", path
        )
    never = datetime.max.replace(tzinfo=UTC)
    client = document.get("client_id")
    return Tombstone(
        home_id,
        client if isinstance(client, str) else None,
        deleted_at or never,
        purge_after or never,
        path,
    )


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


@dataclass(frozen=True)
class CuratedExclusions:
    """Which homes the curated zone leaves out at this run.

    Attributes:
        excluded: every tombstoned home not purged yet.
        newly_excluded: those the curated zone still holds rows of (not excluded at the last run).
        restored: homes excluded at the last run whose tombstone is gone without a purge; their buckets are
            rebuilt so that they come back.
    """

    excluded: frozenset[str]
    newly_excluded: frozenset[str]
    restored: frozenset[str]


def plan_exclusions(
    lake: Lake, tombstones: Collection[Tombstone], purged: Collection[str]
) -> CuratedExclusions:
    """Compare the tombstones with the homes excluded at the last run.

    Args:
        lake: the lake.
        tombstones: the tombstones left after this run's purge.
        purged: the homes purged (at this run or any earlier one): they are gone, not restored.
    """
    excluded = frozenset(t.home_id for t in tombstones)
    before = _read_exclusions(lake)
    return CuratedExclusions(excluded, excluded - before, frozenset(before - excluded - set(purged)))


def exclude_from_curated(lake: Lake, homes: Collection[str], n_buckets: int) -> int:
    """Remove the rows of ``homes`` from every curated file; returns the rows removed."""
    if not homes:
        return 0
    buckets = {home_bucket(h, n_buckets) for h in homes}
    return sum(drop_home_rows(lake, path, homes) for path in home_files(lake, [Zone.CURATED], buckets))


def write_exclusions(lake: Lake, excluded: Collection[str]) -> None:
    """Record the homes the curated zone now leaves out."""
    body = json.dumps({"homes": sorted(excluded)}, indent=1).encode()
    lake.write_bytes(lake.path(Zone.RAW, EXCLUSIONS_FILE), body)


def _read_exclusions(lake: Lake) -> frozenset[str]:
    path = lake.path(Zone.RAW, EXCLUSIONS_FILE)
    if not lake.exists(path):
        return frozenset()
    return frozenset(json.loads(lake.read_bytes(path)).get("homes", []))
