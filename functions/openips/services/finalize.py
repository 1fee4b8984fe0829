"""What runs once a job has ended (FinalizeJobFunction)."""

from __future__ import annotations

from openips.models.domain import Job
from openips.observability import logger
from openips.services.deps import Deps
from openips.services.keys import claim_id_for, incoming_prefix


def finalize_job(deps: Deps, job_handle: str) -> bool:
    """Clean up and record the job's completion once; a duplicate delivery is a no-op.

    Later issues add the job-end email, the ``postHttpUrl`` webhook and set creation
    here, before the job leaves the active index.
    """
    job = deps.store.get_job(job_handle)
    if job is None or not job.finished:
        logger.warning("finalize requested for a job that has not ended", job_handle=job_handle)
        return False
    if job.finalized:
        logger.info("job already finalized", job_handle=job_handle)
        return False
    removed, kept = remove_processed_uploads(deps, job)
    if not deps.store.mark_finalized(job_handle):
        return False
    logger.info("job finalized", job_handle=job_handle, uploads_removed=removed, uploads_kept=kept,
                **job.counts.model_dump())
    return True


def remove_processed_uploads(deps: Deps, job: Job) -> tuple[int, int]:
    """Delete the uploads whose processing is done; keep any other (still on its way)."""
    bucket = deps.settings.incoming_bucket
    done, kept = [], 0
    for key, etag in deps.storage.list_objects(bucket, incoming_prefix(job)):
        claim = deps.store.get_claim(job.job_handle, claim_id_for(key, etag))
        if claim is not None and claim.status == "Done":
            done.append(key)
        else:
            kept += 1
    deps.storage.delete_many(bucket, done)
    return len(done), kept
