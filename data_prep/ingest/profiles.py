"""Parse home-profile documents (one JSON per file, a JSON list, or JSON lines) into a flat table.

A document that is not JSON, fails :class:`~contracts.home_profile.HomeProfile`, or has a control character in its
``home_id`` or ``client_id`` is quarantined with the field and the reason. Unknown fields are kept in ``extra_json``; the whole document is kept in ``document``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from contracts.api_zone import API_PROFILES
from contracts.home_profile import HomeProfile
from contracts.schemas import HOME_ID, Reason
from data_prep.ingest.columns import CONTROL_CHARACTERS
from data_prep.ingest.staging import QuarantineLog


def read_documents(data: bytes, path: str) -> list[tuple[int, str]]:
    """The documents of a file as (line, text); a ``.json`` file is one document or a list of them."""
    text = data.decode("utf-8-sig")
    if path.lower().endswith((".jsonl", ".ndjson")):
        return [(i + 1, line) for i, line in enumerate(text.splitlines()) if line.strip()]
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        return [(1, text)]
    if isinstance(parsed, list):
        return [(i + 1, json.dumps(doc)) for i, doc in enumerate(parsed)]
    return [(1, text)]


def parse_profiles(
    documents: list[tuple[int, str]], source_file: str, ingest_seq: int, log: QuarantineLog
) -> pd.DataFrame:
    """Validate documents; valid ones become rows, the others go to ``log``."""
    rows: list[dict[str, Any]] = []
    for line, text in documents:
        try:
            raw = json.loads(text)
            if not isinstance(raw, dict):
                raise ValueError("a profile must be a JSON object")
            profile = HomeProfile.model_validate(raw)
            _check_keys(profile)
        except json.JSONDecodeError as err:
            _reject(log, line, text, Reason.MALFORMED_ROW, f"not JSON: {err.msg} at column {err.colno}")
            continue
        except ValidationError as err:
            _reject(
                log, line, text, Reason.INVALID_DOCUMENT, explain_validation_error(err), raw.get("home_id")
            )
            continue
        except ValueError as err:
            home_id = raw.get("home_id") if isinstance(raw, dict) else None
            _reject(log, line, text, Reason.INVALID_DOCUMENT, str(err), home_id)
            continue
        rows.append({**flatten(profile), "document": text, "source_file": source_file, "line": line})
    frame = pd.DataFrame(rows)
    frame["ingest_seq"] = np.int64(ingest_seq)
    return frame


def flatten(profile: HomeProfile) -> dict[str, Any]:
    """The profile as flat columns; nested EV and PV blocks become prefixed columns."""
    data = profile.model_dump()
    ev, pv = data.pop("ev") or {}, data.pop("pv") or {}
    extra = profile.model_extra or {}
    for key in extra:
        data.pop(key, None)
    return {
        **data,
        "ev_battery_kwh": ev.get("battery_kwh"),
        "ev_charger_kw": ev.get("charger_kw"),
        "pv_kwp": pv.get("kwp"),
        "pv_tilt_deg": pv.get("tilt_deg"),
        "pv_azimuth_deg": pv.get("azimuth_deg"),
        "extra_json": json.dumps(extra, sort_keys=True) if extra else None,
    }


def latest_profiles(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """One row per home: its API document when it has one, else its latest-ingested document from files.

    A document the service's API stored (``source_file`` under ``api_profiles/``) is the home's current profile,
    as the service itself reads it, so it wins over any file, even one delivered after it. Among files, a profile
    update replaces the earlier one.
    """
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=["home_id", "client_id"])
    # a field no document of a file has is all-NA there: leave it out of the concat (it would only decide the
    # dtype) and restore the column afterwards
    columns = list(dict.fromkeys(c for f in frames for c in f.columns))
    all_rows = pd.concat([f.dropna(axis=1, how="all") for f in frames], ignore_index=True).reindex(
        columns=columns
    )
    from_api = all_rows["source_file"].astype(str).str.startswith(f"{API_PROFILES}/")
    all_rows = all_rows.assign(_from_api=from_api.to_numpy())
    all_rows = all_rows.sort_values(["home_id", "_from_api", "ingest_seq", "line"], kind="stable")
    latest = all_rows.drop_duplicates("home_id", keep="last").drop(columns="_from_api")
    return latest.reset_index(drop=True)


def _check_keys(profile: HomeProfile) -> None:
    """Reject a profile whose ``home_id`` or ``client_id`` holds a control character.

    Both are keys: pandas hashes text only up to a NUL, so ``"h1\\x00x"`` would replace the profile of ``"h1"``.

    Raises:
        ValueError: naming the field.
    """
    for field in (HOME_ID, "client_id"):
        if re.search(CONTROL_CHARACTERS, getattr(profile, field)):
            raise ValueError(f"{field} holds control characters")


def explain_validation_error(err: ValidationError) -> str:
    """A one-line account of what failed validation: up to five problems, each with its field and the value given.

    Example: ``"floor_area_m2: Input should be a valid number (got 'big')"``.
    """
    parts = []
    for problem in err.errors()[:5]:
        where = ".".join(str(p) for p in problem["loc"]) or "document"
        parts.append(f"{where}: {problem['msg']} (got {problem.get('input')!r})")
    return "; ".join(parts)


def _reject(
    log: QuarantineLog, line: int, text: str, reason: Reason, detail: str, home_id: Any = None
) -> None:
    log.add(
        np.array([reason.value], dtype=object),
        np.array([line]),
        [text],
        [detail],
        [home_id if isinstance(home_id, str) else None],
    )
