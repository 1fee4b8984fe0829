"""Fixtures shared by every tier: fake AWS credentials, a Lambda context, sample events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openips_cli.inprocess import LambdaContext

EVENTS = Path(__file__).resolve().parents[1] / "events"


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "openips")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "openips")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


def load_event(name: str) -> dict:
    return json.loads((EVENTS / f"{name}.json").read_text())
