"""Find what the service's data-management API wrote into the lake since the last prep run.

The service writes readings and profiles straight into the raw zone (:mod:`contracts.api_zone`); a prep run reads
them from there as two more inputs, beside the files under ``--input``:

- ``raw/api_readings/client=<c>/date=<d>/<batch_id>.parquet`` is a readings file (logical name
  ``api_readings/client=<c>/date=<d>/<batch_id>.parquet``). The service writes each batch file once, so a path the
  manifest already holds is not read again.
- ``raw/api_profiles/<home_id>.json`` is a profiles file (logical name ``api_profiles/<home_id>.json``). ``PUT``
  replaces the document in place, so each one is hashed at every run; a new hash supersedes the home's earlier
  document, as a re-delivered input file does. A document replaced between its hashing and its staging is staged
  as it is then; the next run sees a new hash and stages it once more, with the same content.

Tombstones (``raw/api_profiles/_deleted/``) are not inputs: :mod:`data_prep.deleted_homes` reads them.
"""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass

import pandas as pd

from contracts.api_zone import API_PROFILES, API_READINGS
from contracts.schemas import Source
from contracts.storage import Lake, Zone


@dataclass(frozen=True)
class LakeInput:
    """A file already in the lake that a prep run ingests where it is.

    Attributes:
        source: the contract it follows.
        path: its path in the lake (it becomes the manifest's ``raw_path``).
        logical_name: ``api_readings/…`` or ``api_profiles/…``; a later file of the same name supersedes it.
        sha256: its content hash when it was listed.
        size_bytes: its size [bytes].
    """

    source: Source
    path: str
    logical_name: str
    sha256: str
    size_bytes: int


def discover_api_inputs(
    lake: Lake, manifest: pd.DataFrame, sources: set[Source] | None = None
) -> list[LakeInput]:
    """The API's readings files not in ``manifest`` yet, and its profile documents (each with its current hash).

    Args:
        lake: the lake the service writes to.
        manifest: the raw zone's manifest.
        sources: only these sources; all when ``None``.
    """
    found: list[LakeInput] = []
    if sources is None or Source.READINGS in sources:
        found += _new_readings_files(lake, set(manifest["raw_path"].dropna()))
    if sources is None or Source.PROFILES in sources:
        found += _profile_documents(lake)
    return found


def _new_readings_files(lake: Lake, known: set[str]) -> list[LakeInput]:
    root = lake.path(Zone.RAW, API_READINGS)
    paths = [p for p in lake.glob(f"{root}/client=*/date=*/*.parquet") if p not in known]
    found = []
    for path in paths:
        sha, size = hashlib.sha256(), 0
        with lake.fs.open(path, "rb") as handle:
            while chunk := handle.read(8 << 20):
                sha.update(chunk)
                size += len(chunk)
        name = posixpath.join(API_READINGS, posixpath.relpath(path, root))
        found.append(LakeInput(Source.READINGS, path, name, sha.hexdigest(), size))
    return found


def _profile_documents(lake: Lake) -> list[LakeInput]:
    paths = lake.glob(lake.path(Zone.RAW, API_PROFILES, "*.json"))
    if not paths:
        return []
    contents = lake.fs.cat(paths)  # one request per file, concurrent on remote filesystems
    return [
        LakeInput(
            Source.PROFILES,
            path,
            posixpath.join(API_PROFILES, posixpath.basename(path)),
            hashlib.sha256(data).hexdigest(),
            len(data),
        )
        for path, data in sorted(contents.items())
    ]
