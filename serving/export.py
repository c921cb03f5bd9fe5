"""Export of a client's stored forecasts, beside the actuals where known, for customer success (Power BI, Excel).

It reads only the lake: the forecasts that batch scoring stored (``eliq score forecast``) under
``curated/forecasts/client=<id>/issue_date=<YYYY-MM-DD>/forecasts-<model_version>.parquet`` and the curated actuals
(``consumption_hourly``, ``consumption_daily``, ``consumption_monthly``). The output is one long table, a row per
home, resolution and period start (:data:`EXPORT_COLUMNS`), in csv, parquet or xlsx. The metadata (client, period,
model versions, when generated, row count, column descriptions with units) is the first sheet, ``about``, of an
xlsx file, and the sidecar ``<out>.meta.json`` of the other formats.

Invariants:
    A row is in the export when its period's local start date is in ``[start, end)``; one row per (home,
    resolution, period_start): the latest issue's forecast, and of one issue the latest generated (see
    :data:`ROWS_INCLUDED`).
    The files appear under their names only when complete (temp file + rename); a crash leaves none.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from contracts.schemas import HOME_ID, KWH, TS
from contracts.storage import Lake, Zone
from serving.export_files import write_export

FORMATS = ("csv", "parquet", "xlsx")
RESOLUTION_ORDER = ("hourly", "daily", "monthly")
KEY = (HOME_ID, "resolution", "period_start")
ISSUE_LOOKBACK_DAYS = 70  # the longest horizon (the end of next month) and a margin [d]
ISSUE_LOOKAHEAD_DAYS = 32  # a monthly forecast starts up to a month before its issue date [d]
EXCEL_MAX_ROWS = 1_048_575  # one sheet's rows after the header
KWH_DECIMALS = 4  # 0.1 Wh: finer than any meter, and a csv half the size
CLIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
ROWS_INCLUDED = (
    "One row per home, resolution and period_start whose local start date is in [from, to). Where several "
    "stored issues forecast the same period, the row comes from the latest issue_time, and among forecasts of "
    "that issue from the latest generated_at (e.g. a newer model version scored again)."
)
COLUMN_DESCRIPTIONS = {
    "client_id": "the client (tenant) the home belongs to",
    "home_id": "the home",
    "resolution": "hourly, daily or monthly",
    "period_start": "start of the period: hourly = the UTC hour start (YYYY-MM-DDTHH:MM:SSZ); daily = the "
    "home's local date; monthly = the local first day of the month (YYYY-MM-DD)",
    "issue_time": "when the forecast was issued; only readings before it were used [UTC, ISO 8601]",
    "lead": "periods from the issue to the period [h for hourly, d for daily, months for monthly; 0 = current month]",
    "kwh_p10": "10 % quantile of the consumption in the period [kWh]",
    "kwh_p50": "median forecast of the consumption in the period [kWh]",
    "kwh_p90": "90 % quantile of the consumption in the period [kWh]",
    "actual_kwh": "metered consumption in the period, empty when not known (yet) [kWh]; daily only for complete "
    "local days, monthly only for complete calendar months",
    "cold_start": "true when the home had too little history and the cold-start fallback forecast it",
    "model_name": "the registered model",
    "model_version": "its registry version",
    "generated_at": "when the forecast was computed [UTC, ISO 8601]",
}
EXPORT_COLUMNS = tuple(COLUMN_DESCRIPTIONS)


@dataclass(frozen=True)
class ExportOutcome:
    """What an export wrote.

    Attributes:
        path: the export file.
        metadata_path: its sidecar ``<out>.meta.json`` (``None`` for xlsx: the metadata is its ``about`` sheet).
        n_rows: rows written.
        n_homes: homes in the export.
        model_versions: the model versions of the rows (``name vN``).
        metadata: the metadata written.
    """

    path: Path
    metadata_path: Path | None
    n_rows: int
    n_homes: int
    model_versions: tuple[str, ...]
    metadata: dict[str, Any]


def default_export_name(client_id: str, start: Any, end: Any, fmt: str) -> str:
    """``forecasts_<client>_<from>_<to>.<ext>`` (``any`` for an open end)."""
    first, last = (_day(v).date().isoformat() if v is not None else "any" for v in (start, end))
    return f"forecasts_{client_id}_{first}_{last}.{fmt}"


def export_forecasts(
    lake: Lake,
    client_id: str,
    homes: Iterable[str] | None = None,
    start: str | date | None = None,
    end: str | date | None = None,
    fmt: str = "csv",
    out: str | Path | None = None,
) -> ExportOutcome:
    """Write the stored forecasts of ``client_id`` with the actuals where known, in ``fmt``.

    Args:
        lake: the lake.
        client_id: the client (tenant).
        homes: home ids of the client; ``None`` = all its homes with stored forecasts.
        start: first local date of the periods, inclusive (``YYYY-MM-DD``); ``None`` = no lower bound.
        end: local date after the last period start, exclusive; ``None`` = no upper bound.
        fmt: ``csv``, ``parquet`` or ``xlsx``.
        out: the file to write; default :func:`default_export_name` in the working directory.

    Raises:
        KeyError: unknown client, or homes that are not the client's.
        FileNotFoundError: nothing stored for the client yet.
        ValueError: a bad format or period, no forecasts in the period, or too many rows for xlsx.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    first, last = _period(start, end)
    zones = _client_zones(lake, client_id)
    chosen = _chosen_homes(client_id, zones, homes)
    stored = stored_forecasts(lake, client_id, chosen, first, last, zones)
    frame = export_frame(with_actuals(lake, stored))
    if fmt == "xlsx" and len(frame) > EXCEL_MAX_ROWS:
        raise ValueError(f"{len(frame):,} rows do not fit one Excel sheet: export csv or parquet instead")
    target = Path(out) if out is not None else Path(default_export_name(client_id, first, last, fmt))
    metadata = export_metadata(frame, client_id, first, last, fmt, target.name)
    metadata_path = write_export(frame, metadata, fmt, target)
    n_homes, versions = metadata["home_count"], tuple(metadata["model_versions"])
    return ExportOutcome(target, metadata_path, len(frame), n_homes, versions, metadata)


def stored_forecasts(
    lake: Lake,
    client_id: str,
    homes: list[str] | None,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    zones: pd.Series,
) -> pd.DataFrame:
    """The client's stored forecasts with a local period start in ``[start, end)``, one row per (home,
    resolution, period_start) (:data:`ROWS_INCLUDED`); ``zones`` maps home ids to time zones (UTC when absent)."""
    import pyarrow.dataset as ds

    folder = lake.path(Zone.CURATED, "forecasts", f"client={client_id}")
    if not lake.exists(folder):
        raise FileNotFoundError(
            f"no stored forecasts for client {client_id!r}: run `eliq score forecast --client {client_id}` first"
        )
    files = [p for p in lake.glob(f"{folder}/issue_date=*/forecasts-*.parquet") if _issue_in(p, start, end)]
    condition = ds.field(HOME_ID).isin(homes) if homes is not None else None
    parts = [lake.read_table(p, filters=condition).to_pandas() for p in files]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if not frame.empty:
        frame["local_day"] = _local_day(frame, zones)
        inside = pd.Series(True, index=frame.index)
        if start is not None:
            inside &= frame["local_day"] >= start
        if end is not None:
            inside &= frame["local_day"] < end
        frame = frame[inside].drop(columns="local_day")
    if frame.empty:
        raise ValueError(f"no stored forecasts of client {client_id!r} for periods in [{start}, {end})")
    frame = frame.sort_values(["issue_time", "generated_at"], kind="stable")
    return frame.drop_duplicates(list(KEY), keep="last").reset_index(drop=True)


def with_actuals(lake: Lake, forecasts: pd.DataFrame) -> pd.DataFrame:
    """``forecasts`` with ``actual_kwh`` [kWh] from the curated zone: NaN where unknown or incomplete."""
    frame = forecasts.assign(actual_kwh=np.nan)
    for resolution, loader in _ACTUALS.items():
        rows = frame["resolution"] == resolution
        if not rows.any():
            continue
        part = frame.loc[rows, [HOME_ID, "period_start"]]
        part = part.assign(period_start=pd.to_datetime(part["period_start"]).astype("datetime64[ns]"))
        first, last = part["period_start"].min(), part["period_start"].max()
        actuals = loader(lake, sorted(part[HOME_ID].unique()), first, last)
        if actuals.empty:
            continue
        actuals = actuals.drop_duplicates([HOME_ID, "period_start"], keep="last")
        joined = part.merge(actuals, on=[HOME_ID, "period_start"], how="left")
        frame.loc[rows, "actual_kwh"] = joined["actual_kwh"].to_numpy()
    return frame


def _hourly_actuals(lake: Lake, homes: list[str], first: pd.Timestamp, last: pd.Timestamp) -> pd.DataFrame:
    import pyarrow.dataset as ds

    folder = lake.path(Zone.CURATED, "consumption_hourly")
    if not lake.exists(folder):
        return pd.DataFrame()
    condition = (
        ds.field(HOME_ID).isin(homes)
        & (ds.field(TS) >= pd.Timestamp(first, tz="UTC"))
        & (ds.field(TS) <= pd.Timestamp(last, tz="UTC"))
    )
    table = lake.read_table(folder, columns=[HOME_ID, TS, KWH], filters=condition).to_pandas()
    stamps = pd.to_datetime(table[TS], utc=True).dt.tz_localize(None).astype("datetime64[ns]")
    return pd.DataFrame({HOME_ID: table[HOME_ID], "period_start": stamps, "actual_kwh": table[KWH]})


def _daily_actuals(lake: Lake, homes: list[str], first: pd.Timestamp, last: pd.Timestamp) -> pd.DataFrame:
    table = _curated_table(lake, "consumption_daily", homes, "date", first, last)
    return table.rename(columns={"date": "period_start", KWH: "actual_kwh"})


def _monthly_actuals(lake: Lake, homes: list[str], first: pd.Timestamp, last: pd.Timestamp) -> pd.DataFrame:
    table = _curated_table(lake, "consumption_monthly", homes, "month", first, last)
    if table.empty:
        return table
    complete = table["days_with_data"] >= table["days_in_month"]  # a partial month's total is not its actual
    actual = table[KWH].where(complete)
    return pd.DataFrame({HOME_ID: table[HOME_ID], "period_start": table["month"], "actual_kwh": actual})


_ACTUALS: dict[str, Callable[[Lake, list[str], pd.Timestamp, pd.Timestamp], pd.DataFrame]] = {
    "hourly": _hourly_actuals,
    "daily": _daily_actuals,
    "monthly": _monthly_actuals,
}


def _curated_table(
    lake: Lake, dataset: str, homes: list[str], column: str, first: pd.Timestamp, last: pd.Timestamp
) -> pd.DataFrame:
    """Rows of ``curated/<dataset>/bucket=NNN.parquet`` for ``homes`` with ``first <= column <= last`` (naive
    local dates)."""
    import pyarrow.dataset as ds

    folder = lake.path(Zone.CURATED, dataset)
    if not lake.exists(folder):
        return pd.DataFrame()
    table = lake.read_table(folder, filters=ds.field(HOME_ID).isin(homes)).to_pandas()
    table[column] = pd.to_datetime(table[column]).astype("datetime64[ns]")
    return table[(table[column] >= first) & (table[column] <= last)]


def export_frame(forecasts: pd.DataFrame) -> pd.DataFrame:
    """The typed export table: :data:`EXPORT_COLUMNS`, sorted by home, resolution and period; ``period_start``
    as ISO text (it holds UTC hours and local dates), ``issue_time`` and ``generated_at`` UTC-aware."""
    frame = forecasts.copy()
    hourly = frame["resolution"] == "hourly"
    starts = pd.to_datetime(frame["period_start"])
    frame["period_start"] = np.where(
        hourly, starts.dt.strftime("%Y-%m-%dT%H:%M:%SZ"), starts.dt.strftime("%Y-%m-%d")
    )
    for column in ("issue_time", "generated_at"):  # microseconds: what every Parquet reader takes
        frame[column] = pd.to_datetime(frame[column], utc=True).astype("datetime64[us, UTC]")
    frame["model_version"] = frame["model_version"].astype(str)
    energy = ["kwh_p10", "kwh_p50", "kwh_p90", "actual_kwh"]
    frame[energy] = frame[energy].astype(float).round(KWH_DECIMALS)
    order = frame["resolution"].map({r: i for i, r in enumerate(RESOLUTION_ORDER)})
    frame = frame.assign(_order=order).sort_values([HOME_ID, "_order", "period_start"], kind="stable")
    return frame[list(EXPORT_COLUMNS)].reset_index(drop=True)


def export_metadata(
    frame: pd.DataFrame,
    client_id: str,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    fmt: str,
    name: str,
) -> dict[str, Any]:
    """The export's metadata: the sidecar JSON, and the ``about`` sheet of xlsx."""
    versions = (frame["model_name"] + " v" + frame["model_version"]).value_counts().sort_index()
    return {
        "client_id": client_id,
        "file": name,
        "format": fmt,
        "period": {
            "from": start.date().isoformat() if start is not None else None,
            "to": end.date().isoformat() if end is not None else None,
            "to_is_exclusive": True,
        },
        "model_versions": [str(v) for v in versions.index],
        "rows_per_model_version": {str(v): int(c) for v, c in versions.items()},
        "generated_at": _span(frame["generated_at"]),
        "issue_times": _span(frame["issue_time"]),
        "exported_at": _iso(pd.Timestamp.now(tz="UTC")),
        "row_count": len(frame),
        "home_count": int(frame[HOME_ID].nunique()),
        "rows_included": ROWS_INCLUDED,
        "columns": [{"name": c, "description": COLUMN_DESCRIPTIONS[c]} for c in EXPORT_COLUMNS],
    }


def _iso(stamp: Any) -> str | None:
    return None if pd.isna(stamp) else pd.Timestamp(stamp).strftime("%Y-%m-%dT%H:%M:%SZ")


def _span(stamps: pd.Series) -> dict[str, str | None]:
    return {"first": _iso(stamps.min()), "last": _iso(stamps.max())}


def _day(value: str | date | datetime) -> pd.Timestamp:
    try:  # strict ISO: pandas would read "March" as a date of this year
        stamp = pd.Timestamp(date.fromisoformat(value) if isinstance(value, str) else value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)") from err
    if stamp.tzinfo is not None:
        stamp = stamp.tz_localize(None)
    return stamp.normalize()


def _period(start: Any, end: Any) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    first = _day(start) if start is not None else None
    last = _day(end) if end is not None else None
    if first is not None and last is not None and first >= last:
        raise ValueError(
            f"empty period: from {first.date()} is not before to {last.date()} (to is exclusive)"
        )
    return first, last


def _client_zones(lake: Lake, client_id: str) -> pd.Series:
    """Time zone by home id of the client's homes (``curated/homes``); raises ``KeyError`` for an unknown client.

    A client with stored forecasts but no curated homes left (all deleted) is known; its hours count in UTC.
    """
    if not CLIENT_ID_PATTERN.match(client_id):
        raise KeyError(f"malformed client id {client_id!r}: letters, digits, '_', '.', '-' only")
    path = lake.path(Zone.CURATED, "homes", "homes.parquet")
    homes = lake.read_table(path).to_pandas() if lake.exists(path) else pd.DataFrame()
    if "client_id" in homes.columns:
        homes = homes[homes["client_id"].astype(str) == client_id]
    else:
        homes = homes.iloc[0:0]
    stored = lake.exists(lake.path(Zone.CURATED, "forecasts", f"client={client_id}"))
    if homes.empty and not stored:
        raise KeyError(f"unknown client {client_id!r}: no home and no stored forecast belongs to it")
    if homes.empty:
        return pd.Series(dtype=object)
    zones = homes["timezone"].fillna("UTC") if "timezone" in homes.columns else "UTC"
    by_home = pd.Series(zones, index=homes.index, dtype=object).set_axis(
        homes[HOME_ID].astype(str).to_numpy()
    )
    return by_home[~by_home.index.duplicated(keep="last")]


def _chosen_homes(client_id: str, zones: pd.Series, homes: Iterable[str] | None) -> list[str] | None:
    if homes is None:
        return None
    chosen = list(dict.fromkeys(h.strip() for h in homes if h.strip()))
    unknown = [h for h in chosen if h not in zones.index]
    if unknown:  # another client's home reads as unknown: existence does not leak
        raise KeyError(
            f"unknown homes for client {client_id!r}: {unknown[:10]}{' …' if len(unknown) > 10 else ''}"
        )
    if not chosen:
        raise KeyError("no home ids given")
    return chosen


def _issue_in(path: str, start: pd.Timestamp | None, end: pd.Timestamp | None) -> bool:
    """Whether a file's issue date can hold periods in ``[start, end)`` (by the longest horizon and lookback)."""
    issued = pd.Timestamp(path.rsplit("issue_date=", 1)[1][:10])
    if start is not None and issued < start - pd.Timedelta(days=ISSUE_LOOKBACK_DAYS):
        return False
    return end is None or issued < end + pd.Timedelta(days=ISSUE_LOOKAHEAD_DAYS)


def _local_day(frame: pd.DataFrame, zones: pd.Series) -> pd.Series:
    """The local date of each period start: hourly UTC hours in the home's zone; daily/monthly as they are."""
    from data_prep.curated_zone import local_dates

    starts = pd.to_datetime(frame["period_start"]).astype("datetime64[ns]")
    days = starts.dt.normalize().to_numpy().copy()
    hourly = (frame["resolution"] == "hourly").to_numpy()
    if hourly.any():
        utc = starts[hourly].dt.tz_localize("UTC")
        days[hourly] = local_dates(utc, frame.loc[hourly, HOME_ID], zones).to_numpy()
    return pd.Series(days, index=frame.index)
