"""HTTP routes of the data-management API: meter readings in, home profiles created, read, replaced and deleted.

Every route needs an API key (:func:`serving.security.current_client`). A client reaches only its own homes: another
client's home answers 404 exactly as an unknown one, and readings for it are rejected rows (``unknown_home``).
The domain logic is in :mod:`serving.data_management`; ``docs/serving-data-api.md`` describes the contracts.

The routes read ``request.app.state``: ``settings``, ``lake``, ``homes`` (the home directory) and ``features`` (the
feature store adapter, or ``None``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field

from contracts.home_profile import HomeProfile
from data_prep.quality.rules import ReadingRules, load_rules
from serving.clients import Client
from serving.data_management import ProfileStore, ReadingsIngestor, delete_home
from serving.home_directory import HomeTakenError
from serving.home_profiles import ProfileConflictError, ProfileInvalidError, ProfileRejectedError
from serving.input_versions import HomeInputVersions
from serving.readings_ledger import LEDGER_FILE
from serving.security import current_client

DEFAULT_MAX_BATCH_READINGS = 10_000
DEFAULT_STATE_DIR = "serving_state"
NOT_FOUND = "home {home_id!r} not found"

CallerDep = Annotated[Client, Depends(current_client)]
JsonScalar = str | int | float | bool | None


class ReadingIn(BaseModel):
    """One meter reading. Values of another scalar type than documented are not a 422: the row is rejected."""

    model_config = ConfigDict(extra="forbid")

    home_id: JsonScalar = Field(None, description="a home of the caller (text)", examples=["h-0001"])
    ts: JsonScalar = Field(
        None,
        description="interval start: ISO 8601 text with an offset, on a whole minute",
        examples=["2025-01-06T10:00:00+01:00"],
    )
    kwh: JsonScalar = Field(
        None, description="energy of the interval, a finite number [kWh]", examples=[0.42]
    )
    interval_min: JsonScalar = Field(
        None, description="interval length, a whole number 1..1440 [min]; 60 when left out", examples=[60]
    )


class ReadingsBatch(BaseModel):
    """A batch of readings; at most ``serving.max_batch_readings`` of them (413 beyond)."""

    model_config = ConfigDict(extra="forbid")

    readings: list[ReadingIn] = Field(min_length=1)


class RejectedReadingOut(BaseModel):
    """A reading that was not stored."""

    line: int = Field(description="the reading's index in ``readings``, from 0")
    reason: str = Field(
        description="a contracts.schemas.Reason, e.g. bad_timestamp, out_of_range, unknown_home"
    )
    detail: str
    home_id: str | None = None
    ts: str | None = None


class ReadingsReceipt(BaseModel):
    """What a batch did: ``accepted + duplicates + len(rejected)`` is the batch's length."""

    batch_id: str | None = Field(description="the raw-zone file of the accepted readings; null when none")
    accepted: int = Field(description="readings stored for the first time")
    duplicates: int = Field(description="readings already stored with the same kwh: not stored again")
    rejected: list[RejectedReadingOut]
    pushed_homes: int = Field(description="homes whose newest reading reached the online store")


class HomeProfileIn(HomeProfile):
    """A home profile as sent: ``client_id`` is the caller's; ``home_id`` comes from the path on PUT."""

    home_id: str | None = Field(None, min_length=1, description="required by POST; PUT takes the path's")  # type: ignore[assignment]
    client_id: str | None = Field(  # type: ignore[assignment]
        None, min_length=1, description="leave out: the caller's is used; another client's is rejected (400)"
    )


class HomeDeleted(BaseModel):
    """The tombstone of a deleted home."""

    home_id: str
    deleted_at: str = Field(description="ISO 8601 [UTC]")
    purge_after: str = Field(description="when the retained lake data is purged, ISO 8601 [UTC]")
    retention_rule: str


class ErrorOut(BaseModel):
    detail: str


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorOut} for code in (status.HTTP_401_UNAUTHORIZED, *codes)}


@lru_cache(maxsize=4)
def _reading_rules(rules_file: str | None) -> ReadingRules:
    return load_rules(rules_file).readings


def _serving_setting(request: Request, name: str, default: Any) -> Any:
    return getattr(getattr(request.app.state.settings, "serving", None), name, default)


def _inputs_changed(request: Request, home_id: str) -> None:
    """The home's profile changed: forecasts stored for it are stale (see :mod:`serving.input_versions`)."""
    state_dir = _serving_setting(request, "state_dir", DEFAULT_STATE_DIR)
    HomeInputVersions(Path(state_dir) / LEDGER_FILE).bump([home_id])


def _profiles(request: Request) -> ProfileStore:
    return ProfileStore(request.app.state.lake)


def _owner(request: Request, profiles: ProfileStore, home_id: str) -> str | None:
    """The client of a home: the directory's, else its API document's; ``None`` once deleted (in any worker)."""
    if profiles.tombstone(home_id) is not None:
        return None
    owner: str | None = request.app.state.homes.owner(home_id)
    return owner if owner is not None else profiles.owner(home_id)


def _own_home(request: Request, profiles: ProfileStore, caller: Client, home_id: str) -> None:
    """Raise 404 unless the caller owns ``home_id``; the same answer for unknown and foreign homes."""
    if _owner(request, profiles, home_id) != caller.client_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=NOT_FOUND.format(home_id=home_id))


def _profile_error(err: Exception) -> HTTPException:
    """The HTTP answer to a profile the domain refused; a 422 has FastAPI's own shape (a list of problems)."""
    if isinstance(err, ProfileInvalidError):
        detail = [{**e, "loc": ["body", *e["loc"]]} for e in err.errors]
        return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail)
    codes = {
        ProfileRejectedError: status.HTTP_400_BAD_REQUEST,
        ProfileConflictError: status.HTTP_409_CONFLICT,
        HomeTakenError: status.HTTP_409_CONFLICT,  # another client claimed the id between check and claim
    }
    return HTTPException(codes[type(err)], detail=str(err))


def data_router() -> APIRouter:
    """The data-management routes: ``POST /readings`` and ``/homes`` CRUD."""
    router = APIRouter(tags=["data management"])

    @router.post("/readings", response_model=ReadingsReceipt, responses=_errors(413))
    def post_readings(batch: ReadingsBatch, request: Request, caller: CallerDep) -> ReadingsReceipt:
        """Store a batch of meter readings once each; rejected rows come back with their reason."""
        limit = int(_serving_setting(request, "max_batch_readings", DEFAULT_MAX_BATCH_READINGS))
        if len(batch.readings) > limit:
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE,
                detail=f"{len(batch.readings)} readings in one batch; the limit is {limit}: split the batch",
            )
        state = request.app.state
        profiles = _profiles(request)
        ingestor = ReadingsIngestor(
            state.lake,
            _serving_setting(request, "state_dir", DEFAULT_STATE_DIR),
            _reading_rules(state.settings.prep.rules_file),
            getattr(state, "features", None),
        )
        receipt = ingestor.ingest(
            caller.client_id,
            [r.model_dump() for r in batch.readings],
            lambda home_id: _owner(request, profiles, home_id),
        )
        return ReadingsReceipt(
            batch_id=receipt.batch_id,
            accepted=receipt.accepted,
            duplicates=receipt.duplicates,
            rejected=[RejectedReadingOut(**vars(r)) for r in receipt.rejected],
            pushed_homes=receipt.pushed_homes,
        )

    @router.post(
        "/homes",
        status_code=status.HTTP_201_CREATED,
        response_model=HomeProfile,
        responses=_errors(400, 409),
    )
    def create_home(body: HomeProfileIn, request: Request, caller: CallerDep) -> HomeProfile:
        """Create a home of the caller from its profile (409 when the home id is taken)."""
        homes = request.app.state.homes
        document = body.model_dump(exclude_unset=True)
        try:
            created = _profiles(request).create(caller.client_id, document, homes.owner, homes.register)
        except (ProfileRejectedError, ProfileInvalidError, ProfileConflictError, HomeTakenError) as err:
            raise _profile_error(err) from err
        _inputs_changed(request, created.home_id)
        return created

    @router.get("/homes/{home_id}", response_model=HomeProfile, responses=_errors(404))
    def read_home(home_id: str, request: Request, caller: CallerDep) -> HomeProfile:
        """The profile of one of the caller's homes."""
        profiles = _profiles(request)
        _own_home(request, profiles, caller, home_id)
        profile = profiles.get(home_id)
        # a home known from its readings alone has no profile yet: its keys are all there is
        return profile or HomeProfile(home_id=home_id, client_id=caller.client_id)

    @router.put("/homes/{home_id}", response_model=HomeProfile, responses=_errors(400, 404))
    def replace_home(home_id: str, body: HomeProfileIn, request: Request, caller: CallerDep) -> HomeProfile:
        """Replace the profile of one of the caller's homes with the body (fields left out become unset)."""
        profiles = _profiles(request)
        _own_home(request, profiles, caller, home_id)
        try:
            replaced = profiles.replace(caller.client_id, home_id, body.model_dump(exclude_unset=True))
        except (ProfileRejectedError, ProfileInvalidError) as err:
            raise _profile_error(err) from err
        _inputs_changed(request, home_id)
        return replaced

    @router.delete("/homes/{home_id}", response_model=HomeDeleted, responses=_errors(404))
    def remove_home(home_id: str, request: Request, caller: CallerDep) -> HomeDeleted:
        """Delete one of the caller's homes: gone from the API and the online store now, its lake data later."""
        state = request.app.state
        profiles = _profiles(request)
        _own_home(request, profiles, caller, home_id)
        state_dir = _serving_setting(request, "state_dir", DEFAULT_STATE_DIR)
        tombstone = delete_home(
            home_id, caller.client_id, profiles, state_dir, getattr(state, "features", None)
        )
        state.homes.forget(home_id)
        return HomeDeleted(**{k: tombstone[k] for k in HomeDeleted.model_fields})

    return router
