"""Hourly weather on a regular grid: spatially coherent fronts, seasonal and daily cycles by latitude.

Temperature, cloud and wind anomalies are regional AR(1) processes at fixed anchor points, blended by distance
(so neighbouring grid points share weather fronts) plus a small local AR(1) term. Cloud cover drives GHI from
the clear sky; DNI and DHI come from the Erbs decomposition (:mod:`~data_prep.sample_data.solar`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from data_prep.sample_data.filters import ar1
from data_prep.sample_data.homes import CITIES, PRICE_AREAS
from data_prep.sample_data.solar import SunPosition, cloudy_irradiance, sun_position
from data_prep.sample_data.timegrid import TimeAxis

GRID_DLAT_DEG = 0.5
GRID_DLON_DEG = 1.0
_ANCHOR_LATS = np.arange(46.0, 71.0, 3.0)
_ANCHOR_LONS = np.arange(2.0, 31.0, 4.0)
_FRONT_SCALE_KM = 450.0
_LOCAL_SHARE = 0.25  # share of the anomaly's standard deviation that is local to a grid point


@dataclass(frozen=True)
class WeatherGrid:
    """Grid points covering the homes and one point per price area.

    Attributes:
        lat: point latitudes, shape (n_points,) [degree].
        lon: point longitudes, shape (n_points,) [degree east].
        corners: the four points of each home's cell, shape (n_homes, 4).
        weights: bilinear weights of those corners, shape (n_homes, 4) [0–1], rows sum to 1.
        nearest: each home's nearest point, shape (n_homes,).
        area_point: the point standing for each price area.
    """

    lat: np.ndarray
    lon: np.ndarray
    corners: np.ndarray
    weights: np.ndarray
    nearest: np.ndarray
    area_point: dict[str, int]

    @classmethod
    def covering(cls, lat_deg: np.ndarray, lon_deg: np.ndarray) -> WeatherGrid:
        """The grid whose cells hold every home at (``lat_deg``, ``lon_deg``) and every price area's city."""
        area_lat = np.array([next(c[2] for c in CITIES if c[1] == a) for a in PRICE_AREAS])
        area_lon = np.array([next(c[3] for c in CITIES if c[1] == a) for a in PRICE_AREAS])
        all_lat, all_lon = np.concatenate([lat_deg, area_lat]), np.concatenate([lon_deg, area_lon])
        i0 = np.floor(all_lat / GRID_DLAT_DEG).astype(np.int64)
        j0 = np.floor(all_lon / GRID_DLON_DEG).astype(np.int64)
        corner_i = np.stack([i0, i0 + 1, i0, i0 + 1], axis=1)
        corner_j = np.stack([j0, j0, j0 + 1, j0 + 1], axis=1)
        keys = np.unique(np.stack([corner_i.ravel(), corner_j.ravel()], axis=1), axis=0)
        lookup = {(int(i), int(j)): k for k, (i, j) in enumerate(keys)}
        corners = np.vectorize(lambda i, j: lookup[(int(i), int(j))])(corner_i, corner_j)
        fy = all_lat / GRID_DLAT_DEG - i0
        fx = all_lon / GRID_DLON_DEG - j0
        weights = np.stack([(1 - fy) * (1 - fx), fy * (1 - fx), (1 - fy) * fx, fy * fx], axis=1)
        nearest = corners[np.arange(len(corners)), np.argmax(weights, axis=1)]
        n_homes = len(lat_deg)
        return cls(
            lat=keys[:, 0] * GRID_DLAT_DEG,
            lon=keys[:, 1] * GRID_DLON_DEG,
            corners=corners[:n_homes],
            weights=weights[:n_homes],
            nearest=nearest[:n_homes],
            area_point={a: int(nearest[n_homes + k]) for k, a in enumerate(PRICE_AREAS)},
        )


@dataclass(frozen=True)
class HomeWeather:
    """The weather a batch of homes lives in, each field (n_homes, n_hours).

    Attributes:
        temp_c: outdoor temperature, bilinear between the cell's grid points [°C].
        ghi_w_m2: global horizontal irradiance at the nearest grid point [W/m²].
        sun_elevation_deg: solar elevation at the nearest grid point [degree].
    """

    temp_c: np.ndarray
    ghi_w_m2: np.ndarray
    sun_elevation_deg: np.ndarray


@dataclass(frozen=True)
class Weather:
    """Hourly weather per grid point; every field has shape (n_points, n_hours).

    Attributes:
        grid: the points.
        sun: solar position per point.
        temp_c: air temperature [°C].
        cloud_cover: cloud cover fraction [0–1].
        wind_m_s: wind speed at 10 m [m/s].
        humidity: relative humidity [%].
        irradiance: ``ghi_w_m2``, ``dni_w_m2``, ``dhi_w_m2`` [W/m²].
    """

    grid: WeatherGrid
    sun: SunPosition
    temp_c: np.ndarray
    cloud_cover: np.ndarray
    wind_m_s: np.ndarray
    humidity: np.ndarray
    irradiance: dict[str, np.ndarray]

    def at_homes(self, home_idx: np.ndarray) -> HomeWeather:
        """The weather of the homes at rows ``home_idx`` of the frame the grid was built for."""
        corners = self.grid.corners[home_idx]
        weights = self.grid.weights[home_idx]
        nearest = self.grid.nearest[home_idx]
        return HomeWeather(
            temp_c=np.einsum("hk,hkt->ht", weights, self.temp_c[corners]),
            ghi_w_m2=self.irradiance["ghi_w_m2"][nearest],
            sun_elevation_deg=self.sun.elevation_deg[nearest],
        )

    def to_table(self, hours_utc: pd.DatetimeIndex) -> pa.Table:
        """The weather as one long table: ``lat, lon, ts`` then the fields, ordered by point then time."""
        n_points, n_hours = self.temp_c.shape
        columns = {
            "lat": np.repeat(self.grid.lat, n_hours),
            "lon": np.repeat(self.grid.lon, n_hours),
            "ts": pa.array(
                np.tile(hours_utc.tz_localize(None).to_numpy(), n_points), pa.timestamp("us", "UTC")
            ),
            "temp_c": np.round(self.temp_c, 2).ravel(),
        }
        for name, values in self.irradiance.items():
            columns[name] = np.round(values, 1).ravel()
        columns["cloud_cover"] = np.round(self.cloud_cover, 3).ravel()
        columns["wind_m_s"] = np.round(self.wind_m_s, 2).ravel()
        columns["humidity"] = np.round(self.humidity, 1).ravel()
        return pa.table(columns)


def coherent_ar(
    lat_deg: np.ndarray, lon_deg: np.ndarray, n_hours: int, tau_h: float, rng: np.random.Generator
) -> np.ndarray:
    """Unit-variance AR(1) anomalies at the points, correlated in space through shared regional anchors.

    Args:
        lat_deg: point latitudes [degree].
        lon_deg: point longitudes [degree east].
        n_hours: series length [h].
        tau_h: e-folding time of the autocorrelation [h].
        rng: random stream.

    Returns:
        Shape (n_points, n_hours), each row with mean 0 and standard deviation about 1.
    """
    anchor_lat, anchor_lon = (a.ravel() for a in np.meshgrid(_ANCHOR_LATS, _ANCHOR_LONS, indexing="ij"))
    dy = (lat_deg[:, None] - anchor_lat[None, :]) * 111.0
    dx = (lon_deg[:, None] - anchor_lon[None, :]) * 111.0 * np.cos(np.radians(lat_deg))[:, None]
    w = np.exp(-(dx**2 + dy**2) / (2 * _FRONT_SCALE_KM**2))
    w /= np.sqrt((w**2).sum(axis=1, keepdims=True))
    regional = w @ ar1(len(anchor_lat), n_hours, tau_h, rng)
    local = ar1(len(lat_deg), n_hours, tau_h / 2, rng)
    return np.sqrt(1 - _LOCAL_SHARE**2) * regional + _LOCAL_SHARE * local


def simulate_weather(grid: WeatherGrid, axis: TimeAxis, rng: np.random.Generator) -> Weather:
    """Hourly weather at every grid point over the axis.

    Temperature = latitude/longitude climatology (colder north, more continental east) + a daily cycle damped
    by cloud + a regional anomaly; clear skies warm summer days and cool winter days.
    """
    from scipy.special import ndtr, ndtri

    hours = axis.hours_utc
    lat, lon = grid.lat[:, None], grid.lon[:, None]
    doy = hours.dayofyear.to_numpy()[None, :]
    summer = np.cos(2 * np.pi * (doy - 201) / 365.25)  # +1 late July, -1 late January
    n_hours = axis.n_hours

    mean_cloud = np.clip(0.62 - 0.08 * summer + 0.004 * (lat - 55), 0.3, 0.85)
    z_cloud = coherent_ar(grid.lat, grid.lon, n_hours, 18.0, rng)
    cloud = ndtr(1.1 * z_cloud + ndtri(mean_cloud))
    sun = sun_position(grid.lat, grid.lon, hours)
    irradiance = cloudy_irradiance(sun, cloud)

    annual_mean = 10.0 - 0.55 * (lat - 52.0)
    amplitude = 7.0 + 0.22 * (lat - 52.0) + 0.15 * (lon - 5.0)  # more continental to the north and east
    solar_hour = (hours.hour.to_numpy()[None, :] + 0.5 + lon / 15.0) % 24
    diurnal = (1.5 + 3.5 * (1 - cloud)) * (0.8 + 0.4 * summer) * np.cos(2 * np.pi * (solar_hour - 15.0) / 24)
    anomaly_sd = 2.5 + 0.8 * (1 - summer) + 0.08 * (lat - 50.0)
    z_temp = coherent_ar(grid.lat, grid.lon, n_hours, 60.0, rng)
    temp = annual_mean + amplitude * summer + diurnal + anomaly_sd * z_temp + 2.0 * summer * (0.5 - cloud)

    z_wind = coherent_ar(grid.lat, grid.lon, n_hours, 12.0, rng)
    wind = np.clip(np.exp(1.3 + 0.45 * z_wind + 0.1 * (1 - summer)), 0.0, 35.0)
    humid_noise = ar1(len(grid.lat), n_hours, 6.0, rng)
    humidity = np.clip(78 - 8 * summer + 18 * (cloud - 0.5) - 1.5 * diurnal + 5 * humid_noise, 15.0, 100.0)
    return Weather(grid, sun, temp, cloud, wind, humidity, irradiance)
