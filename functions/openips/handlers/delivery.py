"""DeliveryFunction: ``GET /is/image/{company}/{asset}``, renditions of published assets (docs/delivery.md).

Public, as Image Serving is: no API key; what is not published is a 404. Errors are IS-style text
answers, not IPS faults.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from openips.handlers.http import IpsResolver
from openips.observability import logger, metrics, tracer
from openips.services.delivery.service import DeliveryAnswer, deliver, error_answer
from openips.services.deps import get_deps


def _public(_: Any) -> None:
    """Renditions are public, as Image Serving's are: no key is asked for (unpublished assets are 404)."""
    return None


app = IpsResolver(_public)


def _response(answer: DeliveryAnswer) -> Response:
    headers = dict(answer.headers)
    content_type = headers.pop("Content-Type", None)
    # bytes: Powertools hands them to API Gateway base64-encoded, as a binary answer must be.
    return Response(status_code=answer.status, content_type=content_type, body=answer.body, headers=headers)


@app.get("/is/image/<company>/<asset>")
def image(company: str, asset: str) -> Response:
    event = app.current_event
    return _response(deliver(get_deps(), company, asset, event.raw_query_string,
                             event.headers.get("if-none-match")))


@app.not_found
def _not_found(_: Exception) -> Response:
    return _response(error_answer(404, "Not found"))


@app.exception_handler(Exception)
def _internal(_: Exception) -> Response:
    logger.exception("unhandled error")
    return _response(error_answer(500, "Internal error"))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
