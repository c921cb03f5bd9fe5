"""Writing an export: the table in csv, parquet or xlsx, with its metadata (the ``about`` sheet of an xlsx file, the
sidecar ``<out>.meta.json`` of the other formats, and the parquet schema's metadata).

Invariants:
    The files appear under their names only when complete (temp file + rename); a crash leaves none.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd


def write_export(frame: pd.DataFrame, metadata: dict[str, Any], fmt: str, out: Path) -> Path | None:
    """Write ``frame`` to ``out`` and, except for xlsx, the sidecar ``<out>.meta.json``; returns the sidecar.

    Both go to hidden temp files beside their targets first; the sidecar is renamed into place before the data
    file, so a data file never appears without its metadata. Any failure removes the temp files.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    sidecar = out.with_name(out.name + ".meta.json") if fmt != "xlsx" else None
    temps = {path: path.with_name(f".{uuid.uuid4().hex}-{path.name}") for path in (sidecar, out) if path}
    try:
        _WRITERS[fmt](frame, metadata, temps[out])
        if sidecar is not None:
            temps[sidecar].write_text(json.dumps(metadata, indent=2, ensure_ascii=False) + "\n")
        for path, temp in temps.items():
            os.replace(temp, path)
    finally:
        for temp in temps.values():
            temp.unlink(missing_ok=True)
    return sidecar


def _write_csv(frame: pd.DataFrame, metadata: dict[str, Any], path: Path) -> None:
    _as_text(frame).to_csv(path, index=False, na_rep="")


def _write_parquet(frame: pd.DataFrame, metadata: dict[str, Any], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    schema_metadata = {**(table.schema.metadata or {}), b"eliq.export": json.dumps(metadata).encode()}
    pq.write_table(table.replace_schema_metadata(schema_metadata), path, compression="snappy")


def _write_xlsx(frame: pd.DataFrame, metadata: dict[str, Any], path: Path) -> None:
    about = _about_rows(metadata)
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        pd.DataFrame(about, columns=["field", "value"]).to_excel(writer, sheet_name="about", index=False)
        _as_text(frame).to_excel(writer, sheet_name="forecasts", index=False, na_rep="")
        writer.sheets["about"].column_dimensions["A"].width = 22
        writer.sheets["about"].column_dimensions["B"].width = 100


_WRITERS: dict[str, Callable[[pd.DataFrame, dict[str, Any], Path], None]] = {
    "csv": _write_csv,
    "parquet": _write_parquet,
    "xlsx": _write_xlsx,
}


def _about_rows(metadata: dict[str, Any]) -> list[tuple[str, Any]]:
    period = metadata["period"]
    rows: list[tuple[str, Any]] = [
        ("client", metadata["client_id"]),
        ("period", f"{period['from'] or 'start'} to {period['to'] or 'end'} (the 'to' date is not included)"),
        ("model versions", ", ".join(metadata["model_versions"])),
        ("generated at", f"{metadata['generated_at']['first']} to {metadata['generated_at']['last']} (UTC)"),
        ("issue times", f"{metadata['issue_times']['first']} to {metadata['issue_times']['last']} (UTC)"),
        ("exported at", metadata["exported_at"]),
        ("row count", metadata["row_count"]),
        ("home count", metadata["home_count"]),
        ("rows included", metadata["rows_included"]),
        ("", ""),
        ("column", "description"),
    ]
    return rows + [(c["name"], c["description"]) for c in metadata["columns"]]


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Instants as ISO 8601 UTC text (``...Z``): csv and xlsx have no time-zone-aware type."""
    text = frame.copy()
    for column in ("issue_time", "generated_at"):
        text[column] = text[column].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return text
