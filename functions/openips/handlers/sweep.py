"""SweepFunction: the scheduled pass over active jobs."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from openips.models.domain import utcnow
from openips.observability import logger, tracer
from openips.services.deps import get_deps
from openips.services.sweep import sweep


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    return sweep(get_deps(), utcnow())
