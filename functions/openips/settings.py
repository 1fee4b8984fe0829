"""Runtime settings, read from the environment once (the only module that reads it)."""

from __future__ import annotations

import os
import re
from functools import lru_cache

from pydantic import BaseModel, Field, field_validator


# One entry of MAIL_ALLOWED_DOMAINS: a DNS name (ASCII; an IDN in its xn-- form), optionally "*." first;
# or "*" alone, any address.
_DOMAIN_PATTERN = re.compile(r"\*|(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")


class Settings(BaseModel, frozen=True):
    jobs_table: str = Field(min_length=1)
    # Users, API-key hashes and webhook secrets; set only for the functions allowed to reach them.
    accounts_table: str = ""
    incoming_bucket: str = Field(min_length=1)
    assets_bucket: str = Field(min_length=1)
    job_events_queue_url: str = ""
    process_queue_url: str = ""
    # MediaFunction's queue: ProcessFileFunction hands video uploads to it (docs/formats-video.md).
    media_queue_url: str = ""
    # TranscodeFunction's queue: one message per video rendition (docs/formats-video.md#renditions).
    transcode_queue_url: str = ""
    job_idle_timeout_seconds: int = Field(default=1800, gt=0)
    max_file_size_bytes: int = Field(default=5 * 1024**3, gt=0)
    max_image_pixels: int = Field(default=1_000_000_000, gt=0)
    # getAutoCropRect downloads the master for any reader: larger masters are refused (HTTP 413).
    auto_crop_rect_max_bytes: int = Field(default=256 * 1024**2, gt=0)
    # Jobs of one company that have not ended (open, running, paused): one tenant cannot fill
    # the active-jobs index every other tenant's jobs and the sweeper share.
    max_open_jobs_per_company: int = Field(default=1000, gt=0)
    # Archive members extracted (UnCompress) per job and per company per day (UTC), and their bytes:
    # one upload of nested archives cannot become millions of files.
    max_extracted_files_per_job: int = Field(default=20_000, gt=0)
    max_extracted_bytes_per_job: int = Field(default=100 * 1024**3, gt=0)
    max_extracted_files_per_company_day: int = Field(default=200_000, gt=0)
    max_extracted_bytes_per_company_day: int = Field(default=1024**4, gt=0)
    upload_form_ttl_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    # A closed job whose expected files never produced an event is finished by the
    # sweeper after this grace period (lost notification, deleted object).
    missing_file_grace_seconds: int = Field(default=900, gt=0)
    # A file of a paused job goes back to ProcessQueue with this delay at first; the delay grows
    # with how long the job has been paused (a tenth of it), up to SQS's 900 s.
    paused_file_delay_seconds: int = Field(default=30, ge=0, le=900)
    # A job paused longer than this is stopped by the sweeper (files not started are cancelled,
    # kept under quarantine/), with a row that says why: pauseJob cannot hold uploads forever.
    max_pause_seconds: int = Field(default=3 * 24 * 3600, gt=0)
    # Files of one company processed at once (ProcessFile and Media together): a file over it goes
    # back to its queue for a few seconds, so other companies' files overtake it (docs/security.md).
    max_files_in_flight_per_company: int = Field(default=25, gt=0, le=1000)
    # An ended job whose finalize event got lost (FinalizeJobFunction never ran) is sent to it
    # again by the sweeper once it has been ended this long.
    finalize_redrive_after_seconds: int = Field(default=300, gt=0)
    # Video renditions (docs/formats-video.md#renditions); a company may only lower them.
    max_renditions_per_video: int = Field(default=4, ge=0, le=20)
    # Seconds of video a rendition may hold (a quota; MediaConvert bills per minute). Without MediaConvert
    # the line below caps it too: longer videos get a warning and no rendition.
    max_transcode_seconds: int = Field(default=3 * 3600, gt=0)
    # The line: videos up to it are transcoded by TranscodeFunction (PyAV), longer ones by MediaConvert.
    pyav_max_seconds: int = Field(default=600, gt=0)
    transcode_wall_seconds: int = Field(default=780, gt=0)  # below TranscodeFunction's 900 s timeout
    # MediaConvert (docs/formats-video.md#renditions): on when the role and the stack's name are set.
    mediaconvert_role_arn: str = ""
    mediaconvert_endpoint: str = ""  # empty: the regional endpoint
    stack_name: str = ""  # jobs carry it in UserMetadata; the EventBridge rule matches it
    # A rendition's claim is held this long for its MediaConvert job; past it the sweeper re-sends the task.
    mediaconvert_wait_seconds: int = Field(default=6 * 3600, gt=0)
    vips_concurrency: int | None = None
    # A file's claim is held this long by the invocation processing it: longer than the
    # function's timeout (900 s), so no two invocations ever process one file at once. The
    # local stack, which has no timeout to kill a stuck worker, sets its own.
    file_lease_seconds: int = Field(default=960, gt=0)
    # Delays before attempt 2, 3, 4 of a file whose processing raised (the 4th failure is an
    # UploadError row naming the error). The file goes back to its queue with the delay
    # (at most SQS's 900 s), so waiting never spends the queue's maxReceiveCount.
    file_retry_delays: tuple[int, ...] = (10, 60, 300)
    # Ghostscript for EPS/PostScript (docs/formats-postscript.md): its path (empty: the opt-in
    # layer's /opt/bin/gs, else gs on PATH) and the limits of each gs process it runs.
    ghostscript_path: str = ""
    ghostscript_timeout_seconds: float = Field(default=60.0, gt=0, le=600)
    ghostscript_memory_mb: int = Field(default=1536, ge=64)
    # Set by the local stack only: the S3 endpoint that presigned URLs must point at.
    s3_public_endpoint: str | None = None
    # ---- notifications (docs/notifications.md) ----
    notification_queue_url: str = ""
    # SES sender; empty = e-mail notifications are not configured (an UploadWarning says so).
    sender_email: str = ""
    # Base URL of the HTTP API, for the log-details link in mails and webhook payloads.
    api_url: str = ""
    # Set by the local stack only: webhooks may go to 127.0.0.0/8 and ::1.
    webhook_allow_loopback: bool = False
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # Delays before attempt 2, 3, ... of a webhook delivery (one attempt more than delays).
    webhook_retry_delays: tuple[int, ...] = (60, 300, 900, 1800, 3600, 7200, 7200)
    email_attempts: int = Field(default=3, ge=1, le=10)
    email_retry_base_seconds: float = Field(default=1.0, ge=0)
    # Domains job-end mails may go to ("example.com", "*.example.com" for its subdomains; empty = any
    # address): company admins create the users, so without it the operator's SES sender mails anyone.
    mail_allowed_domains: tuple[str, ...] = ()
    # Mails (job-end and re-sent) per company and UTC day, and re-send requests per job and per
    # company and UTC day (0 = none): a company cannot turn the operator's sender into a mass mailer.
    max_mails_per_company_day: int = Field(default=500, ge=0)
    max_resends_per_job: int = Field(default=5, ge=0)
    max_resends_per_company_day: int = Field(default=50, ge=0)
    # ---- delivery (GET /is/image/…; docs/delivery.md) ----
    # Output pixels (width × height) of one rendition: IS's default MaxPix is 2000,2000.
    delivery_max_pixels: int = Field(default=2000 * 2000, gt=0)
    # Modifiers in one query (presets expanded) and the query's length in characters.
    delivery_max_modifiers: int = Field(default=64, gt=0)
    delivery_max_query_length: int = Field(default=2048, gt=0)
    # A Lambda answer is at most 6 MB of JSON and the image travels base64-encoded (4/3).
    delivery_max_body_bytes: int = Field(default=4 * 1024**2, gt=0, le=4_500_000)
    # The CloudFront distribution in front of the route (empty: none, e.g. the local stack):
    # a re-upload invalidates the asset's renditions there.
    cdn_distribution_id: str = ""
    # Image presets ($name$ in delivery URLs, /v1/image-presets): how many a company keeps, and the
    # characters of one's modifier string.
    max_image_presets_per_company: int = Field(default=200, gt=0, le=10_000)
    max_image_preset_length: int = Field(default=1024, gt=0, le=8192)

    @property
    def mediaconvert_enabled(self) -> bool:
        return bool(self.mediaconvert_role_arn and self.stack_name)

    @field_validator("mail_allowed_domains", mode="before")
    @classmethod
    def _domain_list(cls, value: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
        return parse_mail_domains(value)


def parse_mail_domains(value: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``Example.com, *.example.org`` → ``("example.com", "*.example.org")``; a malformed entry fails the start."""
    entries = value.split(",") if isinstance(value, str) else value
    domains = tuple(entry.strip().lower().rstrip(".") for entry in entries if entry.strip())
    for domain in domains:
        if not _DOMAIN_PATTERN.fullmatch(domain):
            raise ValueError(f"MAIL_ALLOWED_DOMAINS: {domain!r} is not a domain name, *.<domain name> nor *")
    return domains


def mail_allowed_domains() -> tuple[str, ...]:
    """``MAIL_ALLOWED_DOMAINS`` alone, for createUser: the bootstrap command runs it without the functions' settings."""
    return parse_mail_domains(os.environ.get("MAIL_ALLOWED_DOMAINS", ""))


_ENV = {
    "jobs_table": "JOBS_TABLE",
    "accounts_table": "ACCOUNTS_TABLE",
    "incoming_bucket": "INCOMING_BUCKET",
    "assets_bucket": "ASSETS_BUCKET",
    "job_events_queue_url": "JOB_EVENTS_QUEUE_URL",
    "process_queue_url": "PROCESS_QUEUE_URL",
    "media_queue_url": "MEDIA_QUEUE_URL",
    "transcode_queue_url": "TRANSCODE_QUEUE_URL",
    "max_renditions_per_video": "MAX_RENDITIONS_PER_VIDEO",
    "max_transcode_seconds": "MAX_TRANSCODE_SECONDS",
    "transcode_wall_seconds": "TRANSCODE_WALL_SECONDS",
    "pyav_max_seconds": "PYAV_MAX_SECONDS",
    "mediaconvert_role_arn": "MEDIACONVERT_ROLE_ARN",
    "mediaconvert_endpoint": "MEDIACONVERT_ENDPOINT",
    "stack_name": "OPENIPS_STACK_NAME",
    "mediaconvert_wait_seconds": "MEDIACONVERT_WAIT_SECONDS",
    "job_idle_timeout_seconds": "JOB_IDLE_TIMEOUT_SECONDS",
    "max_file_size_bytes": "MAX_FILE_SIZE_BYTES",
    "max_image_pixels": "MAX_IMAGE_PIXELS",
    "auto_crop_rect_max_bytes": "AUTO_CROP_RECT_MAX_BYTES",
    "max_open_jobs_per_company": "MAX_OPEN_JOBS_PER_COMPANY",
    "max_extracted_files_per_job": "MAX_EXTRACTED_FILES_PER_JOB",
    "max_extracted_bytes_per_job": "MAX_EXTRACTED_BYTES_PER_JOB",
    "max_extracted_files_per_company_day": "MAX_EXTRACTED_FILES_PER_COMPANY_DAY",
    "max_extracted_bytes_per_company_day": "MAX_EXTRACTED_BYTES_PER_COMPANY_DAY",
    "upload_form_ttl_seconds": "UPLOAD_FORM_TTL_SECONDS",
    "missing_file_grace_seconds": "MISSING_FILE_GRACE_SECONDS",
    "paused_file_delay_seconds": "PAUSED_FILE_DELAY_SECONDS",
    "max_pause_seconds": "MAX_PAUSE_SECONDS",
    "max_files_in_flight_per_company": "MAX_FILES_IN_FLIGHT_PER_COMPANY",
    "finalize_redrive_after_seconds": "FINALIZE_REDRIVE_AFTER_SECONDS",
    "vips_concurrency": "VIPS_CONCURRENCY",
    "file_lease_seconds": "FILE_LEASE_SECONDS",
    "file_retry_delays": "FILE_RETRY_DELAYS_SECONDS",
    "ghostscript_path": "GHOSTSCRIPT_PATH",
    "ghostscript_timeout_seconds": "GHOSTSCRIPT_TIMEOUT_SECONDS",
    "ghostscript_memory_mb": "GHOSTSCRIPT_MEMORY_MB",
    "s3_public_endpoint": "OPENIPS_S3_PUBLIC_ENDPOINT",
    "notification_queue_url": "NOTIFICATION_QUEUE_URL",
    "sender_email": "SENDER_EMAIL",
    "api_url": "API_BASE_URL",
    "webhook_allow_loopback": "WEBHOOK_ALLOW_LOOPBACK",
    "webhook_timeout_seconds": "WEBHOOK_TIMEOUT_SECONDS",
    "webhook_retry_delays": "WEBHOOK_RETRY_DELAYS_SECONDS",
    "email_attempts": "EMAIL_ATTEMPTS",
    "email_retry_base_seconds": "EMAIL_RETRY_BASE_SECONDS",
    "mail_allowed_domains": "MAIL_ALLOWED_DOMAINS",
    "max_mails_per_company_day": "MAX_MAILS_PER_COMPANY_DAY",
    "max_resends_per_job": "MAX_RESENDS_PER_JOB",
    "max_resends_per_company_day": "MAX_RESENDS_PER_COMPANY_DAY",
    "delivery_max_pixels": "DELIVERY_MAX_PIXELS",
    "delivery_max_modifiers": "DELIVERY_MAX_MODIFIERS",
    "delivery_max_query_length": "DELIVERY_MAX_QUERY_LENGTH",
    "delivery_max_body_bytes": "DELIVERY_MAX_BODY_BYTES",
    "cdn_distribution_id": "CDN_DISTRIBUTION_ID",
    "max_image_presets_per_company": "MAX_IMAGE_PRESETS_PER_COMPANY",
    "max_image_preset_length": "MAX_IMAGE_PRESET_LENGTH",
}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process; tests call ``get_settings.cache_clear()``."""
    values: dict = {field: os.environ[var] for field, var in _ENV.items() if os.environ.get(var)}
    for name in ("webhook_retry_delays", "file_retry_delays"):  # "60,300,900"
        if name in values:
            values[name] = tuple(int(v) for v in values[name].split(",") if v.strip())
    return Settings.model_validate(values)
