"""What every HTTP-facing function shares: the resolver with IPS fault mapping, the caller."""

from __future__ import annotations

import json

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from pydantic import BaseModel, ValidationError

from openips.models import errors
from openips.models.domain import User
from openips.models.errors import Fault
from openips.observability import logger
from openips.services import auth
from openips.services.deps import get_deps
from openips.services.params import fault_from_validation


def fault_response(exc: Fault) -> Response:
    logger.info("fault", fault_code=exc.code, http_status=exc.http_status)
    return Response(status_code=exc.http_status, content_type=content_types.APPLICATION_JSON,
                    body=json.dumps(exc.body()))


def make_app() -> APIGatewayHttpResolver:
    """A resolver whose every error is an IPS fault (never a stack trace, never a bare 500)."""
    app = APIGatewayHttpResolver()

    @app.exception_handler(Fault)
    def _fault(exc: Fault) -> Response:
        return fault_response(exc)

    @app.exception_handler(ValidationError)
    def _invalid(exc: ValidationError) -> Response:
        return fault_response(fault_from_validation(exc))

    @app.exception_handler(Exception)
    def _internal(exc: Exception) -> Response:
        logger.exception("unhandled error")
        return fault_response(errors.IpsApiFault(errors.EXCEPTION, "Internal error; see the service logs", 500))

    @app.not_found
    def _not_found(_: Exception) -> Response:
        return fault_response(errors.IpsApiFault(errors.INVALID_REQUEST, "No such route", 404))

    return app


def caller(app: APIGatewayHttpResolver) -> User:
    return auth.authenticate(get_deps().store, app.current_event.headers.get("authorization"))


def query(app: APIGatewayHttpResolver, name: str) -> str | None:
    value = (app.current_event.query_string_parameters or {}).get(name)
    return value if value not in (None, "") else None


def json_response(model: BaseModel, status: int = 200, exclude_none: bool = True) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body=model.model_dump_json(by_alias=True, exclude_none=exclude_none))
