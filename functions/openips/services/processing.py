"""Per-file processing: one uploaded object becomes an asset or a job-log row saying why not.

Order of work for one object, chosen so that a retry after a crash at any point
repeats the same decision and counts the file once:

1. claim the object (conditional put keyed on key + ETag), counting it as received;
2. check the path and size, download it, decode and optimize it (no side effects yet);
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
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import NoReturn
from urllib.parse import quote

from openips.imaging import photoshop, video_sniff
from openips.imaging.optimize import optimize
from openips.imaging.pipeline import StepContext
from openips.models import errors
from openips.models.domain import (
    Asset,
    Company,
    FileClaim,
    Job,
    LogAux,
    LogEntry,
    LogType,
    PublishState,
    VideoInfo,
    new_handle,
    utcnow,
)
from openips.models.events import IncomingObject, S3Notification
from openips.models.keywords import merge_keywords, parse_xmp_keywords
from openips.models.metadata import apply_updates
from openips.models.messages import details, message
from openips.models.processing import CropRect
from openips.observability import logger
from openips.services import archives, documents, naming, photoshop_layers, postscript
from openips.services.deps import Deps
from openips.services.jobs import finish_if_complete
from openips.services.keys import (
    IncomingKey,
    claim_id_for,
    extracted_prefix,
    parse_incoming_key,
    quarantine_key,
)
from openips.services.options import ICC_EXTENSIONS, MAX_PROFILE_BYTES, is_icc_profile, processing_options
from openips.services.projects import live_projects

MAX_ATTEMPTS = 4  # below the queue's maxReceiveCount (5): the last try is logged, not lost
MAX_LATE_KEPT = 10  # files arriving after their job ended that are still kept (quarantine/)
MAX_SQS_DELAY = 900  # SQS DelaySeconds; a longer wait is another turn in the queue
PAUSED = "Paused"
THROTTLED = "Throttled"  # its company has max_files_in_flight_per_company files in flight
THROTTLED_DELAY_SECONDS = (5, 15)  # a throttled file comes back after a random delay in this range
BUSY = "Busy"  # another attempt holds the file's claim
RETRYING = "Retrying"  # this attempt failed; the next is due after a delay
HANDED_TO_MEDIA = "HandedToMedia"  # a video: MediaFunction claims and processes it


@dataclass
class FileResult:
    outcome: str
    rows: list[LogEntry] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    asset_handle: str | None = None
    more_expected: int = 0  # archive members written for processing


def process_notification(deps: Deps, notification: S3Notification, body: str, now: datetime, *,
                         media: bool = False) -> list[str]:
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
    outcomes = []
    queue = deps.media_queue if media else deps.process_queue
    for record in notification.records:
        if not record.event_name.startswith("ObjectCreated:"):
            continue
        obj = IncomingObject.from_record(record)
        logger.append_keys(s3_key=obj.key)
        if not media and _is_video(deps, obj):
            deps.media_queue.send(S3Notification(records=[record]).model_dump_json(by_alias=True, exclude_none=True))
            outcome = HANDED_TO_MEDIA
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
    """Whether the object starts like a video container (one ranged GET; a gone object is not)."""
    head = deps.storage.read_prefix(obj.bucket, obj.key, video_sniff.SNIFF_BYTES)
    return head is not None and video_sniff.sniff(head, obj.size) is not None


def process_object(deps: Deps, obj: IncomingObject, now: datetime, *, media: bool = False) -> str:
    """Process one uploaded object; returns what happened (for logs and metrics).

    Raises ``RetryLater`` when the object must come back later (see ``process_notification``).
    """
    parsed = parse_incoming_key(obj.key)
    job = deps.store.get_job(parsed.job_handle) if parsed else None
    if parsed is None or job is None or job.company_handle != parsed.company_handle:
        # No job to log against: keep the bytes and say so loudly in the function log.
        kept = _quarantine(deps, obj, None)
        if kept:
            deps.storage.delete(obj.bucket, obj.key)
        logger.error("object under incoming/ belongs to no known job; kept in quarantine",
                     s3_key=obj.key, quarantine_key=kept)
        return "Unattributed"
    logger.append_keys(job_handle=job.job_handle, file_path=parsed.relative)
    if job.paused:  # not claimed: neither counted nor started until resumeJob
        raise errors.RetryLater(paused_delay(deps, job, now), PAUSED)

    lease = timedelta(seconds=deps.settings.file_lease_seconds)
    # The company's share of the processing (docs/security.md): over it, the file waits
    # unclaimed, so it spends no attempt, and other companies' files overtake it.
    holder = secrets.token_hex(8)
    if not deps.store.take_inflight_slot(job.company_handle, holder, now + lease,
                                         deps.settings.max_files_in_flight_per_company, now):
        raise errors.RetryLater(throttled_delay(), THROTTLED)
    try:
        result = _claim_and_process(deps, job, obj, parsed, now, lease, media=media)
    finally:
        _release_slot(deps, job.company_handle, holder)
    if result is None:
        return "DuplicateDelivery"
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
    claimed = deps.store.claim_file(claim, now)
    if claimed.status == "done":
        return None
    if claimed.status == "busy":  # back when the holder's lease ends (a crash never released it)
        wait = (claimed.claim.lease_until - now).total_seconds()
        raise errors.RetryLater(math.ceil(max(wait, 0)) + 1, BUSY)
    claim = claimed.claim
    try:
        result = _file_result(deps, job, claim, claimed.status == "new", obj, parsed, now, media=media)
    except Exception as exc:  # noqa: BLE001 - whatever a format's code raises, the file ends in a row
        result = _failed_attempt(deps, claim, obj, parsed, exc, now)

    # Rows are dated when they are written, so the log reads in completion order.
    written = max(now, utcnow())
    rows = [row.model_copy(update={"date_created": written}) for row in result.rows]
    try:
        deps.store.complete_file(claim, result.counts, rows, result.asset_handle, completed=written,
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
        deps.store.release_inflight_slot(company_handle, holder)
    except Exception:  # noqa: BLE001 - never hides the file's outcome; the slot's lease ends on its own
        logger.exception("in-flight slot not released; it is freed when its lease ends", holder=holder)


def _file_result(deps: Deps, job: Job, claim: FileClaim, first: bool, obj: IncomingObject, parsed: IncomingKey,
                 now: datetime, *, media: bool) -> FileResult:
    """What becomes of one claimed file: its asset(s) and rows, or the row that says why not."""
    company = deps.store.get_company(job.company_handle)
    if claim.attempts > MAX_ATTEMPTS:  # the earlier attempts crashed or timed out without a word
        return _reject(deps, obj, parsed, errors.FileRejectedError(
            f"processing failed {claim.attempts - 1} times (crash or timeout)", "file.retries_exhausted"), now)
    if job.finished:  # the form outlives the job: past a few late files, they are not copied any more
        late = deps.store.count_late_file(job.job_handle)
        return _reject(deps, obj, parsed, errors.JobClosedError(
            f"the file arrived after job {job.name} had ended, so it was not processed"), now,
            keep=late <= MAX_LATE_KEPT)
    if job.stopping and first:  # a retry had started before the stop: it finishes
        return _cancel(deps, obj, parsed, job, now)
    if not parsed.relative.strip("/"):
        return _reject(deps, obj, parsed, errors.InvalidPathError(
            "its key ends at the job's key prefix and names no file; POST each file with "
            "key = keyPrefix + its relative path"), now)
    if company is not None and company.enforce_same_ip and not parsed.extracted and _other_ip(job, obj):
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
    deps.store.hold_claim(claim, now + timedelta(seconds=delay), error)
    raise errors.RetryLater(delay, RETRYING) from exc


def _reject(deps: Deps, obj: IncomingObject, parsed: IncomingKey,
            exc: errors.FileRejectedError, now: datetime, keep: bool = True) -> FileResult:
    params = {"path": parsed.relative or obj.key, "reason": exc.message,
              "kept": _keep(deps, obj, parsed) if keep else message("file.late_not_kept", limit=MAX_LATE_KEPT)}
    logger.warning("file rejected", code=exc.code, reason=exc.message)
    row = LogEntry.localised(LogType.UPLOAD_ERROR, "file.rejected", params, now,
                             file_path=parsed.relative, code=exc.code)
    return FileResult("UploadError", [row], {"error": 1, "total_size": obj.size})


def _cancel(deps: Deps, obj: IncomingObject, parsed: IncomingKey, job: Job, now: datetime) -> FileResult:
    """stopJob/deleteJob: a file not started yet is kept aside unprocessed (an error, logged ``FileCancel``)."""
    params = {"path": parsed.relative, "job": job.name, "by": job.stopped_by, "kept": _keep(deps, obj, parsed)}
    row = LogEntry.localised(LogType.FILE_CANCEL, "file.cancelled", params, now,
                             file_path=parsed.relative, code="job.stopped")
    return FileResult("FileCancel", [row], {"error": 1, "cancelled": 1, "total_size": obj.size})


def _keep(deps: Deps, obj: IncomingObject, owner: IncomingKey) -> dict:
    """Quarantine the upload; the sentence that says where it went, for its log row."""
    kept = _quarantine(deps, obj, owner)
    return message("file.kept", location=f"s3://{obj.bucket}/{kept}") if kept else message("file.gone")


def _quarantine(deps: Deps, obj: IncomingObject, owner: IncomingKey | None) -> str | None:
    """Copy the upload under ``quarantine/`` (its job's, when verified); None when the object is already gone."""
    if deps.storage.head_size(obj.bucket, obj.key) is None:
        return None
    target = quarantine_key(obj.key, owner)
    deps.storage.copy(obj.bucket, obj.key, obj.bucket, target, metadata={"original-key": quote(obj.key, safe="/")})
    return target


def _other_ip(job: Job, obj: IncomingObject) -> bool:
    """True when both addresses are known and differ (moto's events carry none)."""
    return bool(job.source_ip and obj.source_ip and job.source_ip != obj.source_ip)


@dataclass(frozen=True)
class Content:
    """What one processed file gives its asset."""

    type: str  # IPS asset type: "Image" or "IccProfile"
    summary: str  # for the log row, e.g. "1200×800, pyramid TIFF, jpeg"
    width: int | None = None
    height: int | None = None
    optimized_path: str | None = None
    mask_path: str | None = None
    crop: CropRect | None = None
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    video: VideoInfo | None = None  # Video and MasterVideo assets


# Job Log File Types (spec §8.7) for the asset a row names.
LOG_FILE_TYPES = {"Image": "MasterImage", "IccProfile": "IccProfile", "Zip": "Zip",
                  "PostScript": "NoType",  # Job Log File Types have no PostScript value
                  "Video": "Video", "MasterVideo": "Video",  # nor a MasterVideo one
                  "Pdf": "Pdf", "Illustrator": "NoType", "InDesign": "NoType"}


def _ingest(deps: Deps, job: Job, company: Company | None, claim: FileClaim, obj: IncomingObject,
            parsed: IncomingKey, now: datetime, *, media: bool = False) -> FileResult:
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
    existing = deps.store.find_asset_by_name(company.company_handle, target.asset_name)
    if claim.outcome is None and existing is not None and not job.options.overwrite:
        return duplicate_result(deps, claim, target, now, obj.size)
    projects, gone = live_projects(deps, company.company_handle, job.options.project_handle_array)
    replacing = existing if (existing is not None and job.options.overwrite and naming.overwrite_matches(
        company.overwrite_mode, existing, target)) else None

    with tempfile.TemporaryDirectory(prefix="openips-") as tmp:
        source = os.path.join(tmp, "source")
        deps.storage.download(obj.bucket, obj.key, source)
        size = os.path.getsize(source)
        if size == 0:
            raise errors.EmptyFileError("the file is empty (0 bytes)")
        if media:  # MediaFunction: what the video sniff routed to it (docs/formats-video.md)
            from openips.services import media as videos  # PyAV is in MediaLayer only, never in ProcessFile

            return videos.ingest(deps, job, company, claim, obj, target, source, size, tmp, now, projects, gone,
                                 replacing)
        kind = archives.archive_kind(source)
        if kind is not None and _uncompress(job):
            return _extract(deps, job, claim, obj, parsed, target, source, size, kind, max_size, now)
        document = documents.document_kind(source, target.extension) if kind is None else None
        if document is not None:  # PDF, Illustrator (docs/formats.md)
            return documents.ingest(deps, job, company, claim, obj, target, source, size, tmp, document, now,
                                    projects, gone)
        if kind is None and photoshop_layers.maintain_layers(job) and photoshop.is_psd_file(source):
            return photoshop_layers.ingest(deps, job, company, claim, obj, target, source, size, tmp, now,
                                           projects, gone, replacing)
        if kind is not None:
            content = Content(type="Zip", summary=f"{archives.KIND_LABELS[kind]} archive, stored whole")
        elif target.extension in ICC_EXTENSIONS:
            content = _profile_content(source, size)
        elif photoshop.is_psd_file(source):  # PSD (docs/formats.md#photoshop-files-photoshopoptions)
            content = _photoshop_content(deps, job, company, target, source, tmp, replacing)
        elif postscript.is_postscript(source, target.extension):  # EPS, PS (docs/formats-postscript.md)
            # Its own flow: the asset may carry search words (extractSearchWords), as documents' do.
            return postscript.ingest(deps, job, company, claim, obj, target, source, size, tmp, now, projects, gone,
                                     replacing)
        else:
            content = image_content(deps, job, company, target, source, tmp, replacing)
        return single_asset(deps, job, company, claim, obj, target, content, size, now, projects, gone)


def single_asset(deps: Deps, job: Job, company: Company, claim: FileClaim, obj: IncomingObject,
                 target: naming.TargetPath, content: Content, size: int, now: datetime, projects: list[str],
                 gone: list[str]) -> FileResult:
    """A file that is one asset, once its content is made: decided (spec §9.2), stored, and its one row."""
    content = with_job_metadata(job, content, projects, gone)
    outcome, asset = decide_asset(deps, job, company, claim, target, content, size, now, projects)
    if outcome == "DuplicateSkipped":
        return duplicate_result(deps, claim, target, now, size)
    assert asset is not None
    store_asset(deps, obj, outcome, asset, content, projects)
    row = file_row(outcome, target, asset, content.summary, content, now)
    return FileResult(outcome, [row], file_counts(outcome, size, bool(content.warnings)), asset.asset_handle)


def store_asset(deps: Deps, obj: IncomingObject, outcome: str, asset: Asset, content: Content,
                projects: list[str]) -> None:
    """The upload's asset: its master (the uploaded bytes), pyramid TIFF and mask, its record, its projects."""
    bucket = deps.settings.assets_bucket
    deps.storage.copy(obj.bucket, obj.key, bucket, asset.master_key)
    if content.optimized_path and asset.optimized_key:
        deps.storage.upload(content.optimized_path, bucket, asset.optimized_key, "image/tiff")
    if content.mask_path and asset.mask_key:
        deps.storage.upload(content.mask_path, bucket, asset.mask_key, "image/tiff")
    if outcome == "FileUpdated":
        deps.store.replace_asset(asset)
    deps.store.link_project_assets(projects, asset.asset_handle)


def file_row(outcome: str, target: naming.TargetPath, asset: Asset, summary: str, content: Content,
             now: datetime, aux: list[LogAux] | None = None) -> LogEntry:
    """The file's one row (spec §8.7): every colour and crop decision in it, each warning an ``auxArray`` entry."""
    created = outcome == "UploadSuccess"
    params = {"path": target.path, "asset": asset.name, "summary": summary, "details": details(content.notes)}
    aux = [*(aux or []), *(LogAux.warning("file.warning", {"path": target.path, "warning": w}, now)
                           for w in content.warnings)]
    return LogEntry.localised(LogType.UPLOAD_SUCCESS if created else LogType.FILE_UPDATED,
                              "file.created" if created else "file.updated", params, now,
                              asset_name=asset.name, asset_type=LOG_FILE_TYPES.get(content.type, "NoType"),
                              asset_handle=asset.asset_handle, file_path=target.path, aux=aux)


def file_counts(outcome: str, size: int, warned: bool) -> dict[str, int]:
    counts = {"success" if outcome == "UploadSuccess" else "update": 1, "total_size": size}
    if warned:
        counts["warning"] = 1
    return counts


def _check_file_type(company: Company, extension: str) -> None:
    shown = f".{extension}" if extension else "without an extension"
    if extension in company.blocked_file_types:
        raise errors.FileTypeNotAllowedError(f"files {shown} are blocked by the company's settings (blockedFileTypes)")
    if company.allowed_file_types is not None and extension not in company.allowed_file_types:
        raise errors.FileTypeNotAllowedError(
            f"files {shown} are not among the company's allowed file types (allowedFileTypes: "
            f"{', '.join(company.allowed_file_types) or 'none'})")


def _uncompress(job: Job) -> bool:
    options = job.options.un_compress_options
    return options is not None and options.process == "UnCompress"


def _extract(deps: Deps, job: Job, claim: FileClaim, obj: IncomingObject, parsed: IncomingKey,
             target: naming.TargetPath, source: str, size: int, kind: archives.ArchiveKind, max_size: int,
             now: datetime) -> FileResult:
    """``UnCompress``: write the archive's members back into the job; they count as its files."""
    limits = archives.Limits(max_member_bytes=max_size)
    if parsed.depth + 1 > limits.max_depth:
        raise archives.ArchiveRefusedError(f"it is an archive inside {parsed.depth} archives; archives are "
                                           f"extracted at most {limits.max_depth} levels deep")
    plan = archives.plan_extraction(source, kind, size, limits)
    _reserve_extraction(deps, job, claim, plan, now)
    prefix = extracted_prefix(job, claim.claim_id, parsed.depth + 1)
    folder = posixpath.dirname(parsed.relative)
    refused, written = list(plan.refused), 0
    with archives.opened(source, kind) as open_member:
        for member in plan.members:
            key = prefix + (f"{folder}/" if folder else "") + member.path
            try:
                with open_member(member) as stream:
                    deps.storage.upload_stream(stream, deps.settings.incoming_bucket, key)
                written += 1
            except archives.MEMBER_READ_ERRORS as exc:
                refused.append((member.name, f"its data is damaged ({exc})"))
    rows = [LogEntry.localised(LogType.UPLOAD_ERROR, "archive.member_refused",
                               {"member": name, "archive": target.path, "reason": why}, now,
                               file_path=f"{target.path}/{name}", code="archive.member_refused")
            for name, why in refused]
    params = {"path": target.path, "kind": archives.KIND_LABELS[kind], "count": written,
              "skipped": message("archive.skipped", count=plan.skipped) if plan.skipped else "",
              "refused": message("archive.refused", count=len(refused)) if refused else "",
              "kept": _keep(deps, obj, parsed) if refused else ""}  # the archive stays for inspection
    rows.insert(0, LogEntry.localised(LogType.UPLOAD_SUCCESS, "archive.extracted", params, now,
                                      file_path=target.path, asset_type="Zip"))
    n = len(refused)  # each refused member is one file of the job, received and in error
    counts = {"success": 1, "total_size": size, "received": n, "done": n, "error": n}
    return FileResult("Extracted", rows, counts, more_expected=written + n)


def _reserve_extraction(deps: Deps, job: Job, claim: FileClaim, plan: archives.Plan, now: datetime) -> None:
    """Refuse the archive whole if its members would pass the job's or the company's daily budget."""
    settings = deps.settings
    members, size = len(plan.members), plan.total_bytes
    job_limits = (settings.max_extracted_files_per_job, settings.max_extracted_bytes_per_job)
    company_limits = (settings.max_extracted_files_per_company_day, settings.max_extracted_bytes_per_company_day)
    over = deps.store.reserve_extraction(claim, job.company_handle, now.date().isoformat(), members, size,
                                         job_limits, company_limits)
    if over is not None:
        limit = job_limits if over == "job" else company_limits
        where = "this job" if over == "job" else "the company today (UTC)"
        raise archives.ArchiveRefusedError(
            f"its {members} files ({size} bytes) would take the files extracted from archives in {where} past "
            f"the limit of {limit[0]} files or {limit[1]} bytes")


def _profile_content(source: str, size: int) -> Content:
    """``.icc``/``.icm`` uploads become IccProfile assets, usable by colorManagementOptions."""
    with open(source, "rb") as fh:
        data = fh.read(min(size, MAX_PROFILE_BYTES + 1))
    if size > MAX_PROFILE_BYTES or not is_icc_profile(data):
        raise errors.UnsupportedFormatError("the file has an ICC profile extension but is not an ICC profile")
    return Content(type="IccProfile", summary=f"ICC profile, {size} bytes")


def image_content(deps: Deps, job: Job, company: Company, target: naming.TargetPath,
                   source: str, tmp: str, replacing: Asset | None) -> Content:
    try:
        options = processing_options(deps, company, job.options, replacing)
    except errors.Fault as exc:  # e.g. a profile asset deleted since the job was opened
        raise errors.FileRejectedError(exc.reason, "options.invalid") from exc
    ctx = StepContext(options=options)
    try:
        optimized = optimize(source, os.path.join(tmp, "optimized.tif"), max_pixels=deps.settings.max_image_pixels,
                             ctx=ctx, mask_path=os.path.join(tmp, "mask.tif"))
    except errors.FileRejectedError as exc:
        exc.message = exc.message.replace(source, target.file_name)  # no temp paths in logs
        raise
    tiff = optimized.tiff
    return Content(type="Image", summary=f"{tiff.width}×{tiff.height}, pyramid TIFF, {tiff.compression}",
                   width=tiff.width, height=tiff.height, optimized_path=tiff.path,
                   mask_path=optimized.mask.path if optimized.mask else None, crop=optimized.crop,
                   notes=tuple(optimized.notes), warnings=tuple(optimized.warnings))


def _photoshop_content(deps: Deps, job: Job, company: Company, target: naming.TargetPath,
                       source: str, tmp: str, replacing: Asset | None) -> Content:
    flat = photoshop.flatten(source, os.path.join(tmp, "flattened.tif"), max_pixels=deps.settings.max_image_pixels)
    return photoshop_content(deps, job, company, target, flat, tmp, replacing)


def photoshop_content(deps: Deps, job: Job, company: Company, target: naming.TargetPath,
                      flat: photoshop.Flattened, tmp: str, replacing: Asset | None) -> Content:
    """A PSD is an ``Image`` asset: the master is the PSD, the pyramid TIFF its flattened image."""
    raster = image_content(deps, job, company, target, flat.path, tmp, replacing)
    header = flat.header
    how = "composed from its layers (the file holds no composite)" if flat.from_layers else "its stored composite"
    note = (f"Photoshop {header.mode} {header.depth}-bit document, {header.width}×{header.height}; "
            f"flattened image: {how}")
    return replace(raster, summary=f"Photoshop document, {raster.summary}", notes=(note, *raster.notes))


def duplicate_result(deps: Deps, claim: FileClaim, target: naming.TargetPath, now: datetime,
               size: int) -> FileResult:
    deps.store.record_decision(claim, "DuplicateSkipped", None)
    row = LogEntry.localised(LogType.DUPLICATE_SKIPPED, "file.duplicate",
                             {"path": target.path, "asset": target.asset_name}, now,
                             asset_name=target.asset_name, file_path=target.path)
    return FileResult("DuplicateSkipped", [row], {"duplicate": 1, "total_size": size})


def decide_asset(deps: Deps, job: Job, company: Company, claim: FileClaim,
                  target: naming.TargetPath, content: Content, size: int,
                  now: datetime, projects: list[str]) -> tuple[str, Asset | None]:
    """New asset, update of an existing one, or duplicate (spec §9.2); idempotent per claim."""
    if claim.outcome is not None:  # a retry: repeat the decision taken before the crash
        if claim.outcome == "DuplicateSkipped":
            return claim.outcome, None
        existing = deps.store.get_asset(claim.asset_handle or "")
        if existing is None:
            raise errors.TransientError("asset of a previous attempt is missing")
        return claim.outcome, updated_asset(existing, job, company, target, content, size, claim, now, claim.outcome,
                                       projects)

    n = 0
    while n <= naming.MAX_SUFFIX:
        name = naming.suffixed(target.asset_name, n)
        existing = deps.store.find_asset_by_name(company.company_handle, name)
        if existing is None:
            asset = new_asset(job, company, target, name, content, size, claim, now, projects)
            if deps.store.create_asset(asset):
                deps.store.record_decision(claim, "UploadSuccess", asset.asset_handle)
                return "UploadSuccess", asset
            continue  # another file took this ID meanwhile: look again
        if not job.options.overwrite:
            deps.store.record_decision(claim, "DuplicateSkipped", None)
            return "DuplicateSkipped", None
        if naming.overwrite_matches(company.overwrite_mode, existing, target):
            deps.store.record_decision(claim, "FileUpdated", existing.asset_handle)
            return "FileUpdated", updated_asset(existing, job, company, target, content, size, claim,
                                           now, "FileUpdated", projects)
        n += 1
    raise errors.FileRejectedError(f"no free asset ID for {target.asset_name} (tried -1 to -{naming.MAX_SUFFIX})",
                                   "asset.no_free_name")


def _asset_files(company_handle: str, asset_handle: str, content: Content) -> dict:
    base = f"{company_handle}/{asset_handle}"
    return {"master_key": f"{base}/master",
            "optimized_key": f"{base}/optimized.tif" if content.optimized_path else None,
            "optimized_format": "ptiff" if content.optimized_path else None,
            "mask_key": f"{base}/mask.tif" if content.mask_path else None}


def new_asset(job: Job, company: Company, target: naming.TargetPath, name: str,
               content: Content, size: int, claim: FileClaim, now: datetime, projects: list[str]) -> Asset:
    handle = new_handle("a")
    state: PublishState = "MarkedForPublish" if job.options.ready_for_publish else "NotMarkedForPublish"
    return Asset(
        asset_handle=handle, company_handle=company.company_handle, name=name, type=content.type,
        folder=target.folder, file_name=target.file_name, extension=target.extension, publish_state=state,
        width=content.width, height=content.height, file_size=size, crop_rect=content.crop,
        created_job_handle=job.job_handle, updated_job_handle=job.job_handle,
        created=now, updated=now, last_claim=claim.claim_id, xmp_keywords=_job_keywords(job),
        project_handles=projects, metadata=_job_metadata(job, {}), video=content.video,
        **_asset_files(company.company_handle, handle, content),
    )


def _job_metadata(job: Job, current: dict) -> dict:
    updates = job.options.metadata_options.update_array if job.options.metadata_options else None
    return apply_updates(current, updates or [])


def with_job_metadata(job: Job, content: Content, projects: list[str], gone: list[str]) -> Content:
    """The job-wide additions to the file's log row: metadata fields, projects."""
    notes, warnings = list(content.notes), list(content.warnings)
    updates = job.options.metadata_options.update_array if job.options.metadata_options else None
    if updates:
        fields = ", ".join(dict.fromkeys(u.field_handle for u in updates))
        notes.append(f"metadataOptions: {len(updates)} update(s) applied ({fields})")
    if projects:
        notes.append(f"projectHandleArray: added to {', '.join(projects)}")
    warnings += [f"projectHandleArray: project {h} was deleted after the job was opened; "
                 "the asset was not added to it" for h in gone]
    return replace(content, notes=tuple(notes), warnings=tuple(warnings))


def _job_keywords(job: Job) -> list[str]:
    return parse_xmp_keywords(job.options.xmp_keywords or "")


def updated_asset(existing: Asset, job: Job, company: Company, target: naming.TargetPath,
             content: Content, size: int, claim: FileClaim, now: datetime,
             outcome: str, projects: list[str]) -> Asset:
    if outcome == "UploadSuccess":  # retry of a creation: the record is already ours
        return existing
    preserve = job.options.preserve_publish_state
    if preserve is None:
        preserve = company.retain_publish_state
    state: PublishState = existing.publish_state if preserve else (
        "MarkedForPublish" if job.options.ready_for_publish else "NotMarkedForPublish")
    # Spec §9.2: the "AnyFolder" modes move the asset to the folder of the new upload.
    # The crop stored is the one applied now: new, preserved (§9.4) or none.
    return existing.model_copy(update={
        "type": content.type, "folder": target.folder, "file_name": target.file_name,
        "extension": target.extension, "publish_state": state, "width": content.width,
        "height": content.height, "file_size": size, "crop_rect": content.crop,
        "updated_job_handle": job.job_handle, "updated": now, "last_claim": claim.claim_id,
        # Spec §9.7 says "merged": an update adds the job's keywords to those the asset has.
        "xmp_keywords": merge_keywords(existing.xmp_keywords, _job_keywords(job)),
        "project_handles": list(dict.fromkeys([*existing.project_handles, *projects])),
        "metadata": _job_metadata(job, existing.metadata), "video": content.video,
        **_asset_files(company.company_handle, existing.asset_handle, content),
    })

