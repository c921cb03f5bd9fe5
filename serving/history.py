"""The forecast model's input for a few homes: their recent curated hours, with the readings that came in through
the API since, and their attributes.

The curated hourly zone is partitioned by home bucket and month (``bucket=NNN/month=YYYY-MM``), so a request reads
only the files of its homes' buckets and of the months its window spans, filtered to its homes and hours.

Invariants:
    - An hour read from the API readings replaces the curated reading of the same home and hour (it is newer); the
      weather of that hour stays the curated one.
    - The window starts ``history_days`` before the issue date, which covers every feature's lookback; what the
      model may use of it (only readings before the issue time) is the model's own rule.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from contracts.forecast_model_io import ATTRIBUTE_COLUMNS, HISTORY_COLUMNS, model_input_frame
from contracts.schemas import HOME_ID, KWH, TS
from contracts.storage import Lake, Zone, home_bucket

RecentReadings = Callable[[Sequence[str], datetime], pd.DataFrame]
"""``(home_ids, since) -> home_id, ts (hour start [UTC]), kwh``: complete hours of readings ingested through the API."""

HORIZON_DAYS = {
    "hourly": 3,
    "daily": 62,
    "monthly": 66,
}  # days after the issue date whose weather is read [d]
_MARGIN = pd.Timedelta(days=1)  # local dates of the far time zones [d]


@dataclass(frozen=True)
class ModelHistory:
    """A model input and the hourly rows it was built from.

    Attributes:
        frame: the model input (:func:`contracts.forecast_model_io.model_input_frame`).
        hourly: ``home_id``, ``ts`` [UTC] and the values, curated rows merged with API readings.
        homes_without_rows: homes that have no reading in the window: they appear in ``frame`` with one empty row
            only, so that the model gives them its cold-start forecast.
    """

    frame: pd.DataFrame
    hourly: pd.DataFrame
    homes_without_rows: tuple[str, ...]


class HistoryReader:
    """Reads homes' recent hourly history from the lake and the API readings.

    Args:
        lake: the lake.
        n_buckets: the curated zone's home buckets (``prep.n_buckets``).
        history_days: days read before the issue date [d].
        recent: the API readings since a time (``None``: the curated rows only).
    """

    def __init__(self, lake: Lake, n_buckets: int, history_days: int, recent: RecentReadings | None = None):
        self.lake = lake
        self.n_buckets = n_buckets
        self.history_days = history_days
        self.recent = recent

    def window(
        self, home_ids: Sequence[str], issue_time: datetime | None, resolution: str
    ) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        """The UTC span ``[start, end)`` of hours read for a forecast issued at ``issue_time`` (``None``: at the
        latest data); ``(None, None)`` when the lake has no hourly rows for these homes' buckets."""
        if issue_time is not None:
            day = _utc(pd.Timestamp(issue_time)).normalize()
            start = day - pd.Timedelta(days=self.history_days) - _MARGIN
            return start, day + pd.Timedelta(days=HORIZON_DAYS[resolution]) + _MARGIN
        months = sorted({m for b in self._buckets(home_ids) for m in self._months(b)})
        if not months:
            return None, None
        latest = pd.Timestamp(f"{months[-1]}-01", tz="UTC")
        return latest - pd.Timedelta(days=self.history_days) - _MARGIN, None

    def hourly(
        self, home_ids: Sequence[str], start: pd.Timestamp | None, end: pd.Timestamp | None
    ) -> pd.DataFrame:
        """Curated hourly rows of ``home_ids`` with ``start <= ts < end``, API readings merged over them."""
        curated = self._curated(home_ids, start, end)
        if self.recent is None or start is None:
            return curated
        api = self.recent(list(home_ids), start.to_pydatetime())
        if end is not None:
            api = api[api[TS] < end]
        return merge_readings(curated, api)

    def read(
        self,
        home_ids: Sequence[str],
        attributes: pd.DataFrame,
        issue_time: datetime | None,
        resolution: str,
    ) -> ModelHistory:
        """The model input of ``home_ids`` (attributes: one row per home, e.g. from the home directory)."""
        start, end = self.window(home_ids, issue_time, resolution)
        if start is None and self.recent is not None:
            start = pd.Timestamp.now(tz="UTC").normalize() - pd.Timedelta(days=self.history_days)
        hourly = self.hourly(home_ids, start, end)
        missing = tuple(h for h in home_ids if h not in set(hourly[HOME_ID]))
        if missing:
            hourly = pd.concat([hourly, _placeholders(missing, hourly, issue_time)], ignore_index=True)
        return ModelHistory(model_input_frame(hourly, attributes), hourly, missing)

    def _curated(
        self, home_ids: Sequence[str], start: pd.Timestamp | None, end: pd.Timestamp | None
    ) -> pd.DataFrame:
        import pyarrow.dataset as ds

        files = [f for b in self._buckets(home_ids) for f in self._files(b, start, end)]
        if not files:
            return pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in HISTORY_COLUMNS})
        dataset = ds.dataset(files, filesystem=self.lake.fs, format="parquet")
        condition = ds.field(HOME_ID).isin(list(home_ids))
        if start is not None:
            condition &= ds.field(TS) >= start
        if end is not None:
            condition &= ds.field(TS) < end
        columns = [c for c in HISTORY_COLUMNS if c in dataset.schema.names]
        frame = dataset.to_table(columns=columns, filter=condition).to_pandas()
        frame[TS] = pd.to_datetime(frame[TS], utc=True)
        return frame.sort_values([HOME_ID, TS], ignore_index=True)

    def _buckets(self, home_ids: Sequence[str]) -> list[str]:
        folder = self.lake.path(Zone.CURATED, "consumption_hourly")
        buckets = sorted({home_bucket(h, self.n_buckets) for h in home_ids})
        return [posixpath.join(folder, f"bucket={b:03d}") for b in buckets]

    def _months(self, bucket: str) -> list[str]:
        return [p.rsplit("month=", 1)[1][:7] for p in self.lake.glob(f"{bucket}/month=*")]

    def _files(self, bucket: str, start: pd.Timestamp | None, end: pd.Timestamp | None) -> list[str]:
        """The bucket's Parquet files whose month overlaps ``[start, end)`` (a flat bucket's files, all)."""
        first = start.strftime("%Y-%m") if start is not None else "0000-00"
        last = (end - pd.Timedelta(microseconds=1)).strftime("%Y-%m") if end is not None else "9999-99"
        monthly = [p for p in self.lake.glob(f"{bucket}/month=*/*.parquet") if first <= _month_of(p) <= last]
        return monthly + self.lake.glob(f"{bucket}/*.parquet")


def merge_readings(curated: pd.DataFrame, api: pd.DataFrame) -> pd.DataFrame:
    """``curated`` hourly rows with the ``api`` hours' kWh over them (the weather stays the curated one).

    Args:
        curated: ``home_id``, ``ts`` [UTC], ``kwh`` and weather columns.
        api: ``home_id``, ``ts`` (hour start [UTC]), ``kwh``.
    """
    if api.empty:
        return curated
    api = api[[HOME_ID, TS, KWH]].assign(**{TS: pd.to_datetime(api[TS], utc=True)})
    both = pd.concat([curated.assign(_api=0), api.assign(_api=1)], ignore_index=True)
    both = both.sort_values([HOME_ID, TS, "_api"], kind="stable")
    values = {c: ("last" if c == KWH else "first") for c in curated.columns if c not in (HOME_ID, TS)}
    merged = both.groupby([HOME_ID, TS], as_index=False, sort=True).agg(values)
    return merged[list(curated.columns)]


def last_reading_before(
    hourly: pd.DataFrame, issue_utc: Mapping[str, pd.Timestamp]
) -> dict[str, pd.Timestamp | None]:
    """The start of each home's latest hour with a reading that a forecast issued at ``issue_utc`` may use.

    Invariants:
        An hour is known from its end on: hour ``ts`` is used by a forecast issued at ``I`` only if ``ts + 1 h <= I``.
    """
    known = hourly[hourly[KWH].notna()]
    out: dict[str, pd.Timestamp | None] = {}
    for home, rows in known.groupby(HOME_ID, sort=False):
        issue = issue_utc.get(str(home))
        usable = rows[TS] if issue is None else rows[TS][rows[TS] + pd.Timedelta(hours=1) <= issue]
        out[str(home)] = usable.max() if len(usable) else None
    return out


def profile_attributes(profiles: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Model attributes of home profiles sent through the API (``contracts.home_profile.HomeProfile`` dumps)."""
    rows = []
    for profile in profiles:
        ev, pv = profile.get("ev") or {}, profile.get("pv") or {}
        rows.append(
            {
                **{c: profile.get(c) for c in ATTRIBUTE_COLUMNS},
                HOME_ID: profile[HOME_ID],
                "heating_types": list(profile.get("heating_types") or []) or None,
                "ev_charger_kw": ev.get("charger_kw"),
                "pv_kwp": pv.get("kwp"),
            }
        )
    return pd.DataFrame(rows, columns=[HOME_ID, *ATTRIBUTE_COLUMNS])


def _placeholders(homes: Sequence[str], hourly: pd.DataFrame, issue_time: datetime | None) -> pd.DataFrame:
    """One row without values per home: the model forecasts a home without readings from its attributes alone.

    The row lies inside the hour axis the model builds, so that the issue time is inside it in every time zone.
    With an issue time, every home is forecast in one model call: the row is the other homes' first hour (the day
    before the issue date when there are none). Without one, homes without readings are forecast in a call of
    their own, issued now (``forecast_compute.issue_groups``): the row is the day before today, wherever the other
    homes' readings lie.
    """
    if issue_time is not None and len(hourly):
        anchor = pd.Timestamp(hourly[TS].min())
    else:
        issue = pd.Timestamp.now(tz="UTC") if issue_time is None else _utc(pd.Timestamp(issue_time))
        anchor = issue.normalize() - pd.Timedelta(days=1)
    return pd.DataFrame({HOME_ID: list(homes), TS: anchor, KWH: np.nan})


def _utc(stamp: pd.Timestamp) -> pd.Timestamp:
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _month_of(path: str) -> str:
    return path.rsplit("month=", 1)[1][:7]


def _dtype(column: str) -> Any:
    return {HOME_ID: object, TS: "datetime64[us, UTC]"}.get(column, float)
