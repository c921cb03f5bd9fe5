"""monitoring: data drift, forecast accuracy and data quality of the deployed forecast, with Evidently.

The entry points are :func:`monitoring.steps.monitor_forecast` and :func:`monitoring.steps.check_forecast`;
``docs/monitoring.md`` describes what is measured. Nothing is imported or done at import time.
"""
