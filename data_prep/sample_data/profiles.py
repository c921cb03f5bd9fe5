"""Home profiles (``profiles/homes.jsonl`` and a few ``profiles/docs/<home_id>.json``) and their faults.

Some documents carry an extra field no schema knows yet (``smart_thermostat``, ``tariff``): that is schema
evolution, not a fault. Faults are a missing optional field or a mistyped one, each logged.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from contracts.home_profile import HomeProfile
from data_prep.sample_data.faults import FaultRecord

PROFILE_FIELDS = tuple(HomeProfile.model_fields)
OPTIONAL_FIELDS = ("floor_area_m2", "home_type", "build_year", "occupants", "heating_types")
MISTYPED_VALUES = {"floor_area_m2": "large", "build_year": "19x0", "occupants": "three"}
PROFILE_FAULT_RATE = 0.1  # per home and kind at fault_rate=1
JSONL_FILE = "profiles/homes.jsonl"


def profile_document(home: pd.Series) -> dict[str, Any]:
    """The profile of one home as plain JSON types, fields in :data:`PROFILE_FIELDS` order, extras last."""
    doc: dict[str, Any] = {}
    for name in PROFILE_FIELDS:
        value = home[name]
        if isinstance(value, np.generic):
            value = value.item()
        doc[name] = list(value) if name == "heating_types" else value
    doc.update(home["extra_fields"])
    return doc


def render_profiles(
    homes: pd.DataFrame, fault_rate: float, rng: np.random.Generator, n_single_docs: int = 5
) -> tuple[dict[str, bytes], list[FaultRecord]]:
    """Profile files (relative path → bytes) with injected document faults, and the faults' log.

    Args:
        homes: all homes.
        fault_rate: scales the chance of each document fault; 0 gives clean documents.
        rng: the profiles' random stream.
        n_single_docs: homes written as one-file documents instead of JSON lines.
    """
    n = len(homes)
    single = (
        set(rng.choice(n, size=min(n_single_docs, max(1, n // 4)), replace=False).tolist()) if n else set()
    )
    draw = rng.random(n)
    field_pick = rng.integers(0, 1 << 30, n)
    p = min(PROFILE_FAULT_RATE * fault_rate, 0.25)  # at least half the documents stay clean
    lines: list[str] = []
    files: dict[str, bytes] = {}
    records: list[FaultRecord] = []
    for i, (_, home) in enumerate(homes.iterrows()):  # one document per home: a loop over ~1,000 homes
        doc = profile_document(home)
        file = f"profiles/docs/{doc['home_id']}.json" if i in single else JSONL_FILE
        if draw[i] < p:
            name = OPTIONAL_FIELDS[field_pick[i] % len(OPTIONAL_FIELDS)]
            del doc[name]
            records.append(
                FaultRecord("profile_missing_field", "profiles", file, doc["home_id"], "", "", 1, name)
            )
        elif draw[i] < 2 * p:
            name = sorted(MISTYPED_VALUES)[field_pick[i] % len(MISTYPED_VALUES)]
            doc[name] = MISTYPED_VALUES[name]
            detail = f"{name}={MISTYPED_VALUES[name]!r}"
            records.append(
                FaultRecord("profile_mistyped_field", "profiles", file, doc["home_id"], "", "", 1, detail)
            )
        if i in single:
            files[file] = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()
        else:
            lines.append(json.dumps(doc, ensure_ascii=False))
    files[JSONL_FILE] = ("\n".join(lines) + "\n").encode() if lines else b""
    return files, records
