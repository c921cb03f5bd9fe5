"""Schemathesis against the app in-process: cases generated from the OpenAPI spec (bodies, parameters and headers
that fit it, and ones that do not) for every operation, sent with a key, and none may get a 5xx.

Bounded and reproducible: at most ``MAX_EXAMPLES`` cases per operation and mode, derandomized. The caller is a
client of its own (``fuzz``) that owns one home without readings (the spec's example request asks for it), so the
cases reach the model and the data API without touching the homes the other service tests use.

Schemathesis' pytest plugin (``schemathesis.pytest.from_fixture``) fails on this pytest (it reads a node attribute
pytest 9 removed), so each operation's Hypothesis strategy is driven directly.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from serving.app import OPENAPI_FILE, create_app
from serving.clients import ApiKeyStore
from serving.context import ServingContext
from tests.serving.service_fixtures import ServedWorld, session_world

pytestmark = [
    pytest.mark.xdist_group("served_world"),
    pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning"),
]


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> ServedWorld:
    return session_world(tmp_path_factory)


MAX_EXAMPLES = 20
FUZZ_CLIENT, FUZZ_HOME = "fuzz", "h00001"  # the home of the spec's example request
SPEC = json.loads(OPENAPI_FILE.read_text())
CASES = [
    pytest.param(method.upper(), path, mode, id=f"{method.upper()} {path} {mode}")
    for path, methods in SPEC["paths"].items()
    for method, operation in methods.items()
    for mode in GenerationMode
    # an operation without parameters or body has nothing to get wrong
    if mode is GenerationMode.POSITIVE or operation.get("parameters") or operation.get("requestBody")
]


@pytest.fixture(scope="module")
def fuzz_api(world: ServedWorld):
    """The app, a schema loaded from it, and the key headers: the fuzz client's, the admin's for /admin."""
    settings_ = world.settings()
    context = ServingContext.start(settings_)
    context.homes.register(FUZZ_HOME, FUZZ_CLIENT)
    key = ApiKeyStore(f"{settings_.serving.state_dir}/clients.db").add(FUZZ_CLIENT)
    assert context.families["forecast"].wait_until_warm(timeout_s=120)  # no background pass under the fuzzing
    app = create_app(context)
    with TestClient(app) as client:  # runs the app's lifespan
        yield (
            client,
            schemathesis.openapi.from_asgi("/openapi.json", app),
            {
                "client": {"X-API-Key": key},
                "admin": {"X-API-Key": world.keys["ops"]},
            },
        )


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_no_operation_answers_with_a_server_error(fuzz_api, method, path, mode):
    _, schema, keys = fuzz_api
    headers = keys["admin" if path.startswith("/admin/") else "client"]
    calls = []

    @given(case=schema[path][method].as_strategy(mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def call(case) -> None:
        response = case.call_and_validate(headers=headers, checks=[not_a_server_error])
        calls.append(response.status_code)

    call()
    assert calls and max(calls) < 500


def test_the_spec_example_request_is_answered(fuzz_api):
    client, _, keys = fuzz_api
    example = SPEC["components"]["schemas"]["ForecastRequest"]["examples"][0]
    response = client.post("/forecast", json=example, headers=keys["client"])
    assert response.status_code == 200, response.text
    assert response.json()["homes"][0]["home_id"] == FUZZ_HOME and response.json()["homes"][0]["cold_start"]
