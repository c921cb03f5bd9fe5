"""What a prep run does about homes deleted through the service's API, around its usual work.

Before ingesting (:func:`begin_lifecycle`): purge every home whose retention period is over (:mod:`data_prep.purge`),
bring the manifest up to date with the purge log, and work out which homes the curated zone leaves out
(:mod:`data_prep.deleted_homes`). After rebuilding buckets (:func:`finish_lifecycle`): clear the newly deleted homes
out of the curated files the run did not rebuild, and record the exclusions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from contracts.storage import Lake, home_bucket
from data_prep.deleted_homes import (
    CuratedExclusions,
    exclude_from_curated,
    plan_exclusions,
    read_tombstones,
    write_exclusions,
)
from data_prep.purge import apply_purge_log, purge_due_homes, purged_homes, read_purge_log


@dataclass(frozen=True)
class LifecycleStart:
    """The state of deleted homes at the start of a run.

    Attributes:
        purged: the homes purged by this run.
        exclusions: the homes the curated zone leaves out, and what changed since the last run.
        purged_rows: rows each manifest entry lost to purges (:func:`data_prep.purge.apply_purge_log`).
    """

    purged: tuple[str, ...]
    exclusions: CuratedExclusions
    purged_rows: pd.DataFrame

    def buckets_to_rebuild(self, n_buckets: int) -> set[int]:
        """The buckets of homes whose tombstone went away without a purge, so that they come back."""
        return {home_bucket(h, n_buckets) for h in self.exclusions.restored}


def begin_lifecycle(lake: Lake, manifest: pd.DataFrame, n_buckets: int, now: datetime) -> LifecycleStart:
    """Purge the homes due at ``now``, update ``manifest`` (in place) from the purge log, and plan exclusions.

    Invariants:
        Runs before any ingestion, so a purged home's files are gone before new files are listed.
    """
    tombstones = read_tombstones(lake)
    purged = purge_due_homes(lake, manifest, tombstones, n_buckets, now)
    records = read_purge_log(lake)
    purged_rows = apply_purge_log(manifest, records)
    remaining = [t for t in tombstones if t.home_id not in purged]
    exclusions = plan_exclusions(lake, remaining, purged_homes(records))
    return LifecycleStart(tuple(purged), exclusions, purged_rows)


def finish_lifecycle(lake: Lake, start: LifecycleStart, n_buckets: int) -> int:
    """Remove newly deleted homes' rows from the curated zone, then record the exclusions; returns the rows removed."""
    removed = exclude_from_curated(lake, start.exclusions.newly_excluded, n_buckets)
    write_exclusions(lake, start.exclusions.excluded)
    return removed
