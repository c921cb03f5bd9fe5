"""The registry of anomaly detectors: name -> class, in priority order, and their default configuration."""

from __future__ import annotations

import inspect
from typing import Any

from data_prep.quality.anomalies.base import AnomalyDetector
from data_prep.quality.anomalies.level_shift import LevelShiftDetector
from data_prep.quality.anomalies.outlier import RobustOutlierDetector
from data_prep.quality.anomalies.register import MeterResetDetector, NegativeValueDetector
from data_prep.quality.anomalies.spike import SpikeDetector
from data_prep.quality.anomalies.stuck import StuckMeterDetector

# The order is the priority: a row flagged by several detectors reports the first. The most specific
# diagnosis wins (a register reset is also negative, a spike is also an outlier); the flag-only level shift
# comes last.
DETECTORS: dict[str, type[AnomalyDetector]] = {
    cls.name: cls
    for cls in (
        MeterResetDetector,
        NegativeValueDetector,
        SpikeDetector,
        StuckMeterDetector,
        RobustOutlierDetector,
        LevelShiftDetector,
    )
}


def default_detector_config() -> dict[str, dict[str, Any]]:
    """Every detector with its default constructor arguments, in priority order (the rules YAML section).

    Returns:
        A new dict ``name -> {argument: default}`` of plain YAML values (float, int, bool, None).
    """
    return {name: _defaults(cls) for name, cls in DETECTORS.items()}


def _defaults(cls: type[AnomalyDetector]) -> dict[str, Any]:
    parameters = inspect.signature(cls.__init__).parameters.values()
    return {p.name: p.default for p in parameters if p.name != "self"}
