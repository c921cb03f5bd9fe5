"""The regular grid of each home's aligned readings, from its first to its last slot: where each reading lands, and
the grid's columns (the last of the series rules of :mod:`data_prep.readings_grid`).

Invariants:
    Every aligned row lands on exactly one slot; slots are consecutive per home; homes come in code order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from contracts.schemas import HOME_ID, INTERVAL_MIN, TS
from data_prep.readings_grid import MINUTE_US, VALUE_COLUMNS, home_positions
from data_prep.sorted_runs import Coded, combined_key, frame_columns, run_codes, stable_order


@dataclass(frozen=True)
class GridLayout:
    """The regular grid of each home from its first to its last aligned slot (see :func:`grid_layout`).

    Attributes:
        homes: the homes on the grid, as the caller's codes, ascending.
        starts: the first grid row of each home.
        lengths: the grid rows (slots) of each home.
        home_interval: the interval of each home [min].
        minutes: per grid row, the start of its slot [min since the epoch].
        order: the aligned rows in (home, slot) order; None when they are in that order already.
        position: per row of ``order``, its grid row.
    """

    homes: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray
    home_interval: np.ndarray
    minutes: np.ndarray
    order: np.ndarray | None
    position: np.ndarray

    @property
    def n_rows(self) -> int:
        return len(self.minutes)

    def columns(
        self, home_ids: np.ndarray, observed_us: np.ndarray, values: dict[str, Any], source_file: Coded
    ) -> dict[str, Any]:
        """The grid's columns ``home_id``, ``ts``, ``interval_min``, the values and ``source_file``; the text
        columns (``home_id``, ``source_file``) as :class:`~data_prep.sorted_runs.Coded`.

        Args:
            home_ids: the home id of each code.
            observed_us: per aligned row, its own timestamp [us since the epoch].
            values: per aligned row, the value columns [kWh].
            source_file: per aligned row, its file.

        Invariants:
            An observed slot keeps its own timestamp: observed daily readings stay at local midnight, which DST
            moves by an hour.
        """
        ts_ns = self.place(observed_us * 1000, self.minutes * (MINUTE_US * 1000))
        home = Coded.of(np.repeat(np.arange(len(self.homes)), self.lengths), home_ids[self.homes])
        columns: dict[str, Any] = {
            HOME_ID: home,
            TS: pd.DatetimeIndex(ts_ns.view("datetime64[ns]")).tz_localize("UTC").array,
            INTERVAL_MIN: np.repeat(self.home_interval.astype(np.int32), self.lengths),
        }
        for column in VALUE_COLUMNS:
            columns[column] = self.place(values[column], np.full(self.n_rows, np.nan))
        # -1 (no file) where no reading landed
        columns["source_file"] = Coded(
            self.place(source_file.codes, np.full(self.n_rows, -1)), source_file.values
        )
        return columns

    def place(self, per_row: np.ndarray, grid_values: np.ndarray) -> np.ndarray:
        """Put the aligned rows' ``per_row`` values on their grid rows of ``grid_values`` (one per grid row)."""
        grid_values[self.position] = per_row if self.order is None else per_row[self.order]
        return grid_values


def grid_layout(
    home: np.ndarray, slot: np.ndarray, interval_home: np.ndarray, phase_home: np.ndarray
) -> GridLayout:
    """Lay out a regular grid per home from its first to its last aligned slot.

    Args:
        home: per aligned row, its home as a non-negative code that ascends with the home id.
        slot: per aligned row, its slot (:func:`align_rows`).
        interval_home: per home code, its interval [min].
        phase_home: per home code, its phase [min].

    Invariants:
        Every aligned row lands on exactly one slot; slots are consecutive per home; homes come in code order.
    """
    key = combined_key(home, slot)
    if key is not None and bool(np.all(key[1:] >= key[:-1])):
        order = None
    else:
        order = stable_order(home, slot)
        home, slot = home[order], slot[order]
    first = np.flatnonzero(np.append(True, home[1:] != home[:-1])) if len(home) else np.zeros(0, np.int64)
    rows = np.diff(np.append(first, len(home)))
    homes, low = home[first], slot[first]
    lengths = slot[first + rows - 1] - low + 1
    starts = np.cumsum(lengths) - lengths
    interval = interval_home[homes]
    # Slot k of a home starts at k * interval + phase (a daily slot is a day).
    offset = (low - starts) * interval + phase_home[homes]
    minutes = np.repeat(offset, lengths) + np.arange(int(lengths.sum())) * np.repeat(interval, lengths)
    position = slot + np.repeat(starts - low, rows)
    return GridLayout(homes, starts, lengths, interval, minutes, order, position)


def build_grid(aligned: pd.DataFrame, intervals: pd.DataFrame) -> pd.DataFrame:
    """A regular grid per home from its first to its last reading; absent slots have null values.

    Invariants:
        Every aligned row lands on exactly one slot; slots are consecutive per home; rows stay sorted by home, ts.
    """
    home, home_ids = run_codes(aligned[HOME_ID], sort=True)
    at = home_positions(intervals[HOME_ID], home_ids)
    layout = grid_layout(
        home,
        aligned["slot"].to_numpy(),
        intervals[INTERVAL_MIN].to_numpy()[at],
        intervals["phase_min"].to_numpy()[at],
    )
    columns = layout.columns(
        home_ids,
        aligned[TS].array.as_unit("us").asi8,
        {c: aligned[c].to_numpy() for c in VALUE_COLUMNS},
        Coded(*run_codes(aligned["source_file"])),
    )
    return pd.DataFrame(frame_columns(columns), copy=False)
