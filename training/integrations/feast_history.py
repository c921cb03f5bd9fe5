"""The forecast's hourly history read through the Feast feature store: ``forecast_v1``'s point-in-time retrieval.

One label row per home and curated hour, cut off at the hour's end ``E``. The consumption view's row at ``E`` holds
``kwh_lag_1h``, the energy of the hour ``[E - 1 h, E)``; the weather view's latest row at or before ``E`` is the
hour starting at ``E``, so the weather of the hour itself is the previous label row's (a shift by one hour per home:
each home's first hour has no weather). What comes out is the curated long frame (``home_id``, ``ts``, ``kwh``,
``temp_c``, ``ghi_w_m2``) as the feature store serves it, so a model trained on it records ``forecast_v1`` as its
source.

Invariants:
    No value is read from after its hour's end: ``kwh`` at ``E``; the weather of hour ``ts`` as known at ``ts + 1 h``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from contracts.schemas import GHI_W_M2, HOME_ID, KWH, TEMP_C, TS

SERVICE = "forecast_v1"
_HOUR = pd.Timedelta(hours=1)


def hourly_frame_from_feature_store(
    settings: Any, hours: pd.DataFrame, service: str = SERVICE
) -> pd.DataFrame:
    """The hourly history of the (``home_id``, ``ts``) rows of ``hours`` through ``service``'s historical features.

    Raises:
        FeatureStoreError: the store is not applied or a feature table is missing (``eliq features build|apply``).
    """
    from features.store import FeatureStoreAdapter

    labels = pd.DataFrame(
        {HOME_ID: hours[HOME_ID].to_numpy(), "event_timestamp": pd.to_datetime(hours[TS], utc=True) + _HOUR}
    )
    served = FeatureStoreAdapter.from_settings(settings).training_set(labels, service=service)
    served = served.sort_values([HOME_ID, "event_timestamp"], ignore_index=True)
    frame = pd.DataFrame(
        {
            HOME_ID: served[HOME_ID].to_numpy(),
            TS: served["event_timestamp"] - _HOUR,
            KWH: served["kwh_lag_1h"].astype(float).to_numpy(),
        }
    )
    for column in (TEMP_C, GHI_W_M2):
        frame[column] = served.groupby(HOME_ID)[column].shift(1).astype(float).to_numpy()
    return frame
