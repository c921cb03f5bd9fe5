"""Drift detection with the real Evidently on injected shifts: all homes, per cohort, and the drift thresholds."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from contracts.monitoring_settings import MonitoringSettings
from monitoring.drift import DriftResult, analyse_drift
from monitoring.sampling import plan_sample, take_sample
from monitoring.thresholds import drift_breaches

FEATURES = ["temp_c", "kwh_lag_24h", "hour", "has_pv"]
SETTINGS = MonitoringSettings(sample_rows=2_000, cohort_sample_rows=1_000, min_cohort_rows=200)


def _window(
    seed: int, temp_shift_c: float = 0.0, pv_only: bool = False, n_hours: int = 24 * 60
) -> pd.DataFrame:
    """Hourly rows of 5 homes (2 with PV): a daily temperature cycle with weather noise, a consumption that
    follows it. ``temp_shift_c`` is added to the temperature (of the PV homes only with ``pv_only``)."""
    rng = np.random.default_rng(seed)
    homes = np.repeat([f"h{i}" for i in range(5)], n_hours)
    pv = np.where(np.isin(homes, ["h0", "h1"]), "yes", "no")
    hour = np.tile(np.arange(n_hours) % 24, 5)
    temp = 2 + 4 * np.sin(2 * np.pi * (hour - 9) / 24) + rng.normal(0, 3, len(homes))
    temp = temp + (temp_shift_c * (pv == "yes") if pv_only else temp_shift_c)
    kwh = np.clip(1.5 - 0.05 * temp + rng.normal(0, 0.3, len(homes)), 0, None)
    return pd.DataFrame(
        {
            "home_id": homes,
            "temp_c": temp,
            "kwh_lag_24h": kwh,
            "hour": hour,
            "has_pv": (pv == "yes").astype(np.int64),
            "heating": "heat_pump",
            "pv": pv,
            "region": "SE3",
        }
    )


def _drift(
    reference: pd.DataFrame, current: pd.DataFrame, settings: MonitoringSettings = SETTINGS
) -> DriftResult:
    def sample(frame: pd.DataFrame, seed: int):
        plan = plan_sample(
            frame[["heating", "pv", "region"]], settings.sample_rows, settings.cohort_sample_rows, seed
        )
        return take_sample(frame, plan)

    return analyse_drift(
        sample(reference, 0),
        sample(current, 1),
        FEATURES,
        settings,
        timestamp=datetime(2025, 3, 1),
        metadata={"model": "test"},
    )


def _drifted(result: DriftResult) -> set[str]:
    return set(result.features.loc[result.features["drifted"], "feature"])


@pytest.fixture(scope="module")
def unshifted() -> DriftResult:
    return _drift(_window(seed=1), _window(seed=2))


@pytest.fixture(scope="module")
def shifted() -> DriftResult:
    return _drift(_window(seed=1), _window(seed=2, temp_shift_c=4.0))


def test_an_unshifted_temperature_is_not_flagged(unshifted):
    assert _drifted(unshifted) == set()
    assert unshifted.features.set_index("feature").loc["temp_c", "score"] < 0.1
    assert unshifted.features.set_index("feature").loc["hour", "kind"] == "categorical"
    assert drift_breaches(unshifted, SETTINGS) == []


def test_a_shifted_temperature_is_flagged_with_the_configured_method(shifted):
    table = shifted.features.set_index("feature")
    assert table.loc["temp_c", "drifted"]
    assert table.loc["temp_c", "method"] == "wasserstein" and table.loc["temp_c", "threshold"] == 0.1
    assert table.loc["temp_c", "score"] > 0.5  # 4 °C on a standard deviation of about 4 °C
    assert _drifted(shifted) == {"temp_c", "kwh_lag_24h"}  # consumption follows the temperature
    assert shifted.rows == {
        "reference_rows": 7200,
        "current_rows": 7200,
        "reference_sampled": 2000,
        "current_sampled": 2000,
    }


@pytest.mark.parametrize(
    ("drift_share", "breached"),
    [
        pytest.param(0.75, False, id="2-of-4-under-three-quarters"),
        pytest.param(0.5, True, id="2-of-4-at-half"),
    ],
)
def test_drift_share_threshold(shifted, drift_share, breached):
    settings = SETTINGS.model_copy(
        update={"drift": SETTINGS.drift.model_copy(update={"drift_share": drift_share})}
    )
    breaches = [b for b in drift_breaches(shifted, settings) if b.cohort == "all"]
    assert bool(breaches) is breached
    if breached:
        assert breaches[0].value == pytest.approx(0.5) and "temp_c" in breaches[0].message


def test_a_shift_in_one_cohort_is_flagged_for_that_cohort_only():
    result = _drift(_window(seed=1), _window(seed=2, temp_shift_c=5.0, pv_only=True))
    cohorts = result.cohorts.set_index(["cohort", "value", "feature"])
    assert cohorts.loc[("pv", "yes", "temp_c"), "drifted"]
    assert not cohorts.loc[("pv", "no", "temp_c"), "drifted"]
    summary = result.cohort_summary.set_index(["cohort", "value"])
    assert summary.loc[("pv", "yes"), "judged"] and summary.loc[("pv", "yes"), "rows_current"] == 1_000
    settings = SETTINGS.model_copy(
        update={"drift": SETTINGS.drift.model_copy(update={"cohort_drift_share": 0.25})}
    )
    assert "pv=yes" in {b.cohort for b in drift_breaches(result, settings)}
    assert "pv=no" not in {b.cohort for b in drift_breaches(result, settings)}


def test_a_cohort_too_small_is_listed_not_judged():
    settings = SETTINGS.model_copy(update={"min_cohort_rows": 5_000})
    result = _drift(_window(seed=1, n_hours=24 * 10), _window(seed=2, n_hours=24 * 10), settings)
    assert not result.cohort_summary["judged"].any()
    assert result.cohorts.empty
