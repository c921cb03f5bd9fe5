"""Sun and rooftop PV through pvlib: solar position, clear-sky and cloudy irradiance, PV energy per hour.

Arrays are (points or homes, hours) on the :class:`~data_prep.sample_data.timegrid.TimeAxis`. Hourly values
are evaluated at the middle of the hour, so they stand for the hour's mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

LINKE_TURBIDITY = 3.0  # a typical rural northern-European value [-]
SYSTEM_LOSSES_PERCENT = 14.0  # pvwatts default losses: soiling, wiring, mismatch, availability …


@dataclass(frozen=True)
class SunPosition:
    """Solar position per weather point and hour.

    Attributes:
        zenith_deg: solar zenith angle, shape (n_points, n_hours) [degree].
        azimuth_deg: solar azimuth clockwise from north, shape (n_points, n_hours) [degree].
        day_of_year: day of year of each hour, shape (n_hours,).
    """

    zenith_deg: np.ndarray
    azimuth_deg: np.ndarray
    day_of_year: np.ndarray

    @property
    def elevation_deg(self) -> np.ndarray:
        """Solar elevation above the horizon [degree]."""
        return 90.0 - self.zenith_deg


def sun_position(lat_deg: np.ndarray, lon_deg: np.ndarray, hours_utc: pd.DatetimeIndex) -> SunPosition:
    """Solar position of each point at the middle of each hour, vectorised over points and hours.

    Uses pvlib's analytical model (Spencer declination and equation of time), accurate to about a degree,
    which is plenty for hourly energy.

    Args:
        lat_deg: latitudes, shape (n_points,) [degree].
        lon_deg: longitudes, shape (n_points,) [degree east].
        hours_utc: interval starts [UTC].
    """
    from pvlib import solarposition

    mid = hours_utc + pd.Timedelta(minutes=30)
    doy = mid.dayofyear.to_numpy()
    declination = solarposition.declination_spencer71(doy)
    eot = solarposition.equation_of_time_spencer71(doy)
    hour_angle = np.radians(solarposition.hour_angle(mid, lon_deg[:, None], eot))
    lat = np.radians(lat_deg)[:, None]
    zenith = solarposition.solar_zenith_analytical(lat, hour_angle, declination)
    azimuth = solarposition.solar_azimuth_analytical(lat, hour_angle, declination, zenith)
    return SunPosition(np.degrees(zenith), np.degrees(azimuth), hours_utc.dayofyear.to_numpy())


def cloudy_irradiance(sun: SunPosition, cloud_cover: np.ndarray) -> dict[str, np.ndarray]:
    """Global, direct-normal and diffuse irradiance under ``cloud_cover``.

    Clear-sky GHI from pvlib's Ineichen model, attenuated by Kasten–Czeplak
    (GHI = GHI_clear × (1 − 0.75 c^3.4)), then split into DNI and DHI by the Erbs decomposition.

    Args:
        sun: solar position of the points.
        cloud_cover: cloud cover fraction, same shape as ``sun.zenith_deg`` [0–1].

    Returns:
        ``ghi_w_m2``, ``dni_w_m2``, ``dhi_w_m2`` [W/m²].
    """
    from pvlib import atmosphere, clearsky, irradiance

    with np.errstate(divide="ignore", invalid="ignore"):
        airmass = atmosphere.get_absolute_airmass(atmosphere.get_relative_airmass(sun.zenith_deg))
        clear = clearsky.ineichen(sun.zenith_deg, airmass, LINKE_TURBIDITY)
    ghi_clear = np.nan_to_num(clear["ghi"], nan=0.0)
    ghi = ghi_clear * (1.0 - 0.75 * cloud_cover**3.4)
    split = irradiance.erbs(ghi, sun.zenith_deg, sun.day_of_year)
    return {
        "ghi_w_m2": ghi,
        "dni_w_m2": np.nan_to_num(split["dni"], nan=0.0),
        "dhi_w_m2": np.nan_to_num(split["dhi"], nan=0.0),
    }


def pv_energy_kwh(
    homes: pd.DataFrame,
    zenith_deg: np.ndarray,
    sun_azimuth_deg: np.ndarray,
    irradiance_w_m2: dict[str, np.ndarray],
    temp_c: np.ndarray,
    wind_m_s: np.ndarray,
) -> np.ndarray:
    """AC energy of each home's PV system per hour.

    Plane-of-array irradiance (isotropic sky) for the home's tilt and azimuth, Faiman cell temperature,
    PVWatts DC model with −0.4 %/K derating, PVWatts system losses and inverter. Arrays are
    (n_homes, n_hours), taken from each home's nearest weather point.

    Args:
        homes: the PV homes, with a ``pv`` dict ({kwp, tilt_deg, azimuth_deg}) and ``pv_derate`` [0–1].
        zenith_deg: solar zenith [degree].
        sun_azimuth_deg: solar azimuth [degree].
        irradiance_w_m2: ``ghi_w_m2``, ``dni_w_m2``, ``dhi_w_m2`` [W/m²].
        temp_c: air temperature [°C].
        wind_m_s: wind speed [m/s].

    Returns:
        Energy per hour [kWh], never negative; 0 at night.
    """
    from pvlib import inverter, irradiance, pvsystem, temperature

    tilt = np.array([p["tilt_deg"] for p in homes["pv"]], dtype=float)[:, None]
    azimuth = np.array([p["azimuth_deg"] for p in homes["pv"]], dtype=float)[:, None]
    kwp = np.array([p["kwp"] for p in homes["pv"]], dtype=float)[:, None]
    poa = irradiance.get_total_irradiance(
        tilt,
        azimuth,
        zenith_deg,
        sun_azimuth_deg,
        irradiance_w_m2["dni_w_m2"],
        irradiance_w_m2["ghi_w_m2"],
        irradiance_w_m2["dhi_w_m2"],
    )["poa_global"]
    poa = np.clip(np.nan_to_num(poa, nan=0.0), 0.0, None)
    cell_c = temperature.faiman(poa, temp_c, wind_m_s)
    dc_w = pvsystem.pvwatts_dc(poa, cell_c, kwp * 1000.0, gamma_pdc=-0.004)
    dc_w = dc_w * (1.0 - SYSTEM_LOSSES_PERCENT / 100.0) * homes["pv_derate"].to_numpy()[:, None]
    ac_w = inverter.pvwatts(dc_w, kwp * 1000.0 / 1.1)  # DC/AC ratio 1.1
    return np.clip(np.nan_to_num(ac_w, nan=0.0), 0.0, None) / 1000.0
