"""What runs once a job has ended (FinalizeJobFunction)."""

from __future__ import annotations

from datetime import datetime

from openips.models.domain import Job, LogEntry, utcnow
from openips.observability import logger
from openips.services import set_presets
from openips.services.deps import Deps
from openips.services.keys import claim_id_for, incoming_prefix
from openips.services.notifications import Notifiers, get_notifiers, notify_job_end


def finalize_job(deps: Deps, job_handle: str, notifiers: Notifiers | None = None) -> bool:
    """Run the job-end steps once each, then record the completion; a duplicate delivery is a no-op.

    Steps, in order, each idempotent (docs/notifications.md): automatic sets (markers
    ``J#<j>`` / ``S#<preset>#<set>``), the e-mail (``X#email:<kind>``), the webhook chain
    (``X#webhook:0``); then the processed uploads are removed and the job leaves the active
    index. A step another invocation is running raises TransientError, so the job is marked
    finalized only once every step is done.
    """
    job = deps.jobs.get(job_handle)
    if job is None or not job.finished:
        logger.warning("finalize requested for a job that has not ended", job_handle=job_handle)
        return False
    if job.finalized:
        logger.info("job already finalized", job_handle=job_handle)
        return False
    now = utcnow()
    set_rows = run_presets(deps, job, now)
    notify_job_end(deps, notifiers or get_notifiers(deps.settings), job, now, set_rows)
    removed, kept = remove_processed_uploads(deps, job)
    if not deps.jobs.mark_finalized(job_handle):
        return False
    logger.info("job finalized", job_handle=job_handle, uploads_removed=removed, uploads_kept=kept,
                **job.counts.model_dump())
    return True


def remove_processed_uploads(deps: Deps, job: Job) -> tuple[int, int]:
    """Delete the uploads whose processing is done; keep any other (still on its way)."""
    bucket = deps.settings.incoming_bucket
    done, kept = [], 0
    for key, etag, _ in deps.storage.list_objects(bucket, incoming_prefix(job)):
        claim = deps.claims.get(job.job_handle, claim_id_for(key, etag))
        if claim is not None and claim.status == "Done":
            done.append(key)
        else:
            kept += 1
    deps.storage.delete_many(bucket, done)
    return len(done), kept


def run_presets(deps: Deps, job: Job, now: datetime) -> list[LogEntry]:
    """Automatic set creation (issue 6 part 3), first, so notifications can mention the sets.

    ``run_presets_for_job`` is idempotent by itself (one marker per set, ``J#<j>`` /
    ``S#<preset>#<set>``, written with its log row) and returns the rows on every run, so it
    runs on every delivery and the mail of a retried finalize still lists the sets.
    """
    return list(set_presets.run_presets_for_job(deps, job, now) or [])
