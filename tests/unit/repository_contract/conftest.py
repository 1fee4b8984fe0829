"""Every contract test runs twice: on the in-memory fakes and on the DynamoDB repositories (moto, in process).

The DynamoDB side runs on the tables of ``template.yaml``, created by the project's ``provision()``
(the tables only: no queue, no bucket) inside one ``mock_aws`` per module, and emptied before each test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from openips.adapters.dynamodb.accounts import DynamoAccounts
from openips.adapters.dynamodb.factory import JobsTable
from openips.adapters.dynamodb.table import Table
from openips_cli.moto_atomic import patch_query_start_keys
from openips_cli.provision import load_template, provision
from tests.conftest import fake_aws_env
from tests.fakes.repositories import MemoryRepositories


@dataclass
class Repos:
    """One implementation's repositories (the attributes of ``Deps``), and which it is."""

    kind: str
    companies: Any
    jobs: Any
    claims: Any
    logs: Any
    assets: Any
    presets: Any
    projects: Any
    steps: Any
    quotas: Any
    accounts: Any
    image_presets: Any = None


@pytest.fixture(scope="module")
def moto_tables() -> Iterator[Callable[[], dict[str, str]]]:
    """The tables of ``template.yaml``, made once per module and emptied for each test (cheaper than new ones)."""
    template = load_template()
    tables_only = {"Resources": {name: resource for name, resource in template["Resources"].items()
                                 if resource["Type"] == "AWS::DynamoDB::Table"}}
    with pytest.MonkeyPatch.context() as env:
        fake_aws_env(env)
        patch_query_start_keys()  # as the local stack's moto: a start key outside the conditions is refused
        with mock_aws():
            names = provision(prefix="contract", template=tables_only).names

            def emptied() -> dict[str, str]:
                for name in names.values():
                    table = boto3.resource("dynamodb").Table(name)
                    with table.batch_writer() as batch:
                        for item in table.scan(ProjectionExpression="pk, sk")["Items"]:
                            batch.delete_item(Key=item)
                return names
            yield emptied


@pytest.fixture(params=["memory", "dynamodb"])
def repos(request: pytest.FixtureRequest) -> Repos:
    if request.param == "memory":
        memory = MemoryRepositories()
        return Repos("memory", memory.companies, memory.jobs, memory.claims, memory.logs, memory.assets,
                     memory.presets, memory.projects, memory.steps, memory.quotas, memory.accounts,
                     memory.image_presets)
    names = request.getfixturevalue("moto_tables")()
    tables = JobsTable.on(Table(names["JobsTable"]))
    return Repos("dynamodb", tables.companies, tables.jobs, tables.claims, tables.logs, tables.assets, tables.presets,
                 tables.projects, tables.steps, tables.quotas, DynamoAccounts(Table(names["AccountsTable"])),
                 tables.image_presets)
