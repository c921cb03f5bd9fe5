"""Anomaly detection: each detector on seeded synthetic homes with injected faults, and the scanner suite."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from contracts.schemas import Anomaly
from data_prep.quality.anomalies import (
    DETECTORS,
    AnomalyScanner,
    LevelShiftDetector,
    MeterResetDetector,
    NegativeValueDetector,
    RobustOutlierDetector,
    SpikeDetector,
    StuckMeterDetector,
    default_detector_config,
)

START = pd.Timestamp("2024-01-01", tz="UTC")  # a Monday


def readings(
    n_homes: int = 2,
    n_days: int = 70,
    interval_min: int = 60,
    seed: int = 0,
    prefix: str = "h",
    pv: bool = False,
    ramp: float = 0.0,
) -> pd.DataFrame:
    """Clean homes: a morning and an evening peak, busier weekends, log-normal noise, 1 Wh resolution.

    Args:
        pv: net import of a PV home: 0 around midday on most days.
        ramp: the level grows linearly by this fraction over the period, like heating into winter.
    """
    rng = np.random.default_rng(seed)
    n = n_days * 1440 // interval_min
    hours = np.arange(n) * interval_min / 60.0
    hour_of_day = hours % 24
    profile = 0.5 + 0.5 * np.exp(-(((hour_of_day - 8) / 2) ** 2)) + np.exp(-(((hour_of_day - 19) / 2.5) ** 2))
    weekly = np.where((hours // 24) % 7 >= 5, 1.2, 1.0)
    trend = 1.0 + ramp * hours / hours[-1]
    base = rng.uniform(0.3, 1.0, (n_homes, 1))
    kwh = base * profile * weekly * trend * rng.lognormal(0.0, 0.25, (n_homes, n)) * interval_min / 60.0
    if pv:
        sunny = rng.random((n_homes, n_days)) < 0.6
        midday = (hour_of_day >= 10) & (hour_of_day < 15)
        kwh[np.repeat(sunny, 1440 // interval_min, axis=1) & midday] = 0.0
    return pd.DataFrame(
        {
            "home_id": np.repeat([f"{prefix}{i:02d}" for i in range(n_homes)], n),
            "ts": np.tile(pd.date_range(START, periods=n, freq=f"{interval_min}min"), n_homes),
            "kwh": np.round(kwh, 3).ravel(),
            "interval_min": interval_min,
        }
    )


def rows_of(frame: pd.DataFrame, home_id: str) -> np.ndarray:
    return np.flatnonzero(frame["home_id"].to_numpy() == home_id)


def flags_of(name: str, frame: pd.DataFrame, **params: object) -> np.ndarray:
    return DETECTORS[name](**params).fit(frame).detect(frame)


# --- one injected fault per detector --------------------------------------------------------------------------


def inject_outlier(frame: pd.DataFrame) -> np.ndarray:
    """Three hours of a wrong scale: 12 kWh above normal, too long for a spike."""
    rows = rows_of(frame, "h00")[np.r_[500:503, 1200:1203]]
    frame.loc[rows, "kwh"] += 12.0
    return rows


def inject_spike(frame: pd.DataFrame) -> np.ndarray:
    rows = rows_of(frame, "h00")[[300, 900, 1500]]
    frame.loc[rows, "kwh"] += 25.0
    return rows


def inject_stuck(frame: pd.DataFrame) -> np.ndarray:
    """A frozen register for 12 h and a dead meter (zeros) for 30 h; 12 h of zeros is still fine."""
    home = rows_of(frame, "h00")
    frozen, dead, short_zero = home[400:412], home[800:830], home[1300:1312]
    frame.loc[frozen, "kwh"] = frame.loc[frozen[0], "kwh"]
    frame.loc[dead, "kwh"] = 0.0
    frame.loc[short_zero, "kwh"] = 0.0
    return np.concatenate([frozen, dead])


def inject_negative(frame: pd.DataFrame) -> np.ndarray:
    rows = rows_of(frame, "h00")[[100, 700]]
    frame.loc[rows, "kwh"] = -0.4
    frame.loc[rows_of(frame, "h00")[1000], "kwh"] = -0.0005  # rounding noise, within the tolerance
    return rows


def inject_meter_reset(frame: pd.DataFrame) -> np.ndarray:
    """A rollover (huge negative) and a register read as consumption (huge positive)."""
    rows = rows_of(frame, "h00")[[250, 1100]]
    frame.loc[rows, "kwh"] = [-4_321.5, 9_876.0]
    return rows


def inject_level_shift(frame: pd.DataFrame) -> np.ndarray:
    """From day 35 on the meter reads 2.5 times as much (a new CT ratio); day 35 is the expected flag."""
    home = rows_of(frame, "h00")
    frame.loc[home[35 * 24 :], "kwh"] *= 2.5
    return home[35 * 24 : 36 * 24]


INJECTIONS: list[object] = [
    pytest.param("outlier", inject_outlier, id="outlier-wrong-scale-block"),
    pytest.param("spike", inject_spike, id="spike-single-intervals"),
    pytest.param("stuck", inject_stuck, id="stuck-frozen-and-dead-meter"),
    pytest.param("negative", inject_negative, id="negative-values"),
    pytest.param("meter_reset", inject_meter_reset, id="meter-reset-both-signs"),
    pytest.param("level_shift", inject_level_shift, id="level-shift-step"),
]


@pytest.mark.parametrize(("name", "inject"), INJECTIONS)
def test_detector_flags_exactly_the_injected_rows(
    name: str, inject: Callable[[pd.DataFrame], np.ndarray]
) -> None:
    frame = readings(n_homes=3, seed=1)
    expected = np.zeros(len(frame), dtype=bool)
    expected[inject(frame)] = True

    flagged = flags_of(name, frame)

    assert flagged.dtype == bool and flagged.shape == (len(frame),)
    np.testing.assert_array_equal(np.flatnonzero(flagged), np.flatnonzero(expected))


CLEAN_BOUNDS = {
    "outlier": 2e-4,
    "spike": 0.0,
    "stuck": 0.0,
    "negative": 0.0,
    "meter_reset": 0.0,
    "level_shift": 0.0,
}


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(readings(n_homes=6, n_days=91, seed=2), id="regular-homes"),
        pytest.param(readings(n_homes=6, n_days=91, seed=3, pv=True), id="pv-homes-midday-zeros"),
        pytest.param(readings(n_homes=6, n_days=91, seed=4, ramp=1.0), id="seasonal-ramp-doubling"),
        pytest.param(readings(n_homes=4, n_days=91, seed=5, interval_min=15), id="quarter-hourly-homes"),
    ],
)
@pytest.mark.parametrize("name", list(DETECTORS))
def test_clean_signal_is_almost_never_flagged(frame: pd.DataFrame, name: str) -> None:
    false_positive_rate = flags_of(name, frame).mean()
    assert false_positive_rate <= CLEAN_BOUNDS[name]


def test_homes_do_not_leak_into_each_other() -> None:
    frame = readings(n_homes=3, seed=6)
    home_a, home_b, home_c = (rows_of(frame, h) for h in ("h00", "h01", "h02"))
    frame.loc[home_a[[200, 201, 202]], "kwh"] += 15.0  # an outlier block
    frame.loc[home_a[600], "kwh"] += 30.0  # a spike
    frame.loc[home_a[40 * 24 :], "kwh"] *= 3.0  # a level shift
    frame.loc[home_a[-12:], "kwh"] = 0.777  # a stuck run up to the last row of A ...
    frame.loc[home_b[:3], "kwh"] = 0.777  # ... that would go on into B
    frame.loc[home_c[0], "kwh"] = 5_000.0  # would be a spike if B's last row were its neighbour

    together = AnomalyScanner(default_detector_config()).fit(frame).flags(frame)

    assert together.iloc[home_a].any().sum() >= 4  # home A is flagged by several detectors
    assert not together.iloc[home_b].any().any()
    assert not together.loc[home_c[0], "spike"]
    for home in (home_b, home_c):
        alone_frame = frame.iloc[home].reset_index(drop=True)
        alone = AnomalyScanner(default_detector_config()).fit(alone_frame).flags(alone_frame)
        pd.testing.assert_frame_equal(together.iloc[home].reset_index(drop=True), alone)


def test_nan_gaps_do_not_trigger_flags() -> None:
    frame = readings(n_homes=3, n_days=91, seed=7)
    rng = np.random.default_rng(7)
    kwh = frame["kwh"].to_numpy(copy=True)
    kwh[rng.random(len(kwh)) < 0.05] = np.nan  # scattered missing readings
    home = rows_of(frame, "h00")
    kwh[home[300:306]] = np.nan  # six hours
    kwh[home[1000:1072]] = np.nan  # three days
    # A month, in the middle of the level-shift blocks.
    kwh[rows_of(frame, "h01")[30 * 24 : 60 * 24]] = np.nan
    # Equal values on both sides of single gaps: each piece is shorter than a stuck run.
    kwh[home[1500:1520]] = np.where(np.arange(20) % 5 == 4, np.nan, 0.777)
    frame["kwh"] = kwh

    flags = AnomalyScanner(default_detector_config()).fit(frame).flags(frame)

    assert not flags.any().any(), flags.sum().to_dict()


def test_mixed_intervals_share_a_frame() -> None:
    parts = [
        readings(n_homes=1, n_days=70, interval_min=15, seed=8, prefix="a"),
        readings(n_homes=1, n_days=70, interval_min=30, seed=9, prefix="b"),
        readings(n_homes=1, n_days=70, interval_min=60, seed=10, prefix="c"),
        readings(n_homes=1, n_days=140, interval_min=1440, seed=11, prefix="d"),
    ]
    frame = pd.concat(parts, ignore_index=True)
    expected = {name: np.zeros(len(frame), dtype=bool) for name in ("spike", "stuck", "outlier")}
    for home, per_hour in (("a00", 4), ("b00", 2), ("c00", 1)):
        rows = rows_of(frame, home)
        frame.loc[rows[500], "kwh"] += 30.0
        expected["spike"][rows[500]] = True
        stuck = rows[1000 : 1000 + 8 * per_hour]  # 8 h
        frame.loc[stuck, "kwh"] = frame.loc[stuck[0], "kwh"]
        expected["stuck"][stuck] = True
        # A stretch of 5 h is fine at every interval.
        fine = rows[1500 : 1500 + 5 * per_hour]
        frame.loc[fine, "kwh"] = frame.loc[fine[0], "kwh"]
    daily = rows_of(frame, "d00")
    frame.loc[daily[50:54], "kwh"] = frame.loc[daily[50], "kwh"]  # four equal days
    expected["stuck"][daily[50:54]] = True
    frame.loc[daily[100], "kwh"] += 400.0  # a single day: an outlier and a spike
    expected["spike"][daily[100]] = True
    expected["outlier"] |= expected["spike"]  # every spike here is also far from its slot of the week

    for name, mask in expected.items():
        np.testing.assert_array_equal(
            np.flatnonzero(flags_of(name, frame)), np.flatnonzero(mask), err_msg=name
        )


def test_daily_homes_at_local_midnight_accept_dst_steps() -> None:
    ts = pd.date_range("2024-03-01", "2024-11-30", freq="D", tz="Europe/Stockholm").tz_convert("UTC")
    frame = pd.DataFrame(
        {"home_id": "d", "ts": ts, "kwh": 10.0 + np.arange(len(ts)) % 7, "interval_min": 1440}
    )
    frame.loc[[30, 31, 32, 33], "kwh"] = 12.5

    flagged = flags_of("stuck", frame)

    assert set(np.diff(ts.asi8) // 3_600_000_000_000) == {23, 24, 25}
    np.testing.assert_array_equal(np.flatnonzero(flagged), [30, 31, 32, 33])


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param([0.5, 30.0, 0.4], True, id="between-normal-neighbours"),
        pytest.param([-3.0, 10.0, -2.5], True, id="between-negative-neighbours"),
        pytest.param([0.5, 30.0, 20.0], False, id="second-interval-of-a-high-load"),
        pytest.param([np.nan, 30.0, 0.4], False, id="next-to-a-gap"),
    ],
)
def test_spike_needs_a_large_rise_over_both_present_neighbours(values: list[float], expected: bool) -> None:
    frame = readings(n_homes=1, n_days=14, seed=17)
    frame.loc[[100, 101, 102], "kwh"] = values

    assert flags_of("spike", frame)[101] == expected


def test_two_sided_outliers_flag_readings_far_below_the_profile() -> None:
    frame = readings(n_homes=1, n_days=70, seed=18)
    evening = frame.index[frame["ts"].dt.hour == 19][20]
    frame.loc[evening, "kwh"] = 0.0  # an evening with nothing on: an empty home, or a dropped reading

    assert not flags_of("outlier", frame)[evening]
    assert flags_of("outlier", frame, two_sided=True, threshold=3.0)[evening]


def test_scanner_names_the_first_detector_by_priority_and_masks() -> None:
    frame = readings(n_homes=2, seed=12)
    home = rows_of(frame, "h00")
    reset, negative, spike = home[100], home[400], home[700]
    frame.loc[[reset, negative, spike], "kwh"] = [-5_000.0, -0.3, 40.0]
    frame.loc[home[35 * 24 :], "kwh"] *= 3.0
    scanner = AnomalyScanner(default_detector_config()).fit(frame)

    flags = scanner.flags(frame)
    result = scanner.transform(frame)

    assert list(flags.columns) == ["meter_reset", "negative", "spike", "stuck", "outlier", "level_shift"]
    assert flags.loc[reset, ["meter_reset", "negative"]].all()
    assert flags.loc[spike, ["spike", "outlier"]].all()
    assert result.loc[[reset, negative, spike], "anomaly"].tolist() == ["meter_reset", "negative", "spike"]
    shift_rows = result.index[result["anomaly"] == "level_shift"]
    assert (
        len(shift_rows) == 24
        and (frame.loc[shift_rows, "ts"].dt.normalize() == START + pd.Timedelta(days=35)).all()
    )
    assert not result.loc[shift_rows, "masked"].any()
    named = result["anomaly"].notna().to_numpy()
    np.testing.assert_array_equal(result["masked"], named & (result["anomaly"] != "level_shift").to_numpy())
    assert result.index.equals(frame.index) and result["masked"].dtype == bool
    pd.testing.assert_frame_equal(AnomalyScanner(default_detector_config()).fit_transform(frame), result)


def test_scanner_runs_only_the_configured_detectors_with_their_parameters() -> None:
    frame = readings(n_homes=1, seed=13)
    frame.loc[[10, 20], "kwh"] = [-0.05, -0.5]

    result = AnomalyScanner({"negative": {"tolerance_kwh": 0.1}}).fit_transform(frame)

    assert result["anomaly"].dropna().to_dict() == {20: "negative"}


def test_detection_precision_and_recall_on_a_synthetic_set() -> None:
    """Twelve homes, two per fault type, three faults each (one level shift), at random places."""
    frame = readings(n_homes=12, n_days=112, seed=14)
    rng = np.random.default_rng(14)
    truth = np.full(len(frame), None, dtype=object)
    kinds = ["outlier", "spike", "stuck", "negative", "meter_reset", "level_shift"]
    shift_days: dict[str, int] = {}
    for i, home_id in enumerate(sorted(frame["home_id"].unique())):
        kind, home = kinds[i % len(kinds)], rows_of(frame, home_id)
        if kind == "level_shift":
            day = int(rng.integers(35, 75))
            frame.loc[home[day * 24 :], "kwh"] *= rng.choice([rng.uniform(2.2, 4.0), rng.uniform(0.2, 0.4)])
            shift_days[home_id] = day
            continue
        for start in rng.choice(np.arange(2, 110), size=3, replace=False) * 24 + rng.integers(0, 12, 3):
            level = frame.loc[home, "kwh"].median()
            span = {"outlier": 3, "stuck": int(rng.integers(12, 36))}.get(kind, 1)
            rows = home[start : start + span]
            values = {
                "outlier": frame.loc[rows, "kwh"] + rng.uniform(8.0, 20.0),
                "spike": frame.loc[rows, "kwh"] + rng.uniform(15.0, 40.0),
                "stuck": frame.loc[rows[0], "kwh"],
                "negative": -rng.uniform(0.05, 2.0),
                "meter_reset": rng.choice([-1.0, 1.0]) * rng.uniform(200.0, 2_000.0) * level,
            }[kind]
            frame.loc[rows, "kwh"] = values
            truth[rows] = kind

    found = AnomalyScanner(default_detector_config()).fit_transform(frame)["anomaly"].to_numpy()

    for kind in kinds[:-1]:
        hits = np.sum((found == kind) & (truth == kind))
        assert hits / np.sum(found == kind) >= 0.95, f"precision of {kind}"
        assert hits / np.sum(truth == kind) >= 0.9, f"recall of {kind}"
    flagged_days = {
        (home_id, int((ts - START).days))
        for home_id, ts in frame.loc[found == "level_shift", ["home_id", "ts"]].values
    }
    near = {(h, d) for h, d in flagged_days if abs(d - shift_days.get(h, -99)) <= 1}
    assert len(near) / max(len(flagged_days), 1) >= 0.75, "precision of level_shift"
    assert len({h for h, _ in near}) / len(shift_days) >= 0.75, "recall of level_shift"


def test_unseen_homes_are_not_flagged_by_learned_detectors() -> None:
    seen, unseen = readings(n_homes=1, seed=15, prefix="s"), readings(n_homes=1, seed=16, prefix="u")
    unseen.loc[[100, 200], "kwh"] = [50.0, -9_000.0]

    for name in ("outlier", "spike", "meter_reset", "level_shift"):
        assert not DETECTORS[name]().fit(seen).detect(unseen).any(), name
    assert NegativeValueDetector().fit(seen).detect(unseen)[200]  # stateless detectors still work


def test_registry_matches_the_contract() -> None:
    assert set(DETECTORS) == {a.value for a in Anomaly}
    for name, cls in DETECTORS.items():
        assert cls.name == name and cls.__name__.endswith("Detector")
        assert cls.masks is (name != Anomaly.LEVEL_SHIFT)
        assert cls.__doc__ and "Targets" in cls.__doc__


def test_default_config_is_plain_yaml_and_builds_every_detector() -> None:
    config = default_detector_config()

    assert list(config) == list(DETECTORS)
    for name, params in config.items():
        assert all(value is None or isinstance(value, (bool, int, float)) for value in params.values())
        detector = DETECTORS[name](**params)
        assert {key: getattr(detector, key) for key in params} == params
    config["spike"]["jump_factor"] = 1.0
    assert default_detector_config()["spike"]["jump_factor"] != 1.0  # a fresh copy each time


@pytest.mark.parametrize(
    ("mangle", "error"),
    [
        pytest.param(lambda f: f.sample(frac=1.0, random_state=0), ValueError, id="unsorted-rows"),
        pytest.param(lambda f: f.drop(index=[5]), ValueError, id="missing-slot-row"),
        pytest.param(lambda f: f.drop(columns=["interval_min"]), ValueError, id="missing-column"),
        pytest.param(lambda f: f.assign(interval_min=7), ValueError, id="interval-not-dividing-a-day"),
    ],
)
def test_frames_off_the_grid_are_refused(mangle: Callable[[pd.DataFrame], pd.DataFrame], error: type) -> None:
    frame = mangle(readings(n_homes=2, n_days=7))
    with pytest.raises(error):
        AnomalyScanner({"negative": {}}).fit(frame)


def test_configuration_errors_are_reported() -> None:
    frame = readings(n_homes=1, n_days=7)
    with pytest.raises(ValueError, match="unknown anomaly detectors"):
        AnomalyScanner({"spikes": {}}).fit(frame)
    with pytest.raises(TypeError):
        AnomalyScanner({"spike": {"factor": 3}}).fit(frame)
    with pytest.raises(RuntimeError, match="not fitted"):
        SpikeDetector().detect(frame)
    with pytest.raises(RuntimeError, match="not fitted"):
        AnomalyScanner({}).transform(frame)


def test_empty_and_tiny_frames() -> None:
    empty = readings(n_homes=1, n_days=1).iloc[:0]
    one_row = readings(n_homes=1, n_days=1).iloc[:1]
    for frame in (empty, one_row):
        result = AnomalyScanner(default_detector_config()).fit_transform(frame)
        assert len(result) == len(frame) and not result["masked"].any()


def test_learned_state_ends_in_underscore_and_init_only_stores() -> None:
    frame = readings(n_homes=2, n_days=28)
    for cls in (
        RobustOutlierDetector,
        SpikeDetector,
        StuckMeterDetector,
        MeterResetDetector,
        LevelShiftDetector,
    ):
        detector = cls()
        before = dict(vars(detector))
        assert detector.fit(frame) is detector
        learned = set(vars(detector)) - set(before)
        assert learned and all(key.endswith("_") for key in learned), cls.__name__
        assert list(detector.homes_) == ["h00", "h01"]
