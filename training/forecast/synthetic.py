"""A small seeded generator of hourly consumption in the curated layout, for tests and examples.

Each home draws a baseload, a daily profile (morning and evening peaks, later on free days), a heating response to
the thermal-mass-smoothed outdoor temperature, and log-normal noise. Temperatures follow the season and the day.
Some homes can be given no weather (their ``temp_c`` / ``ghi_w_m2`` are NaN; their consumption still responds to
the weather), and some a late first reading (a cold start).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contracts.schemas import GHI_W_M2, HOME_ID, KWH, TEMP_C, TS

_ZONES = (("Europe/Stockholm", "SE"), ("Europe/Berlin", "DE"))


def synthetic_homes(n_homes: int, rng: np.random.Generator) -> pd.DataFrame:
    """Home attributes in the curated layout (``curated/homes/homes.parquet`` columns the forecast reads)."""
    zone = rng.integers(0, len(_ZONES), n_homes)
    electric = rng.random(n_homes) < 0.5
    return pd.DataFrame(
        {
            HOME_ID: [f"s{i:03d}" for i in range(n_homes)],
            "client_id": "synthetic",
            "country": [_ZONES[z][1] for z in zone],
            "timezone": [_ZONES[z][0] for z in zone],
            "floor_area_m2": rng.uniform(50, 200, n_homes).round(),
            "home_type": rng.choice(["apartment", "detached"], n_homes),
            "build_year": rng.integers(1950, 2020, n_homes),
            "occupants": rng.integers(1, 5, n_homes).astype(float),
            "heating_types": [["direct_electric"] if e else ["district_heating"] for e in electric],
            "has_ev": False,
            "pv_kwp": np.nan,
            "lat": rng.uniform(50, 62, n_homes),
        }
    )


def synthetic_hourly(
    n_homes: int = 12,
    days: int = 120,
    seed: int = 0,
    start: str = "2025-01-01",
    no_weather: int = 0,
    late_start_days: dict[int, int] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Curated-layout hourly rows and home attributes.

    Args:
        n_homes: homes.
        days: days of data [d].
        seed: the seed of every draw.
        start: first day (UTC midnight).
        no_weather: the last ``no_weather`` homes have no weather columns (NaN).
        late_start_days: home index → days after ``start`` of its first reading.

    Returns:
        ``(hourly, homes)``: ``home_id``, ``ts`` (UTC), ``kwh`` [kWh], ``temp_c`` [°C], ``ghi_w_m2`` [W/m²]; and the
        home attributes.
    """
    rng = np.random.default_rng(seed)
    homes = synthetic_homes(n_homes, rng)
    ts = pd.date_range(start, periods=days * 24, freq="h", tz="UTC")
    hours = np.arange(len(ts))
    season = np.cos(2 * np.pi * (ts.dayofyear.to_numpy() - 20) / 365.25)
    temp = 6 - 10 * season + 3 * np.sin(2 * np.pi * (hours - 9) / 24) + _weather_swings(n_homes, len(ts), rng)
    ghi = np.clip(np.sin(2 * np.pi * (hours - 6) / 24), 0, None) * (350 - 250 * season)
    kwh = _consumption(homes, ts, temp, rng)
    frame = pd.DataFrame(
        {
            HOME_ID: np.repeat(homes[HOME_ID].to_numpy(), len(ts)),
            TS: np.tile(ts, n_homes),
            KWH: kwh.ravel(),
            TEMP_C: temp.ravel(),
            GHI_W_M2: np.tile(ghi, n_homes),
        }
    )
    if no_weather:
        blind = frame[HOME_ID].isin(homes[HOME_ID].iloc[-no_weather:])
        frame.loc[blind, [TEMP_C, GHI_W_M2]] = np.nan
    for index, late in (late_start_days or {}).items():
        early = (frame[HOME_ID] == homes[HOME_ID].iloc[index]) & (frame[TS] < ts[0] + pd.Timedelta(days=late))
        frame = frame[~early]
    return frame.reset_index(drop=True), homes


def _weather_swings(n_homes: int, n_hours: int, rng: np.random.Generator, tau_h: float = 48.0) -> np.ndarray:
    """Synoptic temperature swings: an AR(1) process per home with a two-day memory and a 4 K spread [K]."""
    from scipy.signal import lfilter

    a = np.exp(-1.0 / tau_h)
    shocks = rng.normal(0.0, 4.0 * np.sqrt(1 - a**2), (n_homes, n_hours))
    return lfilter([1.0], [1.0, -a], shocks, axis=1)


def _consumption(
    homes: pd.DataFrame, ts: pd.DatetimeIndex, temp: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    n_homes = len(homes)
    local_hour = np.stack([ts.tz_convert(z).hour.to_numpy() for z in homes["timezone"]])
    weekend = np.stack([ts.tz_convert(z).weekday.to_numpy() >= 5 for z in homes["timezone"]])
    shift = np.where(weekend, 1.5, 0.0)
    profile = np.exp(-0.5 * ((local_hour - 7.5 - shift) / 1.2) ** 2) + 1.4 * np.exp(
        -0.5 * ((local_hour - 19 - shift / 3) / 2.0) ** 2
    )
    base = rng.uniform(0.15, 0.4, (n_homes, 1))
    size = homes["floor_area_m2"].to_numpy()[:, None] / 100
    electric = np.array([t[0] == "direct_electric" for t in homes["heating_types"]])[:, None]
    smoothed = pd.DataFrame(temp.T).ewm(halflife=8).mean().to_numpy().T
    heating = np.where(electric, 0.09, 0.004) * size * np.clip(17 - smoothed, 0, None)
    noise = rng.lognormal(-0.045, 0.3, temp.shape)
    return np.round((base + 0.5 * size * profile + heating) * noise, 3)
