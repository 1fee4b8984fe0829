"""An in-process stack: moto's ``mock_aws`` with the resources of ``template.yaml``.

Handlers are the real ones, driven the way Lambda drives them (``openips_cli.inprocess``):
HTTP API v2 events for the API, and the SQS messages that moto's S3 notifications
really produce for the processing and finalize functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import boto3
import botocore.loaders
import botocore.session
import pytest
from moto import mock_aws

from openips.models.api import CreateCompanyRequest, CreateUserRequest
from openips.services import auth
from openips.services.deps import get_deps, reset_caches
from openips_cli.inprocess import InProcessStack, sqs_lambda_event
from openips_cli.moto_atomic import patch_query_start_keys
from openips_cli.provision import provision
from tests.conftest import fake_aws_env


@dataclass
class Stack(InProcessStack):
    admin_key: str = ""
    company: str = ""

    def open_job(self, name: str = "batch", key: str | None = "default", locale: str | None = None,
                 **upload_params):
        params = {"overwrite": True, "readyForPublish": True, "createMask": False, "emailSetting": "None"}
        params.update(upload_params)
        body = {"jobName": name, "uploadParams": params} | ({"locale": locale} if locale is not None else {})
        return self.call("POST", "/v1/upload-jobs", body, key=key)

    as_lambda_event = staticmethod(sqs_lambda_event)


_LOADER = botocore.loaders.create_loader()


def _default_session_sharing_models() -> None:
    """moto starts each stack with a new default boto3 session; give it this process's one loader, so
    botocore parses each service model once per process instead of once per test."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _LOADER)
    boto3.setup_default_session(botocore_session=core, region_name="us-east-1")


@contextmanager
def stack_in(env: pytest.MonkeyPatch) -> Iterator[Stack]:
    """A provisioned moto stack with an IpsAdmin and one company (Acme) with its admin."""
    patch_query_start_keys()  # as the local stack's moto: a start key outside the conditions is refused
    with mock_aws():
        _default_session_sharing_models()
        resources = provision()
        # Configuring the notification queued an s3:TestEvent; start each test from empty.
        boto3.client("sqs").purge_queue(QueueUrl=resources.names["ProcessQueue"])
        for var, value in resources.env().items():
            env.setenv(var, value)
        reset_caches()
        companies, accounts = get_deps().companies, get_deps().accounts
        admin, admin_key = auth.bootstrap_admin(companies, accounts, "admin@example.com")
        company = auth.create_company(companies, admin, CreateCompanyRequest(name="Acme"))
        _, key = auth.create_user(companies, accounts, admin, CreateUserRequest(
            company_handle=company.company_handle, email="ops@acme.example", role="IpsCompanyAdmin"))
        yield Stack(resources=resources, key=key, admin_key=admin_key, company=company.company_handle)
        reset_caches()


@contextmanager
def module_stack() -> Iterator[Stack]:
    """``stack_in`` for a module-scoped fixture (the autouse fake-AWS fixture is per test)."""
    with pytest.MonkeyPatch.context() as env:
        fake_aws_env(env)
        with stack_in(env) as built:
            yield built


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with stack_in(monkeypatch) as built:
        yield built
