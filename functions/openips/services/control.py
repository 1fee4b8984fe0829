"""Job control (spec §8.1): stopJob, pauseJob, resumeJob and deleteJob of an upload job."""

from __future__ import annotations

import json
from datetime import datetime

from openips.models import errors
from openips.models.domain import Job, LogEntry, LogType, User
from openips.observability import logger
from openips.services import auth
from openips.services.deps import Deps
from openips.services.jobs import close, get_owned_job

# Who stopped a job whose pause outlasted the limit (``stopped_by``, the close reason): the setting's name.
MAX_PAUSE = "MaxPauseSeconds"
# A TranscodeQueue message: TranscodeFunction, which may, cancels a stopped job's MediaConvert jobs
# (services/renditions.py cancel_submitted); files in flight finish, but a transcode can take hours.
CANCEL_RENDITIONS = "CancelRenditions"


def stop_job(deps: Deps, user: User, job_handle: str, now: datetime) -> None:
    """stopJob: no file starts any more, files in flight finish, the job ends once all are accounted for."""
    _stop(deps, user, job_handle, "stopJob", now)


def delete_job(deps: Deps, user: User, job_handle: str, now: datetime) -> None:
    """deleteJob: stop the job and drop it from getJobLogs; its log details and its assets stay."""
    _stop(deps, user, job_handle, "deleteJob", now, delete=True)


def pause_job(deps: Deps, user: User, job_handle: str, now: datetime) -> None:
    """pauseJob: files not started yet wait (unclaimed) until resumeJob; files in flight finish."""
    auth.require_role(user, auth.UPLOAD_ROLES, "pauseJob")
    job = get_owned_job(deps, user, job_handle)
    if not deps.jobs.pause(job_handle, now):
        raise _conflict(deps, job, "paused")


def resume_job(deps: Deps, user: User, job_handle: str, now: datetime) -> None:
    """resumeJob: waiting files proceed when they come back from the queue."""
    auth.require_role(user, auth.UPLOAD_ROLES, "resumeJob")
    job = get_owned_job(deps, user, job_handle)
    if not deps.jobs.resume(job_handle, now):
        raise _conflict(deps, job, "resumed")


def end_overlong_pause(deps: Deps, job_handle: str, now: datetime) -> bool:
    """The sweeper: a job paused longer than ``max_pause_seconds`` is stopped as stopJob stops it.

    Files in flight finish; files not started (waiting in the queue, or uploaded later) are
    cancelled with their ``FileCancel`` rows, kept under ``quarantine/``; the job ends once all
    are accounted for. An ``UploadWarning`` row, written with the stop, says why. False when
    the job is not paused past the limit (any more).
    """
    job = deps.jobs.get(job_handle)
    if job is None or not job.paused:
        return False
    since = job.paused_at or job.last_activity  # jobs paused before paused_at was recorded
    paused = (now - since).total_seconds()
    limit = deps.settings.max_pause_seconds
    if paused <= limit:
        return False
    params = {"job": job.name, "paused": _hours(paused), "limit": _hours(limit)}
    row = LogEntry.localised(LogType.UPLOAD_WARNING, "job.pause_expired", params, now, code="job.pause_expired")
    if not deps.jobs.stop_paused(job, MAX_PAUSE, now, row):
        return False  # resumed, paused again or stopped meanwhile
    logger.warning("paused job stopped: its pause outlasted the limit", job_handle=job_handle,
                   paused_seconds=int(paused), limit_seconds=limit)
    _cancel_renditions(deps, job_handle)
    close(deps, job, MAX_PAUSE, now)
    return True


def _hours(seconds: float) -> str:
    return f"{round(seconds / 3600, 1):g}"


def execute_job(deps: Deps, user: User, job_handle: str) -> None:
    """executeJob runs a scheduled job now; an upload job runs as its files arrive, so it is a 409."""
    auth.require_role(user, auth.UPLOAD_ROLES, "executeJob")
    job = get_owned_job(deps, user, job_handle)
    raise errors.invalid_parameter(f"Job {job.job_handle} is an upload job: it runs as its files arrive and "
                                   "is never scheduled, so executeJob does not apply", 409)


def _stop(deps: Deps, user: User, job_handle: str, operation: str, now: datetime, delete: bool = False) -> None:
    auth.require_role(user, auth.UPLOAD_ROLES, operation)
    job = get_owned_job(deps, user, job_handle)
    if not deps.jobs.stop(job, operation, now, delete=delete):
        raise _conflict(deps, job, "stopped" if not delete else "deleted")
    _cancel_renditions(deps, job_handle)
    # Closing counts what reached S3: every object uploaded before the stop must be
    # accounted for (processed, or cancelled by ProcessFile) before the job ends.
    close(deps, job, operation, now)


def _cancel_renditions(deps: Deps, job_handle: str) -> None:
    """After the stop is written: a rendition whose MediaConvert job starts later sees it and cancels that job."""
    try:
        deps.transcode_queue.send(json.dumps({"type": CANCEL_RENDITIONS, "jobHandle": job_handle}))
    except Exception:  # noqa: BLE001 - the stop stands; running MediaConvert jobs then finish as files in flight do
        logger.exception("the cancellation of the stopped job's MediaConvert jobs was not queued",
                         job_handle=job_handle)


def _conflict(deps: Deps, job: Job, verb: str) -> errors.IpsApiFault:
    current = deps.jobs.get(job.job_handle) or job
    if current.finished:
        why = "it has ended"
    elif current.stopping:
        why = "it is stopping"
    elif current.paused:
        why = "it is paused"
    else:
        why = "it is not paused"
    return errors.invalid_parameter(f"Job {job.job_handle} cannot be {verb}: {why}", 409)
