"""What the pipeline flagged, as detection events that :mod:`fault_evaluation` matches against a fault log.

A detection event is a run of consecutive flagged rows of one home with one detection code. The codes share
one namespace: anomaly types (``spike``, ``stuck``, …), quarantine reasons (``duplicate``, ``bad_number``, …)
and the gap flags ``imputed`` / ``missing``. Every function here works on one bucket of homes at a time;
concatenate the events of all buckets and sum the slot counts by ``fault_id``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable

import numpy as np
import pandas as pd

from contracts.schemas import HOME_ID, INTERVAL_MIN, TS, QualityFlag

EVENT_COLUMNS: tuple[str, ...] = (HOME_ID, "code", "ts_start", "ts_end", "n_rows", "source", "source_file")
GAP_CODES: tuple[str, ...] = (QualityFlag.IMPUTED.value, QualityFlag.MISSING.value)
FAULT_COLUMNS: tuple[str, ...] = (
    "fault_id",
    "fault_type",
    "source",
    "file",
    HOME_ID,
    "ts_start",
    "ts_end",
    "n_rows",
)


def normalise_fault_log(faults: pd.DataFrame) -> pd.DataFrame:
    """The fault log (``faults.csv`` as read) with typed columns.

    Returns:
        ``fault_id`` str, ``fault_type`` str, ``source`` str, ``file`` (posix path or None), ``home_id`` (str
        or None), ``ts_start`` / ``ts_end`` [UTC, NaT when absent, both inclusive] and ``n_rows`` (float, NaN
        when absent or below 1).
    """
    out = pd.DataFrame(index=faults.index)
    out["fault_id"] = faults["fault_id"].astype(str)
    out["fault_type"] = faults["fault_type"].astype(str)
    out["source"] = faults.get("source", pd.Series("readings", index=faults.index)).astype(str)
    out["file"] = _blank_to_none(faults.get("file", pd.Series(None, index=faults.index, dtype=object)))
    out["file"] = out["file"].map(_normalise_path, na_action="ignore")
    out[HOME_ID] = _blank_to_none(faults[HOME_ID])
    for col in ("ts_start", "ts_end"):
        out[col] = pd.to_datetime(faults[col], utc=True, errors="coerce", format="ISO8601")
    out["ts_end"] = out["ts_end"].fillna(out["ts_start"])
    n_rows = pd.to_numeric(faults.get("n_rows", pd.Series(np.nan, index=faults.index)), errors="coerce")
    out["n_rows"] = n_rows.where(n_rows >= 1).astype(float)
    return out.reset_index(drop=True)


def home_intervals(processed: pd.DataFrame) -> pd.Series:
    """Each home's native interval [min], indexed by ``home_id``."""
    return processed.groupby(HOME_ID, sort=True)[INTERVAL_MIN].first().astype(np.int64)


def processed_detection_events(processed: pd.DataFrame) -> pd.DataFrame:
    """Detection events in processed readings: anomaly runs (code = anomaly type) and gap runs (``imputed`` /
    ``missing`` quality flags).

    Invariants:
        Rows are consecutive when their ``ts`` differ by at most the home's interval; a run never spans two
        homes or two codes.
    """
    base = processed.loc[:, [HOME_ID, TS, INTERVAL_MIN, "source_file"]]
    flagged = processed["anomaly"].notna().to_numpy()
    anomalies = base.loc[flagged].assign(code=processed.loc[flagged, "anomaly"].to_numpy())
    gap_rows = processed["quality_flag"].isin(GAP_CODES).to_numpy()
    gaps = base.loc[gap_rows].assign(code=processed.loc[gap_rows, "quality_flag"].to_numpy())
    rows = pd.concat([anomalies, gaps], ignore_index=True).assign(source="readings")
    return rows_to_events(rows)


def quarantine_detection_events(
    quarantine: pd.DataFrame,
    intervals_min: pd.Series,
    *,
    sources: Iterable[str] | None = None,
    default_interval_min: int = 60,
) -> pd.DataFrame:
    """Detection events in the quarantine (code = reason).

    Args:
        quarantine: quarantine rows with ``source``, ``source_file``, ``reason``, ``home_id``, ``ts``.
        intervals_min: each home's interval [min] (see :func:`home_intervals`), to chain consecutive rows.
        sources: keep only rows of these sources (those the fault log covers); ``None`` keeps all.
        default_interval_min: the interval of a home not in ``intervals_min`` [min].

    Returns:
        Events; a row without home or timestamp (e.g. a malformed line) is an event of its own with that key
        left empty, to be matched by file.
    """
    q = quarantine if sources is None else quarantine.loc[quarantine["source"].isin(list(sources))]
    # Older quarantine rows may lack the key columns: they are then matched by file only.
    no_home = pd.Series(None, index=q.index, dtype=object)
    no_ts = pd.Series(pd.NaT, index=q.index, dtype="datetime64[ns, UTC]")
    rows = pd.DataFrame(
        {
            HOME_ID: _blank_to_none(q[HOME_ID] if HOME_ID in q.columns else no_home),
            TS: pd.to_datetime(q[TS] if TS in q.columns else no_ts, utc=True),
            "code": q["reason"].astype(str),
            "source": q["source"].astype(str),
            "source_file": q["source_file"],
        }
    ).reset_index(drop=True)
    mapped = rows[HOME_ID].map(intervals_min)
    rows[INTERVAL_MIN] = mapped.fillna(default_interval_min).astype(np.int64)
    keyed = rows[HOME_ID].notna() & rows[TS].notna()
    loose = rows.loc[~keyed].rename(columns={TS: "ts_start"})
    loose = loose.assign(ts_end=loose["ts_start"], n_rows=1).loc[:, list(EVENT_COLUMNS)]
    return pd.concat([rows_to_events(rows.loc[keyed]), loose], ignore_index=True)


def rows_to_events(rows: pd.DataFrame) -> pd.DataFrame:
    """Collapse flagged rows into events: one per home, code and stretch of rows at most one interval apart.

    Args:
        rows: ``home_id``, ``ts``, ``interval_min`` [min], ``code``, ``source``, ``source_file``.
    """
    if rows.empty:
        return _empty_events()
    rows = rows.sort_values([HOME_ID, "code", TS], kind="stable")
    step = pd.to_timedelta(rows[INTERVAL_MIN].to_numpy(), unit="min")
    ts = rows[TS]
    new_run = (
        rows[HOME_ID].ne(rows[HOME_ID].shift())
        | rows["code"].ne(rows["code"].shift())
        | ((ts - ts.shift()) > step).to_numpy()
    )
    run = new_run.cumsum().to_numpy()
    events = rows.groupby(run, sort=True).agg(
        home_id=(HOME_ID, "first"),
        code=("code", "first"),
        ts_start=(TS, "min"),
        ts_end=(TS, "max"),
        n_rows=(TS, "size"),
        source=("source", "first"),
        source_file=("source_file", "first"),
    )
    return events.reset_index(drop=True).loc[:, list(EVENT_COLUMNS)]


def fault_slot_counts(
    faults: pd.DataFrame, processed: pd.DataFrame, fault_types: Iterable[str]
) -> pd.DataFrame:
    """Grid slots inside each fault's window, for the fault types judged slot by slot (gaps, late arrivals).

    Args:
        faults: the output of :func:`normalise_fault_log`.
        processed: one bucket of processed readings; faults of homes outside it count zero.
        fault_types: the fault types to count.

    Returns:
        ``fault_id``, ``n_gap_flagged`` (slots flagged ``imputed`` or ``missing``) and ``n_landed`` (slots
        holding a raw value). Partials of several buckets add up by ``fault_id``.

    Invariants:
        The window is exactly ``[ts_start, ts_end]``; no tolerance, since slots are counted, not overlapped.
    """
    wanted = faults.loc[
        faults["fault_type"].isin(list(fault_types)) & faults[HOME_ID].notna() & faults["ts_start"].notna()
    ]
    rows = processed.loc[
        processed[HOME_ID].isin(wanted[HOME_ID].unique()), [HOME_ID, TS, "quality_flag", "kwh_raw"]
    ]
    homes = pd.Index(rows[HOME_ID].unique()).sort_values()
    key = _home_time_key(homes.get_indexer(rows[HOME_ID]), rows[TS])
    order = np.argsort(key, kind="stable")
    grid, key = rows.iloc[order], key[order]
    flagged = np.concatenate([[0], np.cumsum(grid["quality_flag"].isin(GAP_CODES).to_numpy())])
    landed = np.concatenate([[0], np.cumsum(grid["kwh_raw"].notna().to_numpy())])
    home_code = homes.get_indexer(wanted[HOME_ID])
    lo = np.searchsorted(key, _home_time_key(home_code, wanted["ts_start"]), side="left")
    hi = np.searchsorted(key, _home_time_key(home_code, wanted["ts_end"]), side="right")
    present = home_code >= 0
    return pd.DataFrame(
        {
            "fault_id": wanted["fault_id"].to_numpy(),
            "n_gap_flagged": np.where(present, flagged[hi] - flagged[lo], 0),
            "n_landed": np.where(present, landed[hi] - landed[lo], 0),
        }
    )


def resolve_files(source_files: Iterable[str], fault_files: Iterable[str]) -> dict[str, str]:
    """Map each pipeline ``source_file`` to the fault-log ``file`` it ends with (the longest such path).

    The fault log names files relative to the input root; the pipeline records them under some prefix (an
    input folder, a URI), so ``/in/readings/a.csv`` matches ``readings/a.csv`` but not ``ings/a.csv``.
    """
    by_name: dict[str, list[str]] = {}
    for f in set(fault_files):
        by_name.setdefault(posixpath.basename(f), []).append(f)
    resolved: dict[str, str] = {}
    for sf in set(source_files):
        path = _normalise_path(sf)
        hits = [f for f in by_name.get(posixpath.basename(path), []) if path == f or path.endswith("/" + f)]
        if hits:
            resolved[sf] = max(hits, key=len)
    return resolved


def _home_time_key(home_code: np.ndarray, ts: pd.Series) -> np.ndarray:
    # One sortable int64 per (home, ts): seconds since the epoch fit in 10**11 for the next 1,000 years.
    seconds = pd.DatetimeIndex(ts).as_unit("s").asi8
    return home_code.astype(np.int64) * 10**11 + seconds


def _normalise_path(path: str) -> str:
    text = str(path).replace("\\", "/")
    return text[2:] if text.startswith("./") else text


def _blank_to_none(values: pd.Series) -> pd.Series:
    text = values.astype(object).where(values.notna(), None)
    return text.map(lambda v: None if v is None or str(v).strip() == "" else str(v))


def _empty_events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            HOME_ID: pd.Series(dtype=object),
            "code": pd.Series(dtype=object),
            "ts_start": pd.Series(dtype="datetime64[ns, UTC]"),
            "ts_end": pd.Series(dtype="datetime64[ns, UTC]"),
            "n_rows": pd.Series(dtype=np.int64),
            "source": pd.Series(dtype=object),
            "source_file": pd.Series(dtype=object),
        }
    )
