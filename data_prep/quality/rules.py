"""Validation rules: the typed form of ``rules.yaml`` and the row checks it configures.

A check returns, for each row, ``None`` when the row passes or the :class:`~contracts.schemas.Reason` it fails with.
Rows that fail go to quarantine; they are never dropped silently.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field


class _Rules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReadingRules(_Rules):
    """Rules for meter readings.

    Attributes:
        max_kw: the highest credible mean power of a home [kW].
        min_kw: the lowest credible mean power [kW]; ``None`` leaves negatives to anomaly detection.
        max_future_minutes: tolerance for interval starts after now [min].
        known_intervals_min: the intervals the grid expects [min].
    """

    max_kw: float = 100.0
    min_kw: float | None = None
    max_future_minutes: int = 60
    known_intervals_min: tuple[int, ...] = (15, 30, 60, 1440)


class BillRules(_Rules):
    """Rules for bills.

    Attributes:
        max_kwh_per_day: the highest credible daily consumption [kWh/day].
        agreement_tolerance: relative difference under which readings and bill agree.
        min_coverage: share of a bill period that readings must cover before they are compared.
    """

    max_kwh_per_day: float = 2400.0
    agreement_tolerance: float = 0.05
    min_coverage: float = 0.9


class RangeRules(_Rules):
    """Closed ranges per canonical column, in the column's unit."""

    ranges: dict[str, tuple[float, float]] = Field(default_factory=dict)


class RuleSet(_Rules):
    """All validation rules and the anomaly detectors' configuration."""

    readings: ReadingRules = Field(default_factory=ReadingRules)
    bills: BillRules = Field(default_factory=BillRules)
    weather: RangeRules = Field(default_factory=RangeRules)
    prices: RangeRules = Field(default_factory=RangeRules)
    anomalies: dict[str, dict[str, Any]] = Field(default_factory=dict)


def load_rules(path: str | Path | None = None) -> RuleSet:
    """The packaged ``rules.yaml``, overlaid with ``path`` when given (section by section)."""
    packaged = yaml.safe_load(resources.files("data_prep.quality").joinpath("rules.yaml").read_text())
    if path is not None:
        overlay = yaml.safe_load(Path(path).read_text()) or {}
        for section, values in overlay.items():
            if isinstance(values, dict) and isinstance(packaged.get(section), dict):
                packaged[section] = {**packaged[section], **values}
            else:
                packaged[section] = values
    return RuleSet.model_validate(packaged)


def range_violations(values: np.ndarray, low: float | None, high: float | None) -> np.ndarray:
    """True where a non-null value lies outside ``[low, high]``; nulls are another rule's business."""
    bad = np.zeros(len(values), dtype=bool)
    with np.errstate(invalid="ignore"):
        if low is not None:
            bad |= values < low
        if high is not None:
            bad |= values > high
    return bad
