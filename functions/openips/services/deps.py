"""The adapters a service needs, built once per process from the settings."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from openips.adapters.accounts import AccountStore, get_account_store
from openips.adapters.mail import get_mailer
from openips.adapters.notification_queue import get_notification_queue
from openips.adapters.queue import JobEvents, ProcessQueue, get_job_events, get_process_queue
from openips.adapters.storage import Storage, get_storage
from openips.adapters.store import JobStore, get_job_store
from openips.settings import Settings, get_settings


@dataclass(frozen=True)
class Deps:
    settings: Settings
    store: JobStore
    storage: Storage
    events: JobEvents
    process_queue: ProcessQueue
    media_queue: ProcessQueue  # MediaFunction's: video uploads (docs/formats-video.md)

    @property
    def accounts(self) -> AccountStore:
        """Users, keys and webhook secrets: only the functions whose role may reach them have the table."""
        if not self.settings.accounts_table:
            raise RuntimeError("this function has no accounts table (ACCOUNTS_TABLE is not set)")
        return get_account_store(self.settings.accounts_table)


_lock = threading.Lock()


def get_deps() -> Deps:
    # boto3's default session is not safe to build clients from concurrently (the local
    # stack runs handlers on worker threads); once built, the clients are shared safely.
    with _lock:
        settings = get_settings()
        return Deps(
            settings=settings,
            store=get_job_store(settings.jobs_table),
            storage=get_storage(settings.s3_public_endpoint),
            events=get_job_events(settings.job_events_queue_url),
            process_queue=get_process_queue(settings.process_queue_url),
            media_queue=get_process_queue(settings.media_queue_url),
        )


def reset_caches() -> None:
    """Forget cached settings and clients (tests, and the local stack between runs)."""
    for cached in (get_settings, get_job_store, get_account_store, get_storage, get_job_events, get_process_queue,
                   get_mailer, get_notification_queue):
        cached.cache_clear()
