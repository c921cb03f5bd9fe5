"""Training frames: the curated hourly long frame of a set of homes and a period, and its dense panel form.

The curated zone holds one long frame (``home_id``, ``ts``, ``kwh``, weather, price). Feature building indexes it
by (home, hour) millions of times, so :class:`HourlyPanel` holds the same values as dense ``(n_homes, n_hours)``
arrays on one UTC hour axis, with a local calendar per home and the home attributes aligned to its rows.

Invariants:
    Hour ``j`` of the axis is the interval ``[axis_start + j h, axis_start + (j + 1) h)`` in UTC. A reading at hour
    ``j`` is known from the end of its interval on, i.e. at any issue hour ``I > j``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from contracts.schemas import GHI_W_M2, HOME_ID, KWH, TEMP_C, TS
from contracts.storage import Lake, Zone
from training.forecast.local_calendar import LocalCalendar

PANEL_VALUES = (KWH, TEMP_C, GHI_W_M2)
DEFAULT_PAD_HOURS = 70 * 24  # room after the last reading for targets: the end of the next month at most [h]
_HOUR_NS = 3_600_000_000_000


def load_homes(lake: Lake) -> pd.DataFrame:
    """The curated home attributes (``curated/homes/homes.parquet``), one row per home."""
    return lake.read_table(lake.path(Zone.CURATED, "homes", "homes.parquet")).to_pandas()


def load_hourly_frame(
    lake: Lake,
    homes: list[str] | None = None,
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
    columns: tuple[str, ...] = (HOME_ID, TS, *PANEL_VALUES),
) -> pd.DataFrame:
    """The curated hourly rows of ``homes`` (all when ``None``) with ``start <= ts < end``.

    Args:
        lake: the lake.
        homes: home ids to read; ``None`` reads every home.
        start: first hour start, inclusive [UTC]; ``None`` from the first reading.
        end: last hour start, exclusive [UTC]; ``None`` to the last reading.
        columns: the columns to read.

    Returns:
        The long frame, sorted by ``home_id`` and ``ts``.
    """
    import pyarrow.dataset as ds

    folder = lake.path(Zone.CURATED, "consumption_hourly")
    if not lake.exists(folder):
        return pd.DataFrame(columns=list(columns))
    expression = None
    conditions = []
    if homes is not None:
        conditions.append(ds.field(HOME_ID).isin(list(homes)))
    if start is not None:
        conditions.append(ds.field(TS) >= _utc(start))
    if end is not None:
        conditions.append(ds.field(TS) < _utc(end))
    for condition in conditions:
        expression = condition if expression is None else expression & condition
    table = lake.read_table(folder, columns=list(columns), filters=expression)
    return table.to_pandas().sort_values([HOME_ID, TS], ignore_index=True)


def _utc(value: pd.Timestamp | str) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def utc_hours(ts: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Whole hours since the Unix epoch of UTC timestamps (floored) [h]."""
    values = pd.DatetimeIndex(ts).as_unit("ns").asi8
    return np.floor_divide(values, _HOUR_NS)


@dataclass
class HourlyPanel:
    """Hourly values of many homes as dense arrays on one UTC hour axis.

    Attributes:
        home_ids: the homes, in row order.
        axis_start: hours since the Unix epoch of the axis's first hour [h].
        values: ``kwh`` [kWh], ``temp_c`` [°C], ``ghi_w_m2`` [W/m²], each ``(n_homes, n_hours)`` float32, NaN where
            unknown (no reading, no weather point, or beyond the data).
        homes: home attributes, one row per home in ``home_ids`` order (NaN where the home has no profile).
        calendar: local clock and free days of each home on the axis.
        first_reading: axis index of each home's first hour with a kWh value (``n_hours`` when none).
        cache: arrays derived from ``values`` (trailing sums, daily totals), built on first use by their owners.
    """

    home_ids: pd.Index
    axis_start: int
    values: dict[str, np.ndarray]
    homes: pd.DataFrame
    calendar: LocalCalendar
    first_reading: np.ndarray
    cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_frames(
        cls, hourly: pd.DataFrame, homes: pd.DataFrame, pad_hours: int = DEFAULT_PAD_HOURS
    ) -> HourlyPanel:
        """Build the panel from a curated hourly long frame and the curated home attributes.

        Args:
            hourly: ``home_id``, ``ts`` and any of ``kwh``, ``temp_c``, ``ghi_w_m2``; missing columns are all-NaN.
            homes: curated home attributes; homes of ``hourly`` without a row get NaN attributes and UTC clocks.
            pad_hours: hours added after the last reading so that forecast targets have a calendar [h].
        """
        if hourly.empty:
            raise ValueError("no hourly rows: the panel needs at least one reading")
        home_ids = pd.Index(pd.unique(hourly[HOME_ID]), name=HOME_ID).sort_values()
        hours = utc_hours(hourly[TS])
        axis_start = int(hours.min())
        n_hours = int(hours.max()) - axis_start + 1 + pad_hours
        row, col = home_ids.get_indexer(pd.Index(hourly[HOME_ID])), hours - axis_start
        values = {}
        for name in PANEL_VALUES:
            array = np.full((len(home_ids), n_hours), np.nan, dtype=np.float32)
            if name in hourly.columns:
                array[row, col] = hourly[name].to_numpy(dtype=np.float32, na_value=np.nan)
            values[name] = array
        attributes = homes.drop_duplicates(HOME_ID, keep="last").set_index(HOME_ID).reindex(home_ids)
        calendar = LocalCalendar.build(attributes, axis_start, n_hours)
        return cls(
            home_ids, axis_start, values, attributes.reset_index(), calendar, _first_known(values[KWH])
        )

    @property
    def n_homes(self) -> int:
        return len(self.home_ids)

    @property
    def n_hours(self) -> int:
        return int(self.values[KWH].shape[1])

    def hour_index(self, ts: pd.Series | pd.DatetimeIndex | pd.Timestamp) -> np.ndarray:
        """Axis index of UTC timestamps (floored to the hour)."""
        stamps = pd.DatetimeIndex([ts]) if isinstance(ts, pd.Timestamp) else pd.DatetimeIndex(ts)
        return utc_hours(stamps) - self.axis_start

    def timestamps(self, index: np.ndarray) -> pd.DatetimeIndex:
        """UTC hour starts of axis indices."""
        return pd.to_datetime((np.asarray(index, dtype=np.int64) + self.axis_start) * _HOUR_NS, utc=True)

    def reading_hours(self) -> np.ndarray:
        """Axis indices of the hours with any kWh value, ascending."""
        return np.flatnonzero(~np.isnan(self.values[KWH]).all(axis=0))

    def last_reading_hour(self) -> int:
        """Axis index of the last hour with any kWh value.

        Raises:
            ValueError: no home has a kWh value (only an explicit issue time can place a forecast then).
        """
        known = self.reading_hours()
        if known.size == 0:
            raise ValueError("the input holds no kWh reading: give an issue time to forecast these homes")
        return int(known.max())

    def home_index(self, home_ids: list[str] | pd.Index) -> np.ndarray:
        """Row index of each home id; raises on unknown ids."""
        index = self.home_ids.get_indexer(pd.Index(home_ids))
        if (index < 0).any():
            unknown = list(pd.Index(home_ids)[index < 0][:5])
            raise KeyError(f"homes not in the panel: {unknown}")
        return index

    def with_values(self, name: str, array: np.ndarray) -> HourlyPanel:
        """A copy with one value array replaced (the other arrays are shared, not copied; the cache is empty)."""
        values = {**self.values, name: array}
        first = _first_known(array) if name == KWH else self.first_reading
        return HourlyPanel(self.home_ids, self.axis_start, values, self.homes, self.calendar, first)

    def cached(self, key: str, build: Any) -> Any:
        """The derived value ``key``, built by ``build()`` on first use."""
        if key not in self.cache:
            self.cache[key] = build()
        return self.cache[key]


def _first_known(kwh: np.ndarray) -> np.ndarray:
    known = ~np.isnan(kwh)
    return np.where(known.any(axis=1), known.argmax(axis=1), kwh.shape[1])
