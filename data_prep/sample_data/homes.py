"""Synthetic homes: where they are, what they are built like and what they own.

One row per home in a pandas frame. The public columns are the profile fields; the others (``resolution``,
``has_ac``, ``baseload_kw`` …) are the hidden truth the consumption model uses and no input file reveals.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

RESOLUTIONS = ("15min", "hourly", "daily", "monthly")
DEFAULT_RESOLUTION_MIX = {"15min": 0.25, "hourly": 0.55, "daily": 0.10, "monthly": 0.10}
HOME_TYPES = ("apartment", "terraced", "semi_detached", "detached")
HEATING_TYPES = ("direct_electric", "heat_pump", "district_heating", "gas")


@dataclass(frozen=True)
class Country:
    """A country's climate-independent facts for sampling homes.

    Attributes:
        code: ISO 3166 alpha-2 code.
        timezone: IANA zone.
        share: share of the homes in this country.
        apartment_share: share of apartments; the rest splits over the house types.
        heating: probability of each primary heating type (``HEATING_TYPES`` order), houses then apartments.
        ev_rate: share of houses with an electric car.
        pv_factor: scales the chance of a rooftop PV system.
        clients: the tenants (utilities) serving this country.
    """

    code: str
    timezone: str
    share: float
    apartment_share: float
    heating_house: tuple[float, float, float, float]
    heating_apartment: tuple[float, float, float, float]
    ev_rate: float
    pv_factor: float
    clients: tuple[str, ...]


# fmt: off
COUNTRIES = (
    Country("SE", "Europe/Stockholm", 0.34, 0.40, (0.30, 0.55, 0.15, 0.0), (0.10, 0.05, 0.85, 0.0), 0.20, 0.8,
            ("nordic_power", "acme_energy")),
    Country("NO", "Europe/Oslo", 0.10, 0.35, (0.50, 0.45, 0.05, 0.0), (0.50, 0.20, 0.30, 0.0), 0.35, 0.4,
            ("nordic_power",)),
    Country("DK", "Europe/Copenhagen", 0.12, 0.35, (0.05, 0.20, 0.65, 0.10), (0.02, 0.03, 0.95, 0.0), 0.15,
            1.0, ("nordic_power", "acme_energy")),
    Country("FI", "Europe/Helsinki", 0.13, 0.45, (0.35, 0.35, 0.30, 0.0), (0.05, 0.05, 0.90, 0.0), 0.12, 0.6,
            ("nordic_power",)),
    Country("DE", "Europe/Berlin", 0.16, 0.50, (0.10, 0.15, 0.15, 0.60), (0.08, 0.02, 0.30, 0.60), 0.12, 1.3,
            ("hanse_strom", "acme_energy")),
    Country("NL", "Europe/Amsterdam", 0.15, 0.30, (0.0, 0.12, 0.03, 0.85), (0.0, 0.05, 0.10, 0.85), 0.14, 1.5,
            ("hanse_strom", "acme_energy")),
)

# (country, price area, city lat, city lon, weight within the country): homes scatter around these cities.
CITIES = (
    ("SE", "SE1", 67.86, 20.23, 0.05), ("SE", "SE1", 65.58, 22.15, 0.07), ("SE", "SE2", 63.83, 20.26, 0.10),
    ("SE", "SE2", 62.39, 17.31, 0.08), ("SE", "SE3", 59.33, 18.07, 0.35), ("SE", "SE3", 57.71, 11.97, 0.15),
    ("SE", "SE4", 55.60, 13.00, 0.20),
    ("NO", "NO1", 59.91, 10.75, 0.8), ("NO", "NO1", 60.79, 11.07, 0.2),
    ("DK", "DK1", 56.16, 10.20, 0.35), ("DK", "DK1", 57.05, 9.92, 0.15), ("DK", "DK2", 55.68, 12.57, 0.5),
    ("FI", "FI", 60.17, 24.94, 0.55), ("FI", "FI", 61.50, 23.79, 0.25), ("FI", "FI", 65.01, 25.47, 0.2),
    ("DE", "DE", 52.52, 13.40, 0.3), ("DE", "DE", 53.55, 9.99, 0.2), ("DE", "DE", 48.14, 11.58, 0.25),
    ("DE", "DE", 50.94, 6.96, 0.25),
    ("NL", "NL", 52.37, 4.90, 0.35), ("NL", "NL", 52.09, 5.12, 0.2), ("NL", "NL", 51.44, 5.47, 0.25),
    ("NL", "NL", 53.22, 6.57, 0.2),
)
# fmt: on
PRICE_AREAS = ("SE1", "SE2", "SE3", "SE4", "NO1", "DK1", "DK2", "FI", "DE", "NL")

_TYPE_SIZE_M2 = {"apartment": 68.0, "terraced": 110.0, "semi_detached": 125.0, "detached": 150.0}
_TYPE_LOSS_FACTOR = {"apartment": 0.55, "terraced": 0.8, "semi_detached": 0.9, "detached": 1.0}
_EV_BATTERIES_KWH = np.array([40.0, 58.0, 64.0, 77.0, 82.0, 100.0])
_CHARGERS_KW = np.array([3.7, 7.4, 11.0])


def timezones() -> tuple[str, ...]:
    """The time zones of :data:`COUNTRIES`, in the order of a home's ``tz_code``."""
    return tuple(c.timezone for c in COUNTRIES)


def sample_homes(n_homes: int, rng: np.random.Generator) -> pd.DataFrame:
    """Draw ``n_homes`` homes with their profile fields and hidden behaviour parameters.

    Args:
        n_homes: how many homes.
        rng: the homes' random stream.

    Returns:
        One row per home, in ``home_id`` order (``h00000``, ``h00001`` …).
    """
    country_idx = rng.choice(len(COUNTRIES), size=n_homes, p=[c.share for c in COUNTRIES])
    homes = pd.DataFrame({"home_id": [f"h{i:05d}" for i in range(n_homes)]})
    homes["tz_code"] = country_idx
    homes["country"] = [COUNTRIES[i].code for i in country_idx]
    homes["timezone"] = [COUNTRIES[i].timezone for i in country_idx]
    homes["client_id"] = [COUNTRIES[i].clients[rng.integers(len(COUNTRIES[i].clients))] for i in country_idx]
    _place(homes, rng)
    _building(homes, country_idx, rng)
    _equipment(homes, country_idx, rng)
    _behaviour(homes, rng)
    return homes


def _place(homes: pd.DataFrame, rng: np.random.Generator) -> None:
    cities = pd.DataFrame(CITIES, columns=["country", "price_area", "lat", "lon", "weight"])
    city_idx = np.empty(len(homes), dtype=np.int64)
    for code, group in homes.groupby("country").groups.items():
        options = cities.index[cities["country"] == code].to_numpy()
        weights = cities.loc[options, "weight"].to_numpy()
        city_idx[np.asarray(group)] = rng.choice(options, size=len(group), p=weights / weights.sum())
    homes["price_area"] = cities["price_area"].to_numpy()[city_idx]
    homes["lat"] = np.round(cities["lat"].to_numpy()[city_idx] + rng.normal(0, 0.2, len(homes)), 4)
    homes["lon"] = np.round(cities["lon"].to_numpy()[city_idx] + rng.normal(0, 0.3, len(homes)), 4)


def _building(homes: pd.DataFrame, country_idx: np.ndarray, rng: np.random.Generator) -> None:
    n = len(homes)
    apartment_share = np.array([COUNTRIES[i].apartment_share for i in country_idx])
    is_apartment = rng.random(n) < apartment_share
    house_type = rng.choice(HOME_TYPES[1:], size=n, p=[0.3, 0.2, 0.5])
    homes["home_type"] = np.where(is_apartment, "apartment", house_type)
    typical = homes["home_type"].map(_TYPE_SIZE_M2).to_numpy()
    homes["floor_area_m2"] = np.round(typical * rng.lognormal(0.0, 0.25, n)).astype(int)
    era = rng.choice([1925, 1955, 1972, 1990, 2005, 2018], size=n, p=[0.08, 0.17, 0.3, 0.2, 0.15, 0.1])
    homes["build_year"] = np.clip(era + rng.integers(-8, 9, n), 1890, 2024)
    max_occupants = np.where(is_apartment, 3, 5)
    homes["occupants"] = np.minimum(1 + rng.poisson(np.where(is_apartment, 0.7, 1.6)), max_occupants)
    # Building heat loss per kelvin: floor area × a U-like factor falling with build year [kW/K].
    u_factor = np.interp(homes["build_year"], [1900, 1960, 1980, 2000, 2015], [2.1, 1.7, 1.2, 0.85, 0.5])
    loss = homes["home_type"].map(_TYPE_LOSS_FACTOR).to_numpy()
    homes["ua_kw_k"] = homes["floor_area_m2"] * u_factor * loss * rng.lognormal(0, 0.15, n) / 1000.0
    homes["balance_temp_c"] = rng.normal(16.5, 0.8, n) - 0.02 * (homes["build_year"] - 1970).clip(0)
    p_house = np.array([COUNTRIES[i].heating_house for i in country_idx])
    p_apartment = np.array([COUNTRIES[i].heating_apartment for i in country_idx])
    p = np.where(is_apartment[:, None], p_apartment, p_house)
    primary = (rng.random(n)[:, None] > np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)).sum(axis=1)
    primary = np.minimum(primary, len(HEATING_TYPES) - 1)
    nordic = np.isin(homes["country"], ["SE", "NO", "FI"])
    backup = (primary == HEATING_TYPES.index("heat_pump")) & nordic & (rng.random(n) < 0.4)
    heating = [
        [HEATING_TYPES[k], "direct_electric"] if b else [HEATING_TYPES[k]]
        for k, b in zip(primary, backup, strict=True)
    ]
    homes["heating_types"] = _objects(heating)


def _equipment(homes: pd.DataFrame, country_idx: np.ndarray, rng: np.random.Generator) -> None:
    n = len(homes)
    is_apartment = (homes["home_type"] == "apartment").to_numpy()
    ev_rate = np.array([COUNTRIES[i].ev_rate for i in country_idx]) * np.where(is_apartment, 0.45, 1.2)
    homes["has_ev"] = rng.random(n) < ev_rate
    battery = rng.choice(_EV_BATTERIES_KWH, size=n)
    charger = np.where(is_apartment, 3.7, rng.choice(_CHARGERS_KW, size=n, p=[0.25, 0.3, 0.45]))
    homes["ev"] = _objects(
        {"battery_kwh": float(b), "charger_kw": float(c)} if has else None
        for has, b, c in zip(homes["has_ev"], battery, charger, strict=True)
    )
    pv_rate = np.where(is_apartment, 0.03, 0.33) * np.array([COUNTRIES[i].pv_factor for i in country_idx])
    has_pv = rng.random(n) < pv_rate
    kwp = np.round(np.clip(rng.lognormal(np.log(6.0), 0.35, n), 1.5, 15.0), 1)
    tilt = rng.integers(15, 46, n)
    azimuth = np.where(rng.random(n) < 0.8, 180 + 5 * rng.integers(-9, 10, n), rng.choice([90, 270], size=n))
    homes["pv"] = _objects(
        {"kwp": float(k), "tilt_deg": int(t), "azimuth_deg": int(a)} if has else None
        for has, k, t, a in zip(has_pv, kwp, tilt, azimuth, strict=True)
    )
    homes["has_pv"] = has_pv
    homes["pv_measured"] = has_pv & (rng.random(n) < 0.6)
    homes["pv_derate"] = rng.uniform(0.85, 1.0, n)  # shading, soiling, orientation errors
    primary = homes["heating_types"].str[0].to_numpy()
    electric_heat = np.isin(primary, ["direct_electric", "heat_pump"])
    homes["has_ac"] = ((primary == "heat_pump") & (rng.random(n) < 0.5)) | (rng.random(n) < 0.04)
    homes["electric_water"] = electric_heat | (rng.random(n) < 0.05)
    homes["electric_cooking"] = (primary != "gas") | (rng.random(n) < 0.4)
    extra = rng.random(n)
    homes["extra_fields"] = _objects(
        {"smart_thermostat": True} if e < 0.06 else {"tariff": "dynamic"} if e < 0.09 else {} for e in extra
    )


def _objects(values: Iterable[Any]) -> np.ndarray:
    """A column of Python objects (dicts, lists, None) for a frame."""
    items = list(values)
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):  # element-wise: numpy would broadcast nested lists
        out[i] = item
    return out


def _behaviour(homes: pd.DataFrame, rng: np.random.Generator) -> None:
    n = len(homes)
    homes["baseload_kw"] = rng.lognormal(np.log(0.045 + 0.0004 * homes["floor_area_m2"]), 0.3, n)
    homes["home_office"] = rng.random(n) < 0.3
    homes["chronotype_h"] = rng.integers(-1, 2, n)  # early bird -1 h, night owl +1 h
    homes["appliance_scale"] = rng.lognormal(0, 0.3, n)
    homes["has_dryer"] = rng.random(n) < 0.45


def assign_resolutions(
    homes: pd.DataFrame, mix: dict[str, float], rng: np.random.Generator, local_wh_share: float = 0.05
) -> pd.Series:
    """The reading resolution of each home: exact shares of ``mix`` (largest remainder), shuffled.

    A few Swedish hourly homes become ``local_wh`` (naive local time in Wh).

    Raises:
        ValueError: ``mix`` names an unknown resolution, has a negative share or sums to zero.
    """
    unknown = set(mix) - set(RESOLUTIONS)
    if unknown or any(v < 0 for v in mix.values()) or sum(mix.values()) <= 0:
        raise ValueError(f"resolution_mix must map {RESOLUTIONS} to non-negative shares, got {mix}")
    shares = np.array([mix.get(r, 0.0) for r in RESOLUTIONS]) / sum(mix.values())
    exact = shares * len(homes)
    counts = np.floor(exact).astype(int)
    remainder_order = np.argsort(-(exact - counts), kind="stable")
    counts[remainder_order[: len(homes) - counts.sum()]] += 1
    labels = np.repeat(np.array(RESOLUTIONS, dtype=object), counts)
    resolution = pd.Series(rng.permutation(labels), index=homes.index, name="resolution")
    swedish_hourly = np.flatnonzero(
        (resolution == "hourly").to_numpy() & (homes["country"] == "SE").to_numpy()
    )
    n_local = min(len(swedish_hourly), max(1, round(local_wh_share * counts[1])), 50)
    resolution.iloc[swedish_hourly[:n_local]] = "local_wh"
    return resolution
