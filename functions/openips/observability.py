"""The one set of Powertools singletons shared by every handler and service.

Service and namespace are fixed here (not only through environment variables) so that
importing this module before the environment is set, as tests and tools do, still works.

The tracer is Powertools' ``Tracer``, built on the first invocation whose request X-Ray sampled:
building it imports the X-Ray SDK (about a quarter of a second), which every cold start paid
before, traced or not. Lambda's active tracing (``Tracing: Active``) records every sampled
invocation either way; the SDK adds the handler's subsegment and those of the AWS calls.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics

SERVICE = "openips"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=SERVICE, service=SERVICE)

Handler = Callable[[Any, Any], Any]


def _sampled() -> bool:
    """Whether this invocation is traced: Lambda sets ``_X_AMZN_TRACE_ID`` per request."""
    if not os.environ.get("LAMBDA_TASK_ROOT") or os.environ.get("AWS_SAM_LOCAL"):
        return False  # as Powertools decides: no X-Ray daemon to send to
    if os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() in ("1", "true"):
        return False
    return "Sampled=1" in os.environ.get("_X_AMZN_TRACE_ID", "")


class LazyTracer:
    """``capture_lambda_handler`` as Powertools' Tracer has it, with the Tracer built when first needed."""

    def __init__(self) -> None:
        self._tracer: Any = None

    @property
    def built(self) -> bool:
        return self._tracer is not None

    def _real(self) -> Any:
        if self._tracer is None:
            from aws_lambda_powertools import Tracer

            self._tracer = Tracer(service=SERVICE)
        return self._tracer

    def capture_lambda_handler(self, handler: Handler | None = None, *,
                               capture_response: bool = True) -> Any:
        if handler is None:  # used as @tracer.capture_lambda_handler(capture_response=False)
            return functools.partial(self.capture_lambda_handler, capture_response=capture_response)
        traced: list[Handler] = []

        @functools.wraps(handler)
        def wrapper(event: Any, context: Any) -> Any:
            if not _sampled():
                return handler(event, context)
            if not traced:
                traced.append(self._real().capture_lambda_handler(handler, capture_response=capture_response))
            return traced[0](event, context)

        return wrapper


tracer = LazyTracer()
