"""Consumption forecasting: a global LightGBM over every home, baselines, calibration, backtests and metrics.

Plain pandas / numpy / LightGBM. Modules, from data to evaluation:

- :mod:`.frames`: the curated hourly frame and its dense panel; :mod:`.local_calendar`, :mod:`.daily`;
- :mod:`.origins`: issue times and the rows a forecast covers;
- :mod:`.features`, :mod:`.daily_features`, :mod:`.home_attributes`, :mod:`.weather_inputs`: features;
- :mod:`.global_model`, :mod:`.baselines`, :mod:`.registry`: forecasters;
- :mod:`.calibration`, :mod:`.cold_start`, :mod:`.fitting`, :mod:`.forecast_sets`: fitting and intervals;
- :mod:`.resolutions`: hourly, daily and monthly forecasts that agree;
- :mod:`.backtest`, :mod:`.metrics`: evaluation.

Nothing is imported here, so that importing a submodule stays cheap.
"""
