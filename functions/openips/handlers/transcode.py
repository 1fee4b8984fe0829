"""TranscodeFunction: one TranscodeQueue message → one video rendition and its row (services/renditions.py).

Its layers are MediaFunction's (imaging + PyAV); a video beyond the line is submitted to MediaConvert instead
when the stack enables it (``rendition_jobs``). A rendition that must wait (paused job, busy
claim, a retry) goes back to TranscodeQueue as a new, delayed message. docs/formats-video.md#renditions.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from openips.adapters.mediaconvert import MediaConvertTranscoder
from openips.imaging.transcode import PyAVTranscoder
from openips.models import errors
from openips.models.domain import utcnow
from openips.observability import logger, metrics, tracer
from openips.services import renditions
from openips.services.deps import get_deps
from openips.services.processing import MAX_SQS_DELAY
from openips.settings import Settings

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
transcoder = PyAVTranscoder()


def rendition_jobs(settings: Settings) -> renditions.RenditionJobs | None:
    """MediaConvert when the stack enables it (EnableMediaConvert), else None: PyAV only."""
    if not settings.mediaconvert_enabled:
        return None
    return _mediaconvert(settings.mediaconvert_role_arn, settings.mediaconvert_endpoint)


@cache
def _mediaconvert(role_arn: str, endpoint: str) -> MediaConvertTranscoder:
    return MediaConvertTranscoder(role_arn, endpoint)


def record_handler(record: SQSRecord) -> None:
    deps = get_deps()
    try:
        outcome = renditions.run(deps, record.body, utcnow(), transcoder, rendition_jobs(deps.settings))
    except errors.RetryLater as wait:
        deps.transcode_queue.defer(record.body, min(wait.seconds, MAX_SQS_DELAY))
        outcome = wait.outcome
    logger.info("rendition handled", outcome=outcome)
    metrics.add_metric(name=f"Rendition{outcome}", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler,
                                    processor=processor, context=context)
