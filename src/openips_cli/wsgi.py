"""The API handlers as a WSGI application: WSGI request → HTTP API v2 event → the real handler.

For in-process HTTP tooling (schemathesis' WSGI transport, werkzeug's test client): no socket,
no server thread. Events are built by ``openips_cli.inprocess.http_api_event`` (as for
``InProcessStack.call`` and the local stack's HTTP server) and routed by the template's
``HttpApi`` events; a path no route takes gets API Gateway's own 404.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from openips_cli.inprocess import LambdaContext, _routes, event_body, http_api_event, invoke_route
from openips_cli.provision import route_for

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _raw_path(environ: dict[str, Any]) -> str:
    """The path as the client sent it (still percent-encoded), as API Gateway's ``rawPath``."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        return urlsplit(raw).path or "/"
    return quote(environ.get("PATH_INFO", "/").encode("latin-1").decode("utf-8", "replace")) or "/"


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items()
               if key.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    # WSGI strings are latin-1 views of the bytes sent; API Gateway hands UTF-8 text.
    return {k: v.encode("latin-1").decode("utf-8", "replace") for k, v in headers.items()}


def _body(environ: dict[str, Any], content_type: str) -> tuple[str | None, bool]:
    """The body as API Gateway passes it: text as is, anything else base64 encoded."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return event_body(environ["wsgi.input"].read(length) if length > 0 else b"", content_type)


def http_api_event_from_wsgi(environ: dict[str, Any]) -> tuple[str, str, dict]:
    """(method, raw path, HTTP API v2 event) for one WSGI request."""
    method = environ.get("REQUEST_METHOD", "GET").upper()
    path = _raw_path(environ)
    headers = _headers(environ)
    raw_query = environ.get("QUERY_STRING", "").encode("latin-1").decode("utf-8", "replace")
    query: dict[str, str] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value  # HTTP API joins repeats
    body, is_base64 = _body(environ, headers.get("content-type", ""))
    event = http_api_event(method, path, headers, query or None, body,
                           environ.get("REMOTE_ADDR") or "127.0.0.1")
    event["rawQueryString"] = raw_query
    event["isBase64Encoded"] = is_base64
    return method, path, event


def api_wsgi_app(context: LambdaContext | None = None) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """A WSGI application serving every ``HttpApi`` route of ``template.yaml`` in this process.

    Handlers keep per-request state in module singletons (one invocation at a time, as in
    one Lambda container): serve it from one thread.
    """

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method, path, event = http_api_event_from_wsgi(environ)
        route = route_for(_routes(), method, path)
        cookies: list[str] = []
        if route is None:  # what API Gateway answers
            status, headers, data = 404, {"content-type": "application/json"}, b'{"message":"Not Found"}'
        else:
            result = invoke_route(route, event, context or LambdaContext(function_name=route.function))
            status = int(result["statusCode"])
            headers = dict(result.get("headers") or {})
            body = result.get("body") or ""
            data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
            cookies = list(result.get("cookies") or [])
        out = [(k, str(v)) for k, v in headers.items() if k.lower() not in ("content-length", "connection")]
        out += [("Set-Cookie", cookie) for cookie in cookies]
        out.append(("Content-Length", str(len(data))))
        start_response(f"{status} {_reason(status)}", out)
        return [data]

    return app
