"""Fixtures shared by every tier: fake AWS credentials, a Lambda context, sample events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openips_cli.inprocess import LambdaContext

EVENTS = Path(__file__).resolve().parents[1] / "events"


FAKE_AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
                "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_SERVICE_NAME": "openips",
                "POWERTOOLS_METRICS_NAMESPACE": "openips", "POWERTOOLS_TRACE_DISABLED": "true"}


def fake_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No real AWS reachable: fake credentials, no endpoint or profile from the machine."""
    for var in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    for var, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(var, value)


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_aws_env(monkeypatch)


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


def load_event(name: str) -> dict:
    return json.loads((EVENTS / f"{name}.json").read_text())
