"""MediaConvertEventsFunction: a "MediaConvert Job State Change" event → the rendition's row (services/renditions.py).

The EventBridge rule sends only this stack's jobs (``userMetadata.openipsStack``) in a final state:
COMPLETE completes the rendition as TranscodeFunction does; ERROR and CANCELED are its error row.
Either way the claim is done and the job may end. docs/formats-video.md#renditions.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from openips.adapters.mediaconvert import job_state
from openips.models.domain import utcnow
from openips.observability import logger, metrics, tracer
from openips.services import renditions
from openips.services.deps import get_deps


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = job_state(event)
    if state is None:  # the rule lets no other through; the event itself is not logged (it names our keys)
        logger.warning("not a final state of an openips MediaConvert job", detail_type=event.get("detail-type"))
        return {"outcome": "Ignored"}
    outcome = renditions.finish_submitted(get_deps(), state, utcnow())
    logger.info("MediaConvert job ended", mediaconvert_job=state.job_id, status=state.status, outcome=outcome)
    metrics.add_metric(name=f"Rendition{outcome}", unit=MetricUnit.Count, value=1)
    return {"outcome": str(outcome)}
