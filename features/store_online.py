"""Writing to the online store: materialisation runs and pushed meter readings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

STATIC = "static"  # the refresh tag of views whose rows all carry 1970-01-01: always loaded whole


def materialize_views(
    store: Any, views: list[Any], end: datetime, start: datetime, incremental: bool
) -> pd.DataFrame:
    """Materialise ``views`` into the online store up to ``end``.

    A full run loads ``[start, end]`` (static views ``[1970-01-01, end]``); an incremental run continues each view
    from its last run's end, loading a view that never ran (and every static view) whole.

    Returns:
        One row per view: ``view``, ``start``, ``end``, ``mode``.
    """
    from features.store import EPOCH

    plan: list[tuple[str, datetime, str]] = []
    for view in views:
        if view.tags.get("refresh") == STATIC:
            plan.append((view.name, EPOCH, "full"))
        elif incremental and view.most_recent_end_time is not None:
            plan.append((view.name, view.most_recent_end_time, "incremental"))
        else:
            plan.append((view.name, EPOCH if incremental else start, "full"))
    for view_start in sorted({p[1] for p in plan if p[2] == "full"}):
        names = [name for name, s, mode in plan if mode == "full" and s == view_start]
        store.materialize(start_date=view_start, end_date=end, feature_views=names)
    continuing = [name for name, _, mode in plan if mode == "incremental"]
    if continuing:
        store.materialize_incremental(end_date=end, feature_views=continuing)
    return pd.DataFrame(
        [{"view": name, "start": s, "end": end, "mode": mode} for name, s, mode in plan],
        columns=["view", "start", "end", "mode"],
    )


def live_rows(frame: pd.DataFrame, interval_min: int | None = None) -> pd.DataFrame:
    """The latest reading of each home as a row of the ``consumption_live`` view.

    Args:
        frame: ``home_id``, ``ts`` (interval start [UTC]), ``kwh`` [kWh], optionally ``interval_min`` [min].
        interval_min: the interval of every reading when ``frame`` has no ``interval_min`` column [min].

    Returns:
        One row per home: ``home_id``, ``event_timestamp`` (the end of the reading, when it became known),
        ``kwh_latest`` [kWh], ``kw_latest`` [kW], ``interval_min_latest`` [min], ``reading_start_ts`` [UTC].

    Raises:
        ValueError: a column is missing, the interval is unknown or not positive.
    """
    missing = {"home_id", "ts", "kwh"} - set(frame.columns)
    if missing:
        raise ValueError(f"pushed readings lack {sorted(missing)}: they need home_id, ts and kwh")
    if "interval_min" not in frame and interval_min is None:
        raise ValueError("pushed readings need an interval_min column or the interval_min argument [min]")
    readings = frame.assign(ts=pd.to_datetime(frame["ts"], utc=True))
    if "interval_min" not in readings:
        readings = readings.assign(interval_min=interval_min)
    minutes = readings["interval_min"].to_numpy(np.int64)
    if (minutes <= 0).any():
        raise ValueError("interval_min must be positive [min]")
    latest = readings.loc[readings.groupby("home_id", sort=False)["ts"].idxmax()]
    length = pd.to_timedelta(latest["interval_min"].to_numpy(np.int64), unit="min")
    return pd.DataFrame(
        {
            "home_id": latest["home_id"].astype(str).to_numpy(),
            "event_timestamp": (latest["ts"] + length).to_numpy(),
            "kwh_latest": latest["kwh"].astype(float).to_numpy(),
            "kw_latest": (latest["kwh"].astype(float) * 60.0 / latest["interval_min"]).to_numpy(),
            "interval_min_latest": latest["interval_min"].astype(np.int64).to_numpy(),
            "reading_start_ts": latest["ts"].to_numpy(),
        }
    )
