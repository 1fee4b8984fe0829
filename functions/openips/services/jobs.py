"""Upload-job use-cases: open, renew the form, close, finish, and read jobs and logs."""

from __future__ import annotations

import heapq
import re
from datetime import datetime
from collections.abc import Iterator
from itertools import islice

from openips.models import errors
from openips.models.api import (
    ActiveJob,
    ClusterUploadTaskStatus,
    CreateUploadJobRequest,
    JobLog,
    ScheduledJob,
    UploadForm,
    UploadTask,
    UploadTaskStatus,
)
from openips.models.domain import Job, JobState, LogEntry, LogType, User, new_handle, utcnow
from openips.models.upload_job import UploadPostJob, options_not_yet_applied
from openips.services import auth, pages, views
from openips.services.deps import Deps
from openips.services.keys import incoming_prefix
from openips.services.naming import normalize_folder
from openips.services.profiles import check_profiles
from openips.services.projects import check_job_projects

MAX_RECORDS_PER_PAGE = 1000
# getJobLogs sorted by a field no index keeps (LogType, UserId, Email, a count) reads at most this many jobs.
MAX_SORTED_JOBS = 10_000
LOCALE = re.compile(r"[a-z]{2}(-[A-Z]{2})?")
LOG_SORT_FIELDS = ("JobName", "LogType", "StartDate", "CompanyName", "UserId", "Email",
                   "FileErrorCount", "FileWarningCount", "FileSuccessCount")


def open_job(deps: Deps, user: User, request: CreateUploadJobRequest, source_ip: str | None,
             now: datetime) -> tuple[Job, UploadForm]:
    """The first UploadFile POST of IPS: create the job and hand out its upload form."""
    auth.require_role(user, auth.UPLOAD_ROLES, "uploadPostJob")
    company_handle = auth.company_scope(user, request.company_handle)
    company = deps.companies.get(company_handle)
    if company is None:
        raise errors.unknown_handle("company", company_handle)
    options_size = len(request.upload_params.model_dump_json(by_alias=True, exclude_none=True))
    if options_size > MAX_OPTIONS_BYTES:
        raise errors.invalid_parameter(f"uploadParams is {options_size} bytes of JSON; the limit is {MAX_OPTIONS_BYTES}",
                                       413)
    open_jobs = deps.jobs.count_active(company_handle)
    if open_jobs >= deps.settings.max_open_jobs_per_company:
        raise errors.invalid_parameter(
            f"Company {company_handle} has {open_jobs} jobs that have not ended; the limit is "
            f"{deps.settings.max_open_jobs_per_company} (end or stop some, or ask the operator to raise "
            "MaxOpenJobsPerCompany)", 413)
    check_profiles(deps, company, request.upload_params)
    check_job_projects(deps, company_handle, request.upload_params.project_handle_array)
    check_set_presets(deps, company_handle, request.upload_params)
    try:
        dest_folder = normalize_folder(request.dest_folder)
    except errors.FileRejectedError as exc:
        raise errors.invalid_parameter(f"destFolder: {exc.message}") from exc
    job = Job(
        job_handle=new_handle("j"), company_handle=company_handle,
        name=request.job_name, original_name=request.job_name,
        description=request.description, locale=request.locale, dest_folder=dest_folder,
        submit_user_handle=user.user_handle, submit_user_email=user.email, source_ip=source_ip,
        options=request.upload_params, start_date=now, last_activity=now,
    )
    warnings = [
        LogEntry.localised(LogType.UPLOAD_WARNING, "option.not_applied", {"option": name}, now,
                           code="option.not_applied")
        for name in options_not_yet_applied(request.upload_params)
    ]
    job.counts.log_rows = 1 + len(warnings)
    # ActiveJob.name is unique in the company (spec §8.2, §9.9); originalName keeps the request's.
    for name in unique_name_candidates(request.job_name, now):
        job.name = name
        begin = LogEntry.localised(LogType.BEGIN_UPLOAD, "job.begin", {"job": name, "email": user.email}, now)
        if deps.jobs.create(job, [begin, *warnings]):
            return job, upload_form(deps, job, company.max_file_size)
    raise errors.TransientError(f"no free job name for {request.job_name}")


def unique_name_candidates(original: str, now: datetime) -> Iterator[str]:
    """The name itself, then with the time (as the IPS UI names jobs), then numbered."""
    yield original
    stamped = f"{original}_{now:%Y-%m-%d-%H:%M:%S}"
    yield stamped
    for n in range(2, 100):
        yield f"{stamped}-{n}"


def check_set_presets(deps: Deps, company_handle: str, options: UploadPostJob) -> None:
    """``autoSetCreationOptions.autoSetsArray``: every handle a set preset of the company (30001)."""
    handles = options.auto_set_creation_options.auto_sets_array if options.auto_set_creation_options else []
    for handle in handles:
        preset = deps.presets.get(handle)
        if preset is None or preset.company_handle != company_handle:
            raise errors.invalid_parameter(f"autoSetCreationOptions.autoSetsArray: no set preset {handle} "
                                           "in this company")


def upload_form(deps: Deps, job: Job, company_max: int | None) -> UploadForm:
    settings = deps.settings
    max_size = min(company_max or settings.max_file_size_bytes, settings.max_file_size_bytes)
    prefix = incoming_prefix(job)
    url, fields, expires = deps.storage.presign_post(settings.incoming_bucket, prefix, max_size,
                                                     settings.upload_form_ttl_seconds)
    return UploadForm(url=url, fields=fields, key_prefix=prefix, expiration=expires, max_file_size=max_size)


def get_owned_job(deps: Deps, user: User, job_handle: str) -> Job:
    job = deps.jobs.get(job_handle)
    if job is None:
        raise errors.unknown_handle("job", job_handle)
    auth.check_owner(user, job.company_handle)
    return job


def renew_form(deps: Deps, user: User, job_handle: str, now: datetime) -> UploadForm:
    """A later UploadFile POST: a fresh form for a job that is still open."""
    auth.require_role(user, auth.UPLOAD_ROLES, "uploadPostJob")
    job = get_owned_job(deps, user, job_handle)
    if job.closed or job.finished:
        raise errors.invalid_parameter(f"Job {job_handle} is closed; start a new job to upload more files", 409)
    deps.jobs.touch(job_handle, now)
    company = deps.companies.get(job.company_handle)
    return upload_form(deps, job, company.max_file_size if company else None)


def end_job(deps: Deps, user: User, job_handle: str, now: datetime) -> None:
    """``endJob=true``: no more files; the job ends once every uploaded file is accounted for."""
    auth.require_role(user, auth.UPLOAD_ROLES, "uploadPostJob")
    job = get_owned_job(deps, user, job_handle)
    if not close(deps, job, "endJob", now):
        raise errors.invalid_parameter(f"Job {job_handle} is already closed", 409)


def close(deps: Deps, job: Job, reason: str, now: datetime) -> bool:
    """Close an open job (False if it was not open) and finish it if nothing is pending."""
    # Count what reached S3 so that events still on their way hold the job open.
    expected = deps.storage.count_objects(deps.settings.incoming_bucket, incoming_prefix(job))
    closed = deps.jobs.close(job.job_handle, expected, reason, now)
    finish_if_complete(deps, job.job_handle, now)
    return closed


FINISH_READS = 5
# Every job's options live in its item and in the active-jobs index the sweeper reads.
MAX_OPTIONS_BYTES = 64 * 1024


def finish_if_complete(deps: Deps, job_handle: str, now: datetime, force: bool = False) -> bool:
    """Finish the job if it is closed and drained; exactly one caller wins."""
    for _ in range(FINISH_READS):
        job = deps.jobs.get(job_handle)
        if job is None or job.finished or not job.closed or not job.drained(force):
            return False
        # Dated now (not at the caller's start): after every row of the files it waited for.
        end_row = LogEntry.localised(LogType.END_UPLOAD, "job.end", views.end_params(job, force), max(now, utcnow()))
        # Conditioned on the counts the row reports: a counter that moved since the read
        # makes it fail, and the next read sees the move.
        if deps.jobs.try_finish(job, now, end_row, force=force):
            deps.events.job_finished(job_handle, job.company_handle)
            return True
    return False  # still moving after several reads: a later file's completion finishes it


# ---- reading jobs ----------------------------------------------------------------


def active_jobs(deps: Deps, user: User, company: str | None, job_handle: str | None,
                original_name: str | None, now: datetime,
                include_waiting: bool | None = None) -> tuple[list[ActiveJob], int]:
    """getActiveJobs: a Query on the sparse active index (never a Scan).

    ``includeWaitingJobs=false`` leaves out the jobs with nothing running: those waiting for
    their client (``WaitingClient``) or paused (``WaitingCoordinator``).
    """
    auth.require_role(user, auth.READ_ROLES, "getActiveJobs")
    company_handle = auth.company_scope(user, company)
    jobs, scanned = deps.jobs.query_active(company_handle)
    jobs = [j for j in jobs if j.state != JobState.DONE]
    if job_handle:
        jobs = [j for j in jobs if j.job_handle == job_handle]
    if original_name:
        jobs = [j for j in jobs if j.original_name == original_name]
    if include_waiting is False:
        waiting = (JobState.WAITING_CLIENT, JobState.WAITING_COORDINATOR)
        jobs = [j for j in jobs if views.reported_state(j) not in waiting]
    # In-flight files (taskItemProgressArray): one Query per job that has any.
    in_full = user.role in auth.UPLOAD_ROLES  # an ImagePortalUser reads jobs, not their webhook tokens
    return [views.active_job(j, now, deps.claims.list_for_job(j.job_handle, processing_only=True)
                             if j.counts.received > j.counts.done else None, in_full) for j in jobs], scanned


def scheduled_jobs(deps: Deps, user: User, company: str | None) -> list[ScheduledJob]:
    """getScheduledJobs: always empty, as upload jobs run when files arrive and are never scheduled."""
    auth.require_role(user, auth.READ_ROLES, "getScheduledJobs")
    auth.company_scope(user, company)
    return []


def job_logs(deps: Deps, user: User, company: str | None, user_handle: str | None,
             sort_by: str | None, sort_direction: str | None, start: datetime | None,
             end: datetime | None, num_rows: int | None, next_token: str | None = None) -> pages.Page[JobLog]:
    """getJobLogs: one summary row per job (deleted jobs are not listed), newest first by default.

    Sorted by start date or by name, a page of ``num_rows`` rows that ``next_token`` (an earlier
    page's) continues; the other sorts order the company's jobs in the dates asked (at most
    ``MAX_SORTED_JOBS``) and have one page.
    """
    auth.require_role(user, auth.READ_ROLES, "getJobLogs")
    company_handle = auth.company_scope(user, company)
    if sort_by is not None and sort_by not in LOG_SORT_FIELDS:
        raise errors.invalid_parameter(f"sortBy must be one of {', '.join(LOG_SORT_FIELDS)}")
    descending = _descending(sort_direction, default=True)
    limit = num_rows or 100

    def wanted(job: Job) -> bool:
        return ((not user_handle or job.submit_user_handle == user_handle)
                and (start is None or job.start_date >= start) and (end is None or job.start_date <= end))

    chunk = limit + 1  # a full page reads one job more, to know whether another page follows
    if sort_by == "JobName":
        by_name = deps.jobs.iter_by_name(company_handle, descending, next_token, chunk)
        page = pages.take_page(by_name, limit, lambda j: not j.deleted and wanted(j))
    # One company's jobs: sorted by company, they keep their start-date order.
    elif sort_by in (None, "StartDate", "CompanyName"):
        by_date = deps.jobs.iter_by_start(company_handle, start, end, descending, next_token, chunk)
        page = pages.take_page(by_date, limit, lambda j: not user_handle or j.submit_user_handle == user_handle)
    else:
        if next_token is not None:
            raise errors.invalid_parameter(f"nextToken: sortBy={sort_by} has one page "
                                           "(StartDate and JobName have more)")
        page = pages.Page(_sorted_page(deps, company_handle, user_handle, sort_by, start, end, descending, limit))
    return pages.Page([views.job_log(j) for j in page.items], page.next_token)


def _sorted_page(deps: Deps, company_handle: str, user_handle: str | None, sort_by: str, start: datetime | None,
                 end: datetime | None, descending: bool, limit: int) -> list[Job]:
    """The first ``limit`` jobs in an order no index keeps (log type, user, a count): every job of the
    company (or of the dates) is read, at most ``MAX_SORTED_JOBS`` of them, and only ``limit`` are kept."""
    read = 0

    def counted() -> Iterator[Job]:
        nonlocal read
        for job, _ in deps.jobs.iter_by_start(company_handle, start, end, descending, None, 500):
            read += 1
            if read > MAX_SORTED_JOBS:
                raise errors.invalid_parameter(
                    f"sortBy={sort_by} orders every job it reads, and this company has more than "
                    f"{MAX_SORTED_JOBS} in the dates asked; narrow them with startDate/endDate, or sort by "
                    "StartDate or JobName (which page through any number)", 413)
            if job is not None and (not user_handle or job.submit_user_handle == user_handle):
                yield job

    # Equivalent to sorted(...)[:limit] (stable), in memory for ``limit`` jobs whatever the company holds.
    choose = heapq.nlargest if descending else heapq.nsmallest
    return choose(limit, counted(), key=views.job_sort_key(sort_by))


def job_log_details(deps: Deps, user: User, job_handle: str, log_types: list[str] | None,
                    records_per_page: int | None, results_page: int | None,
                    sort_by: str | None, sort_direction: str | None, locale: str | None = None) -> JobLog:
    """getJobLogDetails: the job's summary row with one page of detail rows, in ``locale`` or the job's."""
    auth.require_role(user, auth.READ_ROLES, "getJobLogDetails")
    locale = reading_locale(locale)
    job = get_owned_job(deps, user, job_handle)
    per_page = records_per_page or MAX_RECORDS_PER_PAGE
    page = results_page or 1
    if not 1 <= per_page <= MAX_RECORDS_PER_PAGE:
        raise errors.invalid_parameter(f"recordsPerPage must be between 1 and {MAX_RECORDS_PER_PAGE}")
    if page < 1:
        raise errors.invalid_parameter("resultsPage must be 1 or more")
    if sort_by not in (None, "Date", "LogType"):
        raise errors.invalid_parameter("sortBy must be Date or LogType")
    descending = _descending(sort_direction, default=False)
    rows = deps.logs.query(job_handle, log_types, newest_first=descending)
    if sort_by == "LogType":
        everything = sorted(rows, key=lambda r: r.log_type.value, reverse=descending)
        total = len(everything)
        selected = everything[(page - 1) * per_page: page * per_page]
    else:
        selected = list(islice(rows, (page - 1) * per_page, page * per_page))
        total = job.counts.log_rows if not log_types else (page - 1) * per_page + len(selected) + sum(1 for _ in rows)
    summary = views.job_log(job)
    return summary.model_copy(update={
        "detail_total_rows": total,
        "detail_array": [views.detail(row, locale or job.locale) for row in selected],
    })


# getJobLogDetails by originalName (spec §8.1, a JobLogArray): the newest jobs asked under that name, from
# at most NAMES_READ job names that start with it (the name itself, and with openips' uniqueness suffixes).
MAX_JOBS_BY_ORIGINAL_NAME = 20
NAMES_READ = 1000


def job_log_details_by_original_name(deps: Deps, user: User, company: str | None, original_name: str,
                                     log_types: list[str] | None, records_per_page: int | None,
                                     results_page: int | None, sort_by: str | None, sort_direction: str | None,
                                     locale: str | None = None) -> list[JobLog]:
    """getJobLogDetails with ``originalName`` and no ``jobHandle``: each job opened under that name, newest first."""
    auth.require_role(user, auth.READ_ROLES, "getJobLogDetails")
    company_handle = auth.company_scope(user, company)
    found, more = deps.jobs.named_from(company_handle, original_name, NAMES_READ)
    if more:
        raise errors.invalid_parameter(
            f"More than {NAMES_READ} job names start with {original_name!r}: ask by jobHandle (getJobLogs lists "
            "the jobs)", 413)
    newest = sorted(found, key=lambda job: job.start_date, reverse=True)[:MAX_JOBS_BY_ORIGINAL_NAME]
    return [job_log_details(deps, user, job.job_handle, log_types, records_per_page, results_page, sort_by,
                            sort_direction, locale) for job in newest]


MAX_TASKS = 1000


def upload_task_status(deps: Deps, user: User, job_handle: str) -> ClusterUploadTaskStatus:
    """getUploadTaskStatus (XSD only): one task per uploaded file, in-flight files first."""
    auth.require_role(user, auth.READ_ROLES, "getUploadTaskStatus")
    job = get_owned_job(deps, user, job_handle)
    claims = deps.claims.list_for_job(job.job_handle)
    claims.sort(key=lambda c: (c.status == "Done", c.path))
    done = [c.completed for c in claims if c.completed is not None]
    tasks = [UploadTask(file=c.path, processing_status=c.status,
                        workflow_state=c.result or c.status if c.status == "Done" else "Processing",
                        progress=1.0 if c.status == "Done" else 0.0, renditions=[])
             for c in claims[:MAX_TASKS]]
    status = UploadTaskStatus(job_handle=job.job_handle, is_job_stopped=job.stopped_by is not None,
                              last_added=job.last_activity, last_completed=max(done) if done else None,
                              task_array=tasks, task_total=len(claims))
    return ClusterUploadTaskStatus(status_array=[status])


def reading_locale(locale: str | None) -> str | None:
    """The ``locale`` a log reader asked for (IPS: ``authHeader/locale``); None → the job's own."""
    if locale is not None and not LOCALE.fullmatch(locale):
        raise errors.invalid_parameter("locale must look like en-US or ko (language[-COUNTRY])")
    return locale


def _descending(direction: str | None, default: bool) -> bool:
    if direction is None:
        return default
    if direction not in ("Ascending", "Descending"):
        raise errors.invalid_parameter("sortDirection must be Ascending or Descending")
    return direction == "Descending"

