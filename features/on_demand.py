"""Calendar and sun-position features computed at request time (the bodies of the on-demand feature views).

Plain pandas / numpy, no Feast: the on-demand views in ``features/definitions.py`` call these functions, and the
same functions can be called on any frame. Everything is vectorised; the only loop is over the few distinct
countries.

Invariants:
    A value depends only on the target hour and the home's static attributes (country, latitude, longitude),
    never on meter data, so request-time features cannot leak the label.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

# The main zone of each country of the sample data; other countries fall back to pytz's first zone, then UTC.
COUNTRY_TIMEZONES = {
    "SE": "Europe/Stockholm",
    "NO": "Europe/Oslo",
    "DK": "Europe/Copenhagen",
    "FI": "Europe/Helsinki",
    "DE": "Europe/Berlin",
    "NL": "Europe/Amsterdam",
}
UNKNOWN = -1  # the value of a 0/1 flag that cannot be computed (unknown country or location)
_NS_PER_HOUR = 3_600 * 10**9
_NS_PER_DAY = 24 * _NS_PER_HOUR


def _utc_ns(values: pd.Series) -> np.ndarray:
    """Instants as nanoseconds since the epoch [ns], without a detour through Python objects."""
    return np.asarray(pd.DatetimeIndex(pd.to_datetime(values, utc=True)).as_unit("ns").asi8)


def country_timezone(country: object) -> str:
    """The IANA zone of an ISO 3166 alpha-2 code; ``UTC`` for an unknown or missing code."""
    if not isinstance(country, str):
        return "UTC"
    code = country.upper()
    if code in COUNTRY_TIMEZONES:
        return COUNTRY_TIMEZONES[code]
    import pytz

    zones = pytz.country_timezones.get(code)
    return zones[0] if zones else "UTC"


@lru_cache(maxsize=256)
def _holiday_days(country: str, year_from: int, year_to: int) -> np.ndarray | None:
    """Public holidays of ``country`` as days since the epoch [day]; ``None`` when the country is unknown."""
    import holidays

    # Sweden's calendar counts every Sunday by default; the weekday feature already says Sunday.
    options: dict[str, Any] = {"include_sundays": False} if country == "SE" else {}
    try:
        calendar = holidays.country_holidays(country, years=range(year_from, year_to + 1), **options)
    except NotImplementedError:
        return None
    days = pd.to_datetime(list(calendar.keys())).to_numpy("datetime64[D]").astype(np.int64)
    return np.sort(days)


def calendar_columns(target_ts: pd.Series, country: pd.Series) -> pd.DataFrame:
    """Hour, weekday, month and public holiday of each target hour, in the local time of the home's country.

    Args:
        target_ts: the start of the hour being described [UTC].
        country: ISO 3166 alpha-2 code of the home; missing or unknown codes use UTC and no holiday calendar.

    Returns:
        ``hour`` (0-23), ``weekday`` (0 = Monday), ``month`` (1-12) and ``is_holiday`` (1 on a public holiday of the
        country, 0 otherwise, :data:`UNKNOWN` when the country has no calendar), all int64, on the input's index.
    """
    utc_ns = _utc_ns(target_ts)
    codes = pd.Series(country.to_numpy(), dtype=object).fillna("")
    local_ns = utc_ns.copy()
    is_holiday = np.full(len(utc_ns), UNKNOWN, dtype=np.int64)
    for code, idx in codes.groupby(codes, sort=False).indices.items():
        wall = pd.DatetimeIndex(utc_ns[idx], tz="UTC").tz_convert(country_timezone(code or None))
        local_ns[idx] = wall.tz_localize(None).asi8
        holidays = (
            _holiday_days(str(code).upper(), int(wall.year.min()), int(wall.year.max())) if code else None
        )
        if holidays is not None:
            is_holiday[idx] = np.isin(local_ns[idx] // _NS_PER_DAY, holidays)
    local_days = local_ns // _NS_PER_DAY
    return pd.DataFrame(
        {
            "hour": (local_ns % _NS_PER_DAY) // _NS_PER_HOUR,
            "weekday": (local_days + 3) % 7,  # 1970-01-01 was a Thursday
            "month": local_days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12 + 1,
            "is_holiday": is_holiday,
        },
        index=target_ts.index,
    )


def sun_elevation_deg(ts_utc: pd.Series, lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Apparent-horizon-free solar elevation from the NOAA low-precision formulas [degree].

    Good to about 0.5 degree, plenty to tell day from night; no refraction, no pvlib at request time.

    Args:
        ts_utc: the instants [UTC].
        lat_deg: latitude, north positive [degree].
        lon_deg: longitude, east positive [degree].
    """
    # The sun's declination and the equation of time depend on the instant only: compute them once per instant.
    inverse, instants = pd.factorize(_utc_ns(ts_utc))
    greenwich_min, sin_declination, cos_declination = sun_at_instants(instants)
    solar_min_utc = greenwich_min[inverse]
    hour_angle = np.radians((solar_min_utc + 4.0 * np.asarray(lon_deg, dtype=np.float64)) / 4.0 - 180.0)
    lat = np.radians(np.asarray(lat_deg, dtype=np.float64))
    sin_decl, cos_decl = sin_declination[inverse], cos_declination[inverse]
    cos_zenith = np.sin(lat) * sin_decl + np.cos(lat) * cos_decl * np.cos(hour_angle)
    return np.asarray(90.0 - np.degrees(np.arccos(np.clip(cos_zenith, -1.0, 1.0))))


def daylight_columns(target_ts: pd.Series, lat: pd.Series, lon: pd.Series) -> pd.DataFrame:
    """Whether the sun is above the horizon at the middle of each target hour, at the home.

    Args:
        target_ts: the start of the hour being described [UTC].
        lat: the home's latitude [degree].
        lon: the home's longitude [degree].

    Returns:
        ``sun_elevation_deg`` at the middle of the hour [degree] (NaN for an unknown location) and ``daylight``
        (1 above the horizon, 0 below, :data:`UNKNOWN` for an unknown location; int64), on the input's index.
    """
    middle = pd.to_datetime(target_ts, utc=True) + pd.Timedelta(minutes=30)
    lat_deg = pd.to_numeric(lat, errors="coerce").to_numpy(np.float64)
    lon_deg = pd.to_numeric(lon, errors="coerce").to_numpy(np.float64)
    elevation = sun_elevation_deg(middle, lat_deg, lon_deg)
    daylight = np.where(np.isnan(elevation), UNKNOWN, (elevation > 0).astype(np.int64))
    return pd.DataFrame(
        {"daylight": daylight.astype(np.int64), "sun_elevation_deg": elevation}, index=target_ts.index
    )


def sun_at_instants(instants: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solar time at the Greenwich meridian [min] and the sine and cosine of the sun's declination, per instant
    [ns since the Unix epoch, UTC] (NOAA's series in the fractional year)."""
    days = instants // _NS_PER_DAY
    year_start = days.astype("datetime64[D]").astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
    hour = (instants % _NS_PER_DAY) / _NS_PER_HOUR
    gamma = 2.0 * np.pi / 365.0 * (days - year_start + (hour - 12.0) / 24.0)
    eq_time_min = 229.18 * (
        0.000075
        + 0.001868 * np.cos(gamma)
        - 0.032077 * np.sin(gamma)
        - 0.014615 * np.cos(2 * gamma)
        - 0.040849 * np.sin(2 * gamma)
    )
    declination = (
        0.006918
        - 0.399912 * np.cos(gamma)
        + 0.070257 * np.sin(gamma)
        - 0.006758 * np.cos(2 * gamma)
        + 0.000907 * np.sin(2 * gamma)
        - 0.002697 * np.cos(3 * gamma)
        + 0.00148 * np.sin(3 * gamma)
    )
    return hour * 60.0 + eq_time_min, np.sin(declination), np.cos(declination)
