"""The services on the in-memory fakes, driven as the handlers drive them, with a clock the test moves.

A ``World`` is one company with one user on ``tests.fakes``: jobs are opened, ended and read
through ``services.jobs`` (as ApiFunction does), uploads are objects in the fake S3 whose
notifications go to ``processing.process_notification`` (as ProcessFileFunction does). Nothing is
patched inside the services: failures are injected at the fakes' edges (S3).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus

from openips.models.api import CreateUploadJobRequest, JobLog
from openips.models.domain import Job, User
from openips.models.events import IncomingObject, S3Notification
from openips.services import jobs, processing
from openips.services.keys import incoming_prefix
from tests.fakes import INCOMING, memory_deps, tenant
from tests.fakes.aws import FakeStorage

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
PARAMS = {"overwrite": True, "readyForPublish": True, "createMask": False, "emailSetting": "None"}
SOURCE_IP = "192.0.2.10"


def icc_profile(size: int = 200, fill: int = 0) -> bytes:
    """The smallest thing ``profiles.is_icc_profile`` takes for an ICC profile (no decoding involved)."""
    return size.to_bytes(4, "big") + bytes([fill]) * 32 + b"acsp" + bytes([fill]) * (size - 40)


def notification(obj: IncomingObject) -> str:
    """The S3 event ProcessQueue would carry for ``obj`` (its key URL-encoded, as S3 sends it)."""
    record = {"eventName": "ObjectCreated:Post", "requestParameters": {"sourceIPAddress": obj.source_ip},
              "s3": {"bucket": {"name": obj.bucket},
                     "object": {"key": quote_plus(obj.key, safe="/"), "size": obj.size, "eTag": obj.version}}}
    return json.dumps({"Records": [record]})


class World:
    def __init__(self, company: dict[str, Any] | None = None, **settings: Any) -> None:
        self.deps = memory_deps(**settings)
        self.company, self.user = tenant(self.deps, **(company or {}))
        self.now = T0

    @property
    def storage(self) -> FakeStorage:
        return self.deps.storage  # type: ignore[return-value]

    def tick(self, seconds: float = 1) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    def open(self, name: str = "batch", user: User | None = None, dest_folder: str = "", **params: Any) -> Job:
        request = CreateUploadJobRequest(job_name=name, dest_folder=dest_folder,
                                         upload_params={**PARAMS, **params})  # type: ignore[arg-type]
        job, _ = jobs.open_job(self.deps, user or self.user, request, SOURCE_IP, self.tick())
        return job

    def upload(self, job: Job, path: str, data: bytes, source_ip: str | None = SOURCE_IP) -> IncomingObject:
        return self.storage.put(INCOMING, incoming_prefix(job) + path, data, source_ip)

    def deliver(self, obj: IncomingObject, at: datetime | None = None) -> str:
        """One delivery of the object's notification; its outcome (``RetryLater`` ones are deferred)."""
        body = notification(obj)
        (outcome,) = processing.process_notification(self.deps, S3Notification.model_validate_json(body), body,
                                                     at or self.tick())
        return outcome

    def send(self, job: Job, files: dict[str, bytes]) -> list[str]:
        return [self.deliver(self.upload(job, path, data)) for path, data in files.items()]

    def end(self, job: Job) -> None:
        jobs.end_job(self.deps, self.user, job.job_handle, self.tick())

    def job(self, job: Job) -> Job:
        found = self.deps.jobs.get(job.job_handle)
        assert found is not None
        return found

    def log(self, job: Job) -> JobLog:
        return jobs.job_log_details(self.deps, self.user, job.job_handle, None, None, None, None, None)

    def rows(self, job: Job, log_type: str) -> list[Any]:
        return [d for d in self.log(job).detail_array if d.log_type == log_type]

    def deferred(self) -> list[int]:
        """The delays of the notifications sent back to ProcessQueue so far."""
        return [delay for _, delay in self.deps.process_queue.deferred]  # type: ignore[attr-defined]
