"""The forecast model as an MLflow pyfunc model: the fitted models, their feature building, a signature and an example.

The packaged model takes the flat input frame of :mod:`training.forecast.model_io` (hourly history and home
attributes) and builds every feature itself, so a caller never re-implements the feature post-processing. Its
inference parameters:

- ``issue_time``: ISO 8601; naive = local time of each home; ``""`` = the trained clock time on the local date of
  the last reading;
- ``resolution``: ``hourly``, ``daily``, ``monthly`` or ``all`` (default).

The fitted :class:`~training.forecast.resolutions.MultiResolutionForecaster` is pickled into the model's artifacts;
loading needs the ``eliq`` package importable (it is in this project's environment and its serving image).
"""

from __future__ import annotations

import pickle
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from training.forecast.model_io import RESOLUTIONS, forecast_output_frame, issue_of, panel_from_model_input
from training.forecast.resolutions import MultiResolutionForecaster

MODEL_ARTIFACT = "forecaster"
_PICKLE = "forecaster.pkl"
DEFAULT_PARAMS: dict[str, Any] = {"issue_time": "", "resolution": "all"}
_RUNTIME_PACKAGES = ("lightgbm", "pandas", "numpy", "pyarrow", "holidays", "scikit-learn")


def predict_frame(
    forecaster: MultiResolutionForecaster, model_input: pd.DataFrame, params: dict[str, Any] | None = None
) -> pd.DataFrame:
    """Forecasts of every home of ``model_input``; what the packaged model's ``predict`` returns.

    Raises:
        ValueError: the input or a parameter is invalid; the message says which.
    """
    params = {**DEFAULT_PARAMS, **(params or {})}
    resolution = str(params["resolution"])
    if resolution not in (*RESOLUTIONS, "all"):
        raise ValueError(f"resolution must be one of {[*RESOLUTIONS, 'all']}, not {resolution!r}")
    panel = panel_from_model_input(model_input)
    issue_date, issue_time_h = issue_of(panel, params["issue_time"])
    products = RESOLUTIONS if resolution == "all" else (resolution,)  # fewer products, the same numbers
    forecasts = forecaster.forecast(panel, issue_date, issue_time_h=issue_time_h, products=products)
    return forecast_output_frame(forecasts, RESOLUTIONS if resolution == "all" else (resolution,))


def _python_model_class() -> type:
    import mlflow.pyfunc

    class ForecastPyfuncModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
        """Loads the pickled forecaster once; ``predict`` builds the features and forecasts."""

        def load_context(self, context: Any) -> None:
            with open(context.artifacts[MODEL_ARTIFACT], "rb") as file:
                self.forecaster_ = pickle.load(file)

        def predict(
            self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
        ) -> pd.DataFrame:
            return predict_frame(self.forecaster_, model_input, params)

    return ForecastPyfuncModel


def log_forecast_model(
    forecaster: MultiResolutionForecaster,
    input_example: pd.DataFrame,
    metadata: dict[str, Any],
    registered_model_name: str | None = None,
) -> Any:
    """Log ``forecaster`` as a pyfunc model named ``model`` in the active run; returns MLflow's ``ModelInfo``.

    The signature is inferred from ``input_example`` and the forecast the model makes of it, with the inference
    parameters and their defaults.
    """
    import mlflow
    from mlflow.models import infer_signature

    output = predict_frame(forecaster, input_example)
    signature = infer_signature(input_example, output, params=DEFAULT_PARAMS)
    with tempfile.TemporaryDirectory(prefix="eliq-model-") as tmp:
        path = Path(tmp) / _PICKLE
        path.write_bytes(pickle.dumps(forecaster, protocol=pickle.HIGHEST_PROTOCOL))
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=_python_model_class()(),
            artifacts={MODEL_ARTIFACT: str(path)},
            signature=signature,
            input_example=input_example,
            pip_requirements=_requirements(),
            metadata=metadata,
            registered_model_name=registered_model_name,
        )


def _requirements() -> list[str]:
    """Pinned runtime packages, so that MLflow need not infer them (that loads the model in a subprocess)."""
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for package in _RUNTIME_PACKAGES:
        try:
            pins.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            continue
    return pins


def load_forecast_model(model_uri: str) -> Any:
    """The pyfunc model at ``model_uri`` (``models:/eliq-forecast@champion``, ``runs:/…/model``)."""
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(model_uri)
