"""NotificationFunction: webhook delivery attempts (and their delay hops) and admin re-sends
(NotificationQueue)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from openips.models.domain import utcnow
from openips.observability import logger, metrics, tracer
from openips.services.deps import get_deps
from openips.services.notifications import get_notifiers, handle_message

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> None:
    message = json.loads(record.body)
    logger.append_keys(job_handle=message.get("jobHandle"))
    deps = get_deps()
    result = handle_message(deps, get_notifiers(deps.settings), message, utcnow())
    if result in ("Delivered", "Retry", "Stopped", "Refused"):
        metrics.add_metric(name=f"Webhook{result}", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler,
                                    processor=processor, context=context)
