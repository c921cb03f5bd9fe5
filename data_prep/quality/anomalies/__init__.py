"""Anomaly detection: detectors that flag suspicious meter readings, and the suite that runs them.

Each detector follows the estimator contract (``fit`` learns per-home state and returns ``self``; ``detect``
gives one bool per row). :class:`AnomalyScanner` runs the detectors named in the rules file and reduces their
flags to the ``anomaly`` and ``masked`` columns of the processed zone.
"""

from data_prep.quality.anomalies.base import AnomalyDetector
from data_prep.quality.anomalies.grid import HomeGrid
from data_prep.quality.anomalies.level_shift import LevelShiftDetector
from data_prep.quality.anomalies.outlier import RobustOutlierDetector
from data_prep.quality.anomalies.register import MeterResetDetector, NegativeValueDetector
from data_prep.quality.anomalies.registry import DETECTORS, default_detector_config
from data_prep.quality.anomalies.scanner import AnomalyScanner
from data_prep.quality.anomalies.spike import SpikeDetector
from data_prep.quality.anomalies.stuck import StuckMeterDetector

__all__ = [
    "DETECTORS",
    "AnomalyDetector",
    "AnomalyScanner",
    "HomeGrid",
    "LevelShiftDetector",
    "MeterResetDetector",
    "NegativeValueDetector",
    "RobustOutlierDetector",
    "SpikeDetector",
    "StuckMeterDetector",
    "default_detector_config",
]
