"""The SOAP (``/scene7/services/IpsApiService``) and POX (``/scene7/api/IpsApiService``) fronts.

Both read the request through ``safe_xml``, authenticate the ``authHeader`` (or the pre-3.8
``AuthUser``/``AuthPassword`` SOAP headers, or HTTP Basic: user = e-mail, password = API key), run
the operation of ``operations.HANDLERS`` and answer in the namespace the request used. Every
failure is an IPS fault in the unversioned namespace (spec §11.2): in a SOAP 1.1 or 1.2 ``Fault``
whose ``detail`` holds it, or (POX) as the whole body; HTTP 500 unless the authHeader's
``faultHttpStatusCode`` says otherwise. The handler gzips the answer when ``gzipResponse`` asks.
"""

from __future__ import annotations

import gzip
import xml.etree.ElementTree as ET  # noqa: S405 - building and walking trees; parsing is safe_xml's
from dataclasses import dataclass
from typing import NamedTuple
from xml.sax.saxutils import escape, quoteattr

from openips.models import errors
from openips.models.domain import User
from openips.observability import logger
from openips.services.deps import Deps
from openips.services.ips_soap import codec, operations
from openips.services.ips_wire import safe_xml, upload_servlet
from openips.services.ips_wire.upload_servlet import AuthHeader
from openips.services.ips_soap.schema import AUTH_HEADER, BASE_NS, OPERATIONS, is_ips_namespace

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
CONTENT_TYPES = {SOAP11: "text/xml; charset=utf-8", SOAP12: "application/soap+xml; charset=utf-8"}
POX_CONTENT_TYPE = "text/xml; charset=utf-8"
# Before IPS 3.8 the SOAP header carried AuthUser and AuthPassword in this namespace; IPS still
# accepts them (deprecated), so openips does, as user (e-mail) and password (API key).
LEGACY_AUTH_NS = "http://www.scene7.com/IpsApi"
# A synchronous Lambda answer carries at most 6 MB, JSON envelope included, and a gzipped answer
# travels base64-encoded (4/3): a larger one would reach the client as API Gateway's bare 502.
MAX_ANSWER_BYTES = 5 * 1024 * 1024


class Answer(NamedTuple):
    status: int
    content_type: str
    body: bytes
    gzip_response: bool | None = None  # the authHeader's gzipResponse: the handler compresses when True


@dataclass
class _Request:
    """What is known of a request so far: enough to shape a fault at any point."""

    ns: str = BASE_NS
    fault_status: int | None = None
    gzip_response: bool | None = None


def handle_soap(deps: Deps, body: bytes, content_type: str, soap_action: str | None,
                basic_auth: tuple[str, str] | None, base_url: str, *, accept_language: str | None = None) -> Answer:
    """One SOAP 1.1 or 1.2 request to IpsApiService → (HTTP status, content type, body, gzipResponse).

    ``accept_language`` localises log messages when the authHeader names no locale (spec §2).
    """
    del base_url  # the answer names no address; the handler passes it for symmetry with wsdl()
    envelope_ns = SOAP12 if "application/soap+xml" in (content_type or "").lower() else SOAP11
    request = _Request()
    try:
        root = _parse(body)
        if safe_xml.local_name(root.tag) != "Envelope" or safe_xml.namespace(root.tag) not in CONTENT_TYPES:
            raise errors.IpsApiFault(errors.INVALID_REQUEST, "Expected a SOAP 1.1 or 1.2 Envelope")
        envelope_ns = safe_xml.namespace(root.tag) or SOAP11
        header = root.find(f"{{{envelope_ns}}}Header")
        soap_body = root.find(f"{{{envelope_ns}}}Body")
        if soap_body is None:
            raise errors.IpsApiFault(errors.INVALID_REQUEST, "The SOAP Envelope has no Body")
        param = _single_child(soap_body, "SOAP Body")
        auth_header, legacy = None, {}
        for element in header if header is not None else []:
            if not isinstance(element.tag, str):
                continue
            ns, name = safe_xml.namespace(element.tag), safe_xml.local_name(element.tag)
            if name == "authHeader" and is_ips_namespace(ns) and auth_header is None:
                auth_header = element
            elif ns == LEGACY_AUTH_NS and name in ("AuthUser", "AuthPassword"):
                legacy[name] = (element.text or "").strip()
        caller = _auth_header(auth_header, legacy, request)
        operation = _operation(param, request)
        _check_action(soap_action, operation)
        result = _run(deps, operation, param, caller, basic_auth, request, accept_language)
        out_envelope = ET.Element(f"{{{envelope_ns}}}Envelope")
        ET.SubElement(out_envelope, f"{{{envelope_ns}}}Body").append(result)
        answer = _serialize(out_envelope, {envelope_ns: "soapenv", request.ns: "ns1"})
        return Answer(200, CONTENT_TYPES[envelope_ns], _within_limit(answer, request), request.gzip_response)
    except Exception as exc:  # noqa: BLE001 - every failure is answered as an IPS fault
        fault = _as_fault(exc)
        body_out = _soap_fault(envelope_ns, fault)
        return Answer(request.fault_status or 500, CONTENT_TYPES[envelope_ns], body_out, request.gzip_response)


def handle_pox(deps: Deps, body: bytes, content_type: str, basic_auth: tuple[str, str] | None,
               base_url: str, *, accept_language: str | None = None) -> Answer:
    """One POX request: ``<Request>`` holding the authHeader and the ``<op>Param`` element.

    The answer is the ``<op>Return`` element (or the bare fault element) in a default namespace.
    """
    del content_type, base_url  # any XML content type is read; the answer names no address
    request = _Request()
    try:
        root = _parse(body)
        if safe_xml.local_name(root.tag) != "Request":
            raise errors.IpsApiFault(errors.INVALID_REQUEST, "Expected a Request element")
        children = [c for c in root if isinstance(c.tag, str)]
        auth_header = next((c for c in children if safe_xml.local_name(c.tag) == "authHeader"), None)
        params = [c for c in children if safe_xml.local_name(c.tag) != "authHeader"]
        if len(params) != 1:
            raise errors.IpsApiFault(errors.INVALID_REQUEST, "The Request must hold one <operation>Param element "
                                     "beside its authHeader")
        caller = _auth_header(auth_header, {}, request)
        operation = _operation(params[0], request, allow_no_namespace=True)
        result = _run(deps, operation, params[0], caller, basic_auth, request, accept_language)
        answer = _within_limit(_serialize(result, {request.ns: ""}), request)
        return Answer(200, POX_CONTENT_TYPE, answer, request.gzip_response)
    except Exception as exc:  # noqa: BLE001 - every failure is answered as an IPS fault
        fault = _as_fault(exc)
        return Answer(request.fault_status or 500, POX_CONTENT_TYPE,
                      _serialize(_fault_element(fault), {BASE_NS: ""}), request.gzip_response)


def _within_limit(answer: bytes, request: _Request) -> bytes:
    """The answer, or a fault naming the way out when it is too large to travel (MAX_ANSWER_BYTES)."""
    if len(answer) <= MAX_ANSWER_BYTES:
        return answer
    travels = len(gzip.compress(answer)) * 4 // 3 if request.gzip_response else len(answer)
    if travels <= MAX_ANSWER_BYTES:
        return answer
    raise errors.invalid_parameter(
        f"The answer has {len(answer)} bytes ({travels} as sent), more than the {MAX_ANSWER_BYTES} an answer may "
        "have on this deployment (Lambda's 6 MB response limit): ask for fewer rows (numRows, recordsPerPage, "
        "resultsPage)" + ("" if request.gzip_response else " or set gzipResponse to true in the authHeader"))


# ---- reading -------------------------------------------------------------------------


def _parse(body: bytes) -> ET.Element:
    try:
        return safe_xml.parse(body)
    except safe_xml.XmlRejected as exc:
        raise errors.IpsApiFault(errors.INVALID_REQUEST, f"Invalid request XML: {exc}") from exc


def _single_child(element: ET.Element, where: str) -> ET.Element:
    children = [c for c in element if isinstance(c.tag, str)]
    if len(children) != 1:
        raise errors.IpsApiFault(errors.INVALID_REQUEST, f"The {where} must hold exactly one element")
    return children[0]


def _operation(param: ET.Element, request: _Request, allow_no_namespace: bool = False) -> str:
    ns = safe_xml.namespace(param.tag)
    if ns is None and not allow_no_namespace or ns is not None and not is_ips_namespace(ns):
        raise errors.IpsApiFault(errors.INVALID_REQUEST,
                                 f"{param.tag} is not in an IPS namespace ({BASE_NS}[/<version>])")
    if ns is not None:
        request.ns = ns
    name = safe_xml.local_name(param.tag)
    if not name.endswith("Param"):
        raise errors.IpsApiFault(errors.INVALID_REQUEST, f"Expected an <operation>Param element, not {name}")
    operation = name[: -len("Param")]
    if operation not in OPERATIONS:
        raise errors.invalid_parameter(f"Operation {operation} is not implemented by openips")
    return operation


def _check_action(soap_action: str | None, operation: str) -> None:
    action = (soap_action or "").strip().strip('"').strip()
    if action and action.rsplit("/", 1)[-1].rsplit("#", 1)[-1] != operation:
        raise errors.IpsApiFault(errors.INVALID_REQUEST,
                                 f"SOAPAction {action} does not match the body's operation {operation}")


def _auth_header(element: ET.Element | None, legacy: dict[str, str], request: _Request) -> AuthHeader:
    """The authHeader element (or, without one, the legacy AuthUser/AuthPassword pair) as an AuthHeader.

    faultHttpStatusCode and gzipResponse are noted on ``request`` first, so that a fault later in
    the request is shaped as the caller asked.
    """
    if element is None:
        return AuthHeader(user=legacy.get("AuthUser") or None, password=legacy.get("AuthPassword") or None)
    fields = codec.read_fields(element, AUTH_HEADER, "authHeader")
    request.fault_status = upload_servlet.fault_http_status(fields.get("faultHttpStatusCode"))
    request.gzip_response = fields.get("gzipResponse")
    return AuthHeader(user=fields.get("user"), password=fields.get("password"),
                      access_token=fields.get("accessToken"), saml_response=fields.get("samlResponse"),
                      locale=(fields.get("locale") or "").strip() or None, app_name=fields.get("appName"),
                      app_version=fields.get("appVersion"), gzip_response=request.gzip_response,
                      fault_http_status=request.fault_status)


def _run(deps: Deps, operation: str, param: ET.Element, header: AuthHeader,
         basic_auth: tuple[str, str] | None, request: _Request, accept_language: str | None) -> ET.Element:
    user = upload_servlet.authenticate(deps, header, basic_auth, required=operation != "checkLogin")
    if user is not None:
        logger.info("ips web service call", operation=operation, **header.client)
    op = OPERATIONS[operation]
    params = codec.read_fields(param, op.param, f"{operation}Param", strict=op.strict)
    locale = header.locale or upload_servlet.locale_from_accept_language(accept_language)
    value = operations.HANDLERS[operation](operations.Call(deps, user, params, locale))
    result = ET.Element(f"{{{request.ns}}}{operation}Return")
    codec.write_fields(result, request.ns, op.result, value)
    return result


# ---- writing -------------------------------------------------------------------------


def _as_fault(exc: Exception) -> errors.Fault:
    if isinstance(exc, errors.Fault):
        return exc
    logger.exception("IPS SOAP request failed")
    return errors.IpsApiFault(errors.EXCEPTION, "Internal error", 500)


def _fault_element(fault: errors.Fault) -> ET.Element:
    """The fault in the unversioned namespace, whatever the request's (spec §11.2, as IPS answers)."""
    element = ET.Element(f"{{{BASE_NS}}}{fault.fault_type}")
    ET.SubElement(element, f"{{{BASE_NS}}}code").text = str(fault.code)
    ET.SubElement(element, f"{{{BASE_NS}}}reason").text = fault.reason
    return element


_FAULT_STRINGS = {"authenticationFault": "AuthenticationException", "authorizationFault": "AuthorizationException",
                  "ipsApiFault": "IpsApiException"}


def _soap_fault(envelope_ns: str, fault: errors.Fault) -> bytes:
    sender = fault.code != errors.EXCEPTION
    envelope = ET.Element(f"{{{envelope_ns}}}Envelope")
    element = ET.SubElement(ET.SubElement(envelope, f"{{{envelope_ns}}}Body"), f"{{{envelope_ns}}}Fault")
    text = f"{_FAULT_STRINGS[fault.fault_type]}: {fault.reason}"
    if envelope_ns == SOAP11:
        ET.SubElement(element, "faultcode").text = "soapenv:Client" if sender else "soapenv:Server"
        ET.SubElement(element, "faultstring").text = text
        detail = ET.SubElement(element, "detail")
    else:
        code = ET.SubElement(ET.SubElement(element, f"{{{envelope_ns}}}Code"), f"{{{envelope_ns}}}Value")
        code.text = "soapenv:Sender" if sender else "soapenv:Receiver"
        reason = ET.SubElement(ET.SubElement(element, f"{{{envelope_ns}}}Reason"), f"{{{envelope_ns}}}Text")
        reason.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        reason.text = text
        detail = ET.SubElement(element, f"{{{envelope_ns}}}Detail")
    detail.append(_fault_element(fault))
    return _serialize(envelope, {envelope_ns: "soapenv", BASE_NS: "ns1"})


def _serialize(element: ET.Element, prefixes: dict[str, str]) -> bytes:
    """UTF-8 with an XML declaration, every namespace declared once on the root with its prefix
    ("" = the default namespace, so POX answers carry no prefixes)."""
    def name(tag: str) -> str:
        ns = safe_xml.namespace(tag)
        if ns is None:
            return tag
        if ns == "http://www.w3.org/XML/1998/namespace":
            return f"xml:{safe_xml.local_name(tag)}"
        prefix = prefixes[ns]
        return f"{prefix}:{safe_xml.local_name(tag)}" if prefix else safe_xml.local_name(tag)

    out: list[str] = ['<?xml version="1.0" encoding="UTF-8"?>']

    def write(node: ET.Element, root: bool) -> None:
        attributes = "".join(f" {name(k)}={quoteattr(v)}" for k, v in node.attrib.items())
        if root:
            attributes += "".join(f' xmlns:{p}="{uri}"' if p else f' xmlns="{uri}"' for uri, p in prefixes.items())
        out.append(f"<{name(node.tag)}{attributes}")
        if node.text is None and len(node) == 0:
            out.append("/>")
            return
        out.append(">" + escape(node.text or ""))
        for child in node:
            write(child, False)
        out.append(f"</{name(node.tag)}>")

    write(element, True)
    return "".join(out).encode()
