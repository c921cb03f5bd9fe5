"""The request and response documents of ``POST /forecast`` (pydantic models; the OpenAPI spec is built from them)."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

Resolution = Literal["hourly", "daily", "monthly"]
MAX_HORIZON: dict[str, int] = {"hourly": 48, "daily": 31, "monthly": 2}
"""The longest horizon of each resolution [periods]: hours, days, months."""
HomeId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
SCHEMA_MAX_HOMES = 10_000  # the schema's bound; the deployment's own limit is serving.max_batch_homes
_EARLIEST, _LATEST = datetime(2000, 1, 1), datetime(2100, 1, 1)


class Quantile(float, Enum):
    """A quantile the model forecasts."""

    P10 = 0.1
    P50 = 0.5
    P90 = 0.9

    @property
    def label(self) -> str:
        """``p10``, ``p50``, ``p90``: the key of this quantile in a forecast row."""
        return f"p{round(self.value * 100)}"


class ForecastRequest(BaseModel):
    """A forecast of one or more homes.

    ``horizon`` counts periods from the start of the model's product: hourly, the 48 hours from the first local
    midnight after the issue time (1-48); daily, the days from the day after the issue date (1-31); monthly, the
    current and the next month (1-2). It defaults to the longest.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"home_ids": ["h00001"], "resolution": "hourly", "quantiles": [0.1, 0.5, 0.9], "horizon": 48}
            ]
        },
    )

    home_ids: list[HomeId] = Field(
        min_length=1,
        max_length=SCHEMA_MAX_HOMES,
        description="homes of the caller; at most serving.max_batch_homes",
    )
    resolution: Resolution = Field(
        "hourly", description="hourly [kWh/h], daily [kWh/day] or monthly [kWh/month]"
    )
    quantiles: list[Quantile] = Field(
        default_factory=lambda: [Quantile.P10, Quantile.P50, Quantile.P90],
        min_length=1,
        max_length=3,
        description="quantiles returned; 0.5 is the median forecast",
    )
    horizon: int | None = Field(
        None, ge=1, le=48, description="periods returned: hourly 1-48, daily 1-31, monthly 1-2"
    )
    issue_time: datetime | None = Field(
        None,
        description="when the forecast is issued (ISO 8601; without an offset: each home's local time); default: "
        "the model's scheduled issue time on the local date of each home's own latest reading",
    )

    @field_validator("home_ids")
    @classmethod
    def _distinct(cls, home_ids: list[str]) -> list[str]:
        return list(dict.fromkeys(home_ids))

    @field_validator("quantiles")
    @classmethod
    def _sorted(cls, quantiles: list[Quantile]) -> list[Quantile]:
        return sorted(set(quantiles), key=float)

    @field_validator("issue_time")
    @classmethod
    def _plausible(cls, issue_time: datetime | None) -> datetime | None:
        if issue_time is not None and not _EARLIEST <= issue_time.replace(tzinfo=None) < _LATEST:
            raise ValueError("issue_time must be between 2000-01-01 and 2100-01-01")
        return issue_time

    @model_validator(mode="after")
    def _horizon_in_range(self) -> ForecastRequest:
        longest = MAX_HORIZON[self.resolution]
        if self.horizon is not None and self.horizon > longest:
            raise ValueError(
                f"horizon must be 1..{longest} for a {self.resolution} forecast, not {self.horizon}"
            )
        return self

    @property
    def periods(self) -> int:
        """The number of periods asked for (``horizon`` or the longest)."""
        return self.horizon or MAX_HORIZON[self.resolution]


class ModelInfo(BaseModel):
    """The registered model version that made the forecast."""

    name: str = Field(description="the registered model, e.g. eliq-forecast")
    version: str = Field(description="its version in the registry")
    alias: str = Field(description="the alias it was loaded through, e.g. champion")


class OnlineFreshness(BaseModel):
    """What the feature store's online store holds for the home."""

    service: str = Field(description="the feature service read, e.g. forecast_v1")
    features_present: int = Field(description="features of the service with a value for the home")
    features_total: int = Field(description="features of the service")
    last_pushed_reading_start: datetime | None = Field(
        description="start of the latest reading pushed to the online store [UTC]; null when none"
    )


class FeatureFreshness(BaseModel):
    """How recent the data behind a home's forecast is."""

    last_reading_start: datetime | None = Field(
        description="start of the latest hourly reading the forecast used [UTC]; null when the home has none"
    )
    online: OnlineFreshness | None = Field(description="the online store's view; null when it is not applied")


class ForecastPoint(BaseModel):
    """One period of a forecast."""

    period_start: datetime | date = Field(
        description="hourly: the hour start [UTC]; daily: the local date; monthly: the month's first local date"
    )
    lead: int = Field(description="periods after the issue time: hours, days, or months (0 = current month)")
    kwh: dict[str, float | None] = Field(
        description="energy of the period by quantile (p10, p50, p90) [kWh]; null where the model gave none"
    )


class HomeForecast(BaseModel):
    """The forecast of one home."""

    home_id: str
    issue_time: datetime = Field(description="when the forecast was issued [UTC]")
    cold_start: bool = Field(
        description="the home had too little history: the profile-and-weather fallback was used"
    )
    freshness: FeatureFreshness
    forecast: list[ForecastPoint]


class ForecastResponse(BaseModel):
    """Forecasts of the homes asked for, in the order asked."""

    model: ModelInfo
    resolution: Resolution
    horizon: int = Field(description="periods per home")
    quantiles: list[float]
    homes: list[HomeForecast]
