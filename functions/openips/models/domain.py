"""Domain records: companies, users, jobs, files, assets and job-log rows.

These are what the store persists; the API answers with the shapes in ``api.py``.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from openips.models.processing import CropRect
from openips.models.upload_job import UploadPostJob

Role = Literal[
    "IpsAdmin", "IpsCompanyAdmin", "IpsUser", "ImagePortalUser",
]
OverwriteMode = Literal[
    "OverwriteFullName", "OverwriteAnyExt", "OverwriteFullNameAnyFolder", "OverwriteAnyExtAnyFolder"
]
PublishState = Literal["MarkedForPublish", "NotMarkedForPublish"]

_HANDLE_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


def new_handle(prefix: str) -> str:
    """An opaque, URL-safe handle with a readable prefix (``c-``, ``u-``, ``j-``, ``a-``)."""
    return f"{prefix}-" + "".join(secrets.choice(_HANDLE_ALPHABET) for _ in range(20))


def utcnow() -> datetime:
    """Now, in UTC, to the millisecond (what the store and the API show)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class JobState(StrEnum):
    """``ActiveJob/state`` values (spec §8.5) plus our terminal ``Done``."""

    WAITING_CLIENT = "WaitingClient"
    RUNNING = "Running"
    WAITING_COORDINATOR = "WaitingCoordinator"
    STOPPING = "Stopping"
    DONE = "Done"


class LogType(StrEnum):
    BEGIN_UPLOAD = "BeginUpload"
    END_UPLOAD = "EndUpload"
    UPLOAD_SUCCESS = "UploadSuccess"
    FILE_UPDATED = "FileUpdated"
    DUPLICATE_SKIPPED = "DuplicateSkipped"
    UPLOAD_WARNING = "UploadWarning"
    UPLOAD_ERROR = "UploadError"
    FILE_CANCEL = "FileCancel"
    FATAL_ERROR = "FatalError"


class Company(BaseModel):
    company_handle: str
    name: str
    overwrite_mode: OverwriteMode = "OverwriteFullName"
    retain_publish_state: bool = False
    max_file_size: int | None = None
    # Spec §3.3: every file of a job must come from the IP address that opened it.
    enforce_same_ip: bool = True
    # Spec §5.11: the source profile for CMYK files without one (an IccProfile asset handle).
    default_source_profile_handle: str | None = None


class User(BaseModel):
    user_handle: str
    company_handle: str
    email: str
    role: Role


class JobCounts(BaseModel):
    received: int = 0
    done: int = 0
    success: int = 0
    error: int = 0
    warning: int = 0
    duplicate: int = 0
    update: int = 0
    cancelled: int = 0  # by stopJob/deleteJob; also counted in ``error``
    total_size: int = 0
    log_rows: int = 0


class Job(BaseModel):
    job_handle: str
    company_handle: str
    name: str
    original_name: str
    description: str = ""
    locale: str = "en-US"
    dest_folder: str = ""
    submit_user_handle: str
    submit_user_email: str
    source_ip: str | None = None
    options: UploadPostJob
    state: JobState = JobState.WAITING_CLIENT
    closed: bool = False
    close_reason: str | None = None
    expected_files: int = 0
    fatal_error: bool = False
    start_date: datetime
    last_activity: datetime
    closed_at: datetime | None = None
    end_date: datetime | None = None
    finalized: bool = False
    stopped_by: str | None = None  # "stopJob" or "deleteJob"
    deleted: bool = False
    counts: JobCounts = Field(default_factory=JobCounts)

    @property
    def finished(self) -> bool:
        return self.state == JobState.DONE

    @property
    def paused(self) -> bool:
        return self.state == JobState.WAITING_COORDINATOR

    @property
    def stopping(self) -> bool:
        return self.state == JobState.STOPPING


class LogEntry(BaseModel):
    """One ``JobLogDetail`` row (spec §8.7)."""

    log_type: LogType
    log_message: str
    date_created: datetime
    asset_name: str | None = None
    asset_type: str | None = None
    asset_handle: str | None = None
    file_path: str | None = None
    code: str | None = None
    aux: list[dict] = Field(default_factory=list)


class Asset(BaseModel):
    asset_handle: str
    company_handle: str
    name: str
    type: str = "Image"
    folder: str
    file_name: str
    extension: str
    publish_state: PublishState
    width: int | None = None
    height: int | None = None
    file_size: int
    master_key: str
    optimized_key: str | None = None
    optimized_format: str | None = None
    created_job_handle: str
    updated_job_handle: str
    created: datetime
    updated: datetime
    last_claim: str
    mask_key: str | None = None
    crop_rect: CropRect | None = None
    xmp_keywords: list[str] = Field(default_factory=list)
    project_handles: list[str] = Field(default_factory=list)


FileOutcome = Literal["UploadSuccess", "FileUpdated", "DuplicateSkipped", "UploadError"]


class FileClaim(BaseModel):
    """Per-S3-object processing record: the idempotency key of a file."""

    job_handle: str
    claim_id: str
    path: str
    status: Literal["Processing", "Done"] = "Processing"
    lease_until: datetime
    attempts: int = 1
    outcome: FileOutcome | None = None
    asset_handle: str | None = None
