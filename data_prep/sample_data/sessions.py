"""Timed loads: electric-car charging sessions and appliance cycles (dishwasher, washing machine, dryer).

A session starts at a time on the axis and draws a constant power until its energy is delivered; its energy is
spread over the hours it overlaps.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_prep.sample_data.occupancy import HomeCalendar
from data_prep.sample_data.timegrid import TimeAxis

_EV_KWH_PER_KM = 0.18


def spread_sessions(
    start_h: np.ndarray, energy_kwh: np.ndarray, power_kw: np.ndarray, n_hours: int
) -> np.ndarray:
    """Energy per axis hour of sessions drawing ``power_kw`` from ``start_h`` until ``energy_kwh`` is in.

    Args:
        start_h: session starts, shape (n_homes, n_sessions) [h since the axis start, fractional].
        energy_kwh: energy of each session, same shape; 0 for no session [kWh].
        power_kw: charging power, broadcastable to that shape [kW].
        n_hours: length of the axis [h].

    Returns:
        Shape (n_homes, n_hours) [kWh]. Energy beyond the axis is dropped.

    Invariants:
        Each session's energy lands in the hours from ``floor(start_h)`` on, in order; the total is conserved
        within the axis.
    """
    n_homes = start_h.shape[0]
    power = np.broadcast_to(power_kw, start_h.shape)
    duration_h = np.where(energy_kwh > 0, energy_kwh / power, 0.0)
    n_slots = int(np.ceil(duration_h.max(initial=0.0))) + 1
    slot = np.floor(start_h)[..., None] + np.arange(n_slots)  # (homes, sessions, slots)
    since_start = slot - start_h[..., None]
    energy = energy_kwh[..., None]
    delivered = np.minimum(power[..., None] * (since_start + 1), energy) - np.minimum(
        power[..., None] * np.clip(since_start, 0, None), energy
    )
    slot = slot.astype(np.int64)
    valid = (delivered > 0) & (slot >= 0) & (slot < n_hours)
    rows = np.broadcast_to(np.arange(n_homes)[:, None, None], slot.shape)
    flat = rows[valid] * n_hours + slot[valid]
    return np.bincount(flat, weights=delivered[valid], minlength=n_homes * n_hours).reshape(n_homes, n_hours)


def day_starts(homes: pd.DataFrame, axis: TimeAxis) -> np.ndarray:
    """Axis index of each home's local midnights, shape (n_homes, n_days) [h]."""
    return axis.day_start[homes["tz_code"].to_numpy(), :-1].astype(float)


def ev_charging(
    homes: pd.DataFrame, calendar: HomeCalendar, axis: TimeAxis, cold: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Home charging of electric cars, shape (n_homes, n_hours) [kWh].

    The car drives every day it is not away; its energy deficit accumulates and is charged in the evening when
    it exceeds a fifth of the battery (or on a whim), at the charger's power until delivered.

    Args:
        homes: the batch, with ``has_ev`` and ``ev`` ({battery_kwh, charger_kw}).
        calendar: the batch's calendar.
        axis: the hourly axis.
        cold: per home and day, how cold it is [0–1]; cold raises consumption per km by up to 30 %.
        rng: random stream.
    """
    n_homes, n_days = calendar.away.shape
    has_ev = homes["has_ev"].to_numpy()
    battery = np.array([e["battery_kwh"] if e else 0.0 for e in homes["ev"]])
    charger = np.array([e["charger_kw"] if e else 1.0 for e in homes["ev"]])
    km = rng.lognormal(np.log(32.0), 0.7, (n_homes, n_days))
    need = np.where(calendar.away, 0.0, km * _EV_KWH_PER_KM * (1 + 0.3 * cold))
    whim = rng.random((n_homes, n_days)) < 0.3
    energy = np.zeros((n_homes, n_days))
    deficit = rng.uniform(0, 0.3, n_homes) * battery
    for d in range(n_days):  # a day loop over the whole batch: the deficit carries over
        deficit = np.minimum(deficit + need[:, d], 0.9 * battery)
        charge = has_ev & ~calendar.away[:, d] & ((deficit > 0.2 * battery) | whim[:, d])
        energy[:, d] = np.where(charge, deficit, 0.0)
        deficit = np.where(charge, 0.0, deficit)
    arrival = np.where(
        calendar.free_day, rng.uniform(11.0, 20.0, energy.shape), rng.normal(18.0, 1.2, energy.shape)
    )
    start = day_starts(homes, axis) + np.clip(arrival, 8.0, 23.5)
    return spread_sessions(start, energy, 0.95 * charger[:, None], axis.n_hours)


def appliance_cycles(
    homes: pd.DataFrame, calendar: HomeCalendar, axis: TimeAxis, rng: np.random.Generator
) -> np.ndarray:
    """Dishwasher, washing-machine and dryer cycles, shape (n_homes, n_hours) [kWh]."""
    n_homes, n_days = calendar.away.shape
    occupants = homes["occupants"].to_numpy()[:, None].astype(float)
    scale = homes["appliance_scale"].to_numpy()[:, None]
    home = ~calendar.away
    midnight = day_starts(homes, axis)
    shape = (n_homes, n_days)

    dish = home & (rng.random(shape) < np.clip(0.2 + 0.15 * occupants, 0, 0.95))
    dish_start = np.where(
        rng.random(shape) < 0.75, rng.uniform(19.5, 22.5, shape), rng.uniform(7.0, 9.0, shape)
    )
    wash = home & (
        rng.random(shape) < np.clip(0.08 * occupants * np.where(calendar.free_day, 1.8, 0.8), 0, 0.9)
    )
    wash_start = np.where(calendar.free_day, rng.uniform(9.0, 16.0, shape), rng.uniform(17.5, 20.5, shape))
    dry = wash & homes["has_dryer"].to_numpy()[:, None] & (rng.random(shape) < 0.6)

    starts = np.concatenate([dish_start, wash_start, wash_start + 1.6], axis=1) + np.tile(midnight, 3)
    energy = np.concatenate(
        [
            dish * rng.normal(1.05, 0.15, shape),
            wash * rng.normal(0.8, 0.2, shape),
            dry * rng.normal(2.4, 0.4, shape),
        ],
        axis=1,
    )
    power = np.concatenate([np.full(shape, 1.8), np.full(shape, 1.2), np.full(shape, 2.2)], axis=1)
    return spread_sessions(starts, np.clip(energy, 0, None) * scale, power, axis.n_hours)
