"""The authHeader's other fields and the older ways in (spec §2), on the servlet and the web service.

* ``gzipResponse=true``: the answer (success or fault) is gzip-compressed with ``Content-Encoding: gzip``;
  false or absent: plain, whatever ``Accept-Encoding`` says.
* The pre-3.8 SOAP headers ``AuthUser`` / ``AuthPassword`` (namespace ``http://www.scene7.com/IpsApi``).
* ``accessToken`` = an API key; ``samlResponse`` alone is a fault that names it.
* Locale: ``authHeader/locale``, then ``Accept-Language``, then the default; hostile headers never fault.
* ``appName`` / ``appVersion`` are logged, bounded and printable; credentials never are.
"""

from __future__ import annotations

import base64
import gzip
import io
import xml.etree.ElementTree as ET  # noqa: S405 - reading our own answers

import pytest

from openips.services.deps import get_deps
from openips.services.ips_wire.upload_servlet import locale_from_accept_language
from openips_cli.inprocess import LambdaContext, _routes, event_body, http_api_event, invoke_route
from openips_cli.provision import route_for
from tests.integration.test_upload_servlet import IPS, NS, USER, jpeg_bytes, multipart, post_param

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
LEGACY = "http://www.scene7.com/IpsApi"


def route(path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """As API Gateway hands the request to IpsWireFunction → (status, headers, body bytes as sent)."""
    text, is_base64 = event_body(body, headers["content-type"])
    event = http_api_event("POST", path, {"host": "ips.example.test", **headers}, None, text, "203.0.113.7", is_base64)
    found = route_for(_routes(), "POST", path)
    result = invoke_route(found, event, LambdaContext(function_name=found.function))
    data = base64.b64decode(result["body"]) if result.get("isBase64Encoded") else result["body"].encode()
    return result["statusCode"], {k.lower(): v for k, v in (result.get("headers") or {}).items()}, data


def servlet(stack, auth_extra: str = "", *, password: str | None = None, user: str = USER,
            headers: dict[str, str] | None = None, params: str | None = None, auth: str | None = None):
    auth = auth if auth is not None else (
        f'<authHeader xmlns="{NS}"><user>{user}</user><password>{password or stack.key}</password>'
        f"<appName>uploader</appName><appVersion>1.0</appVersion>{auth_extra}</authHeader>")
    body = multipart([("auth", None, "text/plain", auth.encode()),
                      ("uploadParams", None, "text/plain", (params or post_param(stack.company)).encode())])
    return route("/scene7/UploadFile", body, {"content-type": "multipart/form-data; boundary=XYZ", **(headers or {})})


def soap(operation: str, inner: str = "", header: str = "", headers: dict[str, str] | None = None):
    envelope = (f'<s:Envelope xmlns:s="{SOAP11}"><s:Header>{header}</s:Header><s:Body>'
                f'<p:{operation}Param xmlns:p="{NS}">{inner}</p:{operation}Param></s:Body></s:Envelope>').encode()
    return route("/scene7/services/IpsApiService", envelope,
                 {"content-type": "text/xml; charset=utf-8", "soapaction": operation, **(headers or {})})


def auth_header(user: str, password: str, extra: str = "") -> str:
    return f'<authHeader xmlns="{IPS}"><user>{user}</user><password>{password}</password>{extra}</authHeader>'


def soap_fault(data: bytes) -> tuple[str, int, str]:
    detail = ET.fromstring(data).find(f"{{{SOAP11}}}Body/{{{SOAP11}}}Fault/detail")
    assert detail is not None, data
    fault = detail[0]
    return fault.tag.split("}")[1], int(fault.findtext(f"{{{IPS}}}code")), fault.findtext(f"{{{IPS}}}reason")


# ---- gzipResponse ---------------------------------------------------------------------------------


def test_gzip_response_true_compresses_the_servlets_answer_and_its_faults(stack):
    status, headers, data = servlet(stack, "<gzipResponse>true</gzipResponse>")
    assert (status, headers.get("content-encoding")) == (200, "gzip")
    assert ET.fromstring(gzip.decompress(data)).tag == f"{{{NS}}}uploadPostReturn"

    # A fault, at the status faultHttpStatusCode asks, compressed too.
    asked = "<gzipResponse>1</gzipResponse><faultHttpStatusCode>200</faultHttpStatusCode>"
    status, headers, data = servlet(stack, asked, password="oips_wrong")
    assert (status, headers.get("content-encoding")) == (200, "gzip")
    assert ET.fromstring(gzip.decompress(data)).tag == f"{{{IPS}}}authenticationFault"


@pytest.mark.parametrize("flag", ["<gzipResponse>false</gzipResponse>", ""], ids=["false", "absent"])
def test_without_gzip_response_the_answer_is_plain_whatever_accept_encoding_says(stack, flag):
    status, headers, data = servlet(stack, flag, headers={"accept-encoding": "gzip, deflate"})
    assert status == 200 and "content-encoding" not in headers
    assert ET.fromstring(data).tag == f"{{{NS}}}uploadPostReturn"


def test_a_gzip_response_that_is_no_boolean_is_a_plain_30001_fault(stack):
    status, headers, data = servlet(stack, "<gzipResponse>yes please</gzipResponse>")
    assert status == 500 and "content-encoding" not in headers
    root = ET.fromstring(data)
    assert (root.tag, root.findtext(f"{{{IPS}}}code")) == (f"{{{IPS}}}ipsApiFault", "30001")
    assert "gzipResponse" in root.findtext(f"{{{IPS}}}reason")
    assert get_deps().jobs.count_active(stack.company) == 0
    status, _, data = soap("getActiveJobs", header=auth_header(USER, stack.key, "<gzipResponse>2</gzipResponse>"))
    assert status == 500 and soap_fault(data)[1] == 30001


def test_gzip_response_on_the_web_service_soap_and_pox(stack):
    job = stack.open_job("zipped").body["jobHandle"]
    status, headers, data = soap("getActiveJobs", f"<p:jobHandle>{job}</p:jobHandle>",
                                 auth_header(USER, stack.key, "<gzipResponse>true</gzipResponse>"))
    assert (status, headers.get("content-encoding")) == (200, "gzip")
    assert job.encode() in gzip.decompress(data)
    pox = (f"<Request>{auth_header(USER, stack.key, '<gzipResponse>true</gzipResponse>')}"
           f'<getActiveJobsParam xmlns="{NS}"><jobHandle>{job}</jobHandle></getActiveJobsParam></Request>').encode()
    status, headers, data = route("/scene7/api/IpsApiService", pox, {"content-type": "text/xml"})
    assert (status, headers.get("content-encoding")) == (200, "gzip")
    assert ET.fromstring(gzip.decompress(data)).tag == f"{{{NS}}}getActiveJobsReturn"
    # Asked off, with a client that accepts gzip: plain.
    off = auth_header(USER, stack.key, "<gzipResponse>false</gzipResponse>")
    status, headers, data = soap("getActiveJobs", "", off, {"accept-encoding": "gzip"})
    assert status == 200 and "content-encoding" not in headers and data.startswith(b"<?xml")


def test_an_answer_too_large_to_leave_lambda_is_a_fault_naming_the_way_out(stack, monkeypatch):
    # On AWS a synchronous answer over 6 MB becomes API Gateway's bare 502; openips answers an
    # IPS fault instead (the limit is lowered here so a few jobs exceed it).
    from openips.services.ips_soap import service

    for n in range(12):
        stack.open_job(f"big-{n}")
    monkeypatch.setattr(service, "MAX_ANSWER_BYTES", 2000)
    status, _, data = soap("getActiveJobs", "", auth_header(USER, stack.key))
    kind, code, reason = soap_fault(data)
    assert (status, kind, code) == (500, "ipsApiFault", 30001)
    assert "numRows" in reason and "gzipResponse" in reason
    # Compressed, the same answer fits (it is counted as it travels: gzip, then base64).
    status, headers, data = soap("getActiveJobs", "", auth_header(USER, stack.key, "<gzipResponse>true</gzipResponse>"))
    assert (status, headers.get("content-encoding")) == (200, "gzip")
    assert gzip.decompress(data).count(b"<ns1:originalName>big-") == 12


def test_a_gzipped_answer_reaches_an_http_client_intact_through_the_wsgi_front(stack):
    from openips_cli.wsgi import api_wsgi_app

    body = multipart([("auth", None, None, auth_header(USER, stack.key, "<gzipResponse>true</gzipResponse>").encode()),
                      ("uploadParams", None, None, post_param(stack.company, end=True).encode()),
                      ("f", "w.jpg", "image/jpeg", jpeg_bytes(20, 10))])
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/scene7/UploadFile", "QUERY_STRING": "",
               "CONTENT_TYPE": "multipart/form-data; boundary=XYZ", "CONTENT_LENGTH": str(len(body)),
               "REMOTE_ADDR": "203.0.113.7", "wsgi.input": io.BytesIO(body)}
    sent: list[tuple[str, list]] = []
    data = b"".join(api_wsgi_app()(environ, lambda status, headers: sent.append((status, headers))))
    assert sent[0][0] == "200 OK" and ("Content-Encoding", "gzip") in sent[0][1]
    assert ET.fromstring(gzip.decompress(data)).findtext(f"{{{NS}}}jobHandle")


# ---- legacy AuthUser / AuthPassword, accessToken, samlResponse --------------------------------------


def test_the_pre_38_auth_user_and_auth_password_soap_headers_are_accepted(stack):
    job = stack.open_job("legacy").body["jobHandle"]
    legacy = (f'<AuthUser xmlns="{LEGACY}">{USER}</AuthUser><AuthPassword xmlns="{LEGACY}">{stack.key}'
              "</AuthPassword>")
    status, _, data = soap("getActiveJobs", f"<p:jobHandle>{job}</p:jobHandle>", legacy)
    assert status == 200 and job.encode() in data
    wrong = legacy.replace(stack.key, "oips_wrong")
    assert soap_fault(soap("getActiveJobs", "", wrong)[2])[:2] == ("authenticationFault", 10001)
    # Only in their own namespace: the same names elsewhere are not credentials.
    elsewhere = legacy.replace(f'xmlns="{LEGACY}"', f'xmlns="{IPS}"')
    assert soap_fault(soap("getActiveJobs", "", elsewhere)[2])[:2] == ("authenticationFault", 10000)
    # An authHeader, when there is one, is what counts.
    both = auth_header(USER, "oips_wrong") + legacy
    assert soap_fault(soap("getActiveJobs", "", both)[2])[:2] == ("authenticationFault", 10001)


def test_an_access_token_is_an_api_key_on_both_fronts(stack):
    token = f'<authHeader xmlns="{IPS}"><accessToken>{stack.key}</accessToken></authHeader>'
    status, _, _ = soap("getActiveJobs", "", token)
    assert status == 200
    status, _, data = servlet(stack, auth=token.replace(IPS, NS))
    assert status == 200 and ET.fromstring(data).tag == f"{{{NS}}}uploadPostReturn"
    bad = token.replace(stack.key, "oips_wrong")
    assert soap_fault(soap("getActiveJobs", "", bad)[2])[:2] == ("authenticationFault", 10001)
    root = ET.fromstring(servlet(stack, auth=bad)[2])
    assert (root.tag, root.findtext(f"{{{IPS}}}code")) == (f"{{{IPS}}}authenticationFault", "10001")


def test_a_saml_response_alone_is_a_fault_that_names_it(stack):
    saml = f'<authHeader xmlns="{IPS}"><samlResponse>PHNhbWxwOlJlc3BvbnNlLz4=</samlResponse></authHeader>'
    kind, code, reason = soap_fault(soap("getActiveJobs", "", saml)[2])
    assert (kind, code) == ("authenticationFault", 10000) and "samlResponse" in reason
    root = ET.fromstring(servlet(stack, auth=saml)[2])
    assert root.findtext(f"{{{IPS}}}code") == "10000" and "samlResponse" in root.findtext(f"{{{IPS}}}reason")
    assert get_deps().jobs.count_active(stack.company) == 0


# ---- locale --------------------------------------------------------------------------------------------


def test_log_messages_follow_the_auth_header_locale_then_accept_language(stack):
    job = stack.open_job("localised").body["jobHandle"]
    inner = f"<p:companyHandle>{stack.company}</p:companyHandle><p:jobHandle>{job}</p:jobHandle>"

    def first_message(header: str, headers: dict[str, str] | None = None) -> str:
        status, _, data = soap("getJobLogDetails", inner, header, headers)
        assert status == 200, data
        return next(e.text for e in ET.fromstring(data).iter(f"{{{NS}}}logMessage"))

    assert first_message(auth_header(USER, stack.key)).startswith("Upload job")
    korean = {"accept-language": "fr-CH;q=0.5, ko-KR, *;q=0.1"}
    assert first_message(auth_header(USER, stack.key), korean).startswith("업로드 작업")
    assert first_message(auth_header(USER, stack.key, "<locale>en-US</locale>"), korean).startswith("Upload job")
    # A hostile or useless Accept-Language is passed over, never a fault.
    for value in ("*", "x" * 10_000, "ko;q=abc, en;q=0", "\u202eko-KR", "ko-KR;q=0"):
        assert first_message(auth_header(USER, stack.key), {"accept-language": value}).startswith("Upload job")
    # An authHeader locale that is no locale is the reader's 30001, as on the JSON API.
    status, _, data = soap("getJobLogDetails", inner, auth_header(USER, stack.key, "<locale>../../etc</locale>"))
    assert status == 500 and soap_fault(data)[1] == 30001


def test_a_servlet_jobs_locale_comes_from_its_params_then_the_auth_header_then_accept_language(stack):
    def job_locale(extra_auth: str = "", params_extra: str = "", headers: dict[str, str] | None = None) -> str:
        status, _, data = servlet(stack, extra_auth, headers=headers,
                                  params=post_param(stack.company, extra=params_extra))
        assert status == 200, data
        job = get_deps().jobs.get(ET.fromstring(data).findtext(f"{{{NS}}}jobHandle"))
        return job.locale

    assert job_locale() == "en-US"
    assert job_locale(headers={"accept-language": "ko-KR,ko;q=0.9"}) == "ko-KR"
    assert job_locale("<locale>de-DE</locale>", headers={"accept-language": "ko-KR"}) == "de-DE"
    assert job_locale("<locale>de-DE</locale>", "<locale>fr-FR</locale>") == "fr-FR"
    assert job_locale(headers={"accept-language": "*;q=1, zz-ZZZ"}) == "en-US"


@pytest.mark.parametrize(("header", "expected"), [
    ("ko-KR", "ko-KR"), ("en-us", "en-US"), ("fr;q=0.2, de-CH;q=0.8", "de-CH"), ("*", None), ("", None),
    (None, None), ("zh-Hant-TW", None), ("ko;q=0", None), ("ko;q=nan?", None), ("en,ko", "en"),
])
def test_accept_language_parsing(header, expected):
    assert locale_from_accept_language(header) == expected


# ---- appName / appVersion, and what is never logged -----------------------------------------------------


def test_app_name_and_version_are_logged_bounded_and_credentials_never(stack, caplog):
    hostile = "evil\n{\"level\":\"ERROR\"}" + "A" * 5000
    caplog.set_level("INFO", logger="openips")
    status, _, _ = servlet(stack, auth=f'<authHeader xmlns="{NS}"><user>{USER}</user><password>{stack.key}'
                           f"</password><appName>{hostile}</appName><appVersion>9.9</appVersion></authHeader>")
    assert status == 200
    soap("getActiveJobs", "", auth_header(USER, stack.key, "<appName>zeep-client</appName>"))
    soap("getActiveJobs", "", auth_header(USER, "oips_wrong_secret"))
    posted = next(r for r in caplog.records if r.getMessage() == "upload servlet post")
    assert posted.app_name == 'evil{"level":"ERROR"}' + "A" * 43 and posted.app_version == "9.9"  # 64, no newline
    called = next(r for r in caplog.records if r.getMessage() == "ips web service call")
    assert (called.operation, called.app_name) == ("getActiveJobs", "zeep-client")
    everything = caplog.text + "".join(repr(vars(r)) for r in caplog.records)
    assert stack.key not in everything and "oips_wrong_secret" not in everything
