"""Weather features per grid point: temperature, heating and cooling degree-days, irradiance, trailing means.

``event_timestamp`` is the valid time of the values, the hour start ``ts``; ``available_at`` is when they were
known: for observed weather the same instant, for a forecast its issue time (Feast's created-timestamp column).

Degree-days use fixed bases: heating below :data:`HDD_BASE_C` (15.5 °C, the common European base), cooling above
:data:`CDD_BASE_C` (22 °C). Each hour contributes its degree-hours / 24, so a day's 24 hours sum to its degree-days.

Invariants:
    Every value in a row is valid at or before the row's ``event_timestamp``; trailing means end at that hour.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from contracts.schemas import GHI_W_M2, LAT, LON, TEMP_C
from features.transforms.hourly_grid import HourlyGrid, factorize_keys, trailing

HDD_BASE_C = 15.5  # [°C] heating degree-days accrue below this
CDD_BASE_C = 22.0  # [°C] cooling degree-days accrue above this
WEATHER_POINT = "weather_point"
WEATHER_INPUTS = (TEMP_C, GHI_W_M2, "cloud_cover", "wind_m_s")
MEAN_WINDOWS_H = {"temp_c_mean_24h": 24, "temp_c_mean_7d": 168}
MIN_COVERAGE_SHARE = 0.5

WEATHER_COLUMNS = (TEMP_C, "hdd_c", "cdd_c", GHI_W_M2, "cloud_cover", "wind_m_s", *MEAN_WINDOWS_H)
WEATHER_SCHEMA = pa.schema(
    [
        pa.field(WEATHER_POINT, pa.string(), nullable=False),
        pa.field("event_timestamp", pa.timestamp("ns", tz="UTC"), nullable=False),
        pa.field("available_at", pa.timestamp("ns", tz="UTC"), nullable=False),
        *(pa.field(name, pa.float64()) for name in WEATHER_COLUMNS),
    ]
)


def weather_point_ids(lat: pd.Series | np.ndarray, lon: pd.Series | np.ndarray) -> np.ndarray:
    """The id ``f"{lat:.3f}_{lon:.3f}"`` of each grid point; None where either coordinate is null.

    Formats each distinct point once, so a million rows of a few hundred points cost a few hundred formats.
    """
    lat, lon = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
    known = ~(np.isnan(lat) | np.isnan(lon))
    out = np.full(len(lat), None, dtype=object)
    if not known.any():
        return out
    codes, (point_lat, point_lon) = factorize_keys([lat[known], lon[known]])
    ids = np.array([f"{a:.3f}_{o:.3f}" for a, o in zip(point_lat, point_lon, strict=True)], dtype=object)
    out[known] = ids[codes]
    return out


def degree_days(temp_c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Heating and cooling degree-days of each hour: (``hdd_c``, ``cdd_c``) [°C·day]; NaN where ``temp_c`` is.

    ``hdd_c = max(15.5 - temp_c, 0) / 24`` and ``cdd_c = max(temp_c - 22, 0) / 24``.

    Invariants:
        Each value depends on its own hour's temperature only.
    """
    heating = np.maximum(HDD_BASE_C - temp_c, 0.0) / 24.0
    cooling = np.maximum(temp_c - CDD_BASE_C, 0.0) / 24.0
    return heating, cooling


def weather_feature_table(weather: pd.DataFrame) -> pd.DataFrame:
    """The weather feature table from the processed weather (``lat``, ``lon``, ``ts``, values).

    Returns:
        ``weather_point``, ``event_timestamp`` (= ``ts``), ``available_at`` (= ``ts``) and :data:`WEATHER_COLUMNS`,
        one row per point and hour of the input, sorted by point (lat, lon) and time.

    Invariants:
        ``temp_c_mean_24h`` / ``_7d`` at hour ``ts`` average the hours ``ts - 23 h .. ts`` (``ts - 167 h .. ts``)
        present, and need half of them; nothing after ``ts`` is read.
    """
    located = weather[LAT].notna() & weather[LON].notna()
    grid = HourlyGrid.from_long(
        weather if located.all() else weather[located], [LAT, LON], list(WEATHER_INPUTS)
    )
    temp = grid.values[TEMP_C]
    hdd, cdd = degree_days(temp)
    columns = {name: grid.values[name] for name in WEATHER_INPUTS} | {"hdd_c": hdd, "cdd_c": cdd}
    for name, hours in MEAN_WINDOWS_H.items():
        columns[name] = trailing(temp, hours, "mean", max(1, int(np.ceil(MIN_COVERAGE_SHARE * hours))))
    points = weather_point_ids(grid.key_values(0), grid.key_values(1))
    table = grid.to_long(columns, grid.present, {WEATHER_POINT: points}, offset_hours=0)
    table["available_at"] = table["event_timestamp"]
    return table[list(WEATHER_SCHEMA.names)]
