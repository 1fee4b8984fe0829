"""IPS web service (issue 15, items 2-4): SOAP 1.1/1.2, POX and the served WSDL, in process.

A job opened over the JSON API is followed and controlled over SOAP by zeep (a SOAP client
built from the served WSDL, with a transport that calls ``handle_soap``), and every answer
validates against the XSD inside that WSDL.
"""

from __future__ import annotations

import time
from io import BytesIO

import pytest
import requests
from lxml import etree
from requests.structures import CaseInsensitiveDict

from openips.services import auth
from openips.services.deps import get_deps
from openips.services.ips_soap.service import handle_pox, handle_soap
from openips.services.ips_soap.wsdl import wsdl
from openips.services.ips_soap.schema import BASE_NS
from tests.integration.test_api import new_user, other_company_key
from tests.unit.test_ips_wire_safe_xml import BILLION_LAUGHS

zeep = pytest.importorskip("zeep")

BASE_URL = "https://ips.example.test"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
V2014 = f"{BASE_NS}/2014-04-03"
USER = "ops@acme.example"


# ---- helpers ---------------------------------------------------------------------------


def schema_for(version: str | None = None) -> etree.XMLSchema:
    """The served WSDL's schema of the version's namespace (a versioned WSDL also holds the unversioned one,
    with the authHeader and the faults)."""
    root = etree.fromstring(wsdl(BASE_URL, version))
    ns = BASE_NS if version is None else f"{BASE_NS}/{version}"
    (schema,) = root.xpath("//xsd:schema[@targetNamespace=$ns]", ns=ns,
                           namespaces={"xsd": "http://www.w3.org/2001/XMLSchema"})
    return etree.XMLSchema(schema)


SCHEMAS: dict[str | None, etree.XMLSchema] = {}


def valid(element: etree._Element, version: str | None = None) -> etree._Element:
    schema = SCHEMAS.get(version) or SCHEMAS.setdefault(version, schema_for(version))
    schema.assertValid(element)
    return element


def auth_header(user: str, password: str, ns: str = BASE_NS, extra: str = "") -> str:
    # appName first and password before user: the children come in any order.
    return (f'<a:authHeader xmlns:a="{ns}"><a:appName>test</a:appName><a:appVersion>1</a:appVersion>'
            f"<a:password>{password}</a:password><a:user>{user}</a:user>{extra}</a:authHeader>")


def envelope(param: str, header: str = "", soap: str = SOAP11) -> bytes:
    head = f"<s:Header>{header}</s:Header>" if header else ""
    return f'<?xml version="1.0"?><s:Envelope xmlns:s="{soap}">{head}<s:Body>{param}</s:Body></s:Envelope>'.encode()


def call(stack, operation: str, inner: str = "", ns: str = BASE_NS, key: str | None = None, user: str = USER,
         soap: str = SOAP11, header: str | None = None, basic: tuple[str, str] | None = None,
         action: str | None = None):
    """One raw SOAP request → (status, content type, parsed envelope)."""
    param = f'<p:{operation}Param xmlns:p="{ns}">{inner}</p:{operation}Param>'
    if header is None:
        header = auth_header(user, key or stack.key) if basic is None else ""
    content_type = "text/xml; charset=utf-8" if soap == SOAP11 else f'application/soap+xml; action="{operation}"'
    status, ctype, body, _ = handle_soap(get_deps(), envelope(param, header, soap), content_type,
                                      action if action is not None else (f'"{operation}"' if soap == SOAP11 else None),
                                      basic, BASE_URL)
    return status, ctype, etree.fromstring(body)


def result(stack, operation: str, inner: str = "", ns: str = BASE_NS, version: str | None = None, **kw):
    status, ctype, root = call(stack, operation, inner, ns, **kw)
    assert status == 200, etree.tostring(root)
    answer = root.find(f"{{{kw.get('soap', SOAP11)}}}Body/{{{ns}}}{operation}Return")
    assert answer is not None, etree.tostring(root)
    return valid(answer, version)


def fault_of(root: etree._Element, soap: str = SOAP11, ns: str = BASE_NS) -> tuple[str, int, str]:
    """The fault in the detail: in the unversioned namespace whatever the request's (``ns``), as IPS answers
    (spec §11.2), and valid against the served WSDL's schema of that namespace."""
    del ns
    detail = root.find(f"{{{soap}}}Body/{{{soap}}}Fault/" + ("detail" if soap == SOAP11 else f"{{{soap}}}Detail"))
    assert detail is not None, etree.tostring(root)
    element = detail[0]
    valid(element)
    assert etree.QName(element).namespace == BASE_NS
    return (etree.QName(element).localname, int(element.findtext(f"{{{BASE_NS}}}code")),
            element.findtext(f"{{{BASE_NS}}}reason"))


def expect_fault(stack, operation: str, inner: str = "", **kw) -> tuple[str, int, str]:
    status, _, root = call(stack, operation, inner, **kw)
    assert status == 500, etree.tostring(root)
    return fault_of(root, kw.get("soap", SOAP11), kw.get("ns", BASE_NS))


def text(element: etree._Element, path: str, ns: str = BASE_NS) -> str | None:
    return element.findtext("/".join(f"{{{ns}}}{step}" for step in path.split("/")))


def items(value) -> list:
    """zeep unwraps an array type with one ``items`` element to the list itself (or None when empty)."""
    if value is None:
        return []
    return value if isinstance(value, list) else value["items"]


def open_job(stack, name: str = "soap-batch") -> str:
    opened = stack.open_job(name)
    assert opened.status == 201, opened.body
    return opened.body["jobHandle"]


class InProcessTransport(zeep.Transport):
    """zeep's HTTP, replaced by a direct call of the library's entry points."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[int] = []

    def load(self, url: str) -> bytes:
        name = url.rsplit("/", 1)[-1]
        version = name[len("IpsApi-"):-len(".wsdl")] if name.startswith("IpsApi-") else None
        return wsdl(BASE_URL, version)

    def post(self, address, message, headers):
        assert address == f"{BASE_URL}/scene7/services/IpsApiService"
        status, ctype, body, _ = handle_soap(get_deps(), message, headers.get("Content-Type", ""),
                                          headers.get("SOAPAction"), None, BASE_URL)
        self.statuses.append(status)
        response = requests.Response()
        response.status_code = status
        response._content = body
        response.headers = CaseInsensitiveDict({"Content-Type": ctype})
        response.raw = BytesIO(body)
        return response


def soap_client(version: str | None = None):
    name = "IpsApi.wsdl" if version is None else f"IpsApi-{version}.wsdl"
    return zeep.Client(f"{BASE_URL}/scene7/webservice/{name}", transport=InProcessTransport())


# ---- the WSDL --------------------------------------------------------------------------


def test_the_wsdl_names_this_deployment_and_only_what_openips_implements():
    root = etree.fromstring(wsdl(BASE_URL + "/", None))
    locations = root.xpath("//*[local-name()='address']/@location")
    assert locations == [f"{BASE_URL}/scene7/services/IpsApiService"] * 2
    assert root.get("targetNamespace") == BASE_NS
    operations = set(root.xpath("//*[local-name()='portType']/*[local-name()='operation']/@name"))
    assert operations == {"checkLogin", "getCompanyInfo", "getActiveJobs", "getJobLogs", "getJobLogDetails",
                          "stopJob", "pauseJob", "resumeJob", "deleteJob", "getScheduledJobs",
                          "getAssetJobLogs", "getAssets", "searchAssets"}
    assert etree.fromstring(wsdl(BASE_URL, "2014-04-03")).get("targetNamespace") == V2014
    schema_for("2014-04-03")  # compiles


def test_a_wsdl_version_that_is_no_date_is_refused():
    from openips.models.errors import IpsApiFault

    with pytest.raises(IpsApiFault) as refused:
        wsdl(BASE_URL, "../../etc")
    assert refused.value.code == 30001 and refused.value.http_status == 404


# ---- zeep drives a job opened over the JSON API -------------------------------------------


def test_a_soap_client_built_from_the_wsdl_follows_and_controls_a_json_api_job(stack):
    job = open_job(stack)
    client = soap_client()
    header = client.get_element(f"{{{BASE_NS}}}authHeader")(user=USER, password=stack.key, appName="zeep",
                                                            appVersion="4")
    headers = {"_soapheaders": [header]}

    assert client.service.checkLogin(email=USER, password=stack.key, **headers) == "ValidLogin"
    assert client.service.checkLogin(email=USER, password="oips_wrong", **headers) == "InvalidLogin"
    assert client.service.checkLogin(companyHandle=stack.company, email=USER, password=stack.key) == "ValidLogin"

    active = client.service.getActiveJobs(jobHandle=job, **headers)
    assert [j.jobHandle for j in items(active)] == [job]
    assert items(active)[0].originalName == "soap-batch" and items(active)[0].submitUserEmail == USER
    assert items(active)[0].companyHandle == stack.company

    logs = client.service.getJobLogDetails(companyHandle=stack.company, jobHandle=job, **headers)
    assert items(logs)[0].jobHandle == job
    assert [d.logType for d in items(items(logs)[0].detailArray)][0] == "BeginUpload"
    by_name = client.service.getJobLogDetails(companyHandle=stack.company, originalName="soap-batch", **headers)
    assert [log.jobHandle for log in items(by_name)] == [job]

    client.service.pauseJob(companyHandle=stack.company, jobHandle=job, **headers)
    json_state = stack.call("GET", "/v1/jobs/active", query={"jobHandle": job}).body["jobArray"][0]["state"]
    assert items(client.service.getActiveJobs(jobHandle=job, **headers))[0].state == json_state
    client.service.resumeJob(companyHandle=stack.company, jobHandle=job, **headers)
    soap12 = client.bind("IpsApiService", "IpsApiSoap12Port")  # the SOAP 1.2 binding of the same WSDL
    assert [j.jobHandle for j in items(soap12.getActiveJobs(jobHandle=job, **headers))] == [job]
    client.service.stopJob(companyHandle=stack.company, jobHandle=job, **headers)
    status = stack.call("GET", f"/v1/upload-jobs/{job}/task-status").body["uploadTaskStatusArray"][0]
    assert status["statusArray"][0]["isJobStopped"] is True  # the JSON API sees the SOAP stop

    # A second stop is the JSON API's refusal, as an ipsApiFault.
    with pytest.raises(zeep.exceptions.Fault) as refused:
        client.service.stopJob(companyHandle=stack.company, jobHandle=job, **headers)
    assert refused.value.detail[0].tag == f"{{{BASE_NS}}}ipsApiFault"
    assert client.transport.statuses[-1] == 500

    with pytest.raises(zeep.exceptions.Fault) as refused:
        client.service.getActiveJobs()  # no credentials at all
    assert refused.value.detail[0].findtext(f"{{{BASE_NS}}}code") == "10000"


def test_a_versioned_wsdl_client_is_answered_in_its_namespace(stack):
    job = open_job(stack)
    client = soap_client("2014-04-03")
    header = client.get_element(f"{{{BASE_NS}}}authHeader")(user=USER, password=stack.key, appName="zeep",
                                                            appVersion="4")
    jobs = client.service.getJobLogs(companyHandle=stack.company, _soapheaders=[header])
    assert job in [j.jobHandle for j in items(jobs)]
    info = client.service.getCompanyInfo(companyHandle=stack.company, _soapheaders=[header])
    assert info.companyHandle == stack.company and info.name == "Acme" and info.rootPath == "Acme/"


# ---- every operation, raw, validated ---------------------------------------------------------


def test_job_reads_and_control_answer_in_the_ips_shapes(stack):
    job = open_job(stack)
    other = open_job(stack, "to-delete")
    company = f"<p:companyHandle>{stack.company}</p:companyHandle>"

    active = result(stack, "getActiveJobs", f"<p:jobHandle>{job}</p:jobHandle>")
    assert text(active, "jobArray/items/jobHandle") == job
    names = [etree.QName(e).localname for e in active.find(f"{{{BASE_NS}}}jobArray/{{{BASE_NS}}}items")]
    assert names[:7] == ["companyHandle", "jobHandle", "name", "originalName", "type", "state", "submitUserEmail"]

    assert len(result(stack, "getScheduledJobs", company).find(f"{{{BASE_NS}}}jobArray")) == 0
    logs = result(stack, "getJobLogs", company + "<p:sortBy>JobName</p:sortBy><p:numRows>10</p:numRows>")
    assert {e.findtext(f"{{{BASE_NS}}}jobHandle") for e in logs.iter(f"{{{BASE_NS}}}items")} >= {job, other}

    details = result(stack, "getJobLogDetails", company + f"<p:jobHandle>{job}</p:jobHandle>"
                     "<p:logTypeArray><p:items>BeginUpload</p:items></p:logTypeArray>"
                     "<p:recordsPerPage>5</p:recordsPerPage>")
    assert text(details, "jobLogArray/items/detailTotalRows") == "1"
    assert text(details, "jobLogArray/items/detailArray/items/logType") == "BeginUpload"

    for operation in ("pauseJob", "resumeJob"):
        answer = result(stack, operation, company + f"<p:jobHandle>{job}</p:jobHandle>")
        assert len(answer) == 0
    assert len(result(stack, "deleteJob", company + f"<p:jobHandle>{other}</p:jobHandle>")) == 0
    assert stack.call("GET", "/v1/jobs/active", query={"jobHandle": other}).body["jobArray"] == []
    result(stack, "stopJob", company + f"<p:jobHandle>{job}</p:jobHandle>")

    info = result(stack, "getCompanyInfo", "<p:companyName>Acme</p:companyName>")
    assert text(info, "companyInfo/companyHandle") == stack.company
    # By name, IpsAdmin finds any company; a company's own users find no other company's name.
    other_company_key(stack)
    rival = result(stack, "getCompanyInfo", "<p:companyName>Rival</p:companyName>", user="admin@example.com",
                   key=stack.admin_key)
    assert text(rival, "companyInfo/name") == "Rival" and text(rival, "companyInfo/companyHandle") != stack.company
    _, code, reason = expect_fault(stack, "getCompanyInfo", "<p:companyName>Rival</p:companyName>")
    assert (code, reason) == (30001, "Unknown company name (give companyHandle): Rival")


def test_assets_are_read_by_handle_searched_and_their_job_logs_listed(stack):
    pyvips = pytest.importorskip("pyvips")
    jpeg = (pyvips.Image.black(64, 48, bands=3) + [30, 140, 220]).cast("uchar") \
        .copy(interpretation="srgb").jpegsave_buffer()
    opened = stack.call("POST", "/v1/upload-jobs", {"jobName": "assets", "destFolder": "shoes/",
                        "uploadParams": {"overwrite": True, "readyForPublish": True, "createMask": False,
                                         "emailSetting": "None"}})
    assert opened.status == 201, opened.body
    assert stack.post_file(opened.body["upload"], "red.jpg", jpeg).status_code in (200, 204)
    stack.drain()
    found = stack.call("GET", "/v1/assets", query={"jobHandle": opened.body["jobHandle"]}).body["assetArray"]
    handle = next(a["assetHandle"] for a in found if a["name"] == "red")
    company = f"<p:companyHandle>{stack.company}</p:companyHandle>"

    got = result(stack, "getAssets", company + f"<p:assetHandleArray><p:items>{handle}</p:items>"
                 "<p:items>a|unknown</p:items></p:assetHandleArray>")
    assert [e.findtext(f"{{{BASE_NS}}}assetHandle") for e in got.iter(f"{{{BASE_NS}}}items")] == [handle]
    assert text(got, "assetArray/items/folder") == "shoes/"

    for condition in ("<p:folder>shoes/</p:folder>", "<p:folder>Acme/shoes/</p:folder>",
                      "<p:systemFieldConditionArray><p:items><p:field>Name</p:field><p:op>Equals</p:op>"
                      "<p:value>red</p:value></p:items></p:systemFieldConditionArray>"):
        search = result(stack, "searchAssets", company + condition)
        assert text(search, "totalRows") == "1", condition
        assert text(search, "assetArray/items/assetHandle") == handle
    typed = result(stack, "searchAssets", company + "<p:folder>shoes/</p:folder>"
                   "<p:assetTypeArray><p:items>Video</p:items></p:assetTypeArray>")
    assert text(typed, "totalRows") == "0"
    assert expect_fault(stack, "searchAssets", company + "<p:includeSubfolders>true</p:includeSubfolders>")[1] == 30001
    assert "keywordArray" in expect_fault(stack, "searchAssets", company + "<p:keywordArray/>")[2]

    logs = result(stack, "getAssetJobLogs", company + f"<p:assetHandle>{handle}</p:assetHandle>")
    assert text(logs, "jobLogArray/items/logType") == "UploadSuccess"


# ---- transport variants ------------------------------------------------------------------


def test_soap_12_http_basic_and_a_versioned_namespace_are_answered_in_kind(stack):
    job = open_job(stack)
    status, ctype, root = call(stack, "getActiveJobs", soap=SOAP12)
    assert status == 200 and ctype.startswith("application/soap+xml")
    assert root.find(f"{{{SOAP12}}}Body/{{{BASE_NS}}}getActiveJobsReturn") is not None

    answer = result(stack, "getActiveJobs", f"<p:jobHandle>{job}</p:jobHandle>", basic=(USER, stack.key))
    assert text(answer, "jobArray/items/jobHandle") == job

    # Body in a versioned namespace, authHeader in the unversioned one: answered in the body's.
    versioned = result(stack, "getActiveJobs", f"<p:jobHandle>{job}</p:jobHandle>", ns=V2014, version="2014-04-03")
    assert text(versioned, "jobArray/items/jobHandle", V2014) == job
    beta = f"{BASE_NS}/2022-11-01-beta"
    status, _, root = call(stack, "getScheduledJobs", ns=beta, header=auth_header(USER, stack.key, beta))
    assert status == 200 and root.find(f"{{{SOAP11}}}Body/{{{beta}}}getScheduledJobsReturn") is not None

    kind, code, _ = expect_fault(stack, "stopJob", "<p:companyHandle>c|x</p:companyHandle>", soap=SOAP12,
                                 ns=V2014, key="oips_wrong")
    assert (kind, code) == ("authenticationFault", 10001)


def test_pox_answers_the_return_element_in_a_default_namespace(stack):
    job = open_job(stack)
    body = (f'<Request xmlns="{V2014}">{auth_header(USER, stack.key, V2014)}'
            f"<getActiveJobsParam><jobHandle>{job}</jobHandle></getActiveJobsParam></Request>").encode()
    status, _, answer, _ = handle_pox(get_deps(), body, "text/xml", None, BASE_URL)
    assert status == 200
    assert b"<getActiveJobsReturn xmlns=" in answer and b":jobHandle" not in answer
    root = valid(etree.fromstring(answer), "2014-04-03")
    assert text(root, "jobArray/items/jobHandle", V2014) == job

    plain = f"<Request><getActiveJobsParam><jobHandle>{job}</jobHandle></getActiveJobsParam></Request>".encode()
    status, _, answer, _ = handle_pox(get_deps(), plain, "text/xml", (USER, stack.key), BASE_URL)
    assert status == 200 and etree.fromstring(answer).tag == f"{{{BASE_NS}}}getActiveJobsReturn"

    status, _, answer, _ = handle_pox(get_deps(), b"<Request><fooParam/></Request>", "text/xml", (USER, stack.key),
                                   BASE_URL)
    fault = valid(etree.fromstring(answer))
    assert status == 500 and fault.tag == f"{{{BASE_NS}}}ipsApiFault"
    assert "foo" in fault.findtext(f"{{{BASE_NS}}}reason")
    status, _, answer, _ = handle_pox(get_deps(), BILLION_LAUGHS, "text/xml", (USER, stack.key), BASE_URL)
    assert status == 500 and etree.fromstring(answer).findtext(f"{{{BASE_NS}}}code") == "30003"


# ---- faults ----------------------------------------------------------------------------------


def test_credentials_are_checked(stack):
    assert expect_fault(stack, "getActiveJobs", header="")[:2] == ("authenticationFault", 10000)
    assert expect_fault(stack, "getActiveJobs", key="oips_wrong")[:2] == ("authenticationFault", 10001)
    # The key is real but the e-mail is not its user's.
    assert expect_fault(stack, "getActiveJobs", user="admin@example.com")[:2] == ("authenticationFault", 10001)
    assert expect_fault(stack, "getActiveJobs", basic=(USER, "nope"))[:2] == ("authenticationFault", 10001)


def test_other_companies_are_out_of_reach(stack):
    job = open_job(stack)
    spy = other_company_key(stack)
    kind, code, _ = expect_fault(stack, "getActiveJobs", f"<p:companyHandle>{stack.company}</p:companyHandle>",
                                 user="spy@rival.example", key=spy)
    assert (kind, code) == ("authorizationFault", 20000)
    rival = get_deps().accounts.get_user_by_key_hash(auth.hash_key(spy)).company_handle
    kind, code, _ = expect_fault(stack, "stopJob", f"<p:companyHandle>{rival}</p:companyHandle>"
                                 f"<p:jobHandle>{job}</p:jobHandle>", user="spy@rival.example", key=spy)
    assert (kind, code) == ("authorizationFault", 20006)
    viewer = new_user(stack, "ImagePortalUser")
    kind, code, _ = expect_fault(stack, "pauseJob", f"<p:companyHandle>{stack.company}</p:companyHandle>"
                                 f"<p:jobHandle>{job}</p:jobHandle>", user="imageportaluser@x.example", key=viewer)
    assert (kind, code) == ("authorizationFault", 20003)


def test_request_faults(stack):
    kind, code, reason = expect_fault(stack, "submitJob", "<p:companyHandle>c</p:companyHandle>")
    assert (kind, code) == ("ipsApiFault", 30001) and "submitJob" in reason
    assert expect_fault(stack, "stopJob", "<p:jobHandle>j|x</p:jobHandle>")[1] == 30002  # companyHandle missing
    assert expect_fault(stack, "getActiveJobs", "<p:includeWaitingJobs>maybe</p:includeWaitingJobs>")[1] == 30001
    assert expect_fault(stack, "getActiveJobs", action='"stopJob"')[1] == 30003
    status, _, root = call(stack, "getActiveJobs", ns="http://example.com/other")  # answered in the unversioned one
    assert status == 500 and fault_of(root)[1] == 30003
    fault_on_200 = auth_header(USER, stack.key, extra="<a:faultHttpStatusCode>200</a:faultHttpStatusCode>")
    status, _, root = call(stack, "stopJob", "<p:companyHandle>x</p:companyHandle><p:jobHandle>j|nope</p:jobHandle>",
                           header=fault_on_200)
    assert status == 200 and fault_of(root)[0] == "authorizationFault"


@pytest.mark.parametrize("body", [
    b"<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'><s:Body><unclosed></s:Body>",
    b"plain text",
    b'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b"<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'><s:Body>&x;</s:Body></s:Envelope>",
    BILLION_LAUGHS,
    b"<notAnEnvelope/>",
    b"<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'><s:Body>" + b" " * 2**20 + b"</s:Body>",
], ids=["malformed", "not-xml", "xxe", "billion-laughs", "no-envelope", "over-1-MiB"])
def test_unsafe_or_malformed_requests_are_a_30003_fault_at_no_cost(stack, body):
    started = time.perf_counter()
    status, ctype, answer, _ = handle_soap(get_deps(), body, "text/xml", None, (USER, stack.key), BASE_URL)
    assert time.perf_counter() - started < 0.5
    assert status == 500 and ctype.startswith("text/xml") and b"root:" not in answer
    assert fault_of(etree.fromstring(answer))[:2] == ("ipsApiFault", 30003)


def test_a_soap_12_fault_has_the_12_shape(stack):
    status, ctype, answer, _ = handle_soap(get_deps(), BILLION_LAUGHS, "application/soap+xml", None, None, BASE_URL)
    root = etree.fromstring(answer)
    assert status == 500 and ctype.startswith("application/soap+xml")
    assert root.findtext(f"{{{SOAP12}}}Body/{{{SOAP12}}}Fault/{{{SOAP12}}}Code/{{{SOAP12}}}Value") == "soapenv:Sender"
    assert fault_of(root, SOAP12)[:2] == ("ipsApiFault", 30003)
    with pytest.raises(AssertionError):
        fault_of(root, SOAP11)

