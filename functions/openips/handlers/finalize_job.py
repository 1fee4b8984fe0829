"""FinalizeJobFunction: runs once per ended job (JobEventsQueue)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from openips.observability import logger, metrics, tracer
from openips.services.deps import get_deps
from openips.services.finalize import finalize_job

# Failed records are reported back (partial batch response) rather than failing the
# invocation, so a batch of transient failures does not count as a function error.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> None:
    job_handle = json.loads(record.body)["jobHandle"]
    logger.append_keys(job_handle=job_handle)
    if finalize_job(get_deps(), job_handle):
        metrics.add_metric(name="JobFinalized", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler,
                                    processor=processor, context=context)
