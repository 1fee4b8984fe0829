"""What every HTTP-facing function shares: the resolver with IPS fault mapping, the caller."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import lru_cache

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from pydantic import BaseModel, ValidationError

from openips.models import errors
from openips.models.domain import User
from openips.models.errors import Fault
from openips.observability import logger
from openips.services import auth
from openips.services.deps import get_deps
from openips.services.params import fault_from_validation

# Routes anyone may call (method, resolver path); every other route needs ``Authorization: Bearer``.
PUBLIC_ROUTES = frozenset({("GET", "/v1/openapi.json")})


def fault_response(exc: Fault) -> Response:
    logger.info("fault", fault_code=exc.code, http_status=exc.http_status)
    return Response(status_code=exc.http_status, content_type=content_types.APPLICATION_JSON,
                    body=json.dumps(exc.body()))


class IpsResolver(APIGatewayHttpResolver):
    """The resolver, and how this function learns who is calling."""

    def __init__(self, authenticator: Callable[[APIGatewayHttpResolver], User]) -> None:
        super().__init__()
        self.authenticator = authenticator


def make_app(from_authorizer: bool = False) -> IpsResolver:
    """A resolver whose every error is an IPS fault (never a stack trace, never a bare 500).

    ``from_authorizer``: the caller comes from AuthorizerFunction's context, for functions that
    may not read the accounts table (docs/security.md "Who can reach what").
    """
    app = IpsResolver(authorizer_caller if from_authorizer else authenticate)

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

    def _authenticate_first(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
        # Before the body or the query is looked at: a caller without a valid key learns nothing
        # but 401 (http-api.md). Unknown routes stay 404/405, as on API Gateway.
        route = app.context.get("_route")
        served = route is not None and (route in app._static_routes or route in app._dynamic_routes)
        if served and (route.method, route.path) not in PUBLIC_ROUTES:
            app.append_context(caller=app.authenticator(app))
        return next_middleware(app)

    app.use(middlewares=[_authenticate_first])

    @app.not_found
    def _not_found(_: Exception) -> Response:
        allowed = allowed_methods(app, app.current_event.path)
        if allowed:  # the path exists, not with this method (RFC 9110 §15.5.6: 405 with Allow)
            response = fault_response(errors.IpsApiFault(
                errors.INVALID_REQUEST, f"Method {app.current_event.http_method} not allowed here", 405))
            response.headers["Allow"] = ", ".join(allowed)
            return response
        return fault_response(errors.IpsApiFault(errors.INVALID_REQUEST, "No such route", 404))

    return app


def allowed_methods(app: APIGatewayHttpResolver, path: str) -> list[str]:
    """The methods the resolver's routes serve on ``path`` (none: an unknown path).

    A fixed path (``/v1/jobs/logs``) is its own resource: the methods of a templated route that
    would also match it (``DELETE /v1/jobs/{jobHandle}``) are not advertised for it.
    """
    for routes in (app._static_routes, app._dynamic_routes):  # Powertools keeps no public list
        methods = {route.method for route in routes if route.rule.match(path)}
        if methods:
            return sorted(methods)
    return documented_methods(path)


@lru_cache(maxsize=1)
def _documented_paths() -> tuple[tuple[re.Pattern, bool, frozenset[str]], ...]:
    from openips.services.openapi import openapi_document

    return tuple((re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$"), "{" not in path,
                  frozenset(method.upper() for method in item))
                 for path, item in openapi_document()["paths"].items())


def documented_methods(path: str) -> list[str]:
    """The methods the OpenAPI document lists for ``path``, whichever function serves them.

    (API Gateway hands a request for another function's path with a method that function does
    not serve to ``ANY /{proxy+}``: that resource exists, the answer is 405, not 404.)
    """
    for static in (True, False):
        methods = {m for pattern, is_static, found in _documented_paths() if is_static == static
                   and pattern.match(path) for m in found}
        if methods:
            return sorted(methods)
    return []


def caller(app: IpsResolver) -> User:
    """The authenticated caller of this request (authenticated once, before the route ran)."""
    user = app.context.get("caller")
    return user if user is not None else app.authenticator(app)


def authenticate(app: APIGatewayHttpResolver) -> User:
    return auth.authenticate(get_deps().accounts, app.current_event.headers.get("authorization"))


def authorizer_caller(app: APIGatewayHttpResolver) -> User:
    """The user AuthorizerFunction resolved the request's key to, or the fault it refused it with."""
    context = app.current_event.request_context.authorizer.get_lambda or {}
    if "userHandle" in context:
        return User(user_handle=context["userHandle"], company_handle=context["companyHandle"],
                    email=context["email"], role=context["role"])
    if "faultCode" in context:
        raise errors.AuthenticationFault(int(context["faultCode"]), str(context.get("faultReason", "")))
    # The route was deployed without the authorizer: refuse rather than serve anyone.
    logger.error("no authorizer context on a route that needs one")
    raise errors.AuthenticationFault(errors.INVALID_CREDENTIALS, "Invalid API key")


def query(app: APIGatewayHttpResolver, name: str) -> str | None:
    value = (app.current_event.query_string_parameters or {}).get(name)
    return value if value not in (None, "") else None


def json_response(model: BaseModel, status: int = 200, exclude_none: bool = True) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body=model.model_dump_json(by_alias=True, exclude_none=exclude_none))
