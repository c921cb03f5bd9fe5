"""Typed settings of the prediction service (the ``serving:`` section of ``eliq.yaml``).

Nested keys follow the rest of the configuration: ``ELIQ_SERVING__STATE_DIR=/var/lib/eliq``,
``ELIQ_SERVING__RELOAD_INTERVAL_S=60``. API keys are never configured here: ``eliq clients add`` creates them and
only their hashes are stored, in ``state_dir``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ServingSettings(BaseModel):
    """The BentoML service: its state folder, request limits, model reloading and the history it reads.

    Attributes:
        state_dir: a local folder for the service's own state (API key store, homes registered through the API,
            readings ingested through the API); relative paths are from the working folder.
        max_batch_homes: homes in one forecast request at most.
        max_batch_readings: readings in one ingestion request at most.
        reload_interval_s: how often the service asks the registry which version each alias points at, and
            reloads a model whose alias moved [s]; 0 turns the poll off (``POST /admin/reload`` still works).
        history_days: days of curated history read before the issue date of a forecast [d]; 70 covers the
            longest lookback of any forecast feature.
        model_alias: the registry alias served (``champion``; ``challenger`` for a shadow deployment).
        forecast_cache_entries: forecasts (one home, one resolution) kept in memory per worker; each is served
            until its model version, the lake or the home's API inputs change; 0 computes every request anew.
        warm_forecasts: compute every home's hourly forecast in the background after start-up, after a model
            reload and after a prep run, so that clients find them stored.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    state_dir: str = "serving_state"
    max_batch_homes: int = Field(default=100, ge=1, le=10_000)
    max_batch_readings: int = Field(default=10_000, ge=1)
    reload_interval_s: float = Field(default=30.0, ge=0)
    history_days: int = Field(default=70, ge=1, le=3_660)
    model_alias: str = Field(default="champion", pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")
    forecast_cache_entries: int = Field(default=200_000, ge=0)
    warm_forecasts: bool = True
