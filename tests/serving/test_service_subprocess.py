"""The service as a real ``bentoml serve serving.service:EliqService`` process (the command ``eliq serve`` runs),
on a free port of the loopback, with ``ELIQ_CONFIG`` pointing at the served world's config: it becomes ready, reports
the champion's version, answers an authenticated forecast and refuses an unauthenticated one."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pipelines.cli.serve import serve_command, serve_environment
from tests.serving.service_fixtures import ServedWorld, session_world

pytestmark = [
    pytest.mark.integration,
    pytest.mark.xdist_group("served_world"),
    pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning"),
]


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> ServedWorld:
    return session_world(tmp_path_factory)


STARTUP_TIMEOUT_S = 240  # imports, the feature store check and the model load; generous on a busy machine [s]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_ready(process: subprocess.Popen, base: str, log: Path) -> httpx.Response:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"bentoml serve exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            response = httpx.get(f"{base}/readyz", timeout=5)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(f"not ready after {STARTUP_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def server(world: ServedWorld, tmp_path_factory) -> Iterator[tuple[str, httpx.Response]]:
    port = free_port()
    log = tmp_path_factory.mktemp("bentoml") / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            serve_command("127.0.0.1", port),
            env=serve_environment(world.config),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the workers stop with it
        )
    base = f"http://127.0.0.1:{port}"
    try:
        yield base, wait_until_ready(process, base, log)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def test_the_served_process_reports_its_model_and_forecasts_for_a_key(server, world):
    base, ready = server
    report = ready.json()
    assert report["ready"] and report["families"]["forecast"]["version"] == "1"
    assert httpx.get(f"{base}/healthz", timeout=10).json() == {"status": "ok"}
    body = {"home_ids": ["s000"], "horizon": 24, "quantiles": [0.5]}
    response = httpx.post(
        f"{base}/forecast", json=body, headers={"X-API-Key": world.keys["acme"]}, timeout=60
    )
    assert response.status_code == 200, response.text
    home = response.json()["homes"][0]
    assert home["home_id"] == "s000" and len(home["forecast"]) == 24 and not home["cold_start"]
    assert response.json()["model"]["version"] == "1"
    refused = httpx.post(f"{base}/forecast", json=body, timeout=10)
    assert refused.status_code == 401 and "Traceback" not in refused.text
    foreign = httpx.post(
        f"{base}/forecast", json={"home_ids": ["s002"]}, headers={"X-API-Key": world.keys["acme"]}, timeout=10
    )
    assert foreign.status_code == 404
