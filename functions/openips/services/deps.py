"""The adapters a service needs, built once per process from the settings."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from typing import TYPE_CHECKING

from openips.adapters.ports import (
    AccountRepository,
    AssetRepository,
    ClaimRepository,
    CompanyRepository,
    ImagePresetRepository,
    JobRepository,
    LogRepository,
    PresetRepository,
    ProjectRepository,
    QuotaRepository,
    StepRepository,
)
from openips.settings import Settings, get_settings

if TYPE_CHECKING:
    from openips.adapters.queue import JobEvents, ProcessQueue
    from openips.adapters.storage import Storage


@dataclass(frozen=True)
class Deps:
    settings: Settings
    storage: Storage
    events: JobEvents
    process_queue: ProcessQueue
    media_queue: ProcessQueue  # MediaFunction's: video uploads (docs/formats-video.md)
    transcode_queue: ProcessQueue  # TranscodeFunction's: one message per video rendition
    # The jobs table, one repository per aggregate (adapters/ports.py).
    companies: CompanyRepository
    jobs: JobRepository
    claims: ClaimRepository
    logs: LogRepository
    assets: AssetRepository
    presets: PresetRepository
    image_presets: ImagePresetRepository  # delivery's $name$ presets (docs/delivery.md)
    projects: ProjectRepository
    steps: StepRepository
    quotas: QuotaRepository
    # The accounts table, built when first used: None in the functions that may not reach it.
    accounts_source: Callable[[], AccountRepository] | None = None

    @property
    def accounts(self) -> AccountRepository:
        """Users, keys and webhook secrets: only the functions whose role may reach them have the table."""
        if self.accounts_source is None:
            raise RuntimeError("this function has no accounts table (ACCOUNTS_TABLE is not set)")
        return self.accounts_source()


_lock = threading.Lock()


def get_deps() -> Deps:
    # boto3's default session is not safe to build clients from concurrently (the local
    # stack runs handlers on worker threads); once built, the clients are shared safely.
    # The adapters (and boto3, about 140 ms) load on the first call, not at import: a cold start's
    # first request pays for them once, and SnapStart's snapshot already holds them (docs/performance.md).
    from openips.adapters.dynamodb.factory import accounts_table, jobs_table
    from openips.adapters.queue import get_job_events, get_process_queue
    from openips.adapters.storage import get_storage

    with _lock:
        settings = get_settings()
        tables = jobs_table(settings.jobs_table)
        return Deps(
            settings=settings,
            storage=get_storage(settings.s3_public_endpoint),
            events=get_job_events(settings.job_events_queue_url),
            process_queue=get_process_queue(settings.process_queue_url),
            media_queue=get_process_queue(settings.media_queue_url),
            transcode_queue=get_process_queue(settings.transcode_queue_url),
            companies=tables.companies, jobs=tables.jobs, claims=tables.claims, logs=tables.logs,
            assets=tables.assets, presets=tables.presets, image_presets=tables.image_presets,
            projects=tables.projects, steps=tables.steps,
            quotas=tables.quotas,
            accounts_source=partial(accounts_table, settings.accounts_table) if settings.accounts_table else None,
        )


def reset_caches() -> None:
    """Forget cached settings and clients (tests, and the local stack between runs)."""
    from openips.adapters.dynamodb.factory import accounts_table, jobs_table
    from openips.adapters.mail import get_mailer
    from openips.adapters.notification_queue import get_notification_queue
    from openips.adapters.queue import get_job_events, get_process_queue
    from openips.adapters.storage import get_storage

    for cached in (get_settings, jobs_table, accounts_table, get_storage, get_job_events, get_process_queue,
                   get_mailer, get_notification_queue):
        cached.cache_clear()
