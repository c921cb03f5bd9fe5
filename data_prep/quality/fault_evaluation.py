"""How well the pipeline finds injected faults, and how close imputed values come to the clean truth.

Sample data ships a fault log (``faults.csv``) and the clean readings before the faults; real data has
neither, so everything here is optional and runs only on sample data.

Matching rules. A detection *event* (see :mod:`fault_detections`) overlaps a fault when

* both carry a home and a time: same home, and the event's ``[ts_start, ts_end]`` meets the fault's
  ``[ts_start − interval, ts_end + interval]`` (one interval of tolerance either side);
* otherwise (a malformed line has no parseable time, a profile has no time at all): the event's
  ``source_file`` ends with the fault's ``file``, and the homes agree wherever both are known.

Fault type → detection codes (:data:`FAULT_DETECTION_CODES`):

====================== ====================================================================== ==========
fault type             detection codes                                                         scored as
====================== ====================================================================== ==========
spike                  spike, outlier, out_of_range                                            recall
negative               negative, out_of_range                                                  recall
meter_reset            meter_reset, negative, out_of_range                                     recall
stuck                  stuck                                                                   recall
duplicate              duplicate                                                               recall
conflicting_duplicate  conflicting_duplicate                                                   recall
wrong_unit             spike, outlier, out_of_range, level_shift, meter_reset                  recall
dst_shift              conflicting_duplicate, duplicate, off_grid_timestamp,                   recall
                       nonexistent_local_time
malformed_row          malformed_row, missing_field, bad_timestamp, bad_number                 recall
gap_short, gap_long    imputed, missing (quality flags)                                        share of slots
late_arrival           (the late rows hold a raw value in processed)                           landed
profile_mistyped_field invalid_document                                                        recall
profile_missing_field  invalid_document — must *not* fire: an absent optional field is fine   accepted
====================== ====================================================================== ==========

``negative`` and ``meter_reset`` also accept ``out_of_range`` because validation may quarantine a value below
the physical minimum before anomaly detection sees it; ``dst_shift`` also accepts ``nonexistent_local_time``.

Precision is per detection code: the share of its events that overlap a fault of a type that lists the code.
The gap flags ``imputed`` / ``missing`` are consequences rather than detections (a quarantined row leaves a
gap too), so their events count as true when they overlap *any* injected fault.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from contracts.schemas import HOME_ID, KWH, TS
from data_prep.quality.fault_detections import (
    GAP_CODES,
    fault_slot_counts,
    home_intervals,
    normalise_fault_log,
    processed_detection_events,
    quarantine_detection_events,
    resolve_files,
)

_MALFORMED = frozenset({"malformed_row", "missing_field", "bad_timestamp", "bad_number"})
_VALUE_JUMP = frozenset({"spike", "outlier", "out_of_range"})
FAULT_DETECTION_CODES: dict[str, frozenset[str]] = {
    "spike": _VALUE_JUMP,
    "negative": frozenset({"negative", "out_of_range"}),
    "meter_reset": frozenset({"meter_reset", "negative", "out_of_range"}),
    "stuck": frozenset({"stuck"}),
    "duplicate": frozenset({"duplicate"}),
    "conflicting_duplicate": frozenset({"conflicting_duplicate"}),
    "wrong_unit": _VALUE_JUMP | {"level_shift", "meter_reset"},  # one reading ×1000 looks like a rollover
    "dst_shift": frozenset(
        {"conflicting_duplicate", "duplicate", "off_grid_timestamp", "nonexistent_local_time"}
    ),
    "malformed_row": _MALFORMED,
    "gap_short": frozenset(GAP_CODES),
    "gap_long": frozenset(GAP_CODES),
    "late_arrival": frozenset(),
    "profile_mistyped_field": frozenset({"invalid_document"}),
    "profile_missing_field": frozenset({"invalid_document"}),
}
# How a fault type is scored; types not listed are scored as "event".
FAULT_SCORING: dict[str, str] = {
    "gap_short": "gap_slots",
    "gap_long": "gap_slots",
    "late_arrival": "landed_slots",
    "profile_missing_field": "accepted",
}
SLOT_FAULT_TYPES: tuple[str, ...] = tuple(ft for ft, kind in FAULT_SCORING.items() if kind.endswith("_slots"))
METRIC_NAMES: dict[str, str] = {
    "event": "recall",
    "gap_slots": "recall",
    "landed_slots": "landed",
    "accepted": "accepted",
}


@dataclass(frozen=True)
class DetectionEvaluation:
    """Detection quality against a fault log.

    Attributes:
        faults: one row per injected fault: the fault's key, ``scoring``, ``score`` [0–1] (1/0 for an event
            fault, the share of slots for gaps and late arrivals, 1 when a profile was accepted), ``detected``
            (score > 0) and ``matched_codes``.
        by_fault_type: ``fault_type``, ``metric`` (recall, landed or accepted), ``n_faults``, ``n_detected``,
            ``recall`` (mean score) [0–1] and ``detection_codes``.
        by_code: ``code``, ``n_events``, ``n_true``, ``precision`` [0–1], ``n_rows`` and ``explained_by``.
    """

    faults: pd.DataFrame
    by_fault_type: pd.DataFrame
    by_code: pd.DataFrame


@dataclass(frozen=True)
class _Evidence:
    faults: pd.DataFrame  # normalised, indexed by fault_id
    matches: pd.DataFrame  # event_idx, fault_id, code, via ("time" | "file"), ev_n_rows; recall pairs only
    slots: pd.DataFrame  # n_gap_flagged, n_landed, expected, indexed by fault_id


def evaluate_fault_log(
    faults: pd.DataFrame, processed: pd.DataFrame, quarantine: pd.DataFrame, *, default_interval_min: int = 60
) -> DetectionEvaluation:
    """Evaluate detection in one go, with all processed readings in memory.

    For bucket-at-a-time runs, build the inputs of :func:`evaluate_detection` per bucket instead:
    ``processed_detection_events`` and ``fault_slot_counts`` (sum by ``fault_id``) and ``home_intervals``.

    Args:
        faults: the fault log as read from ``faults.csv``.
        processed: processed readings.
        quarantine: quarantine rows (all sources).
        default_interval_min: tolerance for a home absent from ``processed`` [min].
    """
    log = normalise_fault_log(faults)
    intervals = home_intervals(processed)
    events = pd.concat(
        [
            processed_detection_events(processed),
            quarantine_detection_events(
                quarantine,
                intervals,
                sources=log["source"].unique(),
                default_interval_min=default_interval_min,
            ),
        ],
        ignore_index=True,
    )
    slots = fault_slot_counts(log, processed, SLOT_FAULT_TYPES)
    return evaluate_detection(log, events, slots, intervals, default_interval_min=default_interval_min)


def evaluate_detection(
    faults: pd.DataFrame,
    events: pd.DataFrame,
    slot_counts: pd.DataFrame,
    intervals_min: pd.Series,
    *,
    default_interval_min: int = 60,
) -> DetectionEvaluation:
    """Recall per fault type and precision per detection code.

    Args:
        faults: the fault log (raw or normalised by ``normalise_fault_log``).
        events: detection events of all buckets and the quarantine (see :mod:`fault_detections`).
        slot_counts: ``fault_slot_counts`` of all buckets (summed by ``fault_id`` here).
        intervals_min: each home's interval [min], the matching tolerance.
        default_interval_min: tolerance for a home absent from ``intervals_min`` [min].
    """
    log = normalise_fault_log(faults)
    events = events.reset_index(drop=True)
    tolerance = pd.to_timedelta(log[HOME_ID].map(intervals_min).fillna(default_interval_min), unit="min")
    overlaps = pd.concat(
        [_time_overlaps(events, log, tolerance), _file_overlaps(events, log)], ignore_index=True
    )
    overlaps = overlaps.merge(
        events[["code", "n_rows"]].rename(columns={"n_rows": "ev_n_rows"}),
        left_on="event_idx",
        right_index=True,
    )
    overlaps = overlaps.merge(log[["fault_id", "fault_type"]], on="fault_id")
    recall_pairs = _pairs(FAULT_DETECTION_CODES.items())
    evidence = _Evidence(
        faults=log.set_index("fault_id", drop=False),
        matches=overlaps.merge(recall_pairs, on=["fault_type", "code"]),
        slots=_expected_slots(log, slot_counts, tolerance),
    )
    scored = _score_faults(evidence)
    return DetectionEvaluation(
        faults=scored, by_fault_type=_recall_table(scored), by_code=_precision_table(events, overlaps, log)
    )


def _pairs(items: Iterable[tuple[str, Iterable[str]]]) -> pd.DataFrame:
    rows = [(fault_type, code) for fault_type, codes in items for code in codes]
    return pd.DataFrame(rows, columns=["fault_type", "code"]).drop_duplicates()


def _time_overlaps(events: pd.DataFrame, faults: pd.DataFrame, tolerance: pd.Series) -> pd.DataFrame:
    keyed_ev = events[HOME_ID].notna() & events["ts_start"].notna()
    ev = events.loc[keyed_ev, [HOME_ID, "ts_start", "ts_end"]].rename_axis("event_idx").reset_index()
    keyed_f = faults[HOME_ID].notna() & faults["ts_start"].notna()
    win = pd.DataFrame(
        {
            "fault_id": faults["fault_id"],
            HOME_ID: faults[HOME_ID],
            "win_start": faults["ts_start"] - tolerance,
            "win_end": faults["ts_end"] + tolerance,
        }
    ).loc[keyed_f]
    pairs = ev.merge(win, on=HOME_ID)
    hit = (pairs["ts_start"] <= pairs["win_end"]) & (pairs["ts_end"] >= pairs["win_start"])
    return pairs.loc[hit, ["event_idx", "fault_id"]].assign(via="time")


def _file_overlaps(events: pd.DataFrame, faults: pd.DataFrame) -> pd.DataFrame:
    # Only where time matching cannot decide: the event or the fault lacks a home or a time.
    ev = events.loc[events["source_file"].notna()]
    fl = faults.loc[faults["file"].notna()]
    resolved = resolve_files(ev["source_file"].astype(str).unique(), fl["file"].astype(str).unique())
    ev = ev.assign(file=ev["source_file"].astype(str).map(resolved).astype(object)).dropna(subset=["file"])
    fl = fl.assign(file=fl["file"].astype(object))
    ev = ev.assign(ev_keyed=ev[HOME_ID].notna() & ev["ts_start"].notna()).rename(columns={HOME_ID: "ev_home"})
    fl = fl.assign(f_keyed=fl[HOME_ID].notna() & fl["ts_start"].notna())
    pairs = (
        ev.rename_axis("event_idx")
        .reset_index()[["event_idx", "file", "ev_home", "ev_keyed"]]
        .merge(fl[["fault_id", "file", HOME_ID, "f_keyed"]], on="file")
    )
    same_home = pairs["ev_home"].isna() | pairs[HOME_ID].isna() | pairs["ev_home"].eq(pairs[HOME_ID])
    loose = ~(pairs["ev_keyed"] & pairs["f_keyed"])
    return pairs.loc[same_home & loose, ["event_idx", "fault_id"]].assign(via="file")


def _expected_slots(faults: pd.DataFrame, slot_counts: pd.DataFrame, tolerance: pd.Series) -> pd.DataFrame:
    counts = slot_counts.groupby("fault_id")[["n_gap_flagged", "n_landed"]].sum()
    window = (faults["ts_end"] - faults["ts_start"]) // tolerance + 1
    expected = faults["n_rows"].fillna(window.astype(float)).set_axis(faults["fault_id"])
    out = counts.reindex(faults["fault_id"], fill_value=0)
    out["expected"] = expected
    return out


def _score_events(faults: pd.DataFrame, ev: _Evidence) -> pd.Series:
    m = ev.matches.loc[ev.matches["fault_id"].isin(faults["fault_id"])]
    by_time = set(m.loc[m["via"].eq("time"), "fault_id"])
    by_file = m.loc[m["via"].eq("file")].merge(faults[["fault_id", "file", HOME_ID, "n_rows"]], on="fault_id")
    by_file["group"] = by_file["file"] + "|" + by_file["fault_type"] + "|" + by_file[HOME_ID].fillna("")
    # One quarantined line cannot account for several faults: each group's faults share its flagged rows.
    capacity = by_file.drop_duplicates(["group", "event_idx"]).groupby("group")["ev_n_rows"].sum()
    cand = by_file.drop_duplicates("fault_id").loc[lambda d: ~d["fault_id"].isin(by_time)]
    cand = cand.sort_values(["group", "fault_id"])
    rows = cand["n_rows"].fillna(1)
    before = rows.groupby(cand["group"]).cumsum() - rows
    by_cap = set(cand.loc[before.to_numpy() < cand["group"].map(capacity).to_numpy(), "fault_id"])
    return faults["fault_id"].isin(by_time | by_cap).astype(float)


def _score_slots(column: str) -> Callable[[pd.DataFrame, _Evidence], pd.Series]:
    def score(faults: pd.DataFrame, ev: _Evidence) -> pd.Series:
        slots = ev.slots.loc[faults["fault_id"]]
        share = slots[column] / slots["expected"].where(slots["expected"] > 0)
        return share.clip(upper=1.0).fillna(0.0)

    return score


def _score_accepted(faults: pd.DataFrame, ev: _Evidence) -> pd.Series:
    return (~faults["fault_id"].isin(ev.matches["fault_id"])).astype(float)


_SCORERS: dict[str, Callable[[pd.DataFrame, _Evidence], pd.Series]] = {
    "event": _score_events,
    "gap_slots": _score_slots("n_gap_flagged"),
    "landed_slots": _score_slots("n_landed"),
    "accepted": _score_accepted,
}


def _score_faults(ev: _Evidence) -> pd.DataFrame:
    faults = ev.faults.reset_index(drop=True)
    faults["scoring"] = faults["fault_type"].map(FAULT_SCORING).fillna("event")
    faults["score"] = 0.0
    for kind, scorer in _SCORERS.items():
        rows = faults["scoring"].eq(kind)
        if rows.any():
            faults.loc[rows, "score"] = scorer(faults.loc[rows], ev).to_numpy()
    faults["detected"] = faults["score"] > 0
    codes = ev.matches.groupby("fault_id")["code"].agg(lambda c: ",".join(sorted(set(c))))
    faults["matched_codes"] = faults["fault_id"].map(codes).fillna("")
    return faults


def _recall_table(scored: pd.DataFrame) -> pd.DataFrame:
    table = scored.groupby(["fault_type", "scoring"], sort=True).agg(
        n_faults=("fault_id", "size"), n_detected=("detected", "sum"), recall=("score", "mean")
    )
    table = table.reset_index()
    table["metric"] = table.pop("scoring").map(METRIC_NAMES)
    codes = {ft: ", ".join(sorted(c)) for ft, c in FAULT_DETECTION_CODES.items()}
    table["detection_codes"] = table["fault_type"].map(codes).fillna("")
    return table.loc[:, ["fault_type", "metric", "n_faults", "n_detected", "recall", "detection_codes"]]


def _precision_table(events: pd.DataFrame, overlaps: pd.DataFrame, faults: pd.DataFrame) -> pd.DataFrame:
    explaining = [
        (ft, codes) for ft, codes in FAULT_DETECTION_CODES.items() if FAULT_SCORING.get(ft) != "accepted"
    ]
    any_fault = [(ft, GAP_CODES) for ft in faults["fault_type"].unique()]
    pairs = _pairs([*explaining, *any_fault])
    true_events = overlaps.merge(pairs, on=["fault_type", "code"])["event_idx"].unique()
    flagged = events.assign(true=events.index.isin(true_events))
    table = flagged.groupby("code", sort=True).agg(
        n_events=("true", "size"), n_true=("true", "sum"), n_rows=("n_rows", "sum")
    )
    table["precision"] = table["n_true"] / table["n_events"]
    explained = pairs.loc[~pairs["code"].isin(GAP_CODES)].groupby("code")["fault_type"]
    table["explained_by"] = explained.agg(lambda f: ", ".join(sorted(f))).reindex(table.index).fillna("")
    table.loc[table.index.isin(GAP_CODES), "explained_by"] = "any fault"
    return table.reset_index().loc[:, ["code", "n_events", "n_true", "precision", "n_rows", "explained_by"]]


def imputation_error_sums(
    processed: pd.DataFrame, clean: pd.DataFrame, *, by: tuple[str, ...] = ("imputation_strategy",)
) -> pd.DataFrame:
    """Additive error sums of imputed values against the clean truth, per group (one bucket at a time).

    Args:
        processed: processed readings; rows with an ``imputation_strategy`` and a ``kwh`` value are scored.
        clean: the clean truth: ``home_id``, ``ts``, ``kwh`` [kWh].
        by: processed columns to group by.

    Returns:
        ``by`` columns, ``n``, ``sum_err_kwh``, ``sum_abs_kwh``, ``sum_sq_kwh2``; rows without a truth value
        are dropped.
    """
    imputed = processed.loc[processed["imputation_strategy"].notna() & processed[KWH].notna()]
    truth = clean.loc[:, [HOME_ID, TS, KWH]].rename(columns={KWH: "kwh_true"})
    if not _is_utc(truth[TS]):  # to_datetime would copy a UTC column unchanged, slowly (7 ms per 17k rows)
        truth[TS] = pd.to_datetime(truth[TS], utc=True)
    truth[HOME_ID] = truth[HOME_ID].astype(str)
    joined = (
        imputed.loc[:, [HOME_ID, TS, KWH, *by]].merge(truth, on=[HOME_ID, TS]).dropna(subset=["kwh_true"])
    )
    err = joined[KWH] - joined["kwh_true"]
    parts = pd.DataFrame({"n": 1, "sum_err_kwh": err, "sum_abs_kwh": err.abs(), "sum_sq_kwh2": err**2})
    return parts.groupby([joined[c] for c in by], sort=True).sum().reset_index()


def _is_utc(values: pd.Series) -> bool:
    return isinstance(values.dtype, pd.DatetimeTZDtype) and str(values.dtype.tz) == "UTC"


def combine_imputation_errors(
    parts: Iterable[pd.DataFrame], *, by: tuple[str, ...] = ("imputation_strategy",)
) -> pd.DataFrame:
    """Merge :func:`imputation_error_sums` partials into ``n``, ``mae_kwh``, ``rmse_kwh`` and ``bias_kwh``."""
    sums = pd.concat(list(parts), ignore_index=True).groupby(list(by), sort=True).sum()
    n = sums["n"].where(sums["n"] > 0)
    out = pd.DataFrame(
        {
            "n": sums["n"].astype(np.int64),
            "mae_kwh": sums["sum_abs_kwh"] / n,
            "rmse_kwh": np.sqrt(sums["sum_sq_kwh2"] / n),
            "bias_kwh": sums["sum_err_kwh"] / n,
        }
    )
    return out.reset_index()


def evaluate_imputation(
    processed_imputed_rows: pd.DataFrame,
    clean: pd.DataFrame,
    *,
    by: tuple[str, ...] = ("imputation_strategy",),
) -> pd.DataFrame:
    """MAE, RMSE and bias (imputed − true) [kWh] and ``n`` per imputation strategy against the clean truth.

    Args:
        processed_imputed_rows: processed readings (all rows, or only the imputed ones); joined to ``clean``
            on ``home_id`` and ``ts``.
        clean: the clean truth ``readings_clean``: ``home_id``, ``ts``, ``kwh`` [kWh].
        by: the grouping, e.g. ``("imputation_strategy", "quality_flag")`` to separate filled gaps from
            masked anomalies.
    """
    return combine_imputation_errors([imputation_error_sums(processed_imputed_rows, clean, by=by)], by=by)
