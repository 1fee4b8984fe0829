"""The local stack as users run it: ``openips local up`` in its own process, on free ports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    state = tmp_path_factory.mktemp("state")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "functions"), str(ROOT / "src")])
    env["PAUSED_FILE_DELAY_SECONDS"] = "1"  # files of a paused job come back after 1 s, not 30
    env["WEBHOOK_RETRY_DELAYS_SECONDS"] = "1,2"  # webhook retries after 1 s and 2 s, not minutes
    log = open(state / "stack.log", "w")  # noqa: SIM115 - closed in teardown
    process = subprocess.Popen(
        [sys.executable, "-m", "openips_cli.main", "local", "up", "--port", "0", "--state-dir", str(state)],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    info_file = state / "local.json"
    deadline = time.monotonic() + 60
    while not info_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            log.close()
            pytest.fail("local stack did not start:\n" + (state / "stack.log").read_text()[-4000:])
        time.sleep(0.2)
    info = json.loads(info_file.read_text())
    info["stateDir"] = str(state)
    yield info
    process.send_signal(signal.SIGTERM)
    try:
        assert process.wait(timeout=30) == 0, "local stack did not stop cleanly"
        assert not info_file.exists(), "local.json must be removed on shutdown"
    finally:
        if process.poll() is None:
            process.kill()
        log.close()


@pytest.fixture
def aws(local_stack: dict):
    """boto3 clients pointed at the local stack's moto (for looking inside)."""
    def client(service: str):
        return boto3.client(service, endpoint_url=local_stack["awsEndpointUrl"], region_name="us-east-1",
                            aws_access_key_id=local_stack["awsAccessKeyId"],
                            aws_secret_access_key=local_stack["awsSecretAccessKey"])
    return client


def run_cli(local_stack: dict, *args: str, key: str | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """The ``openips`` client, as a user runs it, against the local stack."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OPENIPS_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "functions"), str(ROOT / "src")])
    env["OPENIPS_STATE_DIR"] = local_stack["stateDir"]
    if key:
        env["OPENIPS_API_KEY"] = key
        env["OPENIPS_API_URL"] = local_stack["apiUrl"]
    return subprocess.run([sys.executable, "-m", "openips_cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)
