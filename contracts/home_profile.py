"""The home profile: a JSON document per home, validated on the way in.

Schema evolution:
    - unknown fields are kept as they are (``extra="allow"``) and travel in ``extra_json``;
    - every field but ``home_id`` and ``client_id`` is optional;
    - a present field of the wrong type rejects the document, with the field and the reason.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

HeatingType = Literal["direct_electric", "heat_pump", "district_heating", "gas", "oil", "wood", "other"]
HomeType = Literal["apartment", "terraced", "semi_detached", "detached", "other"]


class EvSpec(BaseModel):
    """An electric vehicle charged at home."""

    model_config = ConfigDict(extra="allow")

    battery_kwh: float | None = Field(None, gt=0, description="usable battery capacity [kWh]")
    charger_kw: float | None = Field(None, gt=0, description="home charger power [kW]")


class PvSpec(BaseModel):
    """A rooftop PV system."""

    model_config = ConfigDict(extra="allow")

    kwp: float = Field(gt=0, le=1000, description="peak capacity [kWp]")
    tilt_deg: float = Field(30.0, ge=0, le=90, description="surface tilt from horizontal [degree]")
    azimuth_deg: float = Field(180.0, ge=0, lt=360, description="surface azimuth, 180 = south [degree]")


class HomeProfile(BaseModel):
    """One home, as energy companies describe it."""

    model_config = ConfigDict(extra="allow")

    home_id: str = Field(min_length=1)
    client_id: str = Field(min_length=1, description="the tenant that owns the home")
    lat: float | None = Field(None, ge=-90, le=90, description="latitude [degree]")
    lon: float | None = Field(None, ge=-180, le=180, description="longitude [degree]")
    country: str | None = Field(None, min_length=2, max_length=2, description="ISO 3166-1 alpha-2")
    price_area: str | None = None
    timezone: str | None = Field(None, description="IANA zone, e.g. Europe/Stockholm")
    floor_area_m2: float | None = Field(None, gt=0, le=10_000, description="heated floor area [m2]")
    home_type: HomeType | None = None
    build_year: int | None = Field(None, ge=1600, le=2100)
    occupants: int | None = Field(None, ge=0, le=50)
    heating_types: list[HeatingType] = Field(default_factory=list)
    has_ev: bool | None = None
    ev: EvSpec | None = None
    pv: PvSpec | None = None
