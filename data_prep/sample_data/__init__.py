"""Realistic sample data: homes, weather, prices, meter readings with injected faults, and the ground truth.

``generate_demo_data`` writes a whole input tree (the layout of ``docs/data-contracts.md``) plus ``_truth/``;
``eliq demo-data`` calls it.
"""

from data_prep.sample_data.generator import DemoDataSummary, generate_demo_data

__all__ = ["DemoDataSummary", "generate_demo_data"]
