"""What runs once a job has ended (FinalizeJobFunction)."""

from __future__ import annotations

from openips.observability import logger
from openips.services.deps import Deps


def finalize_job(deps: Deps, job_handle: str) -> bool:
    """Record the job's completion once; a duplicate delivery is a no-op.

    Later issues add the job-end email, the ``postHttpUrl`` webhook and set creation
    here, before the job leaves the active index.
    """
    job = deps.store.get_job(job_handle)
    if job is None or not job.finished:
        logger.warning("finalize requested for a job that has not ended", job_handle=job_handle)
        return False
    if not deps.store.mark_finalized(job_handle):
        logger.info("job already finalized", job_handle=job_handle)
        return False
    logger.info("job finalized", job_handle=job_handle, **job.counts.model_dump())
    return True
