"""AssetImagingFunction: the HTTP routes that look at pixels (they need the imaging layer)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from openips.handlers.http import caller, json_response, make_app, query
from openips.observability import logger, metrics, tracer
from openips.services.autocrop import get_auto_crop_rect
from openips.services.deps import get_deps

# Parses masters: no accounts access, the caller comes from AuthorizerFunction.
app = make_app(from_authorizer=True)


@app.get("/v1/assets/<asset_handle>/auto-crop-rect")
def auto_crop_rect(asset_handle: str) -> Response:
    rect = get_auto_crop_rect(get_deps(), caller(app), asset_handle, query(app, "type"),
                              query(app, "corner"), query(app, "tolerance"))
    return json_response(rect)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
