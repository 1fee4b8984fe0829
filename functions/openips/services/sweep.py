"""The periodic sweep (SweepFunction): idle timeouts, stalled closes, lost finalize events."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from openips.observability import logger
from openips.services import accounting, jobs
from openips.services.deps import Deps


def sweep(deps: Deps, now: datetime) -> dict[str, int]:
    """One pass over every company's active jobs (a Query per company, never a Scan)."""
    idle = timedelta(seconds=deps.settings.job_idle_timeout_seconds)
    grace = timedelta(seconds=deps.settings.missing_file_grace_seconds)
    redrive = timedelta(seconds=deps.settings.finalize_redrive_after_seconds)
    done: Counter[str] = Counter()
    for company_handle in deps.store.list_company_handles():
        active, _ = deps.store.query_active_jobs(company_handle)
        for job in active:
            if job.finished:
                if job.end_date and now - job.end_date > redrive:
                    deps.events.job_finished(job.job_handle, job.company_handle)
                    done["finalize_redriven"] += 1
            elif job.paused:
                # Waiting on pauseJob, not on the client: neither idle nor stalled. resumeJob
                # restarts both clocks (it sets last_activity).
                continue
            elif not job.closed and now - job.last_activity > idle:
                # Spec §3.3: a job with no POST for 30 minutes times out and ends.
                jobs.close(deps, job, "idle timeout", now)
                done["timed_out"] += 1
            elif job.closed and job.closed_at and now - max(job.closed_at, job.last_activity) > grace:
                done += _overdue(deps, job.job_handle, now)
    if done:
        logger.info("sweep acted", **done)
    return dict(done)


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
