"""The repositories of each table, built once per process (``services/deps.py`` hands them out)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from openips.adapters.dynamodb.accounts import DynamoAccounts
from openips.adapters.dynamodb.assets import DynamoAssets
from openips.adapters.dynamodb.claims import DynamoClaims
from openips.adapters.dynamodb.companies import DynamoCompanies
from openips.adapters.dynamodb.image_presets import DynamoImagePresets
from openips.adapters.dynamodb.jobs import DynamoJobs
from openips.adapters.dynamodb.logs import DynamoLogs
from openips.adapters.dynamodb.presets import DynamoPresets
from openips.adapters.dynamodb.projects import DynamoProjects
from openips.adapters.dynamodb.quotas import DynamoQuotas
from openips.adapters.dynamodb.steps import DynamoSteps
from openips.adapters.dynamodb.table import Table


@dataclass(frozen=True)
class JobsTable:
    """The repositories of the jobs table (``ports.JobsTableRepositories``), sharing one ``Table``."""

    table: Table
    companies: DynamoCompanies
    jobs: DynamoJobs
    claims: DynamoClaims
    logs: DynamoLogs
    assets: DynamoAssets
    presets: DynamoPresets
    image_presets: DynamoImagePresets
    projects: DynamoProjects
    steps: DynamoSteps
    quotas: DynamoQuotas

    @classmethod
    def on(cls, table: Table) -> JobsTable:
        assets = DynamoAssets(table)
        return cls(table=table, companies=DynamoCompanies(table), jobs=DynamoJobs(table), claims=DynamoClaims(table),
                   logs=DynamoLogs(table), assets=assets, presets=DynamoPresets(table),
                   image_presets=DynamoImagePresets(table),
                   projects=DynamoProjects(table, assets), steps=DynamoSteps(table), quotas=DynamoQuotas(table))


@lru_cache(maxsize=4)
def jobs_table(table_name: str) -> JobsTable:
    return JobsTable.on(Table(table_name))


@lru_cache(maxsize=4)
def accounts_table(table_name: str) -> DynamoAccounts:
    return DynamoAccounts(Table(table_name))
