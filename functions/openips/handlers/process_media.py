"""MediaFunction: the videos ProcessFileFunction handed over (through MediaQueue) → one asset per file.

Same path as ProcessFileFunction (claim, job checks, pause, refusals, counts), with video
handling on; its layers are the imaging layer and the media layer (PyAV). docs/formats-video.md.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from openips.imaging.vips import configure
from openips.models.domain import utcnow
from openips.models.events import S3Notification
from openips.observability import logger, metrics, tracer
from openips.services.ingest import videos  # noqa: F401 - loads PyAV at cold start, not inside the first file's time
from openips.services.deps import get_deps
from openips.services.processing import process_notification

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> None:
    notification = S3Notification.model_validate_json(record.body)
    deps = get_deps()
    configure(deps.settings.vips_concurrency)
    for outcome in process_notification(deps, notification, record.body, utcnow(), media=True):
        metrics.add_metric(name=outcome, unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler,
                                    processor=processor, context=context)
