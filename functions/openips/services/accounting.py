"""Job accounting audit and repair: ``openips jobs verify`` and the sweeper's last resort.

A job's counters are written in the same transactions as its claims (one claim per uploaded
object) and log rows, so they can always be recounted from those items: every claim is a
received file, and a finished claim records what it added to the counters. The audit
compares the two and finds what keeps a job from ending:

* **drift**: a counter that differs from its recount (a lost or doubled update);
* **stalled files**: claims still ``Processing`` long after their lease ended, whose message is
  gone (dead-lettered, or a retry that was never sent);
* **unclaimed uploads**: objects under the job's prefix that no claim names (a lost S3
  notification).

The repair re-sends stalled and unclaimed files to ProcessQueue (their retry takes the claim
over, and the claim's attempts still bound it), sets drifted counters to their recount, and
logs an ``UploadWarning`` row saying what it changed. After ``MAX_REPAIRS`` repairs, files
that still have not finished are closed as ``UploadError`` rows so the job can end: no job
stays ``Running`` forever.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import quote_plus

from openips.models import errors
from openips.models.api import CounterDrift, JobAccountingResponse, StalledFile
from openips.models.domain import FileClaim, Job, JobCounts, LogEntry, LogType, User
from openips.models.events import S3BucketRef, S3Entity, S3Notification, S3ObjectRef, S3Record
from openips.models.messages import message
from openips.observability import logger
from openips.services import auth, jobs
from openips.services.deps import Deps
from openips.services.keys import claim_id_for, incoming_prefix

MAX_REPAIRS = 3
# A claim whose lease ended this long ago has no attempt coming: its message is gone.
STALL_AFTER = timedelta(minutes=5)
# What a finished claim of an earlier version (no ``counts`` recorded) added, by its result.
_RESULT_COUNTS = {"UploadSuccess": {"success": 1}, "Extracted": {"success": 1}, "FileUpdated": {"update": 1},
                  "DuplicateSkipped": {"duplicate": 1}, "UploadError": {"error": 1},
                  "FileCancel": {"error": 1, "cancelled": 1}}
REDRIVE_EVENT = "ObjectCreated:Redrive"  # a notification the audit re-sent (not an S3 event name)


@dataclass
class Audit:
    job: Job
    recounted: JobCounts
    drift: dict[str, tuple[int, int]]  # counter → (stored, recounted)
    stalled: list[FileClaim]
    unclaimed: list[tuple[str, str, int]]  # (key, ETag, size)
    claims: int = 0
    in_flight: int = 0  # claims an attempt holds now: their counters may still land
    repaired: list[str] = field(default_factory=list)  # what ``repair`` did, in words

    @property
    def healthy(self) -> bool:
        return not (self.drift or self.stalled or self.unclaimed)


def recount(claims: list[FileClaim], log_rows: int) -> JobCounts:
    """The counters as the job's claims and rows say they must be."""
    totals: Counter[str] = Counter()
    for claim in claims:
        totals["received"] += 1  # the claim itself: counted when it was taken
        if claim.status == "Done":
            added = claim.counts if claim.counts is not None else {"done": 1, **_RESULT_COUNTS.get(claim.result or "",
                                                                                                    {})}
            totals.update({k: v for k, v in added.items() if k in JobCounts.model_fields and k != "log_rows"})
    return JobCounts(**totals, log_rows=log_rows)


def audit(deps: Deps, job_handle: str, now: datetime) -> Audit | None:
    """Compare the job's counters with their recount, and find files that no attempt will finish."""
    job = deps.jobs.get(job_handle)
    if job is None:
        return None
    claims = deps.claims.list_for_job(job_handle)
    log_rows = deps.logs.count(job_handle)
    again = deps.jobs.get(job_handle)
    if again is not None and again.counts != job.counts:
        # A file finished between the reads: recount against the newer counters only if
        # nothing moved while the claims were read (the next audit tries again otherwise).
        job, claims, log_rows = again, deps.claims.list_for_job(job_handle), deps.logs.count(job_handle)
    counted = recount(claims, log_rows)
    drift = {name: (getattr(job.counts, name), getattr(counted, name)) for name in JobCounts.model_fields
             if getattr(job.counts, name) != getattr(counted, name)}
    stalled = [c for c in claims if c.status == "Processing" and c.lease_until + STALL_AFTER < now]
    unclaimed: list[tuple[str, str, int]] = []
    if not job.finished:
        names = {c.claim_id for c in claims}
        unclaimed = [obj for obj in deps.storage.list_objects(deps.settings.incoming_bucket, incoming_prefix(job))
                     if claim_id_for(obj[0], obj[1]) not in names]
    in_flight = sum(1 for c in claims if c.status == "Processing" and c.lease_until >= now)
    return Audit(job, counted, drift, stalled, unclaimed, claims=len(claims), in_flight=in_flight)


def repair(deps: Deps, found: Audit, now: datetime, by: str) -> Audit:
    """Heal what ``found`` shows; ``found.repaired`` says what was done (empty: nothing was needed)."""
    job = found.job
    if job.finished:
        return found
    changes: list[str] = []
    if found.stalled or found.unclaimed:
        if job.repairs < MAX_REPAIRS:
            changes += _redrive(deps, job, found)
        else:
            changes += _close_stalled(deps, job, found.stalled, now)
    if found.drift and not found.in_flight:  # a file finishing now may still write rows after its counters
        described = "counters " + ", ".join(f"{name} {old} → {new}" for name, (old, new) in found.drift.items())
        if deps.jobs.repair_counts(job, found.recounted, _repair_row("; ".join([described, *changes]), by, now)):
            logger.warning("job accounting drift repaired", job_handle=job.job_handle, drift=described)
            changes.insert(0, described)
        elif changes:  # the counters moved meanwhile: their drift waits for the next audit
            deps.jobs.note_repair(job.job_handle, _repair_row("; ".join(changes), by, now))
    elif changes:
        deps.jobs.note_repair(job.job_handle, _repair_row("; ".join(changes), by, now))
    found.repaired = changes
    return found


def _repair_row(changes: str, by: str, now: datetime) -> LogEntry:
    return LogEntry.localised(LogType.UPLOAD_WARNING, "job.repaired", {"by": by, "changes": changes}, now)


def _redrive(deps: Deps, job: Job, found: Audit) -> list[str]:
    """Send the files no attempt will finish back to ProcessQueue: a retry claims them anew."""
    bucket = deps.settings.incoming_bucket
    sent: list[str] = []
    for claim in found.stalled:
        if claim.task is not None:  # a video rendition: its task goes back to TranscodeQueue
            deps.transcode_queue.send(claim.task)
            sent.append(claim.path)
            continue
        if claim.key is None:
            continue  # a claim of an earlier version, which recorded no key: closed after MAX_REPAIRS
        size = deps.storage.head_size(bucket, claim.key)
        if size is not None:
            deps.process_queue.send(_notification(bucket, claim.key, claim.version or "", size))
            sent.append(claim.path)
    for key, etag, size in found.unclaimed:
        deps.process_queue.send(_notification(bucket, key, etag, size))
        sent.append(key.removeprefix(incoming_prefix(job)))
    return [f"{len(sent)} file(s) sent for processing again ({', '.join(sorted(sent)[:10])})"] if sent else []


def _close_stalled(deps: Deps, job: Job, stalled: list[FileClaim], now: datetime) -> list[str]:
    """After the last repair: each file that never finished is an ``UploadError``, so the job can end."""
    for claim in stalled:
        error = f"; the last error was {claim.last_error}" if claim.last_error else ""
        reason = message("file.stalled", attempts=claim.attempts, error=error)
        row = LogEntry.localised(LogType.UPLOAD_ERROR, "file.rejected", {"path": claim.path, "reason": reason,
                                                                          "kept": ""},
                                 now, file_path=claim.path, code="file.stalled")
        deps.claims.complete(claim, {"error": 1}, [row], None, completed=now, result="UploadError")
    return [f"{len(stalled)} file(s) that never finished logged as errors"] if stalled else []


def _notification(bucket: str, key: str, etag: str, size: int) -> str:
    # Keys travel URL-encoded in S3 notifications (IncomingObject decodes them).
    ref = S3ObjectRef(key=quote_plus(key), size=size, e_tag=etag)
    record = S3Record(event_name=REDRIVE_EVENT, s3=S3Entity(bucket=S3BucketRef(name=bucket), object=ref))
    return S3Notification(records=[record]).model_dump_json(by_alias=True, exclude_none=True)


def verify_job(deps: Deps, user: User, job_handle: str, now: datetime, fix: bool = False) -> JobAccountingResponse:
    """``GET /v1/jobs/{j}/accounting`` (any reader of the job) and, with ``fix``, ``POST …/repair`` (admins)."""
    if fix:
        auth.require_role(user, auth.ADMIN_ROLES, "repairJobAccounting")
    else:
        auth.require_role(user, auth.READ_ROLES, "verifyJobAccounting")
    jobs.get_owned_job(deps, user, job_handle)
    found = audit(deps, job_handle, now)
    if found is None:
        raise errors.unknown_handle("job", job_handle)
    if fix and not found.healthy:
        repair(deps, found, now, by=f"requested by {user.email}")
        if not found.stalled and not found.unclaimed:
            jobs.finish_if_complete(deps, job_handle, now)
    job = deps.jobs.get(job_handle) or found.job
    return JobAccountingResponse(
        job_handle=job_handle, state=job.state.value, healthy=found.healthy, counters=found.job.counts.model_dump(),
        recounted=found.recounted.model_dump(), expected_files=found.job.expected_files, files_claimed=found.claims,
        files_in_flight=found.in_flight,
        drift=[CounterDrift(counter=k, stored=old, recounted=new) for k, (old, new) in found.drift.items()],
        stalled_files=[StalledFile(path=c.path, attempts=c.attempts, lease_until=c.lease_until,
                                   last_error=c.last_error) for c in found.stalled],
        unclaimed_uploads=[key for key, _, _ in found.unclaimed], repairs=job.repairs, repaired=found.repaired)
