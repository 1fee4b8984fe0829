"""The periodic sweep (SweepFunction): idle timeouts, stalled closes, lost finalize events."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from openips.observability import logger
from openips.services import jobs
from openips.services.deps import Deps

FINALIZE_REDRIVE_AFTER = timedelta(minutes=5)


def sweep(deps: Deps, now: datetime) -> dict[str, int]:
    """One pass over every company's active jobs (a Query per company, never a Scan)."""
    idle = timedelta(seconds=deps.settings.job_idle_timeout_seconds)
    grace = timedelta(seconds=deps.settings.missing_file_grace_seconds)
    done: Counter[str] = Counter()
    for company_handle in deps.store.list_company_handles():
        active, _ = deps.store.query_active_jobs(company_handle)
        for job in active:
            if job.finished:
                if job.end_date and now - job.end_date > FINALIZE_REDRIVE_AFTER:
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
                if jobs.finish_if_complete(deps, job.job_handle, now, force=True):
                    done["forced_finish"] += 1
    if done:
        logger.info("sweep acted", **done)
    return dict(done)
