"""Typed configuration: one YAML file (``eliq.yaml``), overridable from ``ELIQ_…`` environment variables.

Nested keys are joined with a double underscore, e.g. ``ELIQ_STORAGE__ROOT=abfs://lake@acct.dfs.core.windows.net/eliq``.
Secrets (storage keys, later API keys) belong in the environment, never in the YAML file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from contracts.feature_settings import FeatureStoreSettings
from contracts.monitoring_settings import MonitoringSettings
from contracts.pipeline_settings import PipelineSettings
from contracts.serving_settings import ServingSettings
from contracts.training_settings import TrainingSettings

CONFIG_ENV_VAR = "ELIQ_CONFIG"
DEFAULT_CONFIG_FILE = "eliq.yaml"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StorageSettings(_Frozen):
    """Where the lake lives.

    Attributes:
        root: URI of the lake root; a plain path is a local folder. Any fsspec URI works: ``memory://lake``,
            ``abfs://container@account.dfs.core.windows.net/path`` (Azure Data Lake Gen2 through adlfs).
        storage_options: passed to the fsspec filesystem (e.g. ``account_name``); put secrets in the environment.
    """

    root: str = "data"
    storage_options: dict[str, Any] = Field(default_factory=dict)


class ImputationSettings(_Frozen):
    """How gaps are filled.

    Attributes:
        candidates: strategies scored by automatic selection, by registry name.
        max_gap_hours: gaps longer than this stay missing [h].
        gap_classes_hours: upper bounds of the gap-length classes that selection scores separately [h].
        trials_per_class: masked gaps drawn per home and class when scoring.
        seed: seed of the masking draws.
        min_gain: a home keeps its own best strategy only when it beats the best strategy over all homes by this
            relative margin; with a few trials per home, its own best is partly noise [0-1].
    """

    candidates: tuple[str, ...] = (
        "linear",
        "spline",
        "forward_fill",
        "seasonal_naive",
        "hour_of_week_profile",
        "rolling_median",
    )
    max_gap_hours: float = 72.0
    gap_classes_hours: tuple[float, ...] = (3.0, 24.0, 72.0)
    trials_per_class: int = 4
    seed: int = 0
    min_gain: float = 0.2


class PrepSettings(_Frozen):
    """data_prep settings.

    Attributes:
        n_buckets: home buckets of the processed and curated zones; one bucket is processed in memory at a time.
        rules_file: YAML of validation rules and anomaly thresholds; ``None`` uses the packaged defaults.
        max_future_minutes: a reading later than now plus this is quarantined [min].
        csv_block_bytes: block size of the streaming CSV reader [bytes].
        workers: processes that parse files and build buckets in parallel; 1 runs everything in-process.
    """

    n_buckets: int = 16
    rules_file: str | None = None
    max_future_minutes: int = 60
    csv_block_bytes: int = 16 << 20
    workers: int = Field(default_factory=lambda: min(2, os.cpu_count() or 1), ge=1)
    imputation: ImputationSettings = Field(default_factory=ImputationSettings)


class Settings(BaseSettings):
    """The whole configuration. Load it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="ELIQ_", env_nested_delimiter="__", frozen=True, extra="forbid"
    )

    environment: Literal["local", "ci", "azure"] = "local"
    storage: StorageSettings = Field(default_factory=StorageSettings)
    prep: PrepSettings = Field(default_factory=PrepSettings)
    features: FeatureStoreSettings = Field(default_factory=FeatureStoreSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over the YAML values, which arrive as init kwargs.
        return (env_settings, init_settings)


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Load ``eliq.yaml`` and apply ``ELIQ_…`` environment overrides.

    Args:
        path: the YAML file; defaults to ``$ELIQ_CONFIG``, then ``./eliq.yaml`` if it exists, then built-in defaults.
        **overrides: top-level values that win over the file (not over the environment), e.g. in tests.

    Raises:
        FileNotFoundError: ``path`` was given but does not exist.
        pydantic.ValidationError: a value has the wrong type; the message names the key.
    """
    import yaml

    candidate = path or os.environ.get(CONFIG_ENV_VAR)
    values: dict[str, Any] = {}
    if candidate is not None:
        file = Path(candidate)
        if not file.is_file():
            raise FileNotFoundError(f"config file not found: {file}")
        values = yaml.safe_load(file.read_text()) or {}
    elif Path(DEFAULT_CONFIG_FILE).is_file():
        values = yaml.safe_load(Path(DEFAULT_CONFIG_FILE).read_text()) or {}
    values.update(overrides)
    return Settings(**values)
