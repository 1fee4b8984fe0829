"""The periodic sweep (SweepFunction): idle timeouts, overlong pauses, stalled closes, lost finalize events."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from openips.models.domain import JobClock
from openips.observability import logger
from openips.services import accounting, control, jobs
from openips.services.deps import Deps


def sweep(deps: Deps, now: datetime) -> dict[str, int]:
    """One pass over every company's active jobs (a Query per company, never a Scan).

    Jobs are read page by page without their options, so the pass's memory does not grow with
    what tenants put in their jobs; a company whose jobs cannot be swept is logged and counted
    (``company_failed``), and the pass goes on with the next company.
    """
    done: Counter[str] = Counter()
    for company_handle in deps.companies.list_handles():
        try:
            for clock in deps.jobs.iter_active_clocks(company_handle):
                done += _sweep_job(deps, clock, now)
        except Exception:  # noqa: BLE001 - one company's failure never stops the others
            logger.exception("sweep of a company failed", company_handle=company_handle)
            done["company_failed"] += 1
    if done:
        logger.info("sweep acted", **done)
    return dict(done)


def _sweep_job(deps: Deps, clock: JobClock, now: datetime) -> Counter[str]:
    idle = timedelta(seconds=deps.settings.job_idle_timeout_seconds)
    grace = timedelta(seconds=deps.settings.missing_file_grace_seconds)
    redrive = timedelta(seconds=deps.settings.finalize_redrive_after_seconds)
    done: Counter[str] = Counter()
    if clock.finished:
        if clock.end_date and now - clock.end_date > redrive:
            deps.events.job_finished(clock.job_handle, clock.company_handle)
            done["finalize_redriven"] += 1
    elif clock.paused:
        # Waiting on pauseJob, not on the client: neither idle nor stalled. resumeJob
        # restarts both clocks (it sets last_activity). Past MaxPauseSeconds the pause ends
        # as a stopJob would end it.
        since = clock.paused_at or clock.last_activity
        if now - since > timedelta(seconds=deps.settings.max_pause_seconds):
            if control.end_overlong_pause(deps, clock.job_handle, now):
                done["pause_expired"] += 1
    elif not clock.closed and now - clock.last_activity > idle:
        # Spec §3.3: a job with no POST for 30 minutes times out and ends.
        job = deps.jobs.get(clock.job_handle)
        if job is not None:
            jobs.close(deps, job, "idle timeout", now)
            done["timed_out"] += 1
    elif clock.closed and clock.closed_at and now - max(clock.closed_at, clock.last_activity) > grace:
        done += _overdue(deps, clock.job_handle, now)
    return done


def _overdue(deps: Deps, job_handle: str, now: datetime) -> Counter[str]:
    """A closed job past its grace: audit it, repair what keeps it open, and end it if it can."""
    done: Counter[str] = Counter()
    found = accounting.audit(deps, job_handle, now)
    if found is None or found.job.finished:
        return done
    if not found.healthy:
        done["drift_found"] += bool(found.drift)
        accounting.repair(deps, found, now, by="sweeper")
        done["repaired"] += bool(found.repaired)
        if found.stalled or found.unclaimed:
            if found.job.repairs < accounting.MAX_REPAIRS:
                return done  # the files sent again end the job when they finish
    # Nothing left to wait for: expected files that never produced an event are given up.
    if jobs.finish_if_complete(deps, job_handle, now, force=True):
        done["forced_finish"] += 1
    return done
