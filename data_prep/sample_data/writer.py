"""Rendering rows as the input files: readings CSVs (malformed lines included), bills, prices, truth tables.

All bytes go through :class:`contracts.storage.Lake`, whose writes land under a temporary name and are moved
into place when complete.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from data_prep.sample_data.faults import MALFORMED_KINDS, FaultRecord
from data_prep.sample_data.meter import MeterRows

READINGS_HEADER = b"home_id,ts,kwh,pv_kwh,export_kwh\n"
FAULTS_COLUMNS = (
    "fault_id",
    "fault_type",
    "source",
    "file",
    "home_id",
    "ts_start",
    "ts_end",
    "n_rows",
    "detail",
)
_NO_HEADER = pacsv.WriteOptions(include_header=False, quoting_style="none")


def readings_table(rows: MeterRows, labels: pa.Array, value_scale: float = 1.0) -> pa.Table:
    """The rows as an Arrow table with the readings columns (NaN → empty); ``value_scale`` 1000 writes Wh."""

    def values(x: np.ndarray) -> pa.Array:
        return pa.array(np.round(x * value_scale, 3) if value_scale != 1.0 else x, from_pandas=True)

    return pa.table(
        {
            "home_id": pa.array(rows.home_ids.astype(str)).take(pa.array(rows.home)),
            "ts": labels.take(pa.array(rows.label)),
            "kwh": values(rows.kwh),
            "pv_kwh": values(rows.pv_kwh),
            "export_kwh": values(rows.export_kwh),
        }
    )


def write_readings(handle: Any, rows: MeterRows, labels: pa.Array, value_scale: float = 1.0) -> None:
    """Write a readings CSV to an open binary ``handle``; malformed rows become corrupt lines in place."""
    handle.write(READINGS_HEADER)
    table = readings_table(rows, labels, value_scale)
    bad = np.flatnonzero(rows.malformed)
    start = 0
    for i in bad:  # a handful of corrupt lines per file
        if i > start:
            pacsv.write_csv(table.slice(start, i - start), handle, _NO_HEADER)
        handle.write(malformed_line(table, int(i), int(rows.malformed[i])))
        start = int(i) + 1
    if start < len(rows):
        pacsv.write_csv(table.slice(start), handle, _NO_HEADER)


def malformed_line(table: pa.Table, i: int, kind: int) -> bytes:
    """Row ``i`` of ``table`` corrupted as :data:`MALFORMED_KINDS` ``[kind - 1]``."""
    row = {name: table.column(name)[i].as_py() for name in table.column_names}
    fields = [
        row["home_id"],
        row["ts"],
        *("" if row[c] is None else repr(row[c]) for c in ("kwh", "pv_kwh", "export_kwh")),
    ]
    name = MALFORMED_KINDS[kind - 1]
    if name == "extra_field":
        fields.append("x")
    elif name == "text_in_kwh":
        fields[2] = "ERR"
    elif name == "empty_home_id":
        fields[0] = ""
    else:
        fields[1] = fields[1][:11] + "25" + fields[1][13:]  # hour 25
    return (",".join(fields) + "\n").encode()


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """A small frame as CSV bytes (header, no index, ``\\n`` line ends)."""
    return frame.to_csv(index=False, lineterminator="\n").encode()


def write_table_csv(handle: Any, table: pa.Table) -> None:
    """An Arrow table as CSV with an unquoted header."""
    handle.write((",".join(table.column_names) + "\n").encode())
    if table.num_rows:
        pacsv.write_csv(table, handle, _NO_HEADER)


def faults_frame(records: list[FaultRecord]) -> pd.DataFrame:
    """The fault log, numbered ``F000001`` … in log order."""
    frame = pd.DataFrame([r.__dict__ for r in records], columns=list(FAULTS_COLUMNS[1:]))
    frame.insert(0, "fault_id", [f"F{i:06d}" for i in range(1, len(records) + 1)])
    return frame


def truth_readings_table(rows: MeterRows, ts_utc: np.ndarray, interval_min: int) -> pa.Table:
    """Clean readings ``home_id, ts (UTC), kwh, interval_min``; ``ts_utc`` maps ``utc`` codes to times."""
    return pa.table(
        {
            "home_id": pa.array(rows.home_ids.astype(str)).take(pa.array(rows.home)),
            "ts": pa.array(ts_utc[rows.utc], pa.timestamp("us", "UTC")),
            "kwh": rows.kwh,
            "interval_min": pa.array(np.full(len(rows), interval_min, dtype=np.int32)),
        }
    )


def hourly_truth_table(
    home_ids: np.ndarray,
    hours: np.ndarray,
    window: np.ndarray,
    columns: dict[str, np.ndarray],
    decimals: int = 4,
) -> pa.Table:
    """Per home and hour inside ``window`` (n_homes, n_hours): ``home_id, ts`` then ``columns`` rounded."""
    home, hour = np.nonzero(window)
    data: dict[str, Any] = {
        "home_id": pa.array(home_ids.astype(str)).take(pa.array(home)),
        "ts": pa.array(hours[hour], pa.timestamp("us", "UTC")),
    }
    for name, values in columns.items():
        data[name] = np.round(values[home, hour], decimals)
    return pa.table(data)
