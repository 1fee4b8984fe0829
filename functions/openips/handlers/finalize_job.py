"""FinalizeJobFunction: runs once per ended job (JobEventsQueue)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from openips.observability import logger, metrics, tracer
from openips.services.delivery import invalidations
from openips.services.deps import get_deps
from openips.services.finalize import finalize_job

# Failed records are reported back (partial batch response) rather than failing the
# invocation, so a batch of transient failures does not count as a function error.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

# Each record is one job, isolated from the others of its batch: an exception fails its own
# record only (partial batch response), and a record after the first starts only while this
# much of the invocation's time remains (the function's timeout is 120 s), so one job's slow
# finalize never lets the timeout take the next jobs down with it. A record left unstarted is
# queued again as a new message at once and acknowledged: neither failed nor delayed. The
# template's BatchSize of 1 makes each invocation one record; this guards a larger batch.
START_RESERVE_MS = 60_000


def record_handler(record: SQSRecord) -> None:
    body = json.loads(record.body)
    if body.get("type") == invalidations.MESSAGE_TYPE:  # a smart crop adjusted through the API
        invalidations.carry_out(get_deps(), body)
        return
    job_handle = body["jobHandle"]
    logger.append_keys(job_handle=job_handle)
    if finalize_job(get_deps(), job_handle):
        metrics.add_metric(name="JobFinalized", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") or []
    first = records[0].get("messageId") if records else None

    def handle(record: SQSRecord) -> None:
        remaining = context.get_remaining_time_in_millis()
        if record.message_id != first and remaining < START_RESERVE_MS:
            # If this send fails, the record is reported failed and SQS brings it back.
            get_deps().events.send_again(record.body)
            logger.warning("finalize record handed to a new message: too little time left in this invocation",
                           message_id=record.message_id, remaining_ms=remaining)
            metrics.add_metric(name="FinalizeHandedOn", unit=MetricUnit.Count, value=1)
            return
        record_handler(record)

    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
