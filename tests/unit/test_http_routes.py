"""The resolver every HTTP function shares: 404 and 405 (with Allow) as API Gateway answers them,
and authentication on served routes only, before the handler reads the body or the query."""

from __future__ import annotations

import json

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
