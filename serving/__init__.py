"""serving: the BentoML service and its HTTP API (FastAPI).

- :mod:`serving.service`: the ``bentoml.service`` (``bentoml serve serving.service:EliqService``, ``eliq serve``).
- :mod:`serving.app`: the FastAPI app: health, admin, the model families' and the data-management routes.
- :mod:`serving.context`: what the service loads once at start-up (settings, lake, keys, homes, features, models).
- :mod:`serving.families`: one module per model family (``forecast`` today) and their registry.
- :mod:`serving.history`, :mod:`serving.home_directory`: the model input of a few homes, and who owns which home.
- :mod:`serving.clients`, :mod:`serving.security`: API keys; :mod:`serving.routes_data` and
  :mod:`serving.data_management`: readings and home profiles; :mod:`serving.export`: forecasts for customer success.

Serving never imports ``training``: the packaged model (an MLflow pyfunc) brings its own code when it is loaded.
"""
