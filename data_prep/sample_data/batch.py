"""One batch of homes (one readings part file) from weather to meter rows, faults and ground truth.

Homes are simulated as (homes × hours) numpy arrays a batch at a time, which bounds memory: a batch of
50 homes over a year is a few tens of MB per array set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from data_prep.sample_data.consumption import simulate_categories
from data_prep.sample_data.faults import FaultContext, FaultRecord, inject_reading_faults
from data_prep.sample_data.meter import (
    INTERVAL_MIN,
    STEPS_PER_HOUR,
    MeterRows,
    daily_totals,
    monthly_bills,
    native_rows,
    net_meter,
    quarter_split,
)
from data_prep.sample_data.occupancy import build_calendar, public_holidays
from data_prep.sample_data.solar import pv_energy_kwh
from data_prep.sample_data.timegrid import TimeAxis
from data_prep.sample_data.weather import Weather
from data_prep.sample_data.writer import hourly_truth_table, readings_table, truth_readings_table

_DATA_STREAM, _FAULT_STREAM = 100, 200


@dataclass(frozen=True)
class Labels:
    """Timestamp texts and times shared by every batch.

    Attributes:
        hour_utc / quarter_utc: ISO UTC labels of axis hours / quarters (a few extra at the end).
        local_midnight: ISO local-midnight labels, flattened (zone, day) → zone × n_days + day.
        local_naive: naive Stockholm wall-clock labels of axis hours (for ``local_wh``).
        hour_times / quarter_times: the same instants as ``datetime64`` (UTC, naive).
    """

    hour_utc: pa.Array
    quarter_utc: pa.Array
    local_midnight: pa.Array
    local_naive: pa.Array
    hour_text: np.ndarray
    quarter_text: np.ndarray
    hour_times: np.ndarray
    quarter_times: np.ndarray

    @classmethod
    def build(cls, axis: TimeAxis) -> Labels:
        hour_text, quarter_text = axis.utc_labels(1), axis.utc_labels(4)
        extra = len(hour_text)
        start = axis.start_utc.tz_localize(None)
        hours = pd.date_range(start, periods=extra, freq="h").to_numpy()
        quarters = pd.date_range(start, periods=4 * extra, freq="15min").to_numpy()
        stockholm = axis.tz_names.index("Europe/Stockholm")
        return cls(
            pa.array(hour_text, pa.string()),
            pa.array(quarter_text, pa.string()),
            pa.array(axis.local_midnight_labels().ravel(), pa.string()),
            pa.array(axis.local_naive_labels(stockholm), pa.string()),
            hour_text,
            quarter_text,
            hours,
            quarters,
        )


@dataclass(frozen=True)
class World:
    """What every batch shares: the time axis, the weather, timestamp labels and public holidays."""

    axis: TimeAxis
    weather: Weather
    labels: Labels
    holidays: np.ndarray

    @classmethod
    def build(cls, axis: TimeAxis, weather: Weather) -> World:
        return cls(axis, weather, Labels.build(axis), public_holidays(axis))


@dataclass(frozen=True)
class BatchResult:
    """What one batch contributes to the output.

    Attributes:
        rows: the readings file's rows after faults (``None`` for monthly homes, which only have bills).
        labels: the label dictionary of ``rows``; ``value_scale`` 1000 for Wh files.
        late: withheld rows, already as a readings table.
        faults: the batch's fault log.
        bills: the batch's monthly bills.
        clean: ``_truth/readings_clean`` rows; ``categories`` and ``pv`` the hourly truth.
    """

    rows: MeterRows | None
    labels: pa.Array | None
    value_scale: float
    late: pa.Table | None
    faults: list[FaultRecord]
    bills: pd.DataFrame
    clean: pa.Table | None
    categories: pa.Table
    pv: pa.Table | None


def simulate_batch(
    homes: pd.DataFrame,
    resolution: str,
    file: str,
    world: World,
    seed: int,
    fault_rate: float,
) -> BatchResult:
    """Simulate a batch of homes sharing one ``resolution`` and write-target ``file``.

    Invariants:
        The data stream is seeded by (seed, first home index) and the fault stream separately, so the clean
        values of a home do not depend on ``fault_rate``.
    """
    axis, weather, labels = world.axis, world.weather, world.labels
    key = int(homes.index[0])
    rng = np.random.default_rng([seed, _DATA_STREAM, key])
    calendar = build_calendar(homes, axis, world.holidays, rng)
    idx = homes.index.to_numpy()
    nearest = weather.grid.nearest[idx]
    outdoor = weather.at_homes(idx)
    categories = simulate_categories(homes, calendar, axis, outdoor, rng)
    consumption = np.sum(list(categories.values()), axis=0)
    pv = _pv(homes, weather, nearest, outdoor.temp_c) * calendar.in_window
    hours = labels.hour_times[: axis.n_hours]
    pv_homes = homes["has_pv"].to_numpy()
    pv_table = (
        hourly_truth_table(
            homes["home_id"].to_numpy()[pv_homes],
            hours,
            calendar.in_window[pv_homes],
            {"pv_kwh": pv[pv_homes]},
        )
        if pv_homes.any()
        else None
    )
    cat_table = hourly_truth_table(homes["home_id"].to_numpy(), hours, calendar.in_window, categories)

    meter = _meter(homes, resolution, axis, calendar.in_window, consumption, pv, rng)
    bills = monthly_bills(homes, meter.daily_import, axis)
    if meter.rows is None:
        return BatchResult(None, None, 1.0, None, [], bills, None, cat_table, pv_table)
    times = labels.quarter_times if resolution == "15min" else labels.hour_times
    clean = truth_readings_table(meter.rows, times, INTERVAL_MIN[resolution])
    file_labels, scale = _file_labels(resolution, labels)
    if resolution == "local_wh":  # an alternative, clean source: faults live in the UTC and daily files
        return BatchResult(meter.rows, file_labels, scale, None, [], bills, clean, cat_table, pv_table)
    ctx = FaultContext(
        file,
        labels.quarter_text if resolution == "15min" else labels.hour_text,
        _offset_steps(homes, axis, resolution),
    )
    fault_rng = np.random.default_rng([seed, _FAULT_STREAM, key])
    rows, late, faults = inject_reading_faults(meter.rows, ctx, fault_rate, axis.n_days, fault_rng)
    late_table = readings_table(late, file_labels) if len(late) else None
    return BatchResult(rows, file_labels, scale, late_table, faults, bills, clean, cat_table, pv_table)


@dataclass(frozen=True)
class _Meter:
    rows: MeterRows | None
    daily_import: np.ndarray


def _meter(
    homes: pd.DataFrame,
    resolution: str,
    axis: TimeAxis,
    window: np.ndarray,
    consumption: np.ndarray,
    pv: np.ndarray,
    rng: np.random.Generator,
) -> _Meter:
    """Net the consumption against PV at the native interval and lay out the file's rows."""
    steps = STEPS_PER_HOUR.get(resolution, 1)
    if steps == 4:
        consumption, pv = quarter_split(consumption, rng), quarter_split(pv, None)
        window = np.repeat(window, 4, axis=1)
    grid_import, export = net_meter(consumption, pv)
    daily_import = daily_totals(grid_import, homes, axis, steps)
    if resolution == "monthly":
        return _Meter(None, daily_import)
    values = {"kwh": grid_import, "pv_kwh": pv, "export_kwh": export}
    codes = None
    if resolution == "daily":
        values = {name: daily_totals(v, homes, axis, 1) for name, v in values.items()}
        window = np.ones_like(values["kwh"], dtype=bool)
        tz = homes["tz_code"].to_numpy()[:, None]
        codes = (tz * axis.n_days + np.arange(axis.n_days), axis.day_start[tz[:, 0], :-1])
    has_pv = homes["has_pv"].to_numpy()[:, None]
    values["pv_kwh"] = np.where(homes["pv_measured"].to_numpy()[:, None], values["pv_kwh"], np.nan)
    values["export_kwh"] = np.where(has_pv, values["export_kwh"], np.nan)
    rows_per_day = 24 * steps if resolution != "daily" else 1
    return _Meter(native_rows(homes, values, window, rows_per_day, codes), daily_import)


def _pv(homes: pd.DataFrame, weather: Weather, nearest: np.ndarray, temp_c: np.ndarray) -> np.ndarray:
    """Hourly PV energy of the batch's homes (0 for homes without PV) [kWh]."""
    out = np.zeros_like(temp_c)
    has_pv = homes["has_pv"].to_numpy()
    if has_pv.any():
        points = nearest[has_pv]
        out[has_pv] = pv_energy_kwh(
            homes[has_pv],
            weather.sun.zenith_deg[points],
            weather.sun.azimuth_deg[points],
            {name: values[points] for name, values in weather.irradiance.items()},
            temp_c[has_pv],
            weather.wind_m_s[points],
        )
    return out


def _file_labels(resolution: str, labels: Labels) -> tuple[pa.Array, float]:
    table = {
        "15min": (labels.quarter_utc, 1.0),
        "hourly": (labels.hour_utc, 1.0),
        "daily": (labels.local_midnight, 1.0),
        "local_wh": (labels.local_naive, 1000.0),
    }
    return table[resolution]


def _offset_steps(homes: pd.DataFrame, axis: TimeAxis, resolution: str) -> np.ndarray | None:
    """UTC offset of each home at each step, in label steps (for dst_shift); None for daily files."""
    if resolution == "daily":
        return None
    offsets = axis.offsets_h[homes["tz_code"].to_numpy()]
    if resolution == "15min":
        return np.repeat(offsets, 4, axis=1) * 4
    return offsets
