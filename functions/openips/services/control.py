"""Job control (spec §8.1): stopJob, pauseJob, resumeJob and deleteJob of an upload job."""

from __future__ import annotations

from datetime import datetime

from openips.models import errors
from openips.models.domain import Job, User
from openips.services import auth
from openips.services.deps import Deps
from openips.services.jobs import close, get_owned_job


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
    if not deps.store.pause_job(job_handle, now):
        raise _conflict(deps, job, "paused")


def resume_job(deps: Deps, user: User, job_handle: str, now: datetime) -> None:
    """resumeJob: waiting files proceed when they come back from the queue."""
    auth.require_role(user, auth.UPLOAD_ROLES, "resumeJob")
    job = get_owned_job(deps, user, job_handle)
    if not deps.store.resume_job(job_handle, now):
        raise _conflict(deps, job, "resumed")


def execute_job(deps: Deps, user: User, job_handle: str) -> None:
    """executeJob runs a scheduled job now; an upload job runs as its files arrive, so it is a 409."""
    auth.require_role(user, auth.UPLOAD_ROLES, "executeJob")
    job = get_owned_job(deps, user, job_handle)
    raise errors.invalid_parameter(f"Job {job.job_handle} is an upload job: it runs as its files arrive and "
                                   "is never scheduled, so executeJob does not apply", 409)


def _stop(deps: Deps, user: User, job_handle: str, operation: str, now: datetime, delete: bool = False) -> None:
    auth.require_role(user, auth.UPLOAD_ROLES, operation)
    job = get_owned_job(deps, user, job_handle)
    if not deps.store.stop_job(job, operation, now, delete=delete):
        raise _conflict(deps, job, "stopped" if not delete else "deleted")
    # Closing counts what reached S3: every object uploaded before the stop must be
    # accounted for (processed, or cancelled by ProcessFile) before the job ends.
    close(deps, job, operation, now)


def _conflict(deps: Deps, job: Job, verb: str) -> errors.IpsApiFault:
    current = deps.store.get_job(job.job_handle) or job
    if current.finished:
        why = "it has ended"
    elif current.stopping:
        why = "it is stopping"
    elif current.paused:
        why = "it is paused"
    else:
        why = "it is not paused"
    return errors.invalid_parameter(f"Job {job.job_handle} cannot be {verb}: {why}", 409)
