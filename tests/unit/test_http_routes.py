"""The resolver every HTTP function shares: 404 and 405 (with Allow) as API Gateway answers them,
and authentication on served routes only, before the handler reads the body or the query."""

from __future__ import annotations

import base64
import gzip
import json
import random

import pytest

from openips.handlers import api, http, imaging_api
from openips.models import errors
from openips.models.domain import User
from openips_cli.inprocess import LambdaContext, http_api_event

USER = User(user_handle="u-1", company_handle="c-1", email="u@example.com", role="IpsUser")


def _call(app: http.IpsResolver, method: str, path: str, headers: dict[str, str] | None = None,
          body: str | None = None) -> dict:
    return app.resolve(http_api_event(method, path, headers or {}, None, body, "203.0.113.7"), LambdaContext())


@pytest.mark.parametrize(("app", "method", "path", "allow"), [
    # a fixed path is its own resource: DELETE /v1/jobs/{jobHandle} is not advertised for it
    (api.app, "POST", "/v1/jobs/logs", "GET"),
    (api.app, "GET", "/v1/jobs/j-1", "DELETE"),
    (api.app, "PUT", "/v1/admin/companies/c-1", "GET, PATCH"),
    (api.app, "DELETE", "/v1/openapi.json", "GET"),  # served, not in the document
    (api.app, "POST", "/", "GET"),  # the upload page (docs/web-ui.md)
    # another function's path reaches this one through ANY /{proxy+}: it exists, so 405
    (api.app, "POST", "/v1/assets/a-1/auto-crop-rect", "GET"),
    (imaging_api.app, "DELETE", "/v1/assets/a-1/auto-crop-rect", "GET"),
    (imaging_api.app, "POST", "/v1/jobs/active", "GET"),
])
def test_a_known_path_with_another_method_is_405_with_allow(app, method, path, allow):
    response = _call(app, method, path)

    assert (response["statusCode"], response["headers"]["Allow"]) == (405, allow)
    assert json.loads(response["body"])["fault"]["code"] == errors.INVALID_REQUEST


@pytest.mark.parametrize("app", [api.app, imaging_api.app])
@pytest.mark.parametrize("path", ["/v1/nothing-here", "/v1/jobs/j-1/nothing", "/v1", "/ui/a/b.js"])
def test_an_unknown_path_is_404(app, path):
    response = _call(app, "GET", path)

    assert response["statusCode"] == 404
    assert "Allow" not in response.get("headers", {})
    assert json.loads(response["body"])["fault"] == {"type": "ipsApiFault", "code": errors.INVALID_REQUEST,
                                                     "reason": "No such route"}


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Every authentication the resolver asks for, by the Authorization header it saw."""
    seen: list[str | None] = []

    def authenticate(app: http.IpsResolver) -> User:
        header = app.current_event.headers.get("authorization")
        seen.append(header)
        if header != "Bearer good":
            raise errors.AuthenticationFault(errors.NO_CREDENTIALS, "no key")
        return USER

    monkeypatch.setattr(http, "authenticate", authenticate)
    return seen


@pytest.fixture
def app(calls: list[str | None]) -> http.IpsResolver:
    app = http.make_app()

    @app.post("/v1/things/<thing>")
    def post_thing(thing: str):
        app.current_event.json_body  # a malformed body raises here
        return {"thing": thing}

    @app.get("/v1/openapi.json")
    def public():
        return {"public": True}

    return app


def test_a_served_route_authenticates_before_it_reads_the_body(app, calls):
    response = _call(app, "POST", "/v1/things/t-1", body='{"not": "json"')

    assert response["statusCode"] == 401
    assert calls == [None]


def test_the_caller_is_authenticated_once_and_handed_to_the_route(app, calls):
    seen: list[User] = []

    @app.get("/v1/whoami")
    def whoami():
        seen.append(http.caller(app))
        return {}

    assert _call(app, "GET", "/v1/whoami", {"authorization": "Bearer good"})["statusCode"] == 200
    assert (seen, calls) == ([USER], ["Bearer good"])


def test_public_routes_and_unserved_paths_authenticate_nobody(app, calls):
    assert _call(app, "GET", "/v1/openapi.json")["statusCode"] == 200
    assert _call(app, "GET", "/v1/things/t-1")["statusCode"] == 405
    assert _call(app, "GET", "/v1/nothing-here")["statusCode"] == 404
    assert calls == []


# ---- answers too large for a Lambda response (6 MB) -----------------------------------------------


@pytest.fixture
def large_app() -> http.IpsResolver:
    app = http.make_app()
    rows = {"rows": [{"logMessage": f"row {n}: the file shoes/red-{n}.jpg was made", "n": n} for n in range(120_000)]}
    # base64 of random bytes: gzip saves a quarter, and base64 (how the gzipped answer travels) adds a third
    noise = {"rows": [base64.b64encode(random.randbytes(72)).decode() for _ in range(70_000)]}

    @app.get("/v1/openapi.json")  # a public route: no authentication to set up
    def large():
        body = noise if app.current_event.get_query_string_value("noise") else rows
        return http.Response(200, "application/json", json.dumps(body))

    return app


def _get(app: http.IpsResolver, headers: dict[str, str], query: dict[str, str] | None = None) -> dict:
    return app.resolve(http_api_event("GET", "/v1/openapi.json", headers, query, None, "203.0.113.7"), LambdaContext())


def test_an_answer_over_lambdas_limit_is_sent_gzipped_to_a_caller_that_accepts_gzip(large_app):
    plain = _get(large_app, {})
    answer = _get(large_app, {"accept-encoding": "gzip, deflate"})

    assert answer["statusCode"] == 200 and answer["isBase64Encoded"] is True
    assert answer["headers"]["Content-Encoding"] == "gzip"
    assert len(json.dumps(answer)) <= 6 * 1024 * 1024
    rows = json.loads(gzip.decompress(base64.b64decode(answer["body"])))["rows"]
    assert len(rows) == 120_000 and rows[-1]["logMessage"] == "row 119999: the file shoes/red-119999.jpg was made"
    # Without gzip the same answer cannot travel: a fault that says what to do, never API Gateway's 502.
    assert plain["statusCode"] == 413
    fault = json.loads(plain["body"])["fault"]
    assert fault["code"] == errors.INVALID_PARAMETER and "ask for fewer rows" in fault["reason"]
    assert fault["reason"].endswith("or send Accept-Encoding: gzip")


def test_an_answer_too_large_even_gzipped_is_a_fault_and_a_small_one_is_left_alone(large_app):
    answer = _get(large_app, {"accept-encoding": "gzip"}, {"noise": "1"})
    assert answer["statusCode"] == 413
    reason = json.loads(answer["body"])["fault"]["reason"]
    assert "more than the 6225920 a response of this deployment may carry" in reason
    assert not reason.endswith("Accept-Encoding: gzip")

    small = _call(api.app, "GET", "/v1/openapi.json", {"accept-encoding": "gzip"})
    assert small["statusCode"] == 200 and "Content-Encoding" not in small.get("headers", {})


def test_every_http_function_checks_its_answers_size():
    for app in (api.app, imaging_api.app):
        assert http.answer_within_lambda_limit in app._router_middlewares
