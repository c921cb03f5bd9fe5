"""The hourly rollup of a bucket's processed readings: 15- and 30-minute homes summed to hours, hourly homes as they
are.

``processed/readings_hourly`` stores the rolled-up homes (:data:`HOURLY_READINGS`); the curated zone joins every
home's hours with weather and prices (:mod:`data_prep.curated_hourly`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from contracts.schemas import EXPORT_KWH, HOME_ID, INTERVAL_MIN, KWH, PV_KWH, TS, QualityFlag
from data_prep.sorted_runs import Coded, group_sums, run_codes, stable_order

# processed/readings_hourly: the schema pa.Table.from_pandas gives a rollup with rows
HOURLY_READINGS = pa.schema(
    [
        pa.field(HOME_ID, pa.string()),
        pa.field(TS, pa.timestamp("ns", tz="UTC")),
        *(pa.field(c, pa.float64()) for c in (KWH, PV_KWH, EXPORT_KWH)),
        pa.field(INTERVAL_MIN, pa.int32()),
        pa.field("quality_flag", pa.string()),
        pa.field("share_imputed", pa.float64()),
    ]
)
_HOURLY_COLUMNS = HOURLY_READINGS.names
# The order is the rank: the worst flag of an hour's slots is the hour's flag.
FLAG_ORDER = (QualityFlag.OK, QualityFlag.IMPUTED, QualityFlag.ANOMALY, QualityFlag.MISSING)
FLAG_VALUES = np.array([f.value for f in FLAG_ORDER], dtype=object)
FLAG_CODE = {f: i for i, f in enumerate(FLAG_ORDER)}


def hourly_rollup(grid: pd.DataFrame, coded: Mapping[str, Coded] | None = None) -> pd.DataFrame:
    """Roll 15- and 30-minute homes up to hours; hourly homes pass through; daily homes are left out.

    An hour's ``kwh`` is null unless every slot in it has a value. ``share_imputed`` is the share of slots imputed;
    ``quality_flag`` is the worst flag of its slots (missing > anomaly > imputed > ok).

    Invariants:
        The hour of a slot is the hour its interval starts in, so an hour's energy covers exactly that hour.
        Rows come sorted by (``home_id``, ``ts``).

    Args:
        grid: the processed frame.
        coded: text columns of ``grid`` as codes (:attr:`BucketResult.coded`), read instead of the strings.
    """
    interval = grid[INTERVAL_MIN].to_numpy()
    flag = Coded.column(grid, "quality_flag", coded)
    filled = grid[KWH].notna().to_numpy() & ~np.append(flag.values == QualityFlag.OK.value, False)[flag.codes]
    hourly_rows = np.flatnonzero(interval == 60)
    columns = {c: _take(grid[c], hourly_rows) for c in _HOURLY_COLUMNS[:-1]}
    columns["share_imputed"] = filled[hourly_rows].astype(float)
    hourly = pd.DataFrame(columns, copy=False)  # fresh arrays: no need to copy them again
    sub_rows = np.flatnonzero(interval < 60)
    if len(sub_rows) == 0:
        return hourly
    rolled = _roll_up_to_hours(grid, sub_rows, filled[sub_rows], flag, (coded or {}).get(HOME_ID))
    both = pd.concat([hourly, rolled], ignore_index=True)
    home, _ = run_codes(both[HOME_ID], sort=True)
    both = both.take(stable_order(home, both[TS].array.asi8))
    both.index = pd.RangeIndex(len(both))
    return both


def _take(column: pd.Series, rows: np.ndarray) -> Any:
    """``rows`` of ``column`` as a new array (numpy, or the column's extension array)."""
    values = column.array if isinstance(column.dtype, pd.api.extensions.ExtensionDtype) else column.to_numpy()
    return values.take(rows)


def _roll_up_to_hours(
    grid: pd.DataFrame, rows: np.ndarray, filled: np.ndarray, flag: Coded, home_coded: Coded | None
) -> pd.DataFrame:
    """The hours of the sub-hourly ``rows`` of ``grid`` (``filled``: per row, a value that was filled in;
    ``flag``: the ``quality_flag`` column; ``home_coded``: the ``home_id`` column, when there)."""
    hour = grid[TS].array.take(rows).floor("h")
    if home_coded is None:
        home, home_ids = run_codes(grid[HOME_ID].iloc[rows], sort=True)
    else:
        ascending = home_coded.ascending()
        home, home_ids = ascending.codes[rows], ascending.values
    order = stable_order(home, hour.asi8)
    rows, home, hour, filled = rows[order], home[order], hour.take(order), filled[order]
    new_hour = np.ones(len(rows), dtype=bool)
    new_hour[1:] = (home[1:] != home[:-1]) | (hour.asi8[1:] != hour.asi8[:-1])
    first = np.flatnonzero(new_hour)
    size = np.diff(np.append(first, len(rows)))
    out: dict[str, Any] = {HOME_ID: home_ids[home[first]], TS: hour.take(first)}
    for column in (KWH, PV_KWH, EXPORT_KWH):
        out[column], count = group_sums(grid[column].to_numpy()[rows], first, size)
        if column == KWH:
            kwh_count = count
    interval = grid[INTERVAL_MIN].to_numpy()[rows][first]
    expected = 60 // interval
    out[KWH][kwh_count < expected] = np.nan
    out[INTERVAL_MIN] = interval
    rank_of_value = np.zeros(len(flag.values) + 1, dtype=np.int64)  # an unknown or missing flag ranks as ok
    for code, value in enumerate(FLAG_VALUES[1:], start=1):
        rank_of_value[:-1][flag.values == value] = code
    worst = np.maximum.reduceat(rank_of_value[flag.codes[rows]], first)
    worst[np.isnan(out[KWH])] = FLAG_CODE[QualityFlag.MISSING]
    out["quality_flag"] = FLAG_VALUES[worst]
    out["share_imputed"] = np.add.reduceat(filled.astype(float), first) / expected
    return pd.DataFrame(out, columns=_HOURLY_COLUMNS, copy=False)
