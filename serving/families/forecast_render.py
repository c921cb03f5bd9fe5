"""The JSON document of a forecast response, put together from pieces serialised once.

A stored forecast is asked for again and again with the same horizon and quantiles, so the list of its periods is
serialised once per (horizon, quantiles) and kept with it; a response only serialises what changes per request (the
model, each home's freshness) and splices the stored pieces in. Every piece is serialised by the pydantic models of
:mod:`serving.families.forecast_schema`, so the document is what ``ForecastResponse.model_dump_json()`` gives.

Invariants:
    The rendered bytes equal ``ForecastResponse(...).model_dump_json()`` of the same content (a test checks it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

from pydantic import TypeAdapter

from serving.families.forecast_cache import StoredForecast
from serving.families.forecast_schema import (
    FeatureFreshness,
    ForecastPoint,
    ForecastRequest,
    ForecastResponse,
    HomeForecast,
    ModelInfo,
    OnlineFreshness,
)

_EMPTY_TAIL = b"[]}"  # how each document below ends before its list is spliced in: the list is its last field


def render_response(
    model: ModelInfo,
    request: ForecastRequest,
    stored: Mapping[str, StoredForecast],
    online: Mapping[str, OnlineFreshness],
) -> bytes:
    """The response document of ``request`` from the stored forecasts of its homes."""
    head = ForecastResponse.model_construct(
        model=model,
        resolution=request.resolution,
        horizon=request.periods,
        quantiles=[float(q) for q in request.quantiles],
        homes=[],
    ).model_dump_json()
    labels = tuple(q.label for q in request.quantiles)
    homes = b",".join(_home(h, stored[h], request.periods, labels, online.get(h)) for h in request.home_ids)
    return _spliced(head.encode(), homes)


def _home(
    home_id: str,
    stored: StoredForecast,
    periods: int,
    labels: tuple[str, ...],
    online: OnlineFreshness | None,
) -> bytes:
    head = HomeForecast.model_construct(
        home_id=home_id,
        issue_time=stored.issue_time,
        cold_start=stored.cold_start,
        freshness=FeatureFreshness.model_construct(
            last_reading_start=stored.last_reading_start, online=online
        ),
        forecast=[],
    ).model_dump_json()
    return _spliced(head.encode(), points_json(stored, periods, labels))


def points_json(stored: StoredForecast, periods: int, labels: Sequence[str]) -> bytes:
    """The first ``periods`` periods of ``stored`` with the quantiles ``labels``, as JSON array items (no
    brackets); serialised on first use and kept with the stored forecast."""
    key = (periods, tuple(labels))
    cached = stored.rendered.get(key)
    if cached is None:
        values = [stored.kwh[label][:periods] for label in labels]
        points = [
            ForecastPoint.model_construct(
                period_start=start,
                lead=lead,
                kwh={label: v[i] for label, v in zip(labels, values, strict=True)},
            )
            for i, (start, lead) in enumerate(
                zip(stored.period_starts[:periods], stored.leads[:periods], strict=True)
            )
        ]
        cached = _points_adapter().dump_json(points)[1:-1]
        stored.rendered[key] = cached
    return cached


def _spliced(document: bytes, items: bytes) -> bytes:
    if not document.endswith(
        _EMPTY_TAIL
    ):  # a field was added after the list: render it here, not by splicing
        raise RuntimeError("the list must be the model's last field")
    return document[: -len(_EMPTY_TAIL)] + b"[" + items + b"]}"


@lru_cache(maxsize=1)
def _points_adapter() -> TypeAdapter[list[ForecastPoint]]:
    return TypeAdapter(list[ForecastPoint])
