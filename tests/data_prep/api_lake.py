"""A small lake fed two ways, for the tests of what prep does with the service's data-management API: input files
(``f1`` metered, ``a1`` profiled) and the API's own files, written by the service's real ingestion code (``a1`` and
``a2`` created, their readings posted in two batches, the second mixing both homes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from contracts.config import Settings
from contracts.storage import Lake, Zone
from data_prep.quality.rules import load_rules
from serving.data_management import ProfileStore, ReadingsIngestor, delete_home
from tests.conftest import settings_for

CLIENT = "acme"
OWNERS = {"a1": CLIENT, "a2": CLIENT}
START = pd.Timestamp("2025-02-26T00:00:00Z")  # the first hour of every home's readings
HOURS = 48
API_AT = datetime(2025, 2, 28, 12, tzinfo=UTC)  # when the API took the readings
RUN_AT = datetime(2025, 3, 1, tzinfo=UTC)  # the first prep run
DELETED_AT = datetime(2025, 3, 2, tzinfo=UTC)


def kwh(home: str, hour: int) -> float:
    """A distinct, plausible value per home and hour [kWh]."""
    return round(0.3 + 0.05 * (hour % 12) + 0.01 * sum(map(ord, home)) % 0.2, 3)


@dataclass(frozen=True)
class ApiLake:
    """Where the world lives.

    Attributes:
        inputs: the input folder (``readings/``, ``profiles/``).
        state_dir: the service's state folder (the readings ledger).
        settings: settings on the lake (4 buckets, in-process).
    """

    inputs: Path
    state_dir: Path
    settings: Settings

    @property
    def lake(self) -> Lake:
        return Lake.from_settings(self.settings.storage)

    def table(self, zone: Zone | str, *parts: str) -> pd.DataFrame:
        """A zone's table (a file or a hive folder); empty when it is absent."""
        path = self.lake.path(zone, *parts)
        return self.lake.read_table(path).to_pandas() if self.lake.exists(path) else pd.DataFrame()

    def post_readings(self, rows: list[dict], now: datetime = API_AT) -> str | None:
        """Send a batch through the service's ingestion; returns its raw file."""
        ingestor = ReadingsIngestor(self.lake, self.state_dir, load_rules().readings)
        return ingestor.ingest(CLIENT, rows, OWNERS.get, now).raw_path

    def put_profile(self, document: dict) -> None:
        ProfileStore(self.lake).replace(CLIENT, document["home_id"], document)

    def delete(self, home_id: str, now: datetime = DELETED_AT) -> dict:
        """Delete a home as ``DELETE /homes/{home_id}`` does (no online store here)."""
        return delete_home(home_id, CLIENT, ProfileStore(self.lake), self.state_dir, None, now)


def readings(home: str, first_hour: int, n_hours: int) -> list[dict]:
    """Hourly readings of the API contract."""
    return [
        {"home_id": home, "ts": (START + pd.Timedelta(hours=h)).isoformat(), "kwh": kwh(home, h)}
        for h in range(first_hour, first_hour + n_hours)
    ]


def build_api_lake(root: Path) -> ApiLake:
    """Input files and the API's files, before any prep run."""
    inputs = root / "input"
    (inputs / "readings").mkdir(parents=True)
    (inputs / "profiles").mkdir()
    stamps = [START + pd.Timedelta(hours=h) for h in range(HOURS)]
    (inputs / "readings" / "meter.csv").write_text(
        "home_id,ts,kwh\n" + "".join(f"f1,{t.isoformat()},{kwh('f1', h)}\n" for h, t in enumerate(stamps))
    )
    files = [
        {"home_id": "f1", "client_id": CLIENT, "timezone": "Europe/Oslo", "floor_area_m2": 80.0},
        {"home_id": "a1", "client_id": CLIENT, "timezone": "Europe/Oslo", "floor_area_m2": 100.0},
    ]
    (inputs / "profiles" / "homes.jsonl").write_text("".join(json.dumps(d) + "\n" for d in files))
    world = ApiLake(inputs, root / "state", settings_for(str(root / "lake")))
    profiles = ProfileStore(world.lake)
    for home, area in (("a1", 150.0), ("a2", 60.0)):
        document = {"home_id": home, "timezone": "Europe/Oslo", "floor_area_m2": area}
        profiles.create(CLIENT, document, lambda _: None)
    world.post_readings(readings("a1", 0, 24))
    world.post_readings(readings("a1", 24, 24) + readings("a2", 0, HOURS))
    return world


def purge_time(tombstone: dict, after: timedelta) -> datetime:
    """A moment ``after`` the tombstone's ``purge_after`` (negative: before it)."""
    return datetime.fromisoformat(tombstone["purge_after"]) + after
