"""Pure mappings from stored jobs and rows to the IPS shapes the API answers with."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from openips.models.api import (
    ActiveJob,
    AssetJobLog,
    JobLog,
    JobLogDetail,
    JobLogDetailAux,
    TaskItemProgress,
    TaskProgress,
)
from openips.models.domain import FileClaim, Job, JobState, LogEntry, LogType
from openips.models.messages import message


def reported_state(job: Job) -> str:
    """``ActiveJob/state``: open and idle → WaitingClient; files in flight or closed → Running."""
    if job.state in (JobState.DONE, JobState.STOPPING, JobState.WAITING_COORDINATOR):
        return job.state.value
    if job.closed or job.counts.received > job.counts.done:
        return JobState.RUNNING.value
    return JobState.WAITING_CLIENT.value


def task_item(claim: FileClaim) -> TaskItemProgress:
    """A file in flight; openips knows when it started, not how far along it is (0.0 until done)."""
    started = claim.attempt_started or claim.claimed or claim.lease_until
    retry = f" (attempt {claim.attempts})" if claim.attempts > 1 else ""
    return TaskItemProgress(item_name=claim.path, progress=0.0, progress_message=f"Processing{retry}",
                            last_progress_update=started)


def active_job(job: Job, now: datetime, processing: list[FileClaim] | None = None,
               webhook_in_full: bool = True) -> ActiveJob:
    counts = job.counts
    expected = max(job.expected_files, counts.received) if job.closed else counts.received
    in_flight = counts.received - counts.done
    pending = expected - counts.received
    fraction = counts.done / expected if expected else 0.0
    if job.stopping:
        message = (f"Stopping ({job.stopped_by}): {counts.done} of {expected} files accounted for; "
                   "files whose processing had not started are cancelled")
    elif job.paused:
        message = (f"Paused (pauseJob): {counts.done} files processed, {in_flight} in progress; "
                   "files not started yet wait for resumeJob")
    elif job.closed:
        message = f"{counts.done} of {expected} files processed"
    else:
        message = f"Open for uploads: {counts.done} files processed, {in_flight} in progress"
    task_state = "Processing" if in_flight or pending else ("New" if not counts.received else "Done")
    task = TaskProgress(
        task_state="Stopping" if job.stopping else task_state,
        num_processed=counts.done, num_processing=in_flight, num_pending=pending,
        progress=round(fraction, 4), progress_message=message, last_progress_update=job.last_activity,
        task_item_progress_array=[task_item(c) for c in sorted(processing or [], key=lambda c: c.path)],
    )
    return ActiveJob(
        company_handle=job.company_handle, job_handle=job.job_handle, name=job.name,
        original_name=job.original_name, state=reported_state(job),
        submit_user_email=job.submit_user_email, locale=job.locale, description=job.description,
        start_date=job.start_date, trigger_time=job.start_date, total_size=counts.total_size,
        progress=int(fraction * 100), progress_message=message,
        last_progress_update=job.last_activity, task_progress_array=[task],
        upload_post_job=job.options.public_dump(webhook_in_full),
    )


def job_log(job: Job) -> JobLog:
    """The summary ``JobLog`` row of a job (counts as of now; final once it is done)."""
    counts = job.counts
    return JobLog(
        company_handle=job.company_handle, job_handle=job.job_handle, job_name=job.name,
        original_job_name=job.original_name, submit_user_email=job.submit_user_email,
        log_type=(LogType.END_UPLOAD if job.finished else LogType.BEGIN_UPLOAD).value,
        start_date=job.start_date, end_date=job.end_date, description=job.description,
        file_success_count=counts.success, file_error_count=counts.error,
        file_warning_count=counts.warning, file_duplicate_count=counts.duplicate,
        file_update_count=counts.update, total_file_count=counts.received,
        transfer_success_count=counts.received, transfer_error_count=0,
        transfer_warning_count=0, fatal_error=job.fatal_error,
    )


def detail(row: LogEntry, locale: str | None) -> JobLogDetail:
    return JobLogDetail(
        log_message=row.text(locale), log_type=row.log_type.value, date_created=row.date_created,
        asset_name=row.asset_name, asset_type=row.asset_type, asset_handle=row.asset_handle,
        aux_array=_aux(row, locale),
    )


def asset_job_log(job: Job, row: LogEntry, locale: str | None) -> AssetJobLog:
    return AssetJobLog(
        job_handle=job.job_handle, job_name=job.name, log_message=row.text(locale),
        log_type=row.log_type.value, submit_user_email=job.submit_user_email, log_date=row.date_created,
        aux_array=_aux(row, locale),
    )


def _aux(row: LogEntry, locale: str | None) -> list[JobLogDetailAux] | None:
    return [JobLogDetailAux(log_message=a.text(locale), log_type=a.log_type.value, date_created=a.date_created)
            for a in row.aux] or None


def end_params(job: Job, forced: bool) -> dict[str, Any]:
    """The parameters of the ``EndUpload`` row's message (``job.end``)."""
    c = job.counts
    if job.stopped_by:
        reason = message("job.end.stopped", by=job.stopped_by)
    else:
        reason = message(_CLOSE_REASONS.get(job.close_reason or "", "job.end.closed"))
    missing = job.expected_files - c.received if forced else 0
    return {
        "job": job.name, "reason": reason, "received": c.received, "success": c.success, "update": c.update,
        "duplicate": c.duplicate, "error": c.error, "warning": c.warning,
        "cancelled": message("job.end.cancelled", count=c.cancelled) if c.cancelled else "",
        "missing": message("job.end.missing", count=missing) if missing > 0 else "",
    }


_CLOSE_REASONS = {"endJob": "job.end.endJob", "idle timeout": "job.end.idle"}


def job_sort_key(sort_by: str) -> Callable[[Job], object]:
    keys: dict[str, Callable[[Job], object]] = {
        "JobName": lambda j: j.name,
        "LogType": lambda j: job_log(j).log_type,
        "CompanyName": lambda j: j.company_handle,
        "UserId": lambda j: j.submit_user_handle,
        "Email": lambda j: j.submit_user_email,
        "FileErrorCount": lambda j: j.counts.error,
        "FileWarningCount": lambda j: j.counts.warning,
        "FileSuccessCount": lambda j: j.counts.success,
    }
    return keys[sort_by]
