"""The rows of a window and their features, read the way the model's training reads them.

A window's rows are its curated (home, hour) pairs. Their features come from one of two sources
(``monitoring.feature_source``, by default training's ``training.forecast.source``):

- ``feast``: every feature of the ``forecast_v1`` feature service, by Feast's point-in-time retrieval
  (:meth:`features.store.FeatureStoreAdapter.training_set`), each row cut off at its hour's end, as
  :mod:`training.integrations.feast_history` reads the training history;
- ``curated``: the curated hourly columns and the home attributes a model trained on ``curated`` reads
  (``kwh``, ``temp_c``, ``ghi_w_m2``, ``price_eur_mwh`` and :func:`training.forecast.home_attributes.home_attribute_table`).

Only the sampled rows are read (:mod:`monitoring.sampling`), so the cost of a retrieval does not grow with the
window.

Invariants:
    A row's features are those known at the end of its hour, never later (Feast's cut-off is ``ts + 1 h``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from contracts.schemas import GHI_W_M2, HOME_ID, KWH, PRICE_EUR_MWH, TEMP_C, TS
from contracts.storage import Lake
from monitoring.windows import Window

SERVICE = "forecast_v1"
CURATED_VALUES = (KWH, TEMP_C, GHI_W_M2, PRICE_EUR_MWH)
_HOUR = pd.Timedelta(hours=1)
_NOT_FEATURES = {HOME_ID, "event_timestamp", "target_ts", TS}


def feature_source(settings: Any) -> str:
    """``feast`` or ``curated``: the monitoring setting, else training's."""
    chosen = settings.monitoring.feature_source
    return str(chosen if chosen is not None else settings.training.forecast.source)


def window_rows(lake: Lake, window: Window, columns: tuple[str, ...] = (HOME_ID, TS)) -> pd.DataFrame:
    """The curated hourly rows with ``window.start <= ts < window.end``, sorted by home and hour."""
    from training.forecast.frames import load_hourly_frame

    rows = load_hourly_frame(lake, start=window.start, end=window.end, columns=columns)
    if not rows.empty:
        rows[TS] = pd.to_datetime(rows[TS], utc=True)
    return rows


def data_span(lake: Lake) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The start of the first and the end of the last curated hour [UTC].

    Raises:
        FileNotFoundError: the curated zone has no hourly data.
    """
    import pyarrow.compute as pc

    from contracts.storage import Zone

    folder = lake.path(Zone.CURATED, "consumption_hourly")
    table = lake.read_table(folder, columns=[TS]) if lake.exists(folder) else None
    if table is None or table.num_rows == 0:
        raise FileNotFoundError(
            f"no curated hourly data under {lake.root}: run `eliq prep run --input …` first"
        )
    bounds = pc.min_max(table.column(TS))
    first, last = bounds["min"].as_py(), bounds["max"].as_py()
    return pd.Timestamp(first).tz_convert("UTC"), pd.Timestamp(last).tz_convert("UTC") + _HOUR


def read_features(settings: Any, rows: pd.DataFrame, homes: pd.DataFrame, source: str) -> pd.DataFrame:
    """The features of ``rows`` (``home_id``, ``ts``), in their order and with their index.

    Raises:
        FeatureStoreError: ``feast`` and the store is not built or applied (``eliq features build|apply``).
    """
    if source == "feast":
        return _feast_features(settings, rows)
    return _curated_features(Lake.from_settings(settings.storage), rows, homes)


def _feast_features(settings: Any, rows: pd.DataFrame) -> pd.DataFrame:
    from features.store import FeatureStoreAdapter

    labels = pd.DataFrame(
        {HOME_ID: rows[HOME_ID].astype(str).to_numpy(), "event_timestamp": rows[TS].to_numpy() + _HOUR}
    )
    served = FeatureStoreAdapter.from_settings(settings).training_set(labels, service=SERVICE)
    features = served[[c for c in served.columns if c not in _NOT_FEATURES]]
    return features.set_axis(rows.index)


def _curated_features(lake: Lake, rows: pd.DataFrame, homes: pd.DataFrame) -> pd.DataFrame:
    from training.forecast.home_attributes import home_attribute_table

    start, end = rows[TS].min(), rows[TS].max() + _HOUR
    hourly = window_rows(lake, Window(start, end), (HOME_ID, TS, *CURATED_VALUES))
    keys = pd.DataFrame({HOME_ID: rows[HOME_ID].astype(str).to_numpy(), TS: rows[TS].to_numpy()})
    keyed = keys.merge(hourly.drop_duplicates([HOME_ID, TS]), on=[HOME_ID, TS], how="left")
    unique = homes.drop_duplicates(HOME_ID, keep="last").reset_index(drop=True)
    attributes = home_attribute_table(unique).assign(**{HOME_ID: unique[HOME_ID].astype(str).to_numpy()})
    keyed = keyed.merge(attributes, on=HOME_ID, how="left")  # left merges keep the left order
    return keyed.drop(columns=[HOME_ID, TS]).set_axis(rows.index)
