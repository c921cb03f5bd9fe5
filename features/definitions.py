"""Every Feast object of eliq, in one place: entities, sources, feature views, on-demand views, services.

To add a feature: build its column in ``features/transforms/``, add a ``Field`` to the view's tuple below (with a
description and its unit in brackets), and add it to a *new* feature service version if models should use it
(``forecast_v1`` never changes once a model is trained on it). Then run ``eliq features apply``.

The paths of the sources depend on the lake, so the objects are built by :func:`build_definitions` from the
lake's ``features/`` folder. The module-level objects at the bottom are that build for the demo lake, relative to
this folder (Feast resolves relative paths against the repository folder), which is what
``feast -c features apply`` registers from a clean clone.

Invariants:
    Each table's ``event_timestamp`` is the moment all of its row's values were known (see the ``Feature tables``
    section of ``docs/features.md``), and Feast joins a row to a label only when that moment is at or before the
    label's cut-off. The weather view also refuses rows whose ``available_at`` (issue time) is after the cut-off.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pandas as pd
from feast import (
    Entity,
    FeatureService,
    FeatureView,
    Field,
    FileSource,
    OnDemandFeatureView,
    PushSource,
    RequestSource,
    ValueType,
)
from feast.types import Float32, Float64, Int64, String, UnixTimestamp

OWNER = "features@eliq.dev"
# Relative to this folder: demo/lake/features from the repository root, the lake of the default eliq.yaml.
DEMO_FEATURES_ROOT = "../demo/lake/features"


def _f(name: str, dtype: Any, description: str) -> Field:
    return Field(name=name, dtype=dtype, description=description)


CONSUMPTION_FIELDS = (
    _f("kwh_lag_1h", Float32, "energy of the hour ending at the cut-off [kWh]"),
    _f("kwh_lag_24h", Float32, "energy of the same hour one day earlier [kWh]"),
    _f("kwh_lag_48h", Float32, "energy of the same hour two days earlier [kWh]"),
    _f("kwh_lag_168h", Float32, "energy of the same hour one week earlier [kWh]"),
    _f("kwh_mean_24h", Float32, "mean hourly energy over the last 24 h [kWh/h]"),
    _f("kwh_std_24h", Float32, "standard deviation of hourly energy over the last 24 h [kWh/h]"),
    _f("kwh_min_24h", Float32, "smallest hourly energy over the last 24 h [kWh/h]"),
    _f("kwh_max_24h", Float32, "largest hourly energy over the last 24 h [kWh/h]"),
    _f("kwh_mean_7d", Float32, "mean hourly energy over the last 7 days [kWh/h]"),
    _f("kwh_std_7d", Float32, "standard deviation of hourly energy over the last 7 days [kWh/h]"),
    _f("kwh_min_7d", Float32, "smallest hourly energy over the last 7 days [kWh/h]"),
    _f("kwh_max_7d", Float32, "largest hourly energy over the last 7 days [kWh/h]"),
    _f("kwh_total_24h", Float32, "energy used in the last 24 h [kWh]"),
    _f("kwh_total_30d", Float32, "energy used in the last 30 days [kWh]"),
    _f("night_share_7d", Float32, "share of the last 7 days' energy used 00:00-06:00 local time [0-1]"),
    _f(
        "baseload_kwh_7d",
        Float32,
        "10th percentile of hourly energy over 7 days, the always-on load [kWh/h]",
    ),
    _f("share_imputed_24h", Float32, "share of the last 24 h that was imputed, not measured [0-1]"),
)
WEATHER_FIELDS = (
    _f("temp_c", Float64, "air temperature at the grid point [°C]"),
    _f("hdd_c", Float64, "heating degree-hours / 24 below 15.5 °C [°C·day]"),
    _f("cdd_c", Float64, "cooling degree-hours / 24 above 22 °C [°C·day]"),
    _f("ghi_w_m2", Float64, "global horizontal irradiance [W/m²]"),
    _f("cloud_cover", Float64, "cloud cover [0-1]"),
    _f("wind_m_s", Float64, "wind speed [m/s]"),
    _f("temp_c_mean_24h", Float64, "mean temperature over the 24 h ending at the hour [°C]"),
    _f("temp_c_mean_7d", Float64, "mean temperature over the 7 days ending at the hour [°C]"),
)
PRICE_FIELDS = (
    _f("price_eur_mwh", Float64, "day-ahead price of the hour [EUR/MWh]"),
    _f("price_day_mean", Float64, "mean day-ahead price of the local day [EUR/MWh]"),
    _f("price_day_min", Float64, "lowest day-ahead price of the local day [EUR/MWh]"),
    _f("price_day_max", Float64, "highest day-ahead price of the local day [EUR/MWh]"),
    _f("price_rank_in_day", Int64, "rank of the hour's price in its local day, 1 = cheapest"),
)
HOME_MODEL_FIELDS = (
    _f("floor_area_m2", Float64, "heated floor area [m²]"),
    _f("build_year", Int64, "year the building was completed"),
    _f("occupants", Int64, "number of people living in the home"),
    _f("home_type_code", Int64, "apartment 0, terraced 1, semi-detached 2, detached 3, unknown -1"),
    _f("heat_pump", Int64, "1 if heated by a heat pump"),
    _f("direct_electric", Int64, "1 if heated by direct electric heaters"),
    _f("district_heating", Int64, "1 if on district heating"),
    _f("gas", Int64, "1 if heated by gas"),
    _f("has_ev", Int64, "1 if an electric car charges at home"),
    _f("ev_charger_kw", Float64, "power of the home's EV charger [kW]"),
    _f("lat", Float64, "latitude of the home [degree]"),
    _f("lon", Float64, "longitude of the home [degree]"),
)
HOME_KEY_FIELDS = (
    _f("country", String, "ISO 3166 alpha-2 country code"),
    _f("price_area", String, "bidding zone of the home's prices, the key of the price view"),
    _f("weather_point", String, "id of the nearest weather grid point, the key of the weather view"),
    _f("client_id", String, "the utility (tenant) serving the home"),
)
PV_FIELDS = (
    _f("pv_kwp", Float64, "rooftop PV peak power, 0 without PV [kWp]"),
    _f("pv_tilt_deg", Float64, "tilt of the PV panels from horizontal [degree]"),
    _f("pv_azimuth_deg", Float64, "azimuth of the PV panels, 180 = south [degree]"),
    _f("has_pv", Int64, "1 if the home has rooftop PV"),
)
LIVE_FIELDS = (
    _f("kwh_latest", Float64, "energy of the latest pushed reading [kWh]"),
    _f("kw_latest", Float64, "mean power over the latest pushed reading [kW]"),
    _f("interval_min_latest", Int64, "length of the latest pushed reading [min]"),
    _f("reading_start_ts", UnixTimestamp, "start of the latest pushed reading [UTC]"),
)
CALENDAR_FIELDS = (
    _f("hour", Int64, "hour of the target hour in the home's local time [0-23]"),
    _f("weekday", Int64, "day of the week of the target hour, local time, 0 = Monday"),
    _f("month", Int64, "month of the target hour, local time [1-12]"),
    _f("is_holiday", Int64, "1 on a public holiday of the home's country, 0 otherwise, -1 if unknown"),
)
DAYLIGHT_FIELDS = (
    _f("daylight", Int64, "1 if the sun is above the horizon mid-hour at the home, 0 if not, -1 if unknown"),
    _f("sun_elevation_deg", Float64, "solar elevation mid-hour at the home [degree]"),
)
TARGET_FIELD = _f("target_ts", UnixTimestamp, "start of the hour the features describe [UTC]")


# On-demand bodies. Feast stores their source text and runs it with only pandas and numpy in scope, so each body
# imports what it needs itself.
def calendar_udf(inputs: pd.DataFrame) -> pd.DataFrame:
    from features.on_demand import calendar_columns

    return calendar_columns(inputs["target_ts"], inputs["country"])


def daylight_udf(inputs: pd.DataFrame) -> pd.DataFrame:
    from features.on_demand import daylight_columns

    return daylight_columns(inputs["target_ts"], inputs["lat"], inputs["lon"])


@dataclass(frozen=True)
class FeatureDefinitions:
    """The Feast objects of one lake, in the order ``FeatureStore.apply`` takes them."""

    entities: tuple[Entity, ...]
    sources: tuple[FileSource | PushSource | RequestSource, ...]
    views: tuple[FeatureView, ...]
    on_demand_views: tuple[OnDemandFeatureView, ...]
    services: tuple[FeatureService, ...]

    def objects(self) -> list[object]:
        return [*self.entities, *self.sources, *self.views, *self.on_demand_views, *self.services]

    def view(self, name: str) -> FeatureView:
        return next(v for v in self.views if v.name == name)


def _tags(refresh: str) -> dict[str, str]:
    return {"team": "features", "refresh": refresh}


def _entities() -> dict[str, Entity]:
    return {
        "home": Entity(
            name="home", join_keys=["home_id"], value_type=ValueType.STRING, description="a metered home"
        ),
        "weather_point": Entity(
            name="weather_point",
            join_keys=["weather_point"],
            value_type=ValueType.STRING,
            description='a weather grid point, id f"{lat:.3f}_{lon:.3f}"',
        ),
        "price_area": Entity(
            name="price_area",
            join_keys=["price_area"],
            value_type=ValueType.STRING,
            description="a bidding zone of the day-ahead market (SE3, DK1, DE …)",
        ),
    }


def _file_source(name: str, path: str, description: str, created: str = "") -> FileSource:
    return FileSource(
        name=name,
        path=path,
        timestamp_field="event_timestamp",
        created_timestamp_column=created,
        description=description,
        owner=OWNER,
    )


def _sources(root: str) -> dict[str, FileSource | PushSource | RequestSource]:
    home = _file_source(
        "home_source", f"{root}/home/home.parquet", "static home attributes, one row per home"
    )
    live_log = _file_source(
        "consumption_live_log", f"{root}/consumption_live", "log of pushed readings (unused)"
    )
    return {
        "consumption": _file_source(
            "consumption_source",
            f"{root}/consumption",
            "hourly consumption features, one file per home bucket",
        ),
        "weather": _file_source(
            "weather_source",
            f"{root}/weather/weather.parquet",
            "hourly weather per grid point",
            "available_at",
        ),
        "price": _file_source(
            "price_source", f"{root}/price/price.parquet", "hourly day-ahead prices per area"
        ),
        "home": home,
        "push": PushSource(
            name="consumption_push",
            batch_source=live_log,
            description="real-time meter readings",
            owner=OWNER,
        ),
        "request": RequestSource(
            name="forecast_request", schema=[TARGET_FIELD], description="the hour to describe", owner=OWNER
        ),
    }


def _view(
    name: str,
    entity: Entity,
    source: object,
    fields: tuple[Field, ...],
    ttl: timedelta,
    refresh: str,
    about: str,
) -> FeatureView:
    return FeatureView(
        name=name,
        entities=[entity],
        source=source,  # type: ignore[arg-type]
        schema=list(fields),
        ttl=ttl,  # a row older than this before the cut-off is not used; 0 = static, never stale
        description=about,
        owner=OWNER,
        tags=_tags(refresh),
    )


def _views(entities: dict[str, Entity], sources: dict[str, Any]) -> dict[str, FeatureView]:
    home = entities["home"]
    views = (
        _view("consumption", home, sources["consumption"], CONSUMPTION_FIELDS, timedelta(days=2), "hourly",
              "lags and rolling statistics of hourly consumption; stale after 2 days"),
        _view("weather", entities["weather_point"], sources["weather"], WEATHER_FIELDS, timedelta(hours=6),
              "hourly", "hourly weather at the grid point; stale after 6 h"),
        _view("price", entities["price_area"], sources["price"], PRICE_FIELDS, timedelta(hours=6), "hourly",
              "day-ahead prices of the bidding zone; stale after 6 h"),
        _view("home_profile", home, sources["home"], HOME_MODEL_FIELDS + HOME_KEY_FIELDS, timedelta(0), "static",
              "static attributes of the home and the keys of its weather point and price area"),
        _view("pv", home, sources["home"], PV_FIELDS, timedelta(0), "static", "the home's rooftop PV system"),
        _view("consumption_live", home, sources["push"], LIVE_FIELDS, timedelta(hours=2), "push",
              "the latest real-time reading, pushed, never materialised"),
    )  # fmt: skip
    return {v.name: v for v in views}


def _on_demand(
    name: str, udf: Any, sources: list[Any], fields: tuple[Field, ...], description: str
) -> OnDemandFeatureView:
    # Feast checks an on-demand schema by comparing it, descriptions included, with fields it infers without
    # descriptions; so the schema goes in bare and each description rides in a ``feature:<name>`` tag.
    return OnDemandFeatureView(
        name=name,
        sources=sources,
        schema=[Field(name=f.name, dtype=f.dtype) for f in fields],
        udf=udf,
        udf_string=inspect.getsource(udf),
        mode="pandas",
        description=description,
        owner=OWNER,
        tags=_tags("request") | {f"feature:{f.name}": f.description for f in fields},
    )


def _services(
    views: dict[str, FeatureView], on_demand: dict[str, OnDemandFeatureView]
) -> dict[str, FeatureService]:
    model_inputs = views["home_profile"][[f.name for f in HOME_MODEL_FIELDS]]  # not the keys, not strings
    forecast = [
        views["consumption"],
        views["weather"],
        views["price"],
        model_inputs,
        views["pv"],
        *on_demand.values(),
    ]
    return {
        "forecast_v1": FeatureService(
            name="forecast_v1",
            features=forecast,
            description="features of the hourly consumption forecast, version 1 (frozen)",
            owner=OWNER,
            tags={"family": "forecast", "version": "1"},
        ),
        "live_v1": FeatureService(
            name="live_v1",
            features=[views["consumption_live"]],
            description="the latest pushed reading of each home, version 1 (frozen)",
            owner=OWNER,
            tags={"family": "live", "version": "1"},
        ),
    }


def build_definitions(features_root: str = DEMO_FEATURES_ROOT) -> FeatureDefinitions:
    """Every Feast object, with the sources under ``features_root`` (the lake's ``features/`` folder).

    Args:
        features_root: a local path (absolute, or relative to the Feast repository folder) or an fsspec URI.
    """
    entities = _entities()
    sources = _sources(features_root.rstrip("/"))
    views = _views(entities, sources)
    request, profile = sources["request"], views["home_profile"]
    on_demand = {
        "calendar": _on_demand(
            "calendar", calendar_udf, [request, profile[["country"]]], CALENDAR_FIELDS,
            "calendar of the target hour in the home's local time, with the country's public holidays",
        ),
        "daylight": _on_demand(
            "daylight", daylight_udf, [request, profile[["lat", "lon"]]], DAYLIGHT_FIELDS,
            "whether the sun is up at the home mid-hour (NOAA formulas, no pvlib at request time)",
        ),
    }  # fmt: skip
    return FeatureDefinitions(
        entities=tuple(entities.values()),
        sources=tuple(sources.values()),
        views=tuple(views.values()),
        on_demand_views=tuple(on_demand.values()),
        services=tuple(_services(views, on_demand).values()),
    )


# What `feast -c features apply` registers: the demo lake, relative to this folder. Feast collects module-level
# objects, so each one is bound to a name.
_DEMO = build_definitions()
home, weather_point, price_area = _DEMO.entities
consumption_source, weather_source, price_source, home_source, consumption_push, forecast_request = (
    _DEMO.sources
)
consumption, weather, price, home_profile, pv, consumption_live = _DEMO.views
calendar, daylight = _DEMO.on_demand_views
forecast_v1, live_v1 = _DEMO.services
