"""Per-file processing: one uploaded object becomes an asset or a job-log row saying why not.

Order of work for one object, chosen so that a retry after a crash at any point
repeats the same decision and counts the file once:

1. claim the object (conditional put keyed on key + ETag), counting it as received;
2. check the path and size, download it, and hand it to the format that recognises it
   (``services.ingest.registry``), which decodes and optimizes it (no side effects yet);
3. decide the asset (new / update / duplicate) with conditional writes, and remember the
   decision on the claim;
4. copy the master and write the pyramid TIFF under the asset;
5. in one transaction: claim done, job counters, log rows. The upload itself stays under
   ``incoming/`` until the job ends (``finalize`` removes it), so that closing a job can
   count every object that was uploaded to it.

Permanent failures (``FileRejectedError``) keep the bytes under ``quarantine/`` and log an
``UploadError``; transient ones are re-raised so SQS retries, until the attempt limit
turns them into a logged ``UploadError`` too.

Job control: a file of a paused job is not claimed but sent back to the queue with a
delay that grows with the pause; a file whose processing had not started when its job was
stopped is kept under ``quarantine/`` with a ``FileCancel`` row.

Shared capacity: before its claim, a file takes one of its company's in-flight slots
(``max_files_in_flight_per_company``) and gives it back once completed; a file over the limit
goes back to the queue unclaimed (``Throttled``) for a few seconds (docs/security.md).
"""

from __future__ import annotations

import math
import os
import posixpath
import secrets
import tempfile
from datetime import datetime, timedelta
from typing import NoReturn

from openips.models import errors
from openips.models.domain import Company, FileClaim, Job, LogEntry, LogType, utcnow
from openips.models.events import IncomingObject, S3Notification
from openips.models.messages import message
from openips.models.outcomes import FileOutcome, Handling, Outcome
from openips.observability import logger
from openips.services import naming
from openips.services.deps import Deps
from openips.services.ingest import registry
from openips.services.ingest.context import Upload
from openips.services.ingest.outcome import FileResult, duplicate_result
from openips.services.ingest.quarantine import keep, quarantine
from openips.services.ingest.sniff import HEAD_BYTES, Sniff
from openips.services.jobs import finish_if_complete
from openips.services.keys import UPLOADED_FROM, IncomingKey, claim_id_for, parse_incoming_key
from openips.services.projects import live_projects

MAX_ATTEMPTS = 4  # below the queue's maxReceiveCount (5): the last try is logged, not lost
MAX_LATE_KEPT = 10  # files arriving after their job ended that are still kept (quarantine/)
MAX_SQS_DELAY = 900  # SQS DelaySeconds; a longer wait is another turn in the queue
THROTTLED_DELAY_SECONDS = (5, 15)  # a throttled file comes back after a random delay in this range


def process_notification(deps: Deps, notification: S3Notification, body: str, now: datetime, *,
                         media: bool = False) -> list[Outcome]:
    """Process every uploaded object of one ProcessQueue (or, with ``media``, MediaQueue) message.

    Returns their outcomes. ProcessFileFunction has no PyAV: a video it is given goes to
    MediaQueue unclaimed and uncounted (``HandedToMedia``), and MediaFunction, which calls this
    with ``media=True``, processes it the same way as any file (docs/formats-video.md).

    An object that must wait (its job is paused, another attempt holds its claim, or its last
    attempt failed and the retry is not due) goes back to the queue in a new, delayed message,
    and this one is acknowledged: waiting spends none of the queue's receives
    (``maxReceiveCount``), so only a crashed invocation can move a file towards the
    dead-letter queue, and the claim's attempts bound the retries on AWS and locally alike.
    """
    outcomes: list[Outcome] = []
    queue = deps.media_queue if media else deps.process_queue
    for record in notification.records:
        if not record.event_name.startswith("ObjectCreated:"):
            continue
        obj = IncomingObject.from_record(record)
        logger.append_keys(s3_key=obj.key)
        if not media and _is_video(deps, obj):
            deps.media_queue.send(S3Notification(records=[record]).model_dump_json(by_alias=True, exclude_none=True))
            outcome: Outcome = Handling.HANDED_TO_MEDIA
        else:
            try:
                outcome = process_object(deps, obj, now, media=media)
            except errors.RetryLater as wait:
                # The body as S3 sent it when it holds this record alone (every field kept).
                alone = body if len(notification.records) == 1 else S3Notification(records=[record]).model_dump_json(
                    by_alias=True, exclude_none=True)
                queue.defer(alone, min(wait.seconds, MAX_SQS_DELAY))
                outcome = wait.outcome
        logger.info("file handled", outcome=outcome, size=obj.size)
        outcomes.append(outcome)
    return outcomes


def _is_video(deps: Deps, obj: IncomingObject) -> bool:
    """Whether the object is MediaFunction's (one ranged GET of its first bytes; a gone object is not)."""
    head = deps.storage.read_prefix(obj.bucket, obj.key, HEAD_BYTES)
    extension = posixpath.splitext(obj.key)[1].lstrip(".").lower()
    return head is not None and registry.hands_over(Sniff(head, obj.size, extension))


def process_object(deps: Deps, obj: IncomingObject, now: datetime, *, media: bool = False) -> Outcome:
    """Process one uploaded object; returns what happened (for logs and metrics).

    Raises ``RetryLater`` when the object must come back later (see ``process_notification``).
    """
    parsed = parse_incoming_key(obj.key)
    job = deps.jobs.get(parsed.job_handle) if parsed else None
    if parsed is None or job is None or job.company_handle != parsed.company_handle:
        # No job to log against: keep the bytes and say so loudly in the function log.
        kept = quarantine(deps, obj, None)
        if kept:
            deps.storage.delete(obj.bucket, obj.key)
        logger.error("object under incoming/ belongs to no known job; kept in quarantine",
                     s3_key=obj.key, quarantine_key=kept)
        return Handling.UNATTRIBUTED
    logger.append_keys(job_handle=job.job_handle, file_path=parsed.relative)
    if job.paused:  # not claimed: neither counted nor started until resumeJob
        raise errors.RetryLater(paused_delay(deps, job, now), Handling.PAUSED)

    lease = timedelta(seconds=deps.settings.file_lease_seconds)
    # The company's share of the processing (docs/security.md): over it, the file waits
    # unclaimed, so it spends no attempt, and other companies' files overtake it.
    holder = secrets.token_hex(8)
    if not deps.quotas.take_inflight_slot(job.company_handle, holder, now + lease,
                                         deps.settings.max_files_in_flight_per_company, now):
        raise errors.RetryLater(throttled_delay(), Handling.THROTTLED)
    try:
        result = _claim_and_process(deps, job, obj, parsed, now, lease, media=media)
    finally:
        _release_slot(deps, job.company_handle, holder)
    if result is None:
        return Handling.DUPLICATE_DELIVERY
    # An upload stays under incoming/ until the job ends: the objects there are what closing
    # the job counts. A late file, or an archive member (never counted that way), goes now.
    if job.finished or parsed.extracted:
        deps.storage.delete(obj.bucket, obj.key)
    if not job.finished:
        finish_if_complete(deps, job.job_handle, now)
    return result.outcome


def _claim_and_process(deps: Deps, job: Job, obj: IncomingObject, parsed: IncomingKey, now: datetime,
                       lease: timedelta, *, media: bool) -> FileResult | None:
    """Claim the file, process it and complete it (one transaction); None for a file already done."""
    claim = FileClaim(job_handle=job.job_handle, claim_id=claim_id_for(obj.key, obj.version), path=parsed.relative,
                      lease_until=now + lease, claimed=now, attempt_started=now, key=obj.key, version=obj.version)
    claimed = deps.claims.claim_file(claim, now)
    if claimed.status == "done":
        return None
    if claimed.status == "busy":  # back when the holder's lease ends (a crash never released it)
        wait = (claimed.claim.lease_until - now).total_seconds()
        raise errors.RetryLater(math.ceil(max(wait, 0)) + 1, Handling.BUSY)
    claim = claimed.claim
    try:
        result = _file_result(deps, job, claim, claimed.status == "new", obj, parsed, now, media=media)
    except Exception as exc:  # noqa: BLE001 - whatever a format's code raises, the file ends in a row
        result = _failed_attempt(deps, claim, obj, parsed, exc, now)

    # Rows are dated when they are written, so the log reads in completion order.
    written = max(now, utcnow())
    rows = [row.model_copy(update={"date_created": written}) for row in result.rows]
    try:
        deps.claims.complete(claim, result.counts, rows, result.asset_handle, completed=written,
                                 result=result.outcome, more_expected=result.more_expected)
    except Exception as exc:  # noqa: BLE001 - nothing was counted (one transaction): the retry repeats the file
        _retry_later(deps, claim, exc, now)
    return result


def paused_delay(deps: Deps, job: Job, now: datetime) -> int:
    """How long a file of a paused job waits before it comes back: ``paused_file_delay_seconds`` at first,
    then a tenth of the time the job has been paused (resumeJob reaches it that much later at most),
    at most SQS's 900 s; the sweeper ends a pause past ``max_pause_seconds``."""
    paused = (now - (job.paused_at or job.last_activity)).total_seconds()
    return int(min(MAX_SQS_DELAY, max(deps.settings.paused_file_delay_seconds, paused // 10)))


def throttled_delay() -> int:
    """When a file over its company's in-flight limit comes back: a few seconds, spread so a burst does not
    return at once."""
    low, high = THROTTLED_DELAY_SECONDS
    return low + secrets.randbelow(high - low + 1)


def _release_slot(deps: Deps, company_handle: str, holder: str) -> None:
    try:
        deps.quotas.release_inflight_slot(company_handle, holder)
    except Exception:  # noqa: BLE001 - never hides the file's outcome; the slot's lease ends on its own
        logger.exception("in-flight slot not released; it is freed when its lease ends", holder=holder)


def _file_result(deps: Deps, job: Job, claim: FileClaim, first: bool, obj: IncomingObject, parsed: IncomingKey,
                 now: datetime, *, media: bool) -> FileResult:
    """What becomes of one claimed file: its asset(s) and rows, or the row that says why not."""
    company = deps.companies.get(job.company_handle)
    if claim.attempts > MAX_ATTEMPTS:  # the earlier attempts crashed or timed out without a word
        return _reject(deps, obj, parsed, errors.FileRejectedError(
            f"processing failed {claim.attempts - 1} times (crash or timeout)", "file.retries_exhausted"), now)
    if job.finished:  # the form outlives the job: past a few late files, they are not copied any more
        late = deps.jobs.count_late_file(job.job_handle)
        return _reject(deps, obj, parsed, errors.JobClosedError(
            f"the file arrived after job {job.name} had ended, so it was not processed"), now,
            kept=late <= MAX_LATE_KEPT)
    if job.stopping and first:  # a retry had started before the stop: it finishes
        return _cancel(deps, obj, parsed, job, now)
    if not parsed.relative.strip("/"):
        return _reject(deps, obj, parsed, errors.InvalidPathError(
            "its key ends at the job's key prefix and names no file; POST each file with "
            "key = keyPrefix + its relative path"), now)
    if company is not None and company.enforce_same_ip and not parsed.extracted and _other_ip(deps, job, obj):
        return _reject(deps, obj, parsed, errors.SourceIpMismatchError(
            f"it was uploaded from {obj.source_ip}, but job {job.name} was opened from {job.source_ip}; "
            "every file of a job must come from the IP address that opened it"), now)
    try:
        return _ingest(deps, job, company, claim, obj, parsed, now, media=media)
    except errors.FileRejectedError as exc:
        return _reject(deps, obj, parsed, exc, now)


def _failed_attempt(deps: Deps, claim: FileClaim, obj: IncomingObject, parsed: IncomingKey, exc: Exception,
                    now: datetime) -> FileResult:
    """An attempt that raised: retried after a delay, and on the last attempt an ``UploadError`` naming the error."""
    if claim.attempts > len(deps.settings.file_retry_delays) or claim.attempts >= MAX_ATTEMPTS:
        logger.exception("file failed on its last attempt", attempts=claim.attempts)
        error = f"{type(exc).__name__}: {exc}"[:500]
        return _reject(deps, obj, parsed, errors.FileRejectedError(
            f"processing failed {claim.attempts} times; the last error was {error}", "file.failed"), now)
    _retry_later(deps, claim, exc, now)


def _retry_later(deps: Deps, claim: FileClaim, exc: Exception, now: datetime) -> NoReturn:
    delays = deps.settings.file_retry_delays
    delay = delays[min(claim.attempts, len(delays)) - 1] if delays else 0
    error = f"{type(exc).__name__}: {exc}"[:500]
    logger.warning("file failed; it will be retried", attempts=claim.attempts, retry_in=delay, error=error)
    # The claim is kept (lease) until the retry is due, so the retry, and no one else, takes it.
    deps.claims.hold(claim, now + timedelta(seconds=delay), error)
    raise errors.RetryLater(delay, Handling.RETRYING) from exc


def _reject(deps: Deps, obj: IncomingObject, parsed: IncomingKey,
            exc: errors.FileRejectedError, now: datetime, kept: bool = True) -> FileResult:
    params = {"path": parsed.relative or obj.key, "reason": exc.message,
              "kept": keep(deps, obj, parsed) if kept else message("file.late_not_kept", limit=MAX_LATE_KEPT)}
    logger.warning("file rejected", code=exc.code, reason=exc.message)
    row = LogEntry.localised(LogType.UPLOAD_ERROR, "file.rejected", params, now,
                             file_path=parsed.relative, code=exc.code)
    return FileResult(FileOutcome.UPLOAD_ERROR, [row], {"error": 1, "total_size": obj.size})


def _cancel(deps: Deps, obj: IncomingObject, parsed: IncomingKey, job: Job, now: datetime) -> FileResult:
    """stopJob/deleteJob: a file not started yet is kept aside unprocessed (an error, logged ``FileCancel``)."""
    params = {"path": parsed.relative, "job": job.name, "by": job.stopped_by, "kept": keep(deps, obj, parsed)}
    row = LogEntry.localised(LogType.FILE_CANCEL, "file.cancelled", params, now,
                             file_path=parsed.relative, code="job.stopped")
    return FileResult(FileOutcome.FILE_CANCEL, [row], {"error": 1, "cancelled": 1, "total_size": obj.size})


def _other_ip(deps: Deps, job: Job, obj: IncomingObject) -> bool:
    """True when both addresses are known and differ (moto's events carry none).

    A file the UploadFile servlet wrote for its caller reached S3 from IpsWireFunction's address;
    the caller's is in the object's metadata (``UPLOADED_FROM``), which only openips' own writers can
    set: presigned POST policies allow no metadata field.
    """
    if not (job.source_ip and obj.source_ip and job.source_ip != obj.source_ip):
        return False
    return deps.storage.user_metadata(obj.bucket, obj.key).get(UPLOADED_FROM) != job.source_ip


def _ingest(deps: Deps, job: Job, company: Company | None, claim: FileClaim, obj: IncomingObject,
            parsed: IncomingKey, now: datetime, *, media: bool = False) -> FileResult:
    """Dispatch: the checks a file passes before its download, then the format that recognises it."""
    target = naming.target_path(job.dest_folder, parsed.relative)
    if company is None:
        raise errors.TransientError(f"company {job.company_handle} not found")
    max_size = min(company.max_file_size or deps.settings.max_file_size_bytes,
                   deps.settings.max_file_size_bytes)
    if obj.size > max_size:
        raise errors.FileTooLargeError(f"the file has {obj.size} bytes; the limit is {max_size}")
    _check_file_type(company, target.extension)

    # One look at the name before any download: a skipped duplicate is never decoded, and the
    # asset this upload will most likely replace gives preserveCrop its crop. The real
    # decision (conditional writes) is taken after optimizing, in decide_asset.
    existing = deps.assets.find_by_name(company.company_handle, target.asset_name)
    if (claim.outcome is None and existing is not None and not job.options.overwrite
            and existing.last_claim != claim.claim_id):  # not this file's own asset from a failed attempt
        return duplicate_result(deps, claim, target, now, obj.size)
    projects, gone = live_projects(deps, company.company_handle, job.options.project_handle_array)
    replacing = existing if (existing is not None and job.options.overwrite and naming.overwrite_matches(
        company.overwrite_mode, existing, target)) else None

    with tempfile.TemporaryDirectory(prefix="openips-") as tmp:
        source = os.path.join(tmp, "source")
        deps.storage.download(obj.bucket, obj.key, source)
        sniff = Sniff.of_file(source, target.extension)  # the one read of the first bytes every format asks
        if sniff.size == 0:
            raise errors.EmptyFileError("the file is empty (0 bytes)")
        chosen = registry.format_for(sniff, media_function=media)
        upload = Upload(deps=deps, job=job, company=company, claim=claim, obj=obj, key=parsed, target=target,
                        source=source, size=sniff.size, tmp=tmp, now=now, projects=tuple(projects),
                        gone=tuple(gone), replacing=replacing, max_size=max_size, sniff=sniff,
                        log_file_types=chosen.log_file_types)
        return chosen.ingest(upload)


def _check_file_type(company: Company, extension: str) -> None:
    shown = f".{extension}" if extension else "without an extension"
    if extension in company.blocked_file_types:
        raise errors.FileTypeNotAllowedError(f"files {shown} are blocked by the company's settings (blockedFileTypes)")
    if company.allowed_file_types is not None and extension not in company.allowed_file_types:
        raise errors.FileTypeNotAllowedError(
            f"files {shown} are not among the company's allowed file types (allowedFileTypes: "
            f"{', '.join(company.allowed_file_types) or 'none'})")
