"""Computing forecasts for homes whose forecast is not stored: one model call per issue time.

Without an issue time in the request, each home is forecast at the model's scheduled time on the local date of its
own latest reading (the model's default, applied home by home): homes that share a time zone and that date are
forecast in one model call. Homes without any reading get the cold-start forecast issued now, valid until the end
of the hour.

Invariants:
    A home's forecast does not depend on the other homes of the request: the same home, inputs and issue time give
    the same numbers alone or in a batch of a hundred.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from contracts.schemas import HOME_ID, KWH, TS
from serving.families.forecast_cache import StoredForecast, stored_forecasts
from serving.history import ModelHistory, last_reading_before


def issue_groups(
    history: ModelHistory, issue_time: datetime | None, now: datetime | None = None
) -> list[tuple[str, list[str], float | None]]:
    """The model calls a request needs: ``(issue_time parameter, homes, expires_at)`` each.

    Args:
        history: the model input of the homes.
        issue_time: the request's issue time; ``None``: each home's default.
        now: the current time (tests pass their own) [UTC].
    """
    homes = list(dict.fromkeys(history.frame[HOME_ID].astype(str)))
    if issue_time is not None:
        return [(issue_time.isoformat(), homes, None)]
    known = history.hourly[history.hourly[KWH].notna()]
    last = known.groupby(HOME_ID)[TS].max()
    zones = history.frame.drop_duplicates(HOME_ID).set_index(HOME_ID)["timezone"]
    groups: dict[tuple[str, Any], list[str]] = {}
    for home in homes:
        if home not in last.index:
            continue
        zone = str(zones[home]) if isinstance(zones.get(home), str) else "UTC"
        day = pd.Timestamp(last[home]).tz_convert(zone).date()
        groups.setdefault((zone, day), []).append(home)
    calls: list[tuple[str, list[str], float | None]] = [("", members, None) for members in groups.values()]
    cold = [h for h in homes if h not in last.index]
    if cold:
        hour = (now or datetime.now(UTC)).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        calls.append((hour.isoformat(), cold, (hour + timedelta(hours=1)).timestamp()))
    return calls


def compute_forecasts(
    model: Any, history: ModelHistory, issue_time: datetime | None, resolution: str
) -> dict[str, StoredForecast]:
    """Forecast every home of ``history`` at ``resolution``.

    Raises:
        ValueError: the model's own checks failed (e.g. an issue time outside the data): the caller's to fix.
    """
    out: dict[str, StoredForecast] = {}
    for parameter, homes, expires_at in issue_groups(history, issue_time):
        frame = _of_homes(history.frame, homes)
        output = model.predict(frame, params={"issue_time": parameter, "resolution": resolution})
        issue_utc = {
            str(h): pd.Timestamp(t, tz="UTC")
            for h, t in output.groupby(HOME_ID)["issue_time"].first().items()
        }
        last = last_reading_before(_of_homes(history.hourly, homes), issue_utc)
        out.update(stored_forecasts(output, last, resolution, expires_at))
    return out


def _of_homes(frame: pd.DataFrame, homes: Sequence[str]) -> pd.DataFrame:
    return frame[frame[HOME_ID].isin(homes)].reset_index(drop=True)
