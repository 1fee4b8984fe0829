"""IpsWireFunction: the IPS wire entry points under ``/scene7`` (issue 15, docs/ips-compatibility.md).

``POST /scene7/UploadFile`` (the IPS servlet, spec §3): wiring only, the rules are in
``services/ips_wire/upload_servlet.py``. The web service (``services/ips_soap``): SOAP at
``/scene7/services/IpsApiService``, plain XML at ``/scene7/api/IpsApiService`` and the WSDL at
``/scene7/webservice/IpsApi[-<version>].wsdl``. Answers are XML as IPS sends them: ``uploadPostReturn``,
or a bare ``authenticationFault`` / ``authorizationFault`` / ``ipsApiFault`` element with ``code``
and ``reason`` (HTTP 500, or the authHeader's ``faultHttpStatusCode``).

The caller is in the body (the ``auth`` part), so the resolver does not look for a Bearer key:
each route authenticates once it has checked the body's size and parsed it.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import os
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from openips.handlers.http import IpsResolver, allowed_methods
from openips.models import errors
from openips.models.domain import utcnow
from openips.observability import logger, metrics, tracer
from openips.services.ips_soap import service as soap
from openips.services.ips_soap.wsdl import wsdl
from openips.services.deps import get_deps
from openips.services.ips_wire import upload_servlet
from openips.services.ips_wire.upload_servlet import ServletRequest

XML = "text/xml;charset=utf-8"
FAULT_STATUS = 500  # as IPS answers faults unless authHeader/faultHttpStatusCode says otherwise
# The decoded body this function accepts ("" or 0: no limit, as on the local stack). On AWS,
# template.yaml sets 4 MiB: a synchronous Lambda invocation carries at most 6 MB, and API
# Gateway base64-encodes binary bodies (4/3), so a larger body would not reach the function.
MAX_BODY_ENV = "IPS_WIRE_MAX_BODY_BYTES"


def _no_bearer_key(_: Any) -> None:
    """The /scene7 routes authenticate from their own body (authHeader), after its size is checked."""
    return None


app = IpsResolver(_no_bearer_key)


def xml_fault(exc: errors.Fault, status: int | None = None, gzip_response: bool = False) -> Response:
    logger.info("ips wire fault", fault_code=exc.code)
    return xml_response(status or FAULT_STATUS, XML, upload_servlet.fault_body(exc), gzip_response)


def xml_response(status: int, content_type: str, body: bytes, gzip_response: bool | None) -> Response:
    """The answer, gzip-compressed (``Content-Encoding: gzip``) when the authHeader's gzipResponse asks.

    Without the flag it is sent as is, whatever Accept-Encoding says: an uncompressed answer is
    valid for every client, and the local stack's HTTP front passes text bodies only.
    """
    if gzip_response:
        return Response(status_code=status, content_type=content_type, body=gzip.compress(body),
                        headers={"Content-Encoding": "gzip"})
    return Response(status_code=status, content_type=content_type, body=body.decode("utf-8"))


@app.exception_handler(errors.Fault)
def _fault(exc: errors.Fault) -> Response:
    return xml_fault(exc)


@app.exception_handler(Exception)
def _internal(exc: Exception) -> Response:
    logger.exception("unhandled error")
    return xml_fault(errors.IpsApiFault(errors.EXCEPTION, "Internal error; see the service logs"))


@app.not_found
def _not_found(_: Exception) -> Response:
    event = app.current_event
    allowed = allowed_methods(app, event.path)
    if allowed:
        response = xml_fault(errors.IpsApiFault(errors.INVALID_REQUEST, f"Method {event.http_method} not allowed here"),
                             405)
        response.headers["Allow"] = ", ".join(allowed)
        return response
    return xml_fault(errors.IpsApiFault(errors.INVALID_REQUEST, f"No such IPS entry point: {event.path}"), 404)


def max_body_bytes() -> int | None:
    value = os.environ.get(MAX_BODY_ENV, "").strip()
    return int(value) if value and int(value) > 0 else None


def _body() -> bytes:
    """The request body as bytes (API Gateway base64-encodes non-text bodies), within the limit."""
    event = app.current_event
    raw = event.body or ""
    limit = max_body_bytes()
    declared = event.headers.get("content-length", "")
    size = (len(raw) * 3 // 4) if event.is_base64_encoded else len(raw.encode("utf-8", "surrogateescape"))
    if limit is not None and max(size, int(declared) if declared.isdigit() else 0) > limit:
        raise errors.invalid_parameter(
            f"This POST is larger than the {limit} bytes UploadFile accepts on this deployment (API Gateway "
            "and Lambda cap a request's body); upload large files with POST /v1/upload-jobs, which returns a "
            "presigned S3 form that takes files up to the company's maximum file size", 413)
    if not event.is_base64_encoded:
        return raw.encode("utf-8", "surrogateescape")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise errors.IpsApiFault(errors.INVALID_REQUEST, "The request body is not valid base64") from exc


@app.post("/scene7/UploadFile")
def upload_file() -> Response:
    request: ServletRequest | None = None
    headers = app.current_event.headers
    try:
        body = _body()
        request = upload_servlet.parse_multipart(body, headers.get("content-type"))
        posted = upload_servlet.handle_post(get_deps(), request, app.current_event.request_context.http.source_ip,
                                            utcnow(), headers.get("accept-language"))
    except errors.Fault as exc:
        return xml_fault(exc, *upload_servlet.response_options(request))
    logger.info("upload servlet post", job_handle=posted.job_handle, files=posted.files, ended=posted.ended,
                **posted.client)
    metrics.add_metric(name="UploadServletFiles", unit=MetricUnit.Count, value=posted.files)
    return xml_response(200, XML, upload_servlet.success_body(posted), upload_servlet.response_options(request)[1])


def _base_url() -> str:
    """This deployment's address as the caller reached it (API Gateway sets X-Forwarded-Proto)."""
    headers = app.current_event.headers
    host = headers.get("host") or app.current_event.request_context.domain_name
    return f"{headers.get('x-forwarded-proto', 'http')}://{host}"


def _basic_auth() -> tuple[str, str] | None:
    """HTTP Basic credentials (user = e-mail, password = API key), if the request carries them."""
    scheme, _, value = (app.current_event.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, colon, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, ValueError):
        return None
    return (user, password) if colon else None


def _xml(answer: soap.Answer) -> Response:
    return xml_response(answer.status, answer.content_type, answer.body, answer.gzip_response)


@app.post("/scene7/services/IpsApiService")
def soap_service() -> Response:
    headers = app.current_event.headers
    return _xml(soap.handle_soap(get_deps(), _body(), headers.get("content-type", ""),
                                     headers.get("soapaction"), _basic_auth(), _base_url(),
                                     accept_language=headers.get("accept-language")))


@app.post("/scene7/api/IpsApiService")
def pox_service() -> Response:
    headers = app.current_event.headers
    return _xml(soap.handle_pox(get_deps(), _body(), headers.get("content-type", ""), _basic_auth(), _base_url(),
                                    accept_language=headers.get("accept-language")))


@app.get("/scene7/webservice/<document>")
def service_description(document: str) -> Response:
    version = document.removeprefix("IpsApi").removesuffix(".wsdl").removeprefix("-") or None
    if not (document.startswith("IpsApi") and document.endswith(".wsdl")):
        return xml_fault(errors.IpsApiFault(errors.INVALID_REQUEST, f"No such IPS entry point: {document}"), 404)
    try:
        return Response(status_code=200, content_type=XML, body=wsdl(_base_url(), version).decode("utf-8"))
    except errors.Fault as exc:
        return xml_fault(exc, exc.http_status)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
