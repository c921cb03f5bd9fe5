"""Find the input files under a path and the source and spec of each.

An input tree has one top-level folder per source (``readings/``, ``bills/``, ``profiles/``, ``weather/``,
``prices/``). Names starting with ``_`` or ``.`` are skipped (``_truth/`` of the sample data, ``_source.yaml``).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

import fsspec

from contracts.schemas import Source
from data_prep.ingest.source_spec import SourceSpec, spec_from_text

DATA_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".json", ".jsonl", ".ndjson")
SPEC_FILE = "_source.yaml"


@dataclass(frozen=True)
class InputFile:
    """One input file.

    Attributes:
        source: the contract it follows.
        path: its path in ``fs``.
        logical_name: its path relative to the input root; a later file with the same logical name supersedes it.
        spec: the merged declarations that apply to it.
        fs: the filesystem it lives on.
    """

    source: Source
    path: str
    logical_name: str
    spec: SourceSpec
    fs: Any


class InputError(ValueError):
    """The input path holds nothing that can be ingested; the message says why."""


def discover_inputs(
    input_uri: str, spec: SourceSpec | None = None, storage_options: dict[str, Any] | None = None
) -> list[InputFile]:
    """List the input files under ``input_uri`` (a file or a folder, local or any fsspec URI).

    Args:
        input_uri: where the inputs are.
        spec: declarations that override the ``_source.yaml`` files; its ``source`` applies to every file.
        storage_options: fsspec options for the input filesystem.

    Raises:
        InputError: the path does not exist, or a file's source cannot be told.
    """
    fs, root = fsspec.core.url_to_fs(input_uri, **(storage_options or {}))
    root = root.rstrip("/")
    if not fs.exists(root):
        raise InputError(f"input path does not exist: {input_uri}")
    if fs.isfile(root):
        base, files = posixpath.dirname(root), [root]
    else:
        base, files = root, sorted(p for p in fs.find(root) if _is_data_file(root, p))
    inputs = []
    for path in files:
        rel = posixpath.relpath(path, base)
        file_spec = _folder_spec(fs, base, rel).merged(spec)
        source = file_spec.source or _source_from_path(base, rel)
        if source is None:
            raise InputError(
                f"{path}: cannot tell which source this file is; put it under a folder named one of "
                f"{[s.value for s in Source]}, or pass --spec with a 'source:' key"
            )
        inputs.append(InputFile(source, path, rel, file_spec, fs))
    return inputs


def _is_data_file(root: str, path: str) -> bool:
    rel_parts = posixpath.relpath(path, root).split("/")
    if any(part.startswith(("_", ".")) for part in rel_parts):
        return False
    return path.lower().endswith(DATA_SUFFIXES)


def _source_from_path(base: str, rel: str) -> Source | None:
    names = [*posixpath.basename(base).split("/"), *rel.split("/")[:-1]]
    for name in names:
        if name in Source.__members__.values():
            return Source(name)
    return None


def _folder_spec(fs: Any, base: str, rel: str) -> SourceSpec:
    """The ``_source.yaml`` files from the root down to the file's folder, deeper ones winning."""
    spec = SourceSpec()
    folder = base
    for part in ["", *rel.split("/")[:-1]]:
        folder = posixpath.join(folder, part) if part else folder
        candidate = posixpath.join(folder, SPEC_FILE)
        if fs.exists(candidate):
            spec = spec.merged(spec_from_text(fs.cat_file(candidate).decode()))
    return spec
