"""Both implementations have every method of their protocol, with the protocol's parameters."""

from __future__ import annotations

import inspect

import pytest

from openips.adapters import ports
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
from openips.services.deps import Deps
from tests.fakes import repositories as memory

IMPLEMENTATIONS = [
    (ports.CompanyRepository, DynamoCompanies, memory.MemoryCompanies),
    (ports.JobRepository, DynamoJobs, memory.MemoryJobs),
    (ports.ClaimRepository, DynamoClaims, memory.MemoryClaims),
    (ports.LogRepository, DynamoLogs, memory.MemoryLogs),
    (ports.AssetRepository, DynamoAssets, memory.MemoryAssets),
    (ports.PresetRepository, DynamoPresets, memory.MemoryPresets),
    (ports.ImagePresetRepository, DynamoImagePresets, memory.MemoryImagePresets),
    (ports.ProjectRepository, DynamoProjects, memory.MemoryProjects),
    (ports.StepRepository, DynamoSteps, memory.MemorySteps),
    (ports.QuotaRepository, DynamoQuotas, memory.MemoryQuotas),
    (ports.AccountRepository, DynamoAccounts, memory.MemoryAccounts),
]


def _methods(protocol: type) -> dict[str, inspect.Signature]:
    return {name: inspect.signature(member) for name, member in vars(protocol).items()
            if callable(member) and not name.startswith("_")}


def _parameters(signature: inspect.Signature) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


@pytest.mark.parametrize(("protocol", "dynamodb", "fake"), IMPLEMENTATIONS, ids=lambda p: getattr(p, "__name__", p))
def test_each_implementation_has_the_protocols_methods_and_parameters(protocol, dynamodb, fake):
    methods = _methods(protocol)
    assert methods
    for implementation in (dynamodb, fake):
        for name, signature in methods.items():
            assert hasattr(implementation, name), f"{implementation.__name__} has no {name}"
            assert _parameters(inspect.signature(getattr(implementation, name))) == _parameters(signature), (
                f"{implementation.__name__}.{name}")


def test_deps_names_one_repository_per_protocol():
    fields = Deps.__dataclass_fields__
    for name, protocol in (("companies", "CompanyRepository"), ("jobs", "JobRepository"), ("claims", "ClaimRepository"),
                           ("logs", "LogRepository"), ("assets", "AssetRepository"), ("presets", "PresetRepository"),
                           ("image_presets", "ImagePresetRepository"),
                           ("projects", "ProjectRepository"), ("steps", "StepRepository"),
                           ("quotas", "QuotaRepository")):
        assert fields[name].type == protocol
        assert name in ports.JobsTableRepositories.__annotations__
