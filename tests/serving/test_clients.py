"""API keys: the hashed SQLite store, the FastAPI dependencies, and ``eliq clients add|list|revoke``."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import pipelines.cli.clients  # noqa: F401  (registers `eliq clients` on the app)
from contracts.config import load_settings
from pipelines.cli.app import app as cli_app
from serving.clients import PREFIX_CHARS, ApiKeyStore, Client, hash_key, store_path
from serving.security import INVALID_KEY, MISSING_KEY, NOT_ADMIN, AdminClient, CurrentClient


@pytest.fixture
def store(tmp_path) -> ApiKeyStore:
    return ApiKeyStore(tmp_path / "state" / "clients.db")


def _file_bytes(folder: Path) -> bytes:
    """Every byte SQLite wrote: the database and its WAL / shared-memory files."""
    return b"".join(path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file())


# --- the store --------------------------------------------------------------------------------------------------


def test_keys_are_stored_hashed_never_raw(store):
    keys = [store.add("nordic_power"), store.add("acme_energy", admin=True)]
    written = _file_bytes(store.path.parent)
    for key in keys:
        assert key.encode() not in written
        assert key[PREFIX_CHARS:].encode() not in written  # not even the secret part alone
        assert hash_key(key).encode() in written


def test_keys_are_random_and_urlsafe(store):
    keys = {store.add("nordic_power") for _ in range(5)}
    assert len(keys) == 5
    for key in keys:
        assert key.startswith("eliq_") and len(key) >= 5 + 43
        assert set(key) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def test_authenticate_returns_the_client_and_admin_flag(store):
    plain, admin = store.add("nordic_power"), store.add("ops", admin=True)
    assert store.authenticate(plain) == Client("nordic_power", admin=False)
    assert store.authenticate(admin) == Client("ops", admin=True)


@pytest.mark.parametrize(
    "presented",
    [
        pytest.param(lambda key: "", id="empty"),
        pytest.param(lambda key: "eliq_not-a-real-key", id="unknown"),
        pytest.param(lambda key: key[:-1], id="truncated"),
        pytest.param(lambda key: key[:PREFIX_CHARS], id="listed-prefix"),
        pytest.param(lambda key: key + " ", id="trailing-space"),
        pytest.param(lambda key: key.upper(), id="wrong-case"),
        pytest.param(hash_key, id="the-stored-hash"),
    ],
)
def test_wrong_keys_do_not_authenticate(store, presented):
    key = store.add("nordic_power")
    assert store.authenticate(presented(key)) is None
    assert store.authenticate(key) == Client("nordic_power")


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("client", id="by-client-id"),
        pytest.param("prefix", id="by-key-prefix"),
        pytest.param("key", id="by-raw-key"),
    ],
)
def test_revoke_round_trip(store, target):
    key = store.add("nordic_power")
    other = store.add("acme_energy")
    chosen = {"client": "nordic_power", "prefix": key[:PREFIX_CHARS], "key": key}[target]
    assert store.revoke(chosen) == 1
    assert store.authenticate(key) is None
    assert store.authenticate(other) == Client("acme_energy")  # the other tenant is untouched
    assert store.revoke(chosen) == 0  # already revoked
    (row,) = [row for row in store.list() if row["client_id"] == "nordic_power"]
    assert row["revoked_at"] is not None


def test_revoking_a_client_revokes_all_its_keys(store):
    keys = [store.add("nordic_power"), store.add("nordic_power", admin=True)]
    assert store.revoke("nordic_power") == 2
    assert [store.authenticate(key) for key in keys] == [None, None]


def test_revoke_of_unknown_target_changes_nothing(store):
    key = store.add("nordic_power")
    assert store.revoke("hanse_strom") == 0
    assert store.revoke("eliq_XXXXXXXX") == 0
    assert store.authenticate(key) == Client("nordic_power")


def test_listing_shows_prefixes_and_flags_but_no_key(store):
    plain, admin = store.add("nordic_power"), store.add("ops", admin=True)
    store.revoke("nordic_power")
    rows = store.list()
    assert {row["client_id"]: row["key_prefix"] for row in rows} == {
        "nordic_power": plain[:PREFIX_CHARS],
        "ops": admin[:PREFIX_CHARS],
    }
    by_client = {row["client_id"]: row for row in rows}
    assert by_client["ops"]["admin"] is True and by_client["nordic_power"]["admin"] is False
    assert by_client["ops"]["revoked_at"] is None and by_client["nordic_power"]["revoked_at"] is not None
    assert all(row["created_at"].endswith("+00:00") for row in rows)
    listing = json.dumps(rows)
    assert plain not in listing and admin not in listing
    assert hash_key(plain) not in listing


@pytest.mark.parametrize(
    "client_id",
    [
        pytest.param("", id="empty"),
        pytest.param("two words", id="whitespace"),
        pytest.param("x" * 129, id="long"),
    ],
)
def test_invalid_client_ids_are_refused(store, client_id):
    with pytest.raises(ValueError, match="client id"):
        store.add(client_id)
    assert store.list() == []


def test_a_second_store_on_the_same_file_sees_writes_at_once(store):
    """Two processes (here two store objects) share the file; a revocation is not cached anywhere."""
    server_side = ApiKeyStore(store.path)
    key = store.add("nordic_power")
    assert server_side.authenticate(key) == Client("nordic_power")
    store.revoke(key)
    assert server_side.authenticate(key) is None


def test_concurrent_readers_and_writers(store):
    keys = [store.add(f"client_{i}") for i in range(4)]
    results: list[Client | None] = []
    added: list[str] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(50):
                results.extend(store.authenticate(key) for key in keys)
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    def write() -> None:
        try:
            added.extend(store.add("late_client") for _ in range(20))
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=read) for _ in range(4)] + [threading.Thread(target=write)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 4 * 50 * 4 and all(isinstance(client, Client) for client in results)
    assert len(store.list()) == 4 + 20
    assert all(store.authenticate(key) == Client("late_client") for key in added)


# --- the FastAPI dependencies -----------------------------------------------------------------------------------


@pytest.fixture
def api(store):
    """A tiny app with one client route and one admin route, its key store on ``app.state.clients``."""
    app = FastAPI()
    app.state.clients = store

    @app.get("/me")
    def me(client: CurrentClient) -> dict[str, object]:
        return {"client_id": client.client_id, "admin": client.admin}

    @app.post("/admin/reload")
    def reload(client: AdminClient) -> dict[str, str]:
        return {"reloaded_by": client.client_id}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    keys = {"plain": store.add("nordic_power"), "admin": store.add("ops", admin=True)}
    keys["revoked"] = store.add("acme_energy")
    store.revoke("acme_energy")
    return TestClient(app), keys


def _headers(how: str, key: str) -> dict[str, str]:
    return {
        "none": {},
        "x-api-key": {"X-API-Key": key},
        "bearer": {"Authorization": f"Bearer {key}"},
        "basic": {"Authorization": f"Basic {key}"},
        "empty": {"X-API-Key": ""},
    }[how]


@pytest.mark.parametrize(
    ("path", "how", "key", "status", "detail"),
    [
        pytest.param("/me", "none", "plain", 401, MISSING_KEY, id="me-no-key"),
        pytest.param("/me", "empty", "plain", 401, MISSING_KEY, id="me-empty-key"),
        pytest.param("/me", "basic", "plain", 401, MISSING_KEY, id="me-basic-auth-is-not-a-key"),
        pytest.param("/me", "x-api-key", "wrong", 401, INVALID_KEY, id="me-wrong-key"),
        pytest.param("/me", "x-api-key", "revoked", 401, INVALID_KEY, id="me-revoked-key"),
        pytest.param("/me", "bearer", "revoked", 401, INVALID_KEY, id="me-revoked-bearer"),
        pytest.param("/admin/reload", "none", "plain", 401, MISSING_KEY, id="admin-no-key"),
        pytest.param("/admin/reload", "x-api-key", "wrong", 401, INVALID_KEY, id="admin-wrong-key"),
        pytest.param("/admin/reload", "x-api-key", "revoked", 401, INVALID_KEY, id="admin-revoked-key"),
        pytest.param("/admin/reload", "x-api-key", "plain", 403, NOT_ADMIN, id="admin-with-client-key"),
        pytest.param("/admin/reload", "bearer", "plain", 403, NOT_ADMIN, id="admin-with-client-bearer"),
    ],
)
def test_requests_without_a_valid_key_are_refused(api, path, how, key, status, detail):
    http, keys = api
    raw = keys.get(key, "eliq_" + "x" * 43)
    response = http.request("GET" if path == "/me" else "POST", path, headers=_headers(how, raw))
    assert response.status_code == status
    assert response.json() == {"detail": detail}
    assert raw not in response.text
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("path", "how", "key", "body"),
    [
        pytest.param(
            "/me", "x-api-key", "plain", {"client_id": "nordic_power", "admin": False}, id="me-x-api-key"
        ),
        pytest.param("/me", "bearer", "plain", {"client_id": "nordic_power", "admin": False}, id="me-bearer"),
        pytest.param("/me", "x-api-key", "admin", {"client_id": "ops", "admin": True}, id="me-admin-key"),
        pytest.param("/admin/reload", "x-api-key", "admin", {"reloaded_by": "ops"}, id="admin-x-api-key"),
        pytest.param("/admin/reload", "bearer", "admin", {"reloaded_by": "ops"}, id="admin-bearer"),
    ],
)
def test_requests_with_a_valid_key_pass(api, path, how, key, body):
    http, keys = api
    response = http.request("GET" if path == "/me" else "POST", path, headers=_headers(how, keys[key]))
    assert response.status_code == 200, response.text
    assert response.json() == body


def test_x_api_key_wins_over_a_bearer_token(api):
    http, keys = api
    headers = {"X-API-Key": keys["admin"], "Authorization": f"Bearer {keys['plain']}"}
    assert http.get("/me", headers=headers).json()["client_id"] == "ops"


def test_revocation_takes_effect_on_the_next_request(api, store):
    http, keys = api
    assert http.get("/me", headers={"X-API-Key": keys["plain"]}).status_code == 200
    ApiKeyStore(store.path).revoke("nordic_power")  # e.g. `eliq clients revoke` in another process
    assert http.get("/me", headers={"X-API-Key": keys["plain"]}).status_code == 401


def test_openapi_declares_both_schemes_on_secured_routes_only(api):
    http, _ = api
    spec = http.get("/openapi.json").json()
    assert set(spec["components"]["securitySchemes"]) == {"ApiKey", "Bearer"}
    assert spec["components"]["securitySchemes"]["ApiKey"]["name"] == "X-API-Key"
    assert {"ApiKey": []} in spec["paths"]["/me"]["get"]["security"]
    assert {"Bearer": []} in spec["paths"]["/admin/reload"]["post"]["security"]
    assert "security" not in spec["paths"]["/healthz"]["get"]
    assert http.get("/healthz").status_code == 200


# --- eliq clients add|list|revoke -------------------------------------------------------------------------------


def _eliq(*args: str):
    result = CliRunner().invoke(cli_app, list(args))
    return result


def test_cli_add_list_revoke(tmp_path):
    db = str(tmp_path / "clients.db")
    added = _eliq("clients", "add", "nordic_power", "--db", db)
    assert added.exit_code == 0, added.output
    key = added.stdout.strip()  # stdout holds the key alone, so that a script can capture it
    assert key.startswith("eliq_") and "\n" not in key
    assert "cannot be shown again" in added.stderr
    assert ApiKeyStore(db).authenticate(key) == Client("nordic_power")

    admin = _eliq("clients", "add", "ops", "--admin", "--db", db)
    assert admin.exit_code == 0 and ApiKeyStore(db).authenticate(admin.stdout.strip()) == Client("ops", True)

    listed = _eliq("clients", "list", "--db", db)
    assert listed.exit_code == 0, listed.output
    assert "nordic_power" in listed.stdout and "ops" in listed.stdout
    assert key[:PREFIX_CHARS] in listed.stdout
    assert key not in listed.output and key[PREFIX_CHARS:] not in listed.output
    assert "yes" in listed.stdout  # the admin flag of ops

    revoked = _eliq("clients", "revoke", key[:PREFIX_CHARS] + "…", "--db", db)  # as `list` prints it
    assert revoked.exit_code == 0, revoked.output
    assert "revoked 1 key" in revoked.output
    assert ApiKeyStore(db).authenticate(key) is None
    assert "active" in _eliq("clients", "list", "--db", db).stdout  # ops is still active

    again = _eliq("clients", "revoke", key, "--db", db)
    assert again.exit_code == 1
    assert "no active key matches" in again.output and key not in again.output  # a full key is not echoed


def test_cli_uses_the_state_dir_of_the_settings_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ELIQ_CONFIG", raising=False)
    result = _eliq("clients", "add", "nordic_power")
    assert result.exit_code == 0, result.output
    assert (
        ApiKeyStore(tmp_path / "serving_state" / "clients.db").authenticate(result.stdout.strip()) is not None
    )


def test_cli_follows_the_state_dir_of_the_config_file(tmp_path):
    config = tmp_path / "eliq.yaml"
    config.write_text(f"serving:\n  state_dir: {tmp_path / 'deployed'}\n")
    result = _eliq("--config", str(config), "clients", "add", "nordic_power")
    assert result.exit_code == 0, result.output
    assert store_path(load_settings(config)) == tmp_path / "deployed" / "clients.db"
    assert ApiKeyStore(tmp_path / "deployed" / "clients.db").authenticate(result.stdout.strip()) is not None


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["clients", "add", "two words"], id="add-invalid-client"),
        pytest.param(["clients", "revoke", "nobody"], id="revoke-unknown"),
    ],
)
def test_cli_errors_exit_1_with_a_message(tmp_path, args):
    result = _eliq(*args, "--db", str(tmp_path / "clients.db"))
    assert result.exit_code == 1
    assert "error:" in result.output


def test_empty_listing_says_how_to_add(tmp_path):
    result = _eliq("clients", "list", "--db", str(tmp_path / "clients.db"))
    assert result.exit_code == 0 and "eliq clients add" in result.stdout


def test_cli_module_imports_no_web_framework():
    code = (
        "import sys, json\nimport pipelines.cli.clients\n"
        "print(json.dumps([m for m in ('fastapi', 'bentoml', 'starlette', 'serving.clients') if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
