"""What every HTTP-facing function shares: the resolver with IPS fault mapping, its routes, the caller."""

from __future__ import annotations

import functools
import gzip
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from pydantic import BaseModel, ValidationError

from openips.models import errors
from openips.models.domain import User
from openips.models.errors import Fault
from openips.observability import logger
from openips.services import auth
from openips.services.deps import get_deps
from openips.services.params import fault_from_validation

Handler = Callable[..., Any]

# Routes anyone may call (method, resolver path); every other route needs ``Authorization: Bearer``.
# The upload page and its files are public: the page asks for the key itself (docs/web-ui.md).
PUBLIC_ROUTES = frozenset({("GET", "/v1/openapi.json"), ("GET", "/"), ("GET", "/ui/<file_name>")})


def fault_response(exc: Fault) -> Response:
    logger.info("fault", fault_code=exc.code, http_status=exc.http_status)
    return Response(status_code=exc.http_status, content_type=content_types.APPLICATION_JSON,
                    body=json.dumps(exc.body()))


# A synchronous Lambda answer is at most 6 MB of JSON: the body as a JSON string (escaped) and API
# Gateway's envelope. A larger one reaches the caller as API Gateway's bare 502.
MAX_ANSWER_BYTES = 6 * 1024 * 1024 - 64 * 1024
_MEASURED_FROM = 1024 * 1024  # a body below this fits whatever its escaping


def answer_within_lambda_limit(app: APIGatewayHttpResolver, next_middleware: Callable[..., Response]) -> Response:
    """A JSON answer too large for Lambda travels gzipped when the caller accepts gzip; else it is a 413 fault
    naming the way out (fewer rows, or gzip), never API Gateway's bare 502 (README "The HTTP API")."""
    response = next_middleware(app)
    body = response.body
    if not isinstance(body, str) or len(body) < _MEASURED_FROM:
        return response
    size = len(json.dumps(body))  # as the runtime sends it: escaped, non-ASCII as \uXXXX
    if size <= MAX_ANSWER_BYTES:
        return response
    accepted = "gzip" in (app.current_event.headers.get("accept-encoding") or "")
    # Powertools compresses at level 9 and sends base64 (4/3); level 6 is a bound on what it will make.
    if accepted and -(-len(gzip.compress(body.encode(), 6)) // 3) * 4 <= MAX_ANSWER_BYTES:
        response.compress = True
        return response
    logger.warning("answer too large for a Lambda response", answer_bytes=size, gzip_accepted=accepted)
    return fault_response(errors.invalid_parameter(
        f"The answer has {size} bytes, more than the {MAX_ANSWER_BYTES} a response of this deployment may carry "
        "(Lambda's 6 MB limit): ask for fewer rows (limit, numRows, recordsPerPage)"
        + ("" if accepted else " or send Accept-Encoding: gzip"), 413))


# A path parameter: <job_handle> in a resolver rule, {jobHandle} in the OpenAPI document.
_PARAMETER = re.compile(r"<[^/]+>|\{[^/]+\}")


@dataclass(frozen=True)
class KnownRoute:
    """A method on a path template: one this function serves (``func``, its handler as written), or
    one the OpenAPI document publishes."""

    method: str  # upper case
    path: str  # /v1/jobs/<job_handle> as registered, or /v1/jobs/{jobHandle} as documented
    func: Handler | None = None

    @functools.cached_property
    def pattern(self) -> re.Pattern[str]:
        return re.compile("^" + "/".join("[^/]+" if _PARAMETER.fullmatch(part) else re.escape(part)
                                         for part in self.path.split("/")) + "$")

    @property
    def is_static(self) -> bool:
        return not any(_PARAMETER.fullmatch(part) for part in self.path.split("/"))


class IpsResolver(APIGatewayHttpResolver):
    """The resolver, how this function learns who is calling, and the routes it serves."""

    def __init__(self, authenticator: Callable[[APIGatewayHttpResolver], User]) -> None:
        super().__init__()
        self.authenticator = authenticator
        self.served_routes: list[KnownRoute] = []

    def route(self, rule: str, method: str | list[str] | tuple[str], *args: Any,
              **kwargs: Any) -> Callable[[Handler], Handler]:
        """Powertools' ``route`` (``get``, ``post``… and ``include_router`` come through here), with
        the route recorded in ``served_routes`` and its caller authenticated before its handler runs."""
        register = super().route(rule, method, *args, **kwargs)
        methods = [method] if isinstance(method, str) else list(method)

        def register_served(func: Handler) -> Handler:
            self.served_routes.extend(KnownRoute(m.upper(), rule, func) for m in methods)
            register(self._authenticated_first(rule, func))
            return func

        return register_served

    def _authenticated_first(self, rule: str, func: Handler) -> Handler:
        @functools.wraps(func)
        def authenticated(**route_arguments: Any) -> Any:
            # Before the body or the query is looked at: a caller without a valid key learns nothing
            # but 401 (http-api.md). Unknown routes never get here: they stay 404/405, as on API Gateway.
            if (self.current_event.http_method.upper(), rule) not in PUBLIC_ROUTES:
                self.append_context(caller=self.authenticator(self))
            return func(**route_arguments)

        return authenticated


def make_app(from_authorizer: bool = False) -> IpsResolver:
    """A resolver whose every error is an IPS fault (never a stack trace, never a bare 500).

    ``from_authorizer``: the caller comes from AuthorizerFunction's context, for functions that
    may not read the accounts table (docs/security.md "Who can reach what").
    """
    app = IpsResolver(authorizer_caller if from_authorizer else authenticate)
    app.use(middlewares=[answer_within_lambda_limit])

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
        allowed = allowed_methods(app, app.current_event.path)
        if allowed:  # the path exists, not with this method (RFC 9110 §15.5.6: 405 with Allow)
            response = fault_response(errors.IpsApiFault(
                errors.INVALID_REQUEST, f"Method {app.current_event.http_method} not allowed here", 405))
            response.headers["Allow"] = ", ".join(allowed)
            return response
        return fault_response(errors.IpsApiFault(errors.INVALID_REQUEST, "No such route", 404))

    return app


def allowed_methods(app: IpsResolver, path: str) -> list[str]:
    """The methods this function's routes serve on ``path``, else those the OpenAPI document lists
    for it (none: an unknown path).

    (API Gateway hands a request for another function's path with a method that function does
    not serve to ``ANY /{proxy+}``: that resource exists, the answer is 405, not 404.)
    """
    return _methods_on(path, app.served_routes) or _methods_on(path, _documented_routes())


def _methods_on(path: str, routes: Sequence[KnownRoute]) -> list[str]:
    # A fixed path (/v1/jobs/logs) is its own resource: the methods of a templated route that
    # would also match it (DELETE /v1/jobs/{jobHandle}) are not advertised for it.
    for static in (True, False):
        methods = {route.method for route in routes if route.is_static == static and route.pattern.match(path)}
        if methods:
            return sorted(methods)
    return []


@functools.lru_cache(maxsize=1)
def _documented_routes() -> tuple[KnownRoute, ...]:
    from openips.services.openapi import ROUTES  # only once a request has missed every route

    return tuple(KnownRoute(method.upper(), path) for method, path, *_ in ROUTES)


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
