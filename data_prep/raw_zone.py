"""The raw zone: every input file as it came, immutable, with a manifest.

Layout: ``raw/<source>/ingest_date=YYYY-MM-DD/<sha256[:16]>__<file name>`` and ``raw/_manifest.parquet``.

Files the service's data-management API wrote into the raw zone (``raw/api_readings/…``, ``raw/api_profiles/…``,
see :mod:`contracts.api_zone`) are recorded where they are, without a copy (:meth:`RawZone.register_in_place`).

Rules:
    - A file whose content hash is already in the manifest is not ingested again (a no-op).
    - A file with the same source and logical name (its path relative to the input root) but new content
      supersedes the earlier one: the earlier raw copy is kept, marked ``superseded``, and its rows leave the
      processed zone when the buckets it touched are rebuilt.
    - A file the purge of a deleted home removed is marked ``purged`` (:mod:`data_prep.purge`).
"""

from __future__ import annotations

import hashlib
import posixpath
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pandas as pd

from contracts.storage import Lake, Zone
from data_prep.ingest.api_inputs import LakeInput
from data_prep.ingest.discovery import InputFile

MANIFEST_COLUMNS = {
    "source": "string",
    "source_file": "string",
    "sha256": "string",
    "raw_path": "string",
    "size_bytes": "int64",
    "ingest_seq": "int64",
    "ingested_at": "datetime64[ns, UTC]",
    "status": "string",
    "superseded_by": "string",
    "rows_in": "Int64",
    "rows_staged": "Int64",
    "rows_processed": "Int64",
    "rows_quarantined": "Int64",
    "rows_purged": "Int64",  # rows of deleted homes a purge removed (data_prep.purge)
    "committed": "bool",
}
_DEFAULTS = {"rows_purged": 0}  # for columns a manifest written by an earlier version lacks


class CopiedFile(NamedTuple):
    """An input file copied into the lake under a temporary name, and its SHA-256."""

    tmp_path: str
    sha256: str


@dataclass(frozen=True)
class Registration:
    """What registering one input file did.

    Attributes:
        sha256: the content hash.
        raw_path: the immutable copy in the lake.
        is_new: False when the same content was ingested before (nothing was written).
        superseded: hashes of earlier versions this file replaced.
    """

    sha256: str
    raw_path: str
    is_new: bool
    superseded: tuple[str, ...] = ()


class RawZone:
    """The raw zone of a lake and its manifest."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.manifest_path = lake.path(Zone.RAW, "_manifest.parquet")

    def read_manifest(self) -> pd.DataFrame:
        if not self.lake.exists(self.manifest_path):
            return pd.DataFrame({c: pd.Series(dtype=t) for c, t in MANIFEST_COLUMNS.items()})
        manifest = self.lake.read_table(self.manifest_path).to_pandas()
        for column, default in _DEFAULTS.items():
            if column not in manifest:
                manifest[column] = default
        return manifest[list(MANIFEST_COLUMNS)].astype(MANIFEST_COLUMNS)

    def write_manifest(self, manifest: pd.DataFrame) -> None:
        import pyarrow as pa

        table = pa.Table.from_pandas(manifest.astype(MANIFEST_COLUMNS), preserve_index=False)
        self.lake.write_table(self.manifest_path, table)

    def copy_in(self, item: InputFile, now: datetime, n: int = 0) -> CopiedFile:
        """Copy ``item`` to a temporary name in the lake, hashing it on the way; ``n`` tells apart the files of one
        run (two folders may hold files of the same name). Touches no shared state: files may be copied at once."""
        tmp = self.lake.path("_tmp", f"incoming-{n}-{posixpath.basename(item.path)}-{now.timestamp()}")
        return CopiedFile(tmp, _copy_hashing(item, self.lake, tmp))

    def register(
        self,
        item: InputFile,
        manifest: pd.DataFrame,
        now: datetime | None = None,
        copied: CopiedFile | None = None,
    ) -> Registration:
        """Copy ``item`` into the raw zone (hashing it on the way) and record it in ``manifest`` (in place).

        Args:
            copied: the file's :meth:`copy_in`, when it was copied already.

        The caller writes the manifest back once the run's work on the file is committed.
        """
        now = now or datetime.now(UTC)
        tmp, digest = copied or self.copy_in(item, now)
        known = manifest["sha256"] == digest
        if known.any():
            self.lake.rm([tmp])
            return Registration(digest, str(manifest.loc[known, "raw_path"].iloc[0]), is_new=False)
        raw_path = self.lake.path(
            Zone.RAW,
            item.source.value,
            f"ingest_date={now:%Y-%m-%d}",
            f"{digest[:16]}__{posixpath.basename(item.path)}",
        )
        self.lake.fs.makedirs(posixpath.dirname(raw_path), exist_ok=True)
        self.lake.fs.mv(tmp, raw_path)
        size = int(self.lake.fs.size(raw_path))
        return _record(manifest, item.source.value, item.logical_name, digest, raw_path, size, now)

    def register_in_place(self, item: LakeInput, manifest: pd.DataFrame, now: datetime) -> Registration:
        """Record ``item``, a file the lake already holds, in ``manifest`` (in place) without copying it.

        The entry's ``raw_path`` is the file itself. When the active entry of the same logical name has the same
        hash, nothing changes; when a superseded one has it (a profile set back to an earlier document), that
        entry becomes active again and the current one is superseded, without staging anything again.
        """
        same_name = (manifest["source"] == item.source.value) & (manifest["source_file"] == item.logical_name)
        same = same_name & (manifest["sha256"] == item.sha256)
        status = manifest.loc[same, "status"]
        if (status == "active").any():
            return Registration(item.sha256, item.path, is_new=False)
        if (status == "superseded").any():
            current = same_name & (manifest["status"] == "active")
            _set(manifest, current, status="superseded", superseded_by=item.sha256, committed=False)
            _set(manifest, same, status="active", superseded_by=None, committed=False)
            return Registration(item.sha256, item.path, is_new=False)
        if (status == "purged").any():  # a home id reused after its purge, with the very same document
            row = int(manifest.index[same][0])
            return _record(
                manifest,
                item.source.value,
                item.logical_name,
                item.sha256,
                item.path,
                item.size_bytes,
                now,
                row,
            )
        if (manifest["sha256"] == item.sha256).any():  # the same bytes under another name: nothing new
            return Registration(item.sha256, item.path, is_new=False)
        return _record(
            manifest, item.source.value, item.logical_name, item.sha256, item.path, item.size_bytes, now
        )


def _record(
    manifest: pd.DataFrame,
    source: str,
    logical_name: str,
    digest: str,
    raw_path: str,
    size_bytes: int,
    now: datetime,
    row: int | None = None,
) -> Registration:
    """Add the entry of a new file to ``manifest`` (in place), superseding the active one of its logical name.

    ``row`` reuses a purged entry of the same hash (its staged rows are gone) instead of adding one, so that a hash
    stays one entry; it takes a new ``ingest_seq``, which is what the purge log names entries by.
    """
    older = (
        (manifest["source"] == source)
        & (manifest["source_file"] == logical_name)
        & (manifest["status"] == "active")
    )
    superseded = tuple(manifest.loc[older, "sha256"])
    manifest.loc[older, "status"] = "superseded"
    manifest.loc[older, "superseded_by"] = digest
    # The buckets the old version touched must be rebuilt without it.
    manifest.loc[older, "committed"] = False
    seq = int(manifest["ingest_seq"].max()) + 1 if len(manifest) else 0
    entry: dict[str, Any] = {
        "source": source,
        "source_file": logical_name,
        "sha256": digest,
        "raw_path": raw_path,
        "size_bytes": size_bytes,
        "ingest_seq": seq,
        "ingested_at": pd.Timestamp(now),
        "status": "active",
        "superseded_by": None,
        "rows_in": pd.NA,
        "rows_staged": pd.NA,
        "rows_processed": pd.NA,
        "rows_quarantined": pd.NA,
        "rows_purged": 0,
        "committed": False,
    }
    with warnings.catch_warnings():
        # pandas warns that all-NA entries (the counts, filled later) will keep their dtype; they do here.
        warnings.simplefilter("ignore", FutureWarning)
        manifest.loc[len(manifest) if row is None else row] = entry
    return Registration(digest, raw_path, is_new=True, superseded=superseded)


def _set(manifest: pd.DataFrame, rows: pd.Series, **values: str | bool | None) -> None:
    """Set ``values`` (column → value) on the ``rows`` of ``manifest``, in place."""
    for column, value in values.items():
        manifest.loc[rows, column] = value


def _copy_hashing(item: InputFile, lake: Lake, target: str) -> str:
    """Copy the file to ``target`` in one pass, returning its SHA-256."""
    sha = hashlib.sha256()
    lake.fs.makedirs(posixpath.dirname(target), exist_ok=True)
    with item.fs.open(item.path, "rb") as src, lake.fs.open(target, "wb") as dst:
        while chunk := src.read(8 << 20):
            sha.update(chunk)
            dst.write(chunk)
    return sha.hexdigest()
