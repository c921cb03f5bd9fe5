"""The windows a monitoring run compares: the reference (what the model was trained on) and the current one.

- **current**: the ``current_days`` days of data up to the monitoring time ``as_of``, or up to the end of the
  last curated hour when that is earlier (a lake that stopped receiving data is judged on its last week, and
  its freshness alert says that it stopped);
- **reference**, in order of preference: explicit dates; the monitored model's training window (its run's
  ``data_first_date`` / ``data_last_date``, local dates taken as UTC days, so its edges may be off by the
  homes' UTC offset); all data before the current window when the run has no such tags.

The part of the reference that overlaps the current window is cut off, so the two windows never share a row
(a model trained on everything up to today would otherwise be compared partly with itself); a reference that
lies entirely inside the current window is kept whole, and the overlap is said in its description.

Invariants:
    Every window is ``[start, end)`` on whole UTC hours, and ``current.end <= as_of``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

_HOUR = pd.Timedelta(hours=1)
_DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class Window:
    """A half-open UTC interval ``[start, end)``."""

    start: pd.Timestamp
    end: pd.Timestamp

    @property
    def days(self) -> float:
        return (self.end - self.start) / _DAY

    def as_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


@dataclass(frozen=True)
class MonitoringWindows:
    """The windows of one run.

    Attributes:
        reference: the reference window.
        current: the current window.
        as_of: the monitoring time [UTC].
        reference_source: how the reference was chosen, in words.
    """

    reference: Window
    current: Window
    as_of: pd.Timestamp
    reference_source: str

    @property
    def previous(self) -> Window:
        """The window of the same length just before the current one (prediction drift's reference)."""
        length = self.current.end - self.current.start
        return Window(self.current.start - length, self.current.start)


def utc(value: pd.Timestamp | str) -> pd.Timestamp:
    """``value`` as a UTC timestamp (a naive one is taken as UTC)."""
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def choose_windows(
    data_start: pd.Timestamp,
    data_end: pd.Timestamp,
    current_days: int,
    as_of: pd.Timestamp | None = None,
    training: tuple[pd.Timestamp, pd.Timestamp] | None = None,
    explicit: tuple[pd.Timestamp, pd.Timestamp] | None = None,
    model: str = "the model",
) -> MonitoringWindows:
    """The reference and current windows.

    Args:
        data_start: the start of the first curated hour [UTC].
        data_end: the end of the last curated hour [UTC].
        current_days: length of the current window [d].
        as_of: the monitoring time [UTC]; ``None`` is now.
        training: the first and last local date of the training data (``None``: unknown).
        explicit: reference start and end (exclusive) given by the caller; wins over ``training``.
        model: the model's name and version, for the description.

    Raises:
        ValueError: no curated hour before ``as_of``, or an explicit reference that ends before it starts.
    """
    now = utc(as_of) if as_of is not None else pd.Timestamp.now(tz="UTC")
    start, end = utc(data_start).floor("h"), utc(data_end).ceil("h")
    current_end = min(now.floor("h"), end)
    if current_end <= start:
        raise ValueError(
            f"no curated data before {now.isoformat()}: the first hour starts at {start.isoformat()}"
        )
    current = Window(max(start, current_end - current_days * _DAY), current_end)
    if explicit is not None:
        reference, source = Window(utc(explicit[0]), utc(explicit[1])), "explicit dates"
        if reference.end <= reference.start:
            raise ValueError(f"the reference ends ({reference.end}) before it starts ({reference.start})")
    elif training is not None:
        reference = Window(utc(training[0]).floor("D"), utc(training[1]).floor("D") + _DAY)
        source = f"training window of {model}"
    else:
        reference, source = (
            Window(start, current.start),
            f"all data before the current window ({model} has no training-window tags)",
        )
    reference, source = _without_overlap(reference, current, source)
    return MonitoringWindows(reference=reference, current=current, as_of=now, reference_source=source)


def _without_overlap(reference: Window, current: Window, source: str) -> tuple[Window, str]:
    """The reference cut at the current window's start; kept whole (and said so) when nothing would remain."""
    if reference.end <= current.start:
        return reference, source
    if reference.start < current.start:
        return Window(reference.start, current.start), f"{source}, cut at the current window's start"
    return reference, f"{source} (inside the current window: the windows overlap)"
