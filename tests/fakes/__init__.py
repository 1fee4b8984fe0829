"""Fakes of the adapters, for fast tests of service rules (no moto, no AWS).

Why here and not under ``functions/openips/adapters/``: ``functions/`` is every Lambda's code
(``CodeUri``), and nothing deployed may ever be wired to an in-memory store by mistake; the local
stack runs on moto, so the fakes have no user outside the tests. They implement the same
protocols (``openips.adapters.ports``) and pass the same contract tests as the DynamoDB
repositories (``tests/unit/repository_contract/``).
"""

from __future__ import annotations

from typing import Any

from openips.models.domain import Company, User, new_handle
from openips.services.deps import Deps
from openips.settings import Settings
from tests.fakes.aws import FakeJobEvents, FakeQueue, FakeStorage
from tests.fakes.repositories import MemoryRepositories

INCOMING = "incoming-bucket"
ASSETS = "assets-bucket"


def memory_deps(repositories: MemoryRepositories | None = None, **settings: Any) -> Deps:
    """A ``Deps`` on the in-memory repositories, S3 and queues; ``settings`` override the defaults."""
    r = repositories or MemoryRepositories()
    config = Settings(jobs_table="memory", accounts_table="memory", incoming_bucket=INCOMING, assets_bucket=ASSETS,
                      **settings)
    return Deps(settings=config, storage=FakeStorage(), events=FakeJobEvents(),  # type: ignore[arg-type]
                process_queue=FakeQueue(), media_queue=FakeQueue(), transcode_queue=FakeQueue(),  # type: ignore[arg-type]
                companies=r.companies, jobs=r.jobs, claims=r.claims, logs=r.logs, assets=r.assets,
                presets=r.presets, image_presets=r.image_presets, projects=r.projects, steps=r.steps, quotas=r.quotas,
                accounts_source=lambda: r.accounts)


def tenant(deps: Deps, role: str = "IpsCompanyAdmin", **company: Any) -> tuple[Company, User]:
    """A company (``company`` sets its fields) and one user of it."""
    found = Company(company_handle=new_handle("c"), name="Acme", **company)
    deps.companies.create(found)
    user = User(user_handle=new_handle("u"), company_handle=found.company_handle, email="ops@acme.example",
                role=role)  # type: ignore[arg-type]
    deps.accounts.put_user(user, new_handle("k"))
    return found, user
