"""How an input file maps onto the data contracts: time zone, units, column names, layout.

A spec is declared in a ``_source.yaml`` beside the files (it applies to its folder and below) or passed with
``--spec``. Files that already follow the contracts need none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from contracts.schemas import Source

EnergyUnit = Literal["kwh", "wh", "mwh", "kw_mean", "w_mean"]
TemperatureUnit = Literal["c", "f"]

# kWh per declared unit, for a value covering ``hours`` hours. Mean power × duration gives energy.
_ENERGY_PER_UNIT = {"kwh": 1.0, "wh": 1e-3, "mwh": 1e3}
_POWER_PER_UNIT = {"kw_mean": 1.0, "w_mean": 1e-3}


class TimestampSpec(BaseModel):
    """A timestamp composed from a date column and an hour column (e.g. ``6/1/2012`` and ``13``).

    Attributes:
        date_column: the column holding the date.
        date_format: its ``strptime`` format.
        hour_column: the column holding the hour of the day.
        hour_base: 0 when hours run 0–23, 1 when they run 1–24 (hour 1 is then the interval starting at 00:00).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    date_column: str
    date_format: str = "%Y-%m-%d"
    hour_column: str
    hour_base: Literal[0, 1] = 0


class WideSpec(BaseModel):
    """A wide file with one value column per key, e.g. one price column per price area.

    Attributes:
        key_name: the canonical column the header names become (``price_area``, ``home_id``).
        value_name: the canonical column the values become (``price_eur_mwh``, ``kwh``).
        id_columns: the columns that are not keys (the timestamp).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_name: str
    value_name: str
    id_columns: tuple[str, ...] = ("ts",)


class SourceSpec(BaseModel):
    """The declaration of one input.

    Attributes:
        source: which contract the file follows; ``None`` means: from the folder name.
        timezone: the IANA zone of naive timestamps; timestamps with an offset ignore it.
        unit: the energy unit of ``kwh``, ``pv_kwh`` and ``export_kwh`` (``kw_mean``: mean power over the interval).
        temperature_unit: the unit of ``temp_c``.
        currency: the currency of ``price_eur_mwh`` when it is not EUR; converted with ``eur_per_unit``.
        eur_per_unit: the exchange rate to EUR [EUR per unit of currency].
        columns: canonical name → the file's column name.
        constants: canonical name → a value for every row (e.g. ``home_id`` of a single-home file).
        timestamp: a timestamp composed from date and hour columns.
        wide: a wide layout to melt into the long contract.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Source | None = None
    timezone: str | None = None
    unit: EnergyUnit = "kwh"
    temperature_unit: TemperatureUnit = "c"
    currency: str = "EUR"
    eur_per_unit: float = 1.0
    columns: dict[str, str] = Field(default_factory=dict)
    constants: dict[str, str] = Field(default_factory=dict)
    timestamp: TimestampSpec | None = None
    wide: WideSpec | None = None

    def kwh_factor(self, interval_hours: float) -> float:
        """The factor that turns a value in :attr:`unit` over ``interval_hours`` into kWh."""
        if self.unit in _ENERGY_PER_UNIT:
            return _ENERGY_PER_UNIT[self.unit]
        return _POWER_PER_UNIT[self.unit] * interval_hours

    @property
    def is_power(self) -> bool:
        return self.unit in _POWER_PER_UNIT

    def merged(self, override: SourceSpec | None) -> SourceSpec:
        """This spec with the fields that ``override`` sets explicitly."""
        if override is None:
            return self
        return self.model_copy(update={name: getattr(override, name) for name in override.model_fields_set})


def load_spec(path: str | Path) -> SourceSpec:
    """Read a spec from YAML; a wrong key or type raises with the key's name."""
    return SourceSpec.model_validate(yaml.safe_load(Path(path).read_text()) or {})


def spec_from_text(text: str) -> SourceSpec:
    return SourceSpec.model_validate(yaml.safe_load(text) or {})
