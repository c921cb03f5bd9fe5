"""Quality metrics of an ingestion run: per home, per raw file and for the whole run.

Every function is pure and works on pandas frames. The per-home and per-file figures are additive: compute
them on one bucket of homes (or one batch of quarantine rows) at a time and merge the partials with
:func:`combine_home_metrics` / :func:`combine_quarantine_counts`. Ratios are always recomputed from the summed
counts, never averaged, so the combined result equals the result on the concatenated input.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from contracts.schemas import HOME_ID, INTERVAL_MIN, KWH, TS, Anomaly, QualityFlag, Reason
from data_prep.sorted_runs import Coded, stable_order

ANOMALY_TYPES: tuple[str, ...] = tuple(a.value for a in Anomaly)
QUARANTINE_REASONS: tuple[str, ...] = tuple(r.value for r in Reason)
# Quarantine reasons that say "the same reading twice, or at the wrong place": what consistency measures.
CONSISTENCY_REASONS: tuple[str, ...] = (
    Reason.DUPLICATE.value,
    Reason.CONFLICTING_DUPLICATE.value,
    Reason.OFF_GRID_TIMESTAMP.value,
)
ACTIVE = "active"


def anomaly_column(kind: str) -> str:
    """The per-home count column of one anomaly type, e.g. ``n_anomaly_spike``."""
    return f"n_anomaly_{kind}"


def quarantine_column(reason: str) -> str:
    """The per-file count column of one quarantine reason, e.g. ``n_quarantine_duplicate``."""
    return f"n_quarantine_{reason}"


HOME_COUNT_COLUMNS: tuple[str, ...] = (
    "n_slots",
    "n_observed",
    "n_imputed",
    "n_missing",
    "n_anomaly",
    *(anomaly_column(k) for k in ANOMALY_TYPES),
)
HOME_METRIC_COLUMNS: tuple[str, ...] = (
    HOME_ID,
    INTERVAL_MIN,
    "span_start",
    "span_end",
    *HOME_COUNT_COLUMNS,
    "completeness",
    "share_imputed",
    "share_missing",
)


def home_quality_metrics(processed: pd.DataFrame, coded: Mapping[str, Coded] | None = None) -> pd.DataFrame:
    """Per-home quality figures of processed readings (one bucket of homes, or all of them).

    Args:
        processed: processed readings: ``home_id``, ``ts``, ``kwh`` [kWh], ``kwh_raw`` [kWh],
            ``interval_min``, ``quality_flag``, ``anomaly``, ``imputation_strategy``.
        coded: text columns of ``processed`` as codes (:attr:`data_prep.processed_zone.BucketResult.coded`),
            read instead of the strings.

    Returns:
        One row per home, sorted by ``home_id``: ``interval_min`` [min]; ``span_start`` / ``span_end``, the
        start of the first and of the last slot [UTC]; ``n_slots`` (grid slots); ``n_observed`` (flag ``ok``
        with a raw value); ``n_imputed`` (a value filled in: flag ``imputed``, or an ``anomaly`` row whose
        masked value was imputed); ``n_missing`` (no usable ``kwh``); ``n_anomaly`` (rows with any anomaly)
        and one ``n_anomaly_<type>`` column per anomaly type; ``completeness`` = observed / slots;
        ``share_imputed`` and ``share_missing`` [0–1].

    Invariants:
        Counts only: the output of several buckets combines exactly with :func:`combine_home_metrics`.
    """
    home_coded = Coded.column(processed, HOME_ID, coded).ascending()
    home, home_ids = home_coded.codes, home_coded.values
    text = {c: Coded.column(processed, c, coded) for c in ("quality_flag", "anomaly", "imputation_strategy")}
    frame = processed
    if (home < 0).any():  # like groupby, leave out rows without a home
        rows = np.flatnonzero(home >= 0)
        frame, home = processed.iloc[rows], home[rows]
        text = {c: Coded(t.codes[rows], t.values) for c, t in text.items()}
    flag = text["quality_flag"]
    anomaly, anomaly_types = text["anomaly"].codes, text["anomaly"].values
    has_value = frame[KWH].notna().to_numpy()
    filled = _equals(flag, QualityFlag.IMPUTED.value) | (text["imputation_strategy"].codes >= 0)
    indicators = {
        "n_observed": _equals(flag, QualityFlag.OK.value) & frame["kwh_raw"].notna().to_numpy(),
        "n_imputed": has_value & filled,
        "n_missing": ~has_value,
    }
    n_homes = len(home_ids)
    per_type, per_indicator = _count_per_home(
        home, n_homes, anomaly, len(anomaly_types), list(indicators.values())
    )
    sums = {"n_slots": per_type.sum(axis=1), "n_anomaly": per_type[:, 1:].sum(axis=1)}
    sums |= {c: per_indicator[:, k] for k, c in enumerate(indicators)}
    for kind in ANOMALY_TYPES:
        same = np.flatnonzero(anomaly_types == kind) + 1
        sums[anomaly_column(kind)] = per_type[:, same].sum(axis=1)
    spans = _home_spans(frame, home)
    counts = pd.DataFrame({c: np.asarray(sums[c], dtype=np.int64) for c in HOME_COUNT_COLUMNS})
    return _with_home_ratios(pd.concat([pd.DataFrame({HOME_ID: home_ids}), spans, counts], axis=1))


def _count_per_home(
    home: np.ndarray, n_homes: int, anomaly: np.ndarray, n_types: int, indicators: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Rows per home and anomaly type (column 0: none), and rows per home where each of ``indicators`` holds.

    One count over a key of (home, anomaly, indicator bits) instead of one per figure: a count costs a pass over
    the rows, building the key a fraction of that.
    """
    n_bits = 1 << len(indicators)
    key = (home * (n_types + 1) + (anomaly + 1)) * n_bits
    for bit, hit in enumerate(indicators):
        key += hit.astype(np.int64) << bit
    cells = np.bincount(key, minlength=n_homes * (n_types + 1) * n_bits).reshape(n_homes, n_types + 1, n_bits)
    per_bits = cells.sum(axis=1)
    has_bit = (np.arange(n_bits)[:, None] >> np.arange(len(indicators))) & 1  # (bit pattern, indicator)
    return cells.sum(axis=2), per_bits @ has_bit


def _equals(column: Coded, value: str) -> np.ndarray:
    """Per row, whether ``column`` is ``value`` (False where missing)."""
    return np.append(column.values == value, False)[column.codes]


def _home_spans(frame: pd.DataFrame, home: np.ndarray) -> pd.DataFrame:
    """Per home code: the first row's ``interval_min``, and the earliest and the latest ``ts``.

    Equals ``groupby(home).agg(first, min, max)``; for a frame in (home, ts) order already, the sort is one pass.
    """
    ts = frame[TS].array
    if frame[INTERVAL_MIN].hasnans or ts.isna().any():  # first and min/max skip nulls: let pandas do that
        grouped = frame.groupby(home, sort=True)
        spans = grouped.agg(
            interval_min=(INTERVAL_MIN, "first"), span_start=(TS, "min"), span_end=(TS, "max")
        )
        return spans.reset_index(drop=True)
    order = stable_order(home, ts.asi8)
    first = last = first_row = order
    if len(order):
        home_sorted = home[order]
        first = np.flatnonzero(np.append(True, home_sorted[1:] != home_sorted[:-1]))
        last = np.append(first[1:], len(order)) - 1
        first_row = np.minimum.reduceat(order, first)
    return pd.DataFrame(
        {
            INTERVAL_MIN: frame[INTERVAL_MIN].array.take(first_row),
            "span_start": ts.take(order[first]),
            "span_end": ts.take(order[last]),
        }
    )


def combine_home_metrics(parts: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Merge per-bucket outputs of :func:`home_quality_metrics`; a home split across parts is summed."""
    frame = pd.concat(list(parts), ignore_index=True)
    how: dict[str, Any] = {c: "sum" for c in HOME_COUNT_COLUMNS}
    how |= {INTERVAL_MIN: "first", "span_start": "min", "span_end": "max"}
    merged = frame.groupby(HOME_ID, sort=True).agg(how).reset_index()
    return _with_home_ratios(merged)


def _with_home_ratios(frame: pd.DataFrame) -> pd.DataFrame:
    slots = frame["n_slots"].where(frame["n_slots"] > 0)
    frame = frame.assign(
        completeness=frame["n_observed"] / slots,
        share_imputed=frame["n_imputed"] / slots,
        share_missing=frame["n_missing"] / slots,
    )
    return frame.loc[:, list(HOME_METRIC_COLUMNS)]


def quarantine_counts(quarantine: pd.DataFrame) -> pd.DataFrame:
    """Quarantined rows counted per ``source``, ``source_file`` and ``reason`` (column ``n_rows``).

    This is the additive partial behind :func:`file_quality_metrics` and :func:`quarantine_summary`.
    """
    keys = ["source", "source_file", "reason"]
    return quarantine.groupby(keys, sort=True, dropna=False).size().rename("n_rows").reset_index()


def combine_quarantine_counts(parts: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Merge several outputs of :func:`quarantine_counts`."""
    frame = pd.concat(list(parts), ignore_index=True)
    keys = ["source", "source_file", "reason"]
    return frame.groupby(keys, sort=True, dropna=False)["n_rows"].sum().reset_index()


def quarantine_summary(counts: pd.DataFrame) -> pd.DataFrame:
    """Quarantined rows per ``source`` and ``reason``, most frequent first, with their ``share`` of all [0–1].

    Args:
        counts: the output of :func:`quarantine_counts` (or its combination over batches).
    """
    summary = counts.groupby(["source", "reason"], sort=True)["n_rows"].sum().reset_index()
    total = summary["n_rows"].sum()
    summary["share"] = summary["n_rows"] / total if total else np.nan
    return summary.sort_values(
        ["n_rows", "source", "reason"], ascending=[False, True, True], ignore_index=True
    )


def file_quality_metrics(
    manifest: pd.DataFrame, quarantine: pd.DataFrame, *, active_only: bool = True
) -> pd.DataFrame:
    """Per-file quality figures from the manifest and the quarantine rows.

    See :func:`file_quality_metrics_from_counts` for the columns; this wrapper counts the quarantine first.
    """
    return file_quality_metrics_from_counts(manifest, quarantine_counts(quarantine), active_only=active_only)


def file_quality_metrics_from_counts(
    manifest: pd.DataFrame, counts: pd.DataFrame, *, active_only: bool = True
) -> pd.DataFrame:
    """Per-file quality figures from the manifest and quarantine counts.

    Args:
        manifest: one row per raw file: ``source``, ``source_file``, ``rows_in``, ``rows_processed``,
            ``rows_quarantined``, ``status``.
        counts: the output of :func:`quarantine_counts`.
        active_only: keep only manifest rows with status ``active`` (superseded versions are history).

    Returns:
        One row per file: the manifest counts; ``n_quarantine_<reason>`` per reason and ``n_quarantine_rows``
        (rows found in the quarantine table); ``validity`` = processed / in and ``consistency`` = 1 −
        (duplicate + conflicting duplicate + off-grid) / in [0–1, NaN for an empty file]; ``rows_balance_ok``:
        ``rows_in == rows_processed + rows_quarantined + rows_purged`` (``rows_purged``: rows of deleted homes a
        purge removed, 0 when the manifest has no such column); ``quarantine_rows_match``: the manifest's
        ``rows_quarantined`` equals the rows in the quarantine table; ``in_manifest``: false for a file that
        only the quarantine knows (its manifest counts are 0 and it never balances).

    Invariants:
        Quarantine rows are matched to files by ``(source, source_file)`` only; when a superseded and an
        active version share a path, their quarantine rows are counted together.
    """
    man = manifest.loc[manifest["status"].eq(ACTIVE)] if active_only else manifest
    man = man.assign(rows_purged=man.get("rows_purged", 0))
    man_cols = [
        "source",
        "source_file",
        "rows_in",
        "rows_processed",
        "rows_quarantined",
        "rows_purged",
        "status",
    ]
    wide = counts.pivot_table(
        index=["source", "source_file"], columns="reason", values="n_rows", aggfunc="sum", fill_value=0
    )
    extra = sorted(set(wide.columns) - set(QUARANTINE_REASONS))
    wide = wide.reindex(columns=[*QUARANTINE_REASONS, *extra], fill_value=0)
    wide.columns = [quarantine_column(str(r)) for r in wide.columns]
    wide = wide.reset_index().astype({"source": object, "source_file": object})
    man = man.astype({"source": object, "source_file": object})
    files = man.loc[:, man_cols].merge(wide, on=["source", "source_file"], how="outer", indicator=True)
    files["in_manifest"] = files.pop("_merge").ne("right_only")
    reason_cols = list(wide.columns[2:])
    count_cols = ["rows_in", "rows_processed", "rows_quarantined", "rows_purged", *reason_cols]
    files[count_cols] = files[count_cols].apply(pd.to_numeric).fillna(0).astype(np.int64)
    files["n_quarantine_rows"] = files[reason_cols].sum(axis=1)
    rows_in = files["rows_in"].where(files["rows_in"] > 0)
    inconsistent = files[[quarantine_column(r) for r in CONSISTENCY_REASONS]].sum(axis=1)
    files["validity"] = files["rows_processed"] / rows_in
    files["consistency"] = 1.0 - inconsistent / rows_in
    balanced = files["rows_in"].eq(files["rows_processed"] + files["rows_quarantined"] + files["rows_purged"])
    files["rows_balance_ok"] = balanced & files["in_manifest"]
    files["quarantine_rows_match"] = files["rows_quarantined"].eq(files["n_quarantine_rows"])
    return files.sort_values(["source", "source_file"], ignore_index=True)


def bill_agreement(
    bill_check: pd.DataFrame, *, tolerance: float = 0.05, min_coverage: float = 0.95
) -> pd.DataFrame:
    """Bills against the readings of their period.

    Args:
        bill_check: ``home_id``, ``period_start``, ``period_end``, ``bill_kwh`` [kWh], ``readings_kwh`` [kWh],
            ``coverage`` (share of the period covered by readings) [0–1].
        tolerance: largest relative difference that still counts as agreement [0–1].
        min_coverage: a bill is checked only when readings cover at least this share of its period [0–1];
            below it the sum of readings is short for a reason that is not a disagreement.

    Returns:
        The input plus ``rel_diff`` = (readings − bill) / bill [-], ``checked`` and ``agrees`` (checked and
        ``|rel_diff| <= tolerance``).
    """
    bill = bill_check["bill_kwh"].where(bill_check["bill_kwh"] != 0)
    rel_diff = (bill_check["readings_kwh"] - bill) / bill
    checked = bill_check["coverage"].ge(min_coverage) & rel_diff.notna()
    return bill_check.assign(
        rel_diff=rel_diff, checked=checked, agrees=checked & rel_diff.abs().le(tolerance)
    )


def run_quality_metrics(
    home_metrics: pd.DataFrame,
    file_metrics: pd.DataFrame,
    bill_check: pd.DataFrame | None = None,
    *,
    bill_tolerance: float = 0.05,
    min_bill_coverage: float = 0.95,
) -> dict[str, Any]:
    """The run-level figures, as a flat dict of JSON-ready scalars (NaN becomes ``None``).

    Ratios are weighted by their denominators: ``completeness`` is all observed slots over all slots, not a
    mean of per-home ratios (``completeness_home_median`` and ``completeness_home_min`` give the spread over
    homes). Flat keys, so the dict can go to an experiment tracker as it is:

    * homes: ``n_homes``, ``n_slots``, ``n_observed``, ``n_imputed``, ``n_missing``, ``completeness``,
      ``share_imputed``, ``share_missing``, ``n_anomalies``, ``anomaly_<type>``;
    * files: ``n_files``, ``rows_in``, ``rows_processed``, ``rows_quarantined``, ``validity``,
      ``consistency``, ``n_files_unbalanced``, ``rows_balance_ok``, ``n_files_quarantine_mismatch``,
      ``quarantine_<reason>``;
    * bills: ``n_bills``, ``n_bills_checked``, ``n_bills_agreeing``, ``bill_agreement_share``,
      ``bill_median_abs_rel_diff``, ``bill_tolerance``, ``min_bill_coverage``.

    Args:
        home_metrics: the output of :func:`home_quality_metrics` over all homes.
        file_metrics: the output of :func:`file_quality_metrics`.
        bill_check: see :func:`bill_agreement`; ``None`` when there are no bills.
        bill_tolerance: see :func:`bill_agreement` [0–1].
        min_bill_coverage: see :func:`bill_agreement` [0–1].
    """
    out: dict[str, Any] = _home_run_figures(home_metrics)
    out |= _file_run_figures(file_metrics)
    bills = bill_agreement(
        bill_check if bill_check is not None else _empty_bill_check(),
        tolerance=bill_tolerance,
        min_coverage=min_bill_coverage,
    )
    checked = bills.loc[bills["checked"]]
    out |= {
        "n_bills": len(bills),
        "n_bills_checked": len(checked),
        "n_bills_agreeing": int(bills["agrees"].sum()),
        "bill_agreement_share": _ratio(bills["agrees"].sum(), len(checked)),
        "bill_median_abs_rel_diff": checked["rel_diff"].abs().median(),
        "bill_tolerance": bill_tolerance,
        "min_bill_coverage": min_bill_coverage,
    }
    return {k: _json_scalar(v) for k, v in out.items()}


def _home_run_figures(home_metrics: pd.DataFrame) -> dict[str, Any]:
    sums = {c: int(home_metrics[c].sum()) for c in HOME_COUNT_COLUMNS}
    return {
        "n_homes": len(home_metrics),
        **{c: sums[c] for c in ("n_slots", "n_observed", "n_imputed", "n_missing")},
        "completeness": _ratio(sums["n_observed"], sums["n_slots"]),
        "completeness_home_median": home_metrics["completeness"].median(),
        "completeness_home_min": home_metrics["completeness"].min(),
        "share_imputed": _ratio(sums["n_imputed"], sums["n_slots"]),
        "share_missing": _ratio(sums["n_missing"], sums["n_slots"]),
        "n_anomalies": sums["n_anomaly"],
        **{f"anomaly_{k}": sums[anomaly_column(k)] for k in ANOMALY_TYPES},
    }


def _file_run_figures(file_metrics: pd.DataFrame) -> dict[str, Any]:
    rows_in = int(file_metrics["rows_in"].sum())
    inconsistent = sum(int(file_metrics[quarantine_column(r)].sum()) for r in CONSISTENCY_REASONS)
    reasons = [c for c in file_metrics.columns if c.startswith("n_quarantine_") and c != "n_quarantine_rows"]
    return {
        "n_files": len(file_metrics),
        "rows_in": rows_in,
        "rows_processed": int(file_metrics["rows_processed"].sum()),
        "rows_quarantined": int(file_metrics["rows_quarantined"].sum()),
        "validity": _ratio(file_metrics["rows_processed"].sum(), rows_in),
        "consistency": 1.0 - _ratio(inconsistent, rows_in) if rows_in else math.nan,
        "n_files_unbalanced": int((~file_metrics["rows_balance_ok"].astype(bool)).sum()),
        "rows_balance_ok": bool(file_metrics["rows_balance_ok"].all()),
        "n_files_quarantine_mismatch": int((~file_metrics["quarantine_rows_match"].astype(bool)).sum()),
        **{c.replace("n_quarantine_", "quarantine_"): int(file_metrics[c].sum()) for c in reasons},
    }


def _empty_bill_check() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=float) for c in ("bill_kwh", "readings_kwh", "coverage")})


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator else math.nan


def _json_scalar(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
