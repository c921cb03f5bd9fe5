"""Prophet per home: the classical per-series baseline of the consumption backtest, on a sample of homes.

Each sampled home gets its own Prophet model (piecewise-linear trend, daily and weekly seasonality on the home's
local wall clock, the outdoor temperature ``temp_c`` as an extra regressor) fitted on the hourly kWh of the last
``train_days`` local days before a block's first origin. Its 80 % interval (``yhat_lower`` / ``yhat_upper``) gives
the P10 / P90 and ``yhat`` the P50, clipped at 0. The rows forecast are exactly those of the hourly backtest
(:func:`~training.forecast.backtest.run_backtest`) for the sampled homes, in the same long format with
``forecaster="prophet"``, so :func:`~training.forecast.metrics.common_rows` compares forecasters on identical rows.

A home whose training window has too little temperature (below ``min_weather_share`` of its readings known) is
fitted without the regressor; :class:`ProphetBacktestResult` lists those homes. Prophet is a heavy import
(cmdstan): it is imported inside :meth:`ProphetBaselineForecaster.fit`, never at import time.

Invariants:
    A forecast for an origin on local date ``D`` is fitted on readings of local dates before the block's first
    origin (``<= D``) only. The temperature at a target hour comes through a
    :class:`~training.forecast.weather_inputs.WeatherForecastSource` as known at the row's issue hour (observed
    weather stands in for a forecast, as for the global model); the panel's weather is read directly only for
    the training hours, which all precede the issue.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from contracts.schemas import KWH, TEMP_C
from training.forecast.backtest import BacktestPlan
from training.forecast.cold_start import cold_start_flags
from training.forecast.forecast_sets import HourlyResolution
from training.forecast.frames import HourlyPanel
from training.forecast.origins import HourlyRows, origin_grid
from training.forecast.quantiles import ordered, quantile_column
from training.forecast.weather_inputs import ObservedWeatherStandIn, WeatherForecastSource

PROPHET = "prophet"
DEFAULT_SAMPLE_HOMES = 10
DEFAULT_TRAIN_DAYS = 90  # ~0.3 s fit + ~0.6 s predict per home and block on one core
MIN_TRAIN_HOURS = 7 * 24  # fewer known hours in the window: no fit, NaN forecasts [h]
_HOUR_NS = 3_600_000_000_000
_DAY_NS = 24 * _HOUR_NS


class ProphetBaselineForecaster:
    """One home's Prophet model of hourly kWh, with the outdoor temperature as an extra regressor.

    Args:
        interval_width: central interval of the forecast [0-1]; 0.8 gives the P10 and P90.
        daily_seasonality: model the daily profile (on the local wall clock).
        weekly_seasonality: model the weekly profile.
        changepoint_prior_scale: flexibility of the piecewise-linear trend (Prophet's default 0.05).
        weather_column: the regressor column of the history and future frames [°C].
        min_weather_share: below this share of training readings with weather, fit without the regressor [0-1].
        uncertainty_samples: Monte-Carlo draws of Prophet's interval (trend and noise).
        seed: the seed of those draws.
    """

    def __init__(
        self,
        interval_width: float = 0.8,
        daily_seasonality: bool = True,
        weekly_seasonality: bool = True,
        changepoint_prior_scale: float = 0.05,
        weather_column: str = TEMP_C,
        min_weather_share: float = 0.5,
        uncertainty_samples: int = 1000,
        seed: int = 0,
    ) -> None:
        self.interval_width = interval_width
        self.daily_seasonality = daily_seasonality
        self.weekly_seasonality = weekly_seasonality
        self.changepoint_prior_scale = changepoint_prior_scale
        self.weather_column = weather_column
        self.min_weather_share = min_weather_share
        self.uncertainty_samples = uncertainty_samples
        self.seed = seed

    @property
    def quantiles(self) -> tuple[float, float, float]:
        """The quantile levels forecast: the interval's ends and the median."""
        half = self.interval_width / 2
        return (round(0.5 - half, 6), 0.5, round(0.5 + half, 6))

    def fit(self, history: pd.DataFrame) -> ProphetBaselineForecaster:
        """Fit on one home's hours.

        Args:
            history: ``ds`` (local wall-clock hour start, tz-naive), ``kwh`` [kWh] and optionally the weather
                column [°C]; rows with NaN kWh are skipped.
        """
        prophet_class = import_prophet()
        known = history[history[KWH].notna()]
        if known.empty:
            raise ValueError("no kWh readings to fit on")
        weather = known[self.weather_column] if self.weather_column in known.columns else None
        self.uses_weather_ = weather is not None and weather.notna().mean() >= self.min_weather_share
        frame = pd.DataFrame({"ds": known["ds"].to_numpy(), "y": known[KWH].to_numpy(dtype=float)})
        model = prophet_class(
            growth="linear",
            daily_seasonality=self.daily_seasonality,
            weekly_seasonality=self.weekly_seasonality,
            yearly_seasonality=False,
            changepoint_prior_scale=self.changepoint_prior_scale,
            interval_width=self.interval_width,
            uncertainty_samples=self.uncertainty_samples,
        )
        if self.uses_weather_:
            assert weather is not None
            frame[self.weather_column] = weather.to_numpy(dtype=float)
            frame = frame[frame[self.weather_column].notna()]
            model.add_regressor(self.weather_column)
            self.weather_mean_ = float(frame[self.weather_column].mean())
        self.model_ = model.fit(frame)
        self.n_train_hours_ = len(frame)
        return self

    def predict_quantiles(self, future: pd.DataFrame) -> pd.DataFrame:
        """P10 / P50 / P90 (for ``interval_width=0.8``) of each future hour [kWh], ordered and clipped at 0.

        Args:
            future: ``ds`` (local wall-clock hour start) and, when fitted with weather, the weather column as
                known at issue; a NaN temperature takes the training mean (no weather effect).
        """
        frame = pd.DataFrame({"ds": future["ds"].to_numpy()})
        if self.uses_weather_:
            values = pd.to_numeric(future[self.weather_column], errors="coerce").to_numpy(dtype=float)
            frame[self.weather_column] = np.where(np.isnan(values), self.weather_mean_, values)
        values = np.empty((len(frame), 3))
        # Prophet returns its rows sorted by ds, so each call gets unique stamps and is mapped back by them; a
        # stamp repeats across overlapping origins and at the autumn DST hour
        occurrence = frame.groupby("ds").cumcount().to_numpy()
        with _seeded(self.seed):
            for k in np.unique(occurrence):
                rows = np.flatnonzero(occurrence == k)
                part = frame.iloc[rows]
                predicted = self.model_.predict(part).set_index("ds").reindex(part["ds"])
                values[rows] = predicted[["yhat_lower", "yhat", "yhat_upper"]].to_numpy()
        columns = [quantile_column(q) for q in self.quantiles]
        return ordered(pd.DataFrame(values, index=future.index, columns=columns), self.quantiles)


@dataclass
class ProphetBacktestResult:
    """Prophet's rows of a backtest and what its fits cost.

    Attributes:
        forecasts: the rows of :attr:`~training.forecast.backtest.BacktestResult.forecasts` for the sampled homes,
            ``forecaster="prophet"``; quantiles NaN where a home had too little history to fit.
        fit_seconds: wall time of every fit [s].
        predict_seconds: wall time of every prediction [s].
        homes_without_weather: homes fitted (in some block) without the temperature regressor.
        homes_without_fit: homes left unfitted (in some block) for too little history.
    """

    forecasts: pd.DataFrame
    fit_seconds: list[float] = field(default_factory=list)
    predict_seconds: list[float] = field(default_factory=list)
    homes_without_weather: list[str] = field(default_factory=list)
    homes_without_fit: list[str] = field(default_factory=list)

    @property
    def seconds_per_fit(self) -> float:
        """Mean fit plus prediction time of one home and block [s]."""
        n = max(len(self.fit_seconds), 1)
        return (sum(self.fit_seconds) + sum(self.predict_seconds)) / n


def sample_homes(panel: HourlyPanel, n: int = DEFAULT_SAMPLE_HOMES, seed: int = 0) -> np.ndarray:
    """Panel rows of ``n`` homes drawn (seeded, without replacement) from those with any reading, sorted."""
    candidates = np.flatnonzero(panel.first_reading < panel.n_hours)
    if n >= len(candidates):
        return candidates
    return np.sort(np.random.default_rng(seed).choice(candidates, n, replace=False))


def run_prophet_backtest(
    panel: HourlyPanel,
    plan: BacktestPlan,
    resolution: HourlyResolution | None = None,
    homes: Sequence[int] | Sequence[str] | np.ndarray | None = None,
    train_days: int = DEFAULT_TRAIN_DAYS,
    params: dict[str, Any] | None = None,
    weather: WeatherForecastSource | None = None,
    refit_every_days: int | None = None,
) -> ProphetBacktestResult:
    """Prophet per home over ``plan``'s origins, refitted per :meth:`BacktestPlan.blocks`.

    Args:
        panel: the data.
        plan: origins and refits (its ``windows.min_history_days`` sets the ``cold_start`` flag, as in the
            backtest).
        resolution: the hourly rows (issue time and window); the default schedule when ``None``.
        homes: panel rows or home ids; ``None`` draws :data:`DEFAULT_SAMPLE_HOMES` with :func:`sample_homes`.
        train_days: local days before a block's first origin fitted on [d].
        params: parameters of :class:`ProphetBaselineForecaster`.
        weather: the temperature known at issue; ``None`` uses the resolution's source (observed weather
            standing in for a forecast by default).
        refit_every_days: refit every this many days instead of the plan's refits (same origins, so the same
            rows) [d]; ``None`` follows the plan. Prophet has no lag inputs and sees recent consumption only
            through a refit, so ``1`` (a fit per origin) is its fairest setting.
    """
    resolution = resolution or HourlyResolution()
    rows_of = _home_rows(panel, homes)
    source = weather or resolution.builder.weather or ObservedWeatherStandIn()
    result = ProphetBacktestResult(pd.DataFrame())
    parts = []
    blocks = (replace(plan, refit_every_days=refit_every_days) if refit_every_days else plan).blocks()
    for origins in blocks:
        first = int(origins[0])
        home, issue_date = origin_grid(rows_of, origins)
        rows = resolution.rows(panel, home, issue_date)
        quantiles = _block_quantiles(panel, rows, first, train_days, params or {}, source, result)
        parts.append(_scored(panel, resolution, rows, plan, quantiles))
    result.forecasts = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    result.homes_without_weather = sorted(set(result.homes_without_weather))
    result.homes_without_fit = sorted(set(result.homes_without_fit))
    return result


def local_wall_clock(panel: HourlyPanel, home: np.ndarray, hour: np.ndarray) -> np.ndarray:
    """Local wall-clock start of axis hours, tz-naive (the autumn repeated hour appears twice) [datetime64]."""
    date = panel.calendar.at("local_date", home, hour).astype(np.int64)
    clock = panel.calendar.at("local_hour", home, hour).astype(np.int64)
    return (date * _DAY_NS + clock * _HOUR_NS).astype("datetime64[ns]")


def training_history(panel: HourlyPanel, home: int, end_date: int, train_days: int) -> pd.DataFrame:
    """One home's hours of local dates ``[end_date - train_days, end_date)``: ``ds``, ``kwh``, ``temp_c``."""
    bounds = panel.calendar.day_start(np.array([home, home]), np.array([end_date - train_days, end_date]))
    hours = np.arange(max(int(bounds[0]), 0), int(bounds[1]))
    rows = np.full(len(hours), home)
    return pd.DataFrame(
        {
            "ds": local_wall_clock(panel, rows, hours),
            KWH: panel.values[KWH][home, hours],
            TEMP_C: panel.values[TEMP_C][home, hours],
        }
    )


def _block_quantiles(
    panel: HourlyPanel,
    rows: HourlyRows,
    first_origin: int,
    train_days: int,
    params: dict[str, Any],
    weather: WeatherForecastSource,
    result: ProphetBacktestResult,
) -> pd.DataFrame:
    """Fit one model per home on the days before ``first_origin`` and forecast that home's rows."""
    forecaster = ProphetBaselineForecaster(**params)
    out = pd.DataFrame(
        np.nan, index=range(len(rows)), columns=[quantile_column(q) for q in forecaster.quantiles]
    )
    future = pd.DataFrame(
        {
            "ds": local_wall_clock(panel, rows.home, rows.target),
            TEMP_C: weather.window_mean(panel, TEMP_C, rows.home, rows.issue, rows.target, 1),
        }
    )
    for home in np.unique(rows.home):
        home_id = str(panel.home_ids[home])
        history = training_history(panel, int(home), first_origin, train_days)
        if history[KWH].notna().sum() < MIN_TRAIN_HOURS:
            result.homes_without_fit.append(home_id)
            continue
        started = time.perf_counter()
        model = ProphetBaselineForecaster(**params).fit(history)
        result.fit_seconds.append(time.perf_counter() - started)
        if not model.uses_weather_:
            result.homes_without_weather.append(home_id)
        mine = np.flatnonzero(rows.home == home)
        started = time.perf_counter()
        out.iloc[mine] = model.predict_quantiles(future.iloc[mine]).to_numpy()
        result.predict_seconds.append(time.perf_counter() - started)
    return out


def _home_rows(panel: HourlyPanel, homes: Sequence[int] | Sequence[str] | np.ndarray | None) -> np.ndarray:
    if homes is None:
        return sample_homes(panel)
    values = np.asarray(homes)
    if values.dtype.kind in "iu":
        return np.sort(values.astype(np.int64))
    return np.sort(panel.home_index(list(values.astype(str))))


def _scored(
    panel: HourlyPanel,
    resolution: HourlyResolution,
    rows: HourlyRows,
    plan: BacktestPlan,
    quantiles: pd.DataFrame,
) -> pd.DataFrame:
    """The backtest's long layout (see ``training.forecast.backtest._scored``) for Prophet's rows."""
    out = resolution.ids(panel, rows)
    out.insert(0, "forecaster", PROPHET)
    out["group"] = resolution.groups(panel, rows)
    out["cold_start"] = cold_start_flags(
        panel.first_reading, rows.home, rows.issue, plan.windows.min_history_days
    )
    out["actual"] = resolution.actual(panel, rows)
    for column in quantiles.columns:
        out[column] = quantiles[column].to_numpy(dtype=np.float32)
    return out


def import_prophet() -> Any:
    """Import Prophet (heavy: cmdstan) with its and cmdstanpy's INFO chatter silenced process-wide; the class.

    Warnings still propagate. The order matters: Prophet logs a missing-plotly notice on import and sets its
    logger to INFO there, and cmdstanpy adds its own INFO handler unless its logger already has one.
    """
    logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)
    cmdstan = logging.getLogger("cmdstanpy")
    if not cmdstan.handlers:
        cmdstan.addHandler(logging.NullHandler())
    cmdstan.setLevel(logging.WARNING)
    from prophet import Prophet

    logging.getLogger("prophet").setLevel(logging.WARNING)
    return Prophet


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed NumPy's global generator (Prophet's interval draws use it) and restore its state afterwards."""
    # Prophet draws from NumPy's legacy global generator, so only that one can seed it.
    state = np.random.get_state()  # noqa: NPY002
    np.random.seed(seed)  # noqa: NPY002
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002
