"""Issue 15: the IPS wire fronts share one function and the JSON API's services. A job opened by the
UploadFile servlet is paused and stopped over SOAP, through the routes API Gateway hands to
IpsWireFunction, and the JSON API sees each change; the WSDL names the address the caller used."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET

from openips_cli.inprocess import LambdaContext, _routes, event_body, http_api_event, invoke_route
from openips_cli.provision import route_for
from tests.integration.test_ips_soap import envelope
from tests.integration.test_upload_servlet import NS, USER, jpeg_bytes, post_param, send, servlet_post

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
WSDL = "http://schemas.xmlsoap.org/wsdl/"


def through_the_route(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> dict:
    content_type = (headers or {}).get("content-type", "text/xml; charset=utf-8")
    text, is_base64 = event_body(body, content_type) if body else (None, False)
    event = http_api_event(method, path, {"host": "ips.example.test", "x-forwarded-proto": "https",
                                          "content-type": content_type, **(headers or {})},
                           None, text, "203.0.113.7", is_base64)
    route = route_for(_routes(), method, path)
    assert route is not None and route.function == "IpsWireFunction", path
    return invoke_route(route, event, LambdaContext(function_name=route.function))


def soap(operation: str, inner: str, key: str) -> ET.Element:
    """One SOAP 1.1 call with HTTP Basic credentials (user = e-mail, password = API key)."""
    param = f'<p:{operation}Param xmlns:p="{NS}">{inner}</p:{operation}Param>'
    basic = base64.b64encode(f"{USER}:{key}".encode()).decode()
    answer = through_the_route("POST", "/scene7/services/IpsApiService", envelope(param),
                               {"soapaction": f'"{operation}"', "authorization": f"Basic {basic}"})
    assert answer["statusCode"] == 200, answer["body"]
    return ET.fromstring(answer["body"])


def test_the_wsdl_is_served_with_the_address_the_caller_used():
    for document in ("IpsApi.wsdl", "IpsApi-2014-04-03.wsdl"):
        answer = through_the_route("GET", f"/scene7/webservice/{document}")
        assert answer["statusCode"] == 200
        addresses = [element.get("location") for element in ET.fromstring(answer["body"]).iter()
                     if element.tag.endswith("}address")]
        assert addresses and set(addresses) == {"https://ips.example.test/scene7/services/IpsApiService"}
    assert through_the_route("GET", "/scene7/webservice/Other.wsdl")["statusCode"] == 404


def test_a_servlet_job_is_controlled_over_soap_and_read_over_the_json_api(stack):
    opened = send(servlet_post(stack, stack.key, post_param(stack.company, job_name="wire"),
                               {"shoes/a.jpg": jpeg_bytes(64, 48)}))
    job = opened.job_handle
    active = stack.call("GET", "/v1/jobs/active").body
    assert job in str(active)

    ids = f"<companyHandle>{stack.company}</companyHandle><jobHandle>{job}</jobHandle>"
    soap("pauseJob", ids, stack.key)
    (seen,) = [j for j in stack.call("GET", "/v1/jobs/active").body["jobArray"] if j["jobHandle"] == job]
    assert seen["progressMessage"].startswith("Paused (pauseJob)")
    soap("stopJob", ids, stack.key)
    stack.drain()
    summary = stack.call("GET", f"/v1/jobs/{job}/log-details").body["jobLogArray"][0]
    assert summary["endDate"], summary  # the stop ended the job: the file became a FileCancel row, kept

    pox = f'<Request><authHeader xmlns="{NS}"><user>{USER}</user><password>{stack.key}</password></authHeader>' \
          f'<getJobLogDetailsParam xmlns="{NS}"><companyHandle>{stack.company}</companyHandle>' \
          f'<jobHandle>{job}</jobHandle></getJobLogDetailsParam></Request>'
    answer = through_the_route("POST", "/scene7/api/IpsApiService", pox.encode())
    assert answer["statusCode"] == 200 and job in answer["body"], answer["body"]


def test_wrong_basic_credentials_are_a_soap_fault_through_the_route(stack):
    param = f'<p:getActiveJobsParam xmlns:p="{NS}"></p:getActiveJobsParam>'
    basic = base64.b64encode(f"{USER}:oips_wrong".encode()).decode()
    answer = through_the_route("POST", "/scene7/services/IpsApiService", envelope(param),
                               {"soapaction": '"getActiveJobs"', "authorization": f"Basic {basic}"})
    assert answer["statusCode"] == 500 and "authenticationFault" in answer["body"]
    assert ET.fromstring(answer["body"]).tag == f"{{{SOAP11}}}Envelope"
