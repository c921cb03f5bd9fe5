"""Household electricity by usage category, hour by hour, each driven by what drives it.

Heating follows the building's heat loss below its balance temperature (a heat pump divides by a COP that
falls with the cold; district- and gas-heated homes only run pumps), cooling follows heat, water heating
follows occupants with morning and evening draws, lighting follows occupancy and darkness, cooking follows
meals, and an always-on baseload runs through vacations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_prep.sample_data.filters import exp_smooth
from data_prep.sample_data.occupancy import HomeCalendar, activity
from data_prep.sample_data.sessions import appliance_cycles, ev_charging
from data_prep.sample_data.timegrid import TimeAxis
from data_prep.sample_data.weather import HomeWeather

CATEGORIES = (
    "heating_kwh",
    "cooling_kwh",
    "water_heating_kwh",
    "ev_charging_kwh",
    "cooking_kwh",
    "lighting_kwh",
    "appliances_kwh",
    "electronics_kwh",
    "always_on_kwh",
)
_FROST_PROTECTION_C = 9.0  # balance temperature while away [°C]
_NIGHT_SETBACK_K = 1.5
# Share of a day's hot water drawn in each local hour.
# fmt: off
_WATER_WORKDAY = np.array([0.5, 0.3, 0.3, 0.3, 0.5, 2.0, 9.0, 12.0, 6.0, 2.5, 2.0, 2.0,
                           2.5, 2.0, 2.0, 2.5, 3.5, 5.0, 6.5, 8.0, 9.0, 8.0, 5.0, 2.0])
_WATER_FREE_DAY = np.array([1.0, 0.5, 0.3, 0.3, 0.3, 0.5, 1.5, 4.0, 8.0, 10.0, 7.0, 5.0,
                            4.5, 3.5, 3.0, 3.0, 3.5, 5.0, 6.5, 8.0, 8.5, 7.0, 4.5, 2.5])
# fmt: on
_WATER_WORKDAY /= _WATER_WORKDAY.sum()
_WATER_FREE_DAY /= _WATER_FREE_DAY.sum()


def simulate_categories(
    homes: pd.DataFrame,
    calendar: HomeCalendar,
    axis: TimeAxis,
    outdoor: HomeWeather,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Energy per usage category for a batch of homes, each (n_homes, n_hours), 0 outside a home's window.

    Args:
        homes: the batch of homes (hidden columns included).
        calendar: the batch's local clocks and day kinds.
        axis: the hourly axis.
        outdoor: the weather at each home (temperature, irradiance, sun elevation).
        rng: the batch's consumption stream.

    Returns:
        ``CATEGORIES`` → [kWh per hour]; all values ≥ 0.
    """
    temp_c, ghi_w_m2 = outdoor.temp_c, outdoor.ghi_w_m2
    active = activity(homes, calendar)
    away = calendar.hourly(calendar.away)
    daily_temp = _daily_mean(temp_c, calendar)
    cold = np.clip((10.0 - daily_temp) / 25.0, 0.0, 1.0)
    out = {
        "heating_kwh": heating(homes, calendar, temp_c, ghi_w_m2, away) * _noise(rng, calendar, 0.08, 0.10),
        "cooling_kwh": cooling(homes, temp_c, active, away) * _noise(rng, calendar, 0.1, 0.15),
        "water_heating_kwh": water_heating(homes, calendar, cold, away) * _noise(rng, calendar, 0.15, 0.3),
        "ev_charging_kwh": ev_charging(homes, calendar, axis, cold, rng),
        "cooking_kwh": cooking(homes, calendar, rng) * _noise(rng, calendar, 0.25, 0.3),
        "lighting_kwh": lighting(homes, active, outdoor) * _noise(rng, calendar, 0.1, 0.2),
        "appliances_kwh": appliance_cycles(homes, calendar, axis, rng)
        + _small_appliances(homes, active) * _noise(rng, calendar, 0.2, 0.35),
        "electronics_kwh": electronics(homes, calendar, active) * _noise(rng, calendar, 0.15, 0.2),
        "always_on_kwh": always_on(homes, calendar) * _noise(rng, calendar, 0.03, 0.05),
    }
    window = calendar.in_window
    return {name: np.where(window, values, 0.0) for name, values in out.items()}


def heating(
    homes: pd.DataFrame, calendar: HomeCalendar, temp_c: np.ndarray, ghi_w_m2: np.ndarray, away: np.ndarray
) -> np.ndarray:
    """Electric heating: heat loss × (balance − felt temperature), through the heating system [kWh/h].

    The felt temperature is the outdoor temperature smoothed by the building's thermal mass, plus solar gains.
    """
    tau_h = np.where(homes["home_type"] == "apartment", 20.0, 10.0)
    smoothed = np.empty_like(temp_c)
    for tau in np.unique(tau_h):  # one filter per thermal-mass class
        rows = tau_h == tau
        smoothed[rows] = exp_smooth(temp_c[rows], float(tau))
    felt = smoothed + 0.004 * ghi_w_m2
    night = (calendar.local_hour >= 23) | (calendar.local_hour < 6)
    balance = homes["balance_temp_c"].to_numpy()[:, None] - _NIGHT_SETBACK_K * night
    balance = np.where(away, _FROST_PROTECTION_C, balance)
    demand_kw = homes["ua_kw_k"].to_numpy()[:, None] * np.clip(balance - felt, 0.0, None)

    primary = homes["heating_types"].str[0].to_numpy()[:, None]
    backup = homes["heating_types"].map(lambda h: "direct_electric" in h[1:]).to_numpy()[:, None]
    cop = np.clip(2.9 + 0.075 * temp_c, 1.4, 4.8)
    backup_share = np.where(backup, np.clip((-5.0 - temp_c) / 15.0, 0.0, 0.6), 0.0)
    electric_share = np.select(
        [primary == "direct_electric", primary == "heat_pump"],
        [1.0, (1 - backup_share) / cop + backup_share],
        default=0.015,  # circulation pumps and burner fans of district or gas heating
    )
    return demand_kw * electric_share


def cooling(homes: pd.DataFrame, temp_c: np.ndarray, active: np.ndarray, away: np.ndarray) -> np.ndarray:
    """Air conditioning of homes that have it, above 23.5 °C, mostly while someone is home; off when away."""
    has_ac = homes["has_ac"].to_numpy()[:, None] & ~away
    load_kw = homes["ua_kw_k"].to_numpy()[:, None] * np.clip(temp_c - 23.5, 0.0, None) / 3.0
    return np.where(has_ac, load_kw * (0.3 + 0.7 * active), 0.0)


def water_heating(
    homes: pd.DataFrame, calendar: HomeCalendar, cold: np.ndarray, away: np.ndarray
) -> np.ndarray:
    """Electric water heaters: the daily draw (more when mains water is cold) + standby; off when away [kWh/h]."""
    electric = homes["electric_water"].to_numpy()[:, None]
    heat_pump = (homes["heating_types"].str[0] == "heat_pump").to_numpy()[:, None]
    per_day = homes["occupants"].to_numpy()[:, None] * 1.3 * (0.9 + 0.3 * calendar.hourly(cold))
    per_day = np.where(heat_pump, 0.6 * per_day, per_day)
    shifted = (calendar.local_hour - homes["chronotype_h"].to_numpy()[:, None]) % 24
    share = np.where(calendar.hourly(calendar.free_day), _WATER_FREE_DAY[shifted], _WATER_WORKDAY[shifted])
    return np.where(electric & ~away, per_day * share + 0.03, 0.0)


def cooking(homes: pd.DataFrame, calendar: HomeCalendar, rng: np.random.Generator) -> np.ndarray:
    """Electric cooking around breakfast, lunch and a jittered dinner [kWh/h]."""
    n_homes, n_days = calendar.away.shape
    free = calendar.hourly(calendar.free_day)
    lunch_home = free | homes["home_office"].to_numpy()[:, None]
    shift = homes["chronotype_h"].to_numpy()[:, None]
    dinner = 17.8 + shift + calendar.hourly(rng.normal(0.0, 0.6, (n_homes, n_days)))
    hour = calendar.local_hour + 0.5
    meals = (
        0.15 * _bump(hour, np.where(free, 8.5, 7.0) + shift)
        + np.where(lunch_home, 0.25, 0.05) * _bump(hour, 12.3 + shift)
        + 0.6 * _bump(hour, dinner)
    )
    per_day = 0.35 + 0.25 * homes["occupants"].to_numpy()[:, None]
    electric = homes["electric_cooking"].to_numpy()[:, None]
    return np.where(electric & ~calendar.hourly(calendar.away), per_day * meals, 0.0)


def lighting(homes: pd.DataFrame, active: np.ndarray, outdoor: HomeWeather) -> np.ndarray:
    """Lights: on while people are awake at home and it is dark (sun low, dusk or heavy cloud) [kWh/h]."""
    power_kw = 0.04 + 0.0012 * homes["floor_area_m2"].to_numpy()[:, None]
    twilight = np.clip((6.0 - outdoor.sun_elevation_deg) / 12.0, 0.0, 1.0)  # dark below -6°, light above 6°
    darkness = np.maximum(twilight, np.clip(1.0 - outdoor.ghi_w_m2 / 150.0, 0.0, 1.0))
    return power_kw * (active * darkness + 0.03 * (active > 0))


def electronics(homes: pd.DataFrame, calendar: HomeCalendar, active: np.ndarray) -> np.ndarray:
    """TVs, computers, chargers: with the household, more in the evening and for home offices [kWh/h]."""
    occupants = homes["occupants"].to_numpy()[:, None]
    evening = (calendar.local_hour >= 19) & (calendar.local_hour <= 23)
    base = (0.03 + 0.03 * occupants) * active * (1.0 + 0.6 * evening)
    office = (
        homes["home_office"].to_numpy()[:, None]
        & ~calendar.hourly(calendar.free_day | calendar.away)
        & (calendar.local_hour >= 9)
        & (calendar.local_hour < 17)
    )
    return (base + 0.08 * office) * homes["appliance_scale"].to_numpy()[:, None]


def always_on(homes: pd.DataFrame, calendar: HomeCalendar) -> np.ndarray:
    """Fridge, freezer, router and standby: a flat baseload with a faint afternoon bump [kWh/h]."""
    ripple = 1.0 + 0.06 * np.cos(2 * np.pi * (calendar.local_hour - 16) / 24)
    return homes["baseload_kw"].to_numpy()[:, None] * ripple


def _small_appliances(homes: pd.DataFrame, active: np.ndarray) -> np.ndarray:
    """Kettles, vacuum cleaners, hair dryers: small loads while people are up [kWh/h]."""
    occupants = homes["occupants"].to_numpy()[:, None]
    return 0.04 * np.sqrt(occupants) * active * homes["appliance_scale"].to_numpy()[:, None]


def _bump(hour: np.ndarray, centre: np.ndarray | float, width_h: float = 0.6) -> np.ndarray:
    """A unit-area Gaussian over the hour of day [1/h]."""
    return np.exp(-0.5 * ((hour - centre) / width_h) ** 2) / (width_h * np.sqrt(2 * np.pi))


def _daily_mean(values: np.ndarray, calendar: HomeCalendar) -> np.ndarray:
    """Mean of ``values`` per home and local day, shape (n_homes, n_days)."""
    n_homes, n_days = calendar.away.shape
    flat = (np.arange(n_homes)[:, None] * n_days + calendar.local_day).ravel()
    sums = np.bincount(flat, weights=values.ravel(), minlength=n_homes * n_days)
    counts = np.bincount(flat, minlength=n_homes * n_days)
    return (sums / np.maximum(counts, 1)).reshape(n_homes, n_days)


def _noise(
    rng: np.random.Generator, calendar: HomeCalendar, day_sigma: float, hour_sigma: float
) -> np.ndarray:
    """Mean-one log-normal noise: a factor per home and day times a factor per hour."""
    n_homes, n_days = calendar.away.shape
    day = np.exp(day_sigma * rng.standard_normal((n_homes, n_days)) - day_sigma**2 / 2)
    hour = np.exp(hour_sigma * rng.standard_normal(calendar.local_hour.shape) - hour_sigma**2 / 2)
    return calendar.hourly(day) * hour
