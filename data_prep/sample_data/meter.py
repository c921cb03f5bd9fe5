"""What the meter records: net import and export at the home's native interval, daily registers and bills.

Consumption and PV production are netted interval by interval: the meter's ``kwh`` is grid import
``max(consumption − pv, 0)`` and ``export_kwh`` is ``max(pv − consumption, 0)``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from data_prep.sample_data.timegrid import TimeAxis

STEPS_PER_HOUR = {"15min": 4, "hourly": 1, "local_wh": 1}
INTERVAL_MIN = {"15min": 15, "hourly": 60, "local_wh": 60, "daily": 1440}


@dataclass(frozen=True)
class MeterRows:
    """The rows of one readings file, as codes and values (one entry per row, in file order).

    Attributes:
        home_ids: the batch's home ids; ``home`` indexes them.
        home: home of each row.
        label: code of the row's written timestamp in the file's label dictionary.
        utc: code of the row's true interval start in the UTC label dictionary (hourly, or quarter-hourly for
            15-minute files).
        kwh: grid import [kWh]; ``pv_kwh`` and ``export_kwh`` likewise, NaN when the home has none.
        malformed: 0 for a well-formed row, else the kind of corruption (see :mod:`.faults`).
        rows_per_day: nominal rows per home and day (96, 24 or 1).
    """

    home_ids: np.ndarray
    home: np.ndarray
    label: np.ndarray
    utc: np.ndarray
    kwh: np.ndarray
    pv_kwh: np.ndarray
    export_kwh: np.ndarray
    malformed: np.ndarray
    rows_per_day: int

    def __len__(self) -> int:
        return len(self.home)

    def take(self, index: np.ndarray) -> MeterRows:
        """The rows at ``index``, in that order."""
        return replace(
            self,
            home=self.home[index],
            label=self.label[index],
            utc=self.utc[index],
            kwh=self.kwh[index],
            pv_kwh=self.pv_kwh[index],
            export_kwh=self.export_kwh[index],
            malformed=self.malformed[index],
        )


def quarter_split(hourly: np.ndarray, rng: np.random.Generator | None, sigma: float = 0.15) -> np.ndarray:
    """Split hourly energy into four quarters that follow the neighbouring hours' trend, plus noise.

    Invariants:
        The four quarters of an hour sum to that hour's energy (up to rounding of floats); all are ≥ 0.
    """
    prev = np.concatenate([hourly[:, :1], hourly[:, :-1]], axis=1)
    nxt = np.concatenate([hourly[:, 1:], hourly[:, -1:]], axis=1)
    position = np.array([-0.375, -0.125, 0.125, 0.375])  # quarter centres relative to the hour centre [h]
    shape = np.where(
        position < 0, hourly[..., None] + (hourly - prev)[..., None] * position, hourly[..., None]
    ) + np.where(position > 0, (nxt - hourly)[..., None] * position, 0.0)
    shape = np.clip(shape, 1e-9, None)
    if rng is not None:
        shape = shape * np.exp(sigma * rng.standard_normal(shape.shape))
    weights = shape / shape.sum(axis=2, keepdims=True)
    return (hourly[..., None] * weights).reshape(hourly.shape[0], -1)


def net_meter(consumption_kwh: np.ndarray, pv_kwh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grid import and export per interval [kWh]."""
    net = consumption_kwh - pv_kwh
    return np.clip(net, 0.0, None), np.clip(-net, 0.0, None)


def daily_totals(values: np.ndarray, homes: pd.DataFrame, axis: TimeAxis, steps_per_hour: int) -> np.ndarray:
    """Sum of ``values`` (n_homes, n_hours × steps_per_hour) over each home's local days (n_homes, n_days)."""
    cumulative = np.concatenate([np.zeros((len(values), 1)), np.cumsum(values, axis=1)], axis=1)
    bounds = axis.day_start[homes["tz_code"].to_numpy()] * steps_per_hour
    at_bounds = np.take_along_axis(cumulative, bounds, axis=1)
    return np.diff(at_bounds, axis=1)


def monthly_bills(homes: pd.DataFrame, daily_import_kwh: np.ndarray, axis: TimeAxis) -> pd.DataFrame:
    """Calendar-month bills (``period_end`` exclusive) of grid import, rounded to 0.1 kWh; edges partial."""
    periods = axis.month_starts()
    totals = np.stack([daily_import_kwh[:, a:b].sum(axis=1) for _, _, a, b in periods], axis=1)
    n_homes, n_periods = totals.shape
    return pd.DataFrame(
        {
            "home_id": np.repeat(homes["home_id"].to_numpy(), n_periods),
            "period_start": np.tile([p[0].isoformat() for p in periods], n_homes),
            "period_end": np.tile([p[1].isoformat() for p in periods], n_homes),
            "kwh": np.round(totals.ravel(), 1),
        }
    )


def native_rows(
    homes: pd.DataFrame,
    values: dict[str, np.ndarray],
    in_window: np.ndarray,
    rows_per_day: int,
    codes: tuple[np.ndarray, np.ndarray] | None = None,
) -> MeterRows:
    """Long rows (home, then time) of native-interval values inside each home's window.

    Args:
        homes: the batch.
        values: ``kwh``, ``pv_kwh``, ``export_kwh`` arrays (n_homes, n_steps); NaN for absent columns.
        in_window: which steps each home reports, same shape.
        rows_per_day: 96, 24 or 1.
        codes: (label code, UTC code) per home and step, same shape, when they are not the step itself (daily
            files: the local-midnight label and the hour of that midnight on the axis).
    """
    home, step = np.nonzero(in_window)
    label, utc = (step, step) if codes is None else (codes[0][home, step], codes[1][home, step])
    return MeterRows(
        home_ids=homes["home_id"].to_numpy(),
        home=home.astype(np.int64),
        label=np.asarray(label, dtype=np.int64),
        utc=np.asarray(utc, dtype=np.int64),
        kwh=np.round(values["kwh"][home, step], 3),
        pv_kwh=np.round(values["pv_kwh"][home, step], 3),
        export_kwh=np.round(values["export_kwh"][home, step], 3),
        malformed=np.zeros(len(home), dtype=np.int8),
        rows_per_day=rows_per_day,
    )
