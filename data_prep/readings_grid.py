"""Series-level rules of meter readings: duplicates, interval inference, grid alignment, ranges and the grid itself.

All functions take and return long frames sorted by (``home_id``, ``ts``); per-home work is vectorised with numpy
over the sorted frame, so a bucket of hundreds of homes is a handful of array operations, not a loop.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contracts.schemas import EXPORT_KWH, HOME_ID, INTERVAL_MIN, KWH, PV_KWH, TS, Reason
from data_prep.quality.rules import ReadingRules

VALUE_COLUMNS = (KWH, PV_KWH, EXPORT_KWH)
_MIN = np.int64(60_000_000)  # microseconds per minute


def ts_minutes(ts: pd.Series) -> np.ndarray:
    """Minutes since the epoch of a UTC timestamp column [min]."""
    return ts.array.as_unit("us").asi8 // _MIN


def deduplicate(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep the first-ingested row of each (home, ts); the others go to quarantine.

    A repeat with the same values is a ``duplicate``; with different values, a ``conflicting_duplicate``.

    Invariants:
        - "First" is the lowest (``ingest_seq``, ``line``): the result does not depend on the order files are read
          in.
        - Home ids hold no control characters (:func:`data_prep.ingest.readings.row_checks` quarantines them as
          ``malformed_row``): ``pd.factorize`` hashes object strings only up to a NUL, so ``"h1\\x00x"`` and ``"h1"``
          would be one home here.
    """
    frame = frame.sort_values([HOME_ID, TS, "ingest_seq", "line"], kind="stable", ignore_index=True)
    homes = pd.factorize(frame[HOME_ID])[0]
    stamps = ts_minutes(frame[TS])
    repeat = (homes[1:] == homes[:-1]) & (stamps[1:] == stamps[:-1])
    is_repeat = np.concatenate([[False], repeat])
    if not is_repeat.any():
        return frame, frame.iloc[:0].assign(reason=pd.Series(dtype=object))
    first_of_group = np.maximum.accumulate(np.where(~is_repeat, np.arange(len(frame)), 0))
    same = np.ones(len(frame), dtype=bool)
    for column in VALUE_COLUMNS:
        values = frame[column].to_numpy()
        kept = values[first_of_group]
        same &= (values == kept) | (np.isnan(values) & np.isnan(kept))
    dropped = frame[is_repeat].assign(
        reason=np.where(same[is_repeat], Reason.DUPLICATE.value, Reason.CONFLICTING_DUPLICATE.value)
    )
    return frame[~is_repeat].reset_index(drop=True), dropped


def infer_intervals(frame: pd.DataFrame, known_min: tuple[int, ...] = (15, 30, 60, 1440)) -> pd.DataFrame:
    """Each home's native interval and phase, from the most common step between its readings.

    The interval is the largest known interval that divides the most common step (a 3-hour step between sparse
    hourly readings is hourly), or the step itself when none does.

    Returns:
        One row per home: ``interval_min`` [min] and ``phase_min`` (the usual minute offset of its timestamps
        within the interval, e.g. 30 for hourly data in a zone at UTC+05:30) [min].
    """
    minutes = ts_minutes(frame[TS])
    homes = frame[HOME_ID].to_numpy()
    same_home = np.concatenate([[False], homes[1:] == homes[:-1]])
    steps = pd.DataFrame({HOME_ID: homes[same_home], "step": np.diff(minutes, prepend=0)[same_home]})
    steps = steps[steps["step"] > 0]
    # Daily data in local time steps by 23 h or 25 h across DST changes; it is still daily.
    steps.loc[steps["step"].between(1380, 1500), "step"] = 1440
    modal = _mode_per_home(steps[HOME_ID].to_numpy(), steps["step"].to_numpy())
    interval = modal.map(lambda step: _snap(int(step), known_min))
    result = pd.DataFrame({HOME_ID: pd.unique(homes)}).set_index(HOME_ID)
    result[INTERVAL_MIN] = interval.reindex(result.index).fillna(60).astype(np.int64)
    per_row = result[INTERVAL_MIN].reindex(homes).to_numpy()
    phase = _mode_per_home(homes, minutes % per_row)
    result["phase_min"] = phase.reindex(result.index).astype(np.int64)
    return result.reset_index()


def _mode_per_home(homes: np.ndarray, values: np.ndarray) -> pd.Series:
    """The most common value per home (the smallest on ties)."""
    counts = pd.DataFrame({HOME_ID: homes, "v": values}).value_counts().reset_index(name="n")
    counts = counts.sort_values([HOME_ID, "n", "v"], ascending=[True, False, True], kind="stable")
    return counts.drop_duplicates(HOME_ID).set_index(HOME_ID)["v"]


def _snap(step: int, known_min: tuple[int, ...]) -> int:
    dividing = [k for k in known_min if step % k == 0]
    return max(dividing) if dividing else step


def align(
    frame: pd.DataFrame, intervals: pd.DataFrame, rules: ReadingRules
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Attach each row's slot on its home's grid, convert mean power to energy, and apply the range rule.

    Returns:
        the aligned rows (with ``interval_min`` and ``slot``) and the rows quarantined as ``off_grid_timestamp`` or
        ``out_of_range``.
    """
    info = intervals.set_index(HOME_ID).reindex(frame[HOME_ID])
    interval = info[INTERVAL_MIN].to_numpy()
    phase = info["phase_min"].to_numpy()
    offset = ts_minutes(frame[TS]) - phase
    daily = interval == 1440
    # Daily data in local time moves by an hour with DST: the nearest day is its slot.
    slot = np.where(daily, np.floor_divide(offset + 720, 1440), np.floor_divide(offset, interval))
    off_grid = np.where(daily, np.abs(offset - slot * 1440) > 60, offset % interval != 0)
    frame = frame.assign(**{INTERVAL_MIN: interval, "slot": slot})
    hours = interval / 60.0
    for column in VALUE_COLUMNS:
        values = frame[column].to_numpy(copy=True)
        values[frame["is_mean_kw"].to_numpy()] *= hours[frame["is_mean_kw"].to_numpy()]
        frame[column] = values
    kwh = frame[KWH].to_numpy()
    with np.errstate(invalid="ignore"):
        out_of_range = kwh > rules.max_kw * hours
        if rules.min_kw is not None:
            out_of_range |= kwh < rules.min_kw * hours
    reason = np.full(len(frame), None, dtype=object)
    reason[out_of_range] = Reason.OUT_OF_RANGE.value
    reason[off_grid] = Reason.OFF_GRID_TIMESTAMP.value
    bad = pd.notna(reason)
    return frame[~bad].reset_index(drop=True), frame[bad].assign(reason=reason[bad])


def build_grid(aligned: pd.DataFrame, intervals: pd.DataFrame) -> pd.DataFrame:
    """A regular grid per home from its first to its last reading; absent slots have null values.

    Invariants:
        Every aligned row lands on exactly one slot; slots are consecutive per home; rows stay sorted by home, ts.
    """
    aligned = aligned.sort_values([HOME_ID, "slot"], kind="stable", ignore_index=True)
    bounds = aligned.groupby(HOME_ID, sort=True)["slot"].agg(["min", "max"])
    info = intervals.set_index(HOME_ID).loc[bounds.index]
    lengths = (bounds["max"] - bounds["min"] + 1).to_numpy()
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    total = int(lengths.sum())
    home_of_slot = np.repeat(np.arange(len(bounds)), lengths)
    slot = bounds["min"].to_numpy()[home_of_slot] + (np.arange(total) - starts[home_of_slot])
    interval = info[INTERVAL_MIN].to_numpy()[home_of_slot]
    minutes = (
        np.where(interval == 1440, slot * 1440, slot * interval) + info["phase_min"].to_numpy()[home_of_slot]
    )
    grid = pd.DataFrame(
        {
            HOME_ID: bounds.index.to_numpy()[home_of_slot],
            TS: pd.to_datetime(minutes * _MIN, unit="us", utc=True),
            INTERVAL_MIN: interval.astype(np.int32),
        }
    )
    home_index = pd.Index(bounds.index).get_indexer(aligned[HOME_ID])
    position = starts[home_index] + (aligned["slot"].to_numpy() - bounds["min"].to_numpy()[home_index])
    for column in VALUE_COLUMNS:
        values = np.full(total, np.nan)
        values[position] = aligned[column].to_numpy()
        grid[column] = values
    source = np.full(total, None, dtype=object)
    source[position] = aligned["source_file"].to_numpy()
    grid["source_file"] = source
    observed_ts = np.full(total, np.datetime64("NaT"), dtype="datetime64[us]")
    observed_ts[position] = aligned[TS].array.as_unit("us").asi8.view("datetime64[us]")
    has_obs = ~np.isnat(observed_ts)
    # Observed daily readings keep their own timestamp (local midnight), which DST moves by an hour.
    grid.loc[has_obs, TS] = pd.to_datetime(observed_ts[has_obs]).tz_localize("UTC")
    return grid
