"""Shared fixtures: settings on a temporary lake, the sample generator's small datasets, the real-data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.config import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO.parent / "shared" / "real-data"


def settings_for(lake_root: str, **prep: object) -> Settings:
    """Settings on a given lake with small buckets, in-process (workers=1) unless a test asks for more."""
    return load_settings(storage={"root": lake_root}, prep={"n_buckets": 4, "workers": 1, **prep})


@pytest.fixture
def lake_settings(tmp_path) -> Settings:
    return settings_for(str(tmp_path / "lake"))


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory) -> Path:
    """A small seeded sample dataset with every fault type, generated once per session."""
    from data_prep.sample_data import generate_demo_data

    out = tmp_path_factory.mktemp("demo") / "input"
    generate_demo_data(str(out), homes=16, days=45, seed=3, start="2025-01-01")
    return out


@pytest.fixture
def real_data() -> Path:
    if not REAL_DATA.is_dir():
        pytest.skip(f"real data not present at {REAL_DATA} (it lives beside the repository, not in it)")
    return REAL_DATA
