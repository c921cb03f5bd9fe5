"""The registry of gap-filling strategies: registry name -> class."""

from __future__ import annotations

from contracts.config import ImputationSettings
from data_prep.quality.imputation.base import GapImputer
from data_prep.quality.imputation.interpolation import ForwardFillImputer, LinearGapImputer, SplineGapImputer
from data_prep.quality.imputation.learned import (
    KnnImputer,
    MiceImputer,
    RandomForestImputer,
    WeatherGbmImputer,
)
from data_prep.quality.imputation.neighbourhood import RollingMedianImputer
from data_prep.quality.imputation.seasonal import HourOfWeekProfileImputer, SeasonalNaiveImputer

IMPUTERS: dict[str, type[GapImputer]] = {
    cls.name: cls
    for cls in (
        LinearGapImputer,
        SplineGapImputer,
        ForwardFillImputer,
        SeasonalNaiveImputer,
        HourOfWeekProfileImputer,
        RollingMedianImputer,
        KnnImputer,
        RandomForestImputer,
        MiceImputer,
        WeatherGbmImputer,
    )
}

# Cheap, vectorised strategies: automatic selection scores these unless told otherwise (eliq.yaml may change them).
DEFAULT_CANDIDATES: tuple[str, ...] = ImputationSettings().candidates
# The strategy that fills a slot the chosen one cannot: it fills every interior gap.
FALLBACK = "linear"
