"""Models for the contract tests, with defaults that fit together (company ``c-acme``, job ``j-one``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from openips.models.domain import Asset, Company, FileClaim, Job, LogEntry, LogType
from openips.models.upload_job import UploadPostJob

T0 = datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)
OPTIONS = UploadPostJob.model_validate({"overwrite": True, "readyForPublish": True, "createMask": False,
                                        "emailSetting": "None"})


def company(handle: str = "c-acme", **fields: Any) -> Company:
    return Company(company_handle=handle, name=fields.pop("name", "Acme"), **fields)


def job(handle: str = "j-one", name: str | None = None, start: datetime = T0, company_handle: str = "c-acme",
        **fields: Any) -> Job:
    original_name = fields.pop("original_name", name or handle)
    return Job(job_handle=handle, company_handle=company_handle, name=name or handle, original_name=original_name,
               submit_user_handle="u-1", submit_user_email="ops@acme.example", options=OPTIONS, start_date=start,
               last_activity=start, **fields)


def row(log_type: LogType = LogType.UPLOAD_WARNING, at: datetime = T0, text: str = "row", **fields: Any) -> LogEntry:
    return LogEntry(log_type=log_type, log_message=text, date_created=at, **fields)


def claim(claim_id: str = "k1", job_handle: str = "j-one", lease: datetime = T0 + timedelta(seconds=60),
          **fields: Any) -> FileClaim:
    return FileClaim(job_handle=job_handle, claim_id=claim_id, path=fields.pop("path", f"{claim_id}.jpg"),
                     lease_until=lease, claimed=T0, attempt_started=T0, **fields)


def asset(handle: str = "a-one", name: str = "chair", folder: str = "", company_handle: str = "c-acme",
          job_handle: str = "j-one", **fields: Any) -> Asset:
    return Asset(asset_handle=handle, company_handle=company_handle, name=name, folder=folder,
                 file_name=f"{name}.jpg", extension="jpg", publish_state="MarkedForPublish", file_size=10,
                 master_key=f"{company_handle}/{handle}/master", created_job_handle=job_handle,
                 updated_job_handle=job_handle, created=T0, updated=T0, last_claim="k1", **fields)


def open_job(repos: Any, handle: str = "j-one", **fields: Any) -> Job:
    created = job(handle, **fields)
    assert repos.jobs.create(created, [])
    return created
