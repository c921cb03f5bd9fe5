"""The on-demand views' features for one request, without pandas: the online twins of ``features/on_demand.py``.

An online read describes one target hour for a few homes. The pandas bodies of the on-demand views cost 1-2 ms for
that (building frames and datetime indexes dominates), more than the whole SQLite read, so the fast online reader
(``features/online_reader.py``) computes the same values here: plain Python for the calendar, cached per country and
hour, and numpy on the homes' coordinates for the sun, with the per-instant terms cached per hour.

The values are the pandas bodies' to the last bit: the calendar uses the same pytz zone tables and the same holiday
calendars (:func:`features.on_demand._holiday_days`), and the sun position repeats :func:`sun_elevation_deg`'s
operations in its order. ``tests/features/test_online_reader.py`` compares the two over every hour of two years.
Change both or neither.

Invariants:
    As in ``features/on_demand.py``: a value depends only on the target hour and the home's static attributes
    (country, latitude, longitude), never on meter data, so request-time features cannot leak the label.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np

from features.on_demand import UNKNOWN, _holiday_days, country_timezone, sun_at_instants

_NS_PER_HOUR = 3_600 * 10**9
_NS_PER_DAY = 24 * _NS_PER_HOUR
_NS_PER_US = 1_000
_HALF_HOUR_NS = _NS_PER_HOUR // 2
_EPOCH_DAY = date(1970, 1, 1)

# (target hour [ns since the epoch, UTC], the inputs by feature name, one value per home) -> the output columns
OnDemandTwin = Callable[[int, Mapping[str, Sequence[Any]]], dict[str, list[Any]]]


def calendar_twin(target_ns: int, inputs: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
    """:func:`features.on_demand.calendar_columns` for one target instant and each home's ``country``.

    Args:
        target_ns: the start of the hour being described [ns since 1970-01-01 UTC].
        inputs: ``country`` (ISO 3166 alpha-2, ``None`` when unknown), one per home.

    Returns:
        ``hour``, ``weekday``, ``month``, ``is_holiday`` as lists of ``int``, one per home.
    """
    rows = [
        _calendar_at(target_ns, country if isinstance(country, str) else "") for country in inputs["country"]
    ]
    return {
        name: [row[i] for row in rows] for i, name in enumerate(("hour", "weekday", "month", "is_holiday"))
    }


@lru_cache(maxsize=8192)
def _calendar_at(target_ns: int, country: str) -> tuple[int, int, int, int]:
    """Hour, weekday, month and holiday flag of ``target_ns`` in ``country``'s local time."""
    local_ns = target_ns + _utc_offset_ns(country_timezone(country or None), target_ns)
    local_days = local_ns // _NS_PER_DAY
    local_date = _EPOCH_DAY + timedelta(days=local_days)
    holidays = _holiday_set(country.upper(), local_date.year) if country else None
    is_holiday = UNKNOWN if holidays is None else int(local_days in holidays)
    return (local_ns % _NS_PER_DAY) // _NS_PER_HOUR, (local_days + 3) % 7, local_date.month, is_holiday


def _utc_offset_ns(zone_name: str, utc_ns: int) -> int:
    """The zone's offset from UTC at the instant [ns], from the pytz tables pandas converts with."""
    offset = datetime.fromtimestamp(utc_ns // 10**9, _pytz_zone(zone_name)).utcoffset()
    return 0 if offset is None else (offset // timedelta(microseconds=1)) * _NS_PER_US


@lru_cache(maxsize=64)
def _pytz_zone(name: str) -> Any:
    import pytz

    return pytz.timezone(name)


@lru_cache(maxsize=256)
def _holiday_set(country: str, year: int) -> frozenset[int] | None:
    """The public holidays of ``country`` in ``year`` as days since the epoch; ``None`` for an unknown country."""
    days = _holiday_days(country, year, year)
    return None if days is None else frozenset(int(d) for d in days)


def daylight_twin(target_ns: int, inputs: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
    """:func:`features.on_demand.daylight_columns` for one target instant and each home's ``lat`` and ``lon``.

    Args:
        target_ns: the start of the hour being described [ns since 1970-01-01 UTC].
        inputs: ``lat`` and ``lon`` [degree] (``None`` when unknown), one per home.

    Returns:
        ``daylight`` (``int``: 1, 0 or :data:`UNKNOWN`) and ``sun_elevation_deg`` [degree] (``None`` for an unknown
        location, as Feast returns a NaN of an on-demand view), one per home.
    """
    lat = np.array([np.nan if v is None else v for v in inputs["lat"]], dtype=np.float64)
    lon = np.array([np.nan if v is None else v for v in inputs["lon"]], dtype=np.float64)
    solar_min_utc, sin_decl, cos_decl = _sun_at(target_ns + _HALF_HOUR_NS)
    hour_angle = np.radians((solar_min_utc + 4.0 * lon) / 4.0 - 180.0)
    lat_rad = np.radians(lat)
    cos_zenith = np.sin(lat_rad) * sin_decl + np.cos(lat_rad) * cos_decl * np.cos(hour_angle)
    elevation = 90.0 - np.degrees(np.arccos(np.clip(cos_zenith, -1.0, 1.0)))
    unknown = np.isnan(elevation)
    daylight = np.where(unknown, UNKNOWN, (elevation > 0).astype(np.int64))
    return {
        "daylight": [int(v) for v in daylight],
        "sun_elevation_deg": [None if u else float(v) for u, v in zip(unknown, elevation, strict=True)],
    }


@lru_cache(maxsize=1024)
def _sun_at(instant_ns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solar time at the Greenwich meridian [min] and the sine and cosine of the sun's declination at an instant.

    One-element arrays, from :func:`features.on_demand.sun_at_instants` (the same operations as the Feast view).
    """
    return sun_at_instants(np.array([instant_ns], dtype=np.int64))


# The on-demand views of features/definitions.py that the fast online reader can compute, by view name. A service
# with an on-demand view not listed here is read through Feast.
ON_DEMAND_TWINS: dict[str, tuple[OnDemandTwin, frozenset[str]]] = {
    "calendar": (calendar_twin, frozenset({"hour", "weekday", "month", "is_holiday"})),
    "daylight": (daylight_twin, frozenset({"daylight", "sun_elevation_deg"})),
}
