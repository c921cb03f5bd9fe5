"""Forecasts computed once and served many times: a bounded in-memory store keyed by everything they depend on.

A home's forecast is a function of the model version, the resolution, the issue time asked for, and the home's
inputs: the curated lake (which changes with ``eliq prep run``: the lake token) and what the API changed of the
home since (its input version, :mod:`serving.input_versions`). The key holds all of them, so a stored forecast is
served only while every one of them is unchanged; nothing has to be invalidated by hand. A forecast issued "now"
for a home without any reading (the cold start on today's date) also carries the end of its hour, after which it
is computed again.

Invariants:
    A stored forecast holds every period and every quantile of its resolution; a request picks its horizon and
    quantiles from it, so two requests for the same home and inputs see the same numbers.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
import pandas as pd

from contracts.schemas import HOME_ID

QUANTILE_LABELS = ("p10", "p50", "p90")


@dataclass(frozen=True)
class StoredForecast:
    """One home's forecast at one resolution, ready to be answered.

    Attributes:
        issue_time: when it was issued [UTC].
        cold_start: the profile-and-weather fallback was used.
        last_reading_start: start of the latest hour with a reading it used [UTC]; ``None`` when there was none.
        period_starts: hourly, the hour starts [UTC]; daily and monthly, the local dates.
        leads: periods after the issue time.
        kwh: per quantile label (``p10``…), the energy of each period [kWh]; ``None`` where the model gave none.
        expires_at: when it must be computed again [s since the epoch]; ``None``: never by time.
        rendered: its periods serialised as JSON, by (horizon, quantile labels) (see
            :mod:`serving.families.forecast_render`); filled on first use.
    """

    issue_time: datetime
    cold_start: bool
    last_reading_start: datetime | None
    period_starts: tuple[datetime | date, ...]
    leads: tuple[int, ...]
    kwh: Mapping[str, tuple[float | None, ...]]
    expires_at: float | None = None
    rendered: dict[tuple[int, tuple[str, ...]], bytes] = field(
        default_factory=dict, compare=False, repr=False
    )


class ForecastCache:
    """A thread-safe least-recently-used store of :class:`StoredForecast` by key.

    Args:
        max_entries: forecasts kept at most; the least recently used go first.
    """

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, StoredForecast] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, count_miss: bool = True) -> StoredForecast | None:
        """The forecast stored under ``key``, unless there is none or it expired.

        Args:
            key: the forecast's key.
            count_miss: count a miss in :meth:`stats` (``False`` for a look that will be repeated before computing).
        """
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and (entry.expires_at is None or entry.expires_at > time.time()):
                self._entries.move_to_end(key)
                self.hits += 1
                return entry
            self.misses += count_miss
            return None

    def put(self, key: Hashable, entry: StoredForecast) -> None:
        if self.max_entries <= 0:
            return
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def stats(self) -> dict[str, int]:
        """Entries held, and hits and misses since start-up."""
        return {"entries": len(self._entries), "hits": self.hits, "misses": self.misses}


def stored_forecasts(
    output: pd.DataFrame,
    last_readings: Mapping[str, pd.Timestamp | None],
    resolution: str,
    expires_at: float | None = None,
) -> dict[str, StoredForecast]:
    """The model's output rows of one resolution, one :class:`StoredForecast` per home.

    Args:
        output: the model output (:data:`contracts.forecast_model_io.OUTPUT_COLUMNS`); times naive UTC.
        last_readings: per home, the start of its latest hour with a reading that the forecast used [UTC].
        resolution: ``hourly``, ``daily`` or ``monthly``.
        expires_at: when the forecasts must be computed again [s since the epoch]; ``None``: never by time.
    """
    hourly = resolution == "hourly"
    out: dict[str, StoredForecast] = {}
    rows = output[output["resolution"] == resolution] if "resolution" in output.columns else output
    for home, part in rows.sort_values([HOME_ID, "period_start"]).groupby(HOME_ID, sort=False):
        starts = pd.to_datetime(part["period_start"])
        periods: tuple[datetime | date, ...] = tuple(
            t.tz_localize("UTC").to_pydatetime() if hourly else t.date() for t in starts
        )
        last = last_readings.get(str(home))
        out[str(home)] = StoredForecast(
            issue_time=pd.Timestamp(part["issue_time"].iloc[0], tz="UTC").to_pydatetime(),
            cold_start=bool(part["cold_start"].any()),
            last_reading_start=None if last is None else pd.Timestamp(last).to_pydatetime(),
            period_starts=periods,
            leads=tuple(int(v) for v in part["lead"].to_numpy()),
            kwh={q: _finite(part[f"kwh_{q}"].to_numpy(dtype=float)) for q in QUANTILE_LABELS},
            expires_at=expires_at,
        )
    return out


def _finite(values: np.ndarray) -> tuple[float | None, ...]:
    """JSON has no NaN: a missing value is ``None``."""
    return tuple(float(v) if np.isfinite(v) else None for v in values)
