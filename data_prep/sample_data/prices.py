"""Hourly day-ahead spot prices per price area.

price = level × daily shape + heating demand (cold → dearer) − solar glut (sunny middays → cheaper, sometimes
negative) + spikes. The level moves with a market-wide AR factor shared by every area and a smaller area
factor, so areas are correlated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from data_prep.sample_data.filters import ar1
from data_prep.sample_data.homes import PRICE_AREAS
from data_prep.sample_data.timegrid import TimeAxis
from data_prep.sample_data.weather import Weather

# area: (base level [EUR/MWh], heating sensitivity [EUR/MWh per K below 15 °C], solar dip [EUR/MWh],
#        standard-time UTC offset [h])
_AREAS = {
    "SE1": (28.0, 3.0, 10.0, 1),
    "SE2": (30.0, 3.0, 12.0, 1),
    "SE3": (42.0, 3.6, 35.0, 1),
    "SE4": (58.0, 3.8, 55.0, 1),
    "NO1": (46.0, 3.4, 25.0, 1),
    "DK1": (72.0, 2.6, 65.0, 1),
    "DK2": (74.0, 2.7, 60.0, 1),
    "FI": (44.0, 3.8, 25.0, 2),
    "DE": (82.0, 2.2, 85.0, 1),
    "NL": (84.0, 2.2, 80.0, 1),
}
# Relative price by local clock hour: night trough, morning and evening peaks.
# fmt: off
_DAILY_SHAPE = np.array(
    [0.82, 0.78, 0.76, 0.75, 0.77, 0.85, 0.98, 1.15, 1.22, 1.15, 1.06, 1.0,
     0.97, 0.95, 0.96, 1.0, 1.08, 1.22, 1.32, 1.28, 1.15, 1.04, 0.95, 0.88]
)
# fmt: on


def simulate_prices(weather: Weather, axis: TimeAxis, rng: np.random.Generator) -> pd.DataFrame:
    """Hourly prices of every price area over the axis.

    Args:
        weather: the weather; each area reads the temperature and irradiance of its own grid point.
        axis: the hourly axis.
        rng: the prices' random stream.

    Returns:
        Columns ``price_area, ts, price_eur_mwh`` (ts UTC at the hour's start), ordered by area then time.
    """
    hours = axis.hours_utc
    n_hours = axis.n_hours
    summer = np.cos(2 * np.pi * (hours.dayofyear.to_numpy() - 201) / 365.25)
    market = ar1(1, n_hours, 24.0 * 5, rng)[0]
    area_noise = ar1(len(PRICE_AREAS), n_hours, 24.0 * 2, rng)
    hourly_noise = rng.standard_normal((len(PRICE_AREAS), n_hours))
    n_days = n_hours // 24 + 2
    spike_day = rng.random((len(PRICE_AREAS), n_days)) < 0.02
    spike_day |= (rng.random(n_days) < 0.015)[None, :]  # coupled markets spike together
    spike_factor = rng.uniform(1.8, 4.0, (len(PRICE_AREAS), n_days))
    frames = []
    for k, area in enumerate(PRICE_AREAS):
        base, heat_sens, solar_dip, offset_h = _AREAS[area]
        point = weather.grid.area_point[area]
        local = hours + pd.Timedelta(hours=offset_h)
        weekend = local.dayofweek.to_numpy() >= 5
        level = base * (1 + 0.15 * (-summer)) * np.exp(0.22 * market + 0.12 * area_noise[k])
        level *= np.where(weekend, 0.85, 1.0)
        price = level * _DAILY_SHAPE[local.hour.to_numpy()]
        price += heat_sens * np.clip(15.0 - weather.temp_c[point], 0.0, None)
        sunny = weather.irradiance["ghi_w_m2"][point] / 800.0
        price -= solar_dip * sunny * np.where(weekend, 1.4, 1.0)
        day = (hours - axis.start_utc).days.to_numpy()
        evening = np.isin(local.hour.to_numpy(), [17, 18, 19, 20])
        price = np.where(spike_day[k, day] & evening, price * spike_factor[k, day], price)
        price += 3.0 * hourly_noise[k]
        frames.append(pd.DataFrame({"price_area": area, "ts": hours, "price_eur_mwh": np.round(price, 2)}))
    return pd.concat(frames, ignore_index=True)


def prices_table(prices: pd.DataFrame) -> pa.Table:
    """The prices as an Arrow table ready for CSV (ts as ISO 8601 UTC text)."""
    return pa.table(
        {
            "price_area": prices["price_area"].to_numpy(),
            "ts": prices["ts"].dt.strftime("%Y-%m-%dT%H:%M:%S+00:00").to_numpy(),
            "price_eur_mwh": prices["price_eur_mwh"].to_numpy(),
        }
    )
