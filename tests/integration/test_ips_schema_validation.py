"""Issue 15: every answer of the web service validates against the XSD of the WSDL openips serves.

Each operation is called through the route API Gateway hands to IpsWireFunction, over SOAP 1.1, SOAP
1.2 and POX, once to succeed and once to fail; its ``…Return`` element (or fault element) is
validated by lxml against the schema taken from the served WSDL (``GET /scene7/webservice/…``), in
the unversioned namespace and in a versioned one. A job's ``totalSize`` over 2 GiB saturates at the
largest xsd:int instead of making an invalid document.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from lxml import etree

from openips.services.ips_soap import operations
from openips.services.ips_soap.schema import BASE_NS, OPERATIONS
from tests.integration.test_ips_wire_routes import through_the_route

pyvips = pytest.importorskip("pyvips")

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
XSD = "http://www.w3.org/2001/XMLSchema"
USER = "ops@acme.example"
FRONTS = ("soap11", "soap12", "pox")
VERSIONS = (None, "2014-04-03")


def served_schemas(version: str | None) -> dict[str, etree.XMLSchema]:
    """The schemas of the WSDL as served over the route, by target namespace."""
    document = "IpsApi.wsdl" if version is None else f"IpsApi-{version}.wsdl"
    answer = through_the_route("GET", f"/scene7/webservice/{document}")
    assert answer["statusCode"] == 200
    root = etree.fromstring(answer["body"].encode())
    return {schema.get("targetNamespace"): etree.XMLSchema(schema) for schema in root.iter(f"{{{XSD}}}schema")}


def namespace(version: str | None) -> str:
    return BASE_NS if version is None else f"{BASE_NS}/{version}"


def call(front: str, version: str | None, operation: str, inner: str, key: str) -> tuple[int, etree._Element]:
    """One call → (HTTP status, the answer's return or fault element)."""
    ns = namespace(version)
    auth = f'<authHeader xmlns="{BASE_NS}"><user>{USER}</user><password>{key}</password></authHeader>'
    param = f'<{operation}Param xmlns="{ns}">{inner}</{operation}Param>'
    if front == "pox":
        answer = through_the_route("POST", "/scene7/api/IpsApiService", f"<Request>{auth}{param}</Request>".encode())
        return answer["statusCode"], etree.fromstring(answer["body"].encode())
    soap = SOAP11 if front == "soap11" else SOAP12
    envelope = (f'<s:Envelope xmlns:s="{soap}"><s:Header>{auth}</s:Header><s:Body>{param}</s:Body>'
                "</s:Envelope>").encode()
    headers = ({"content-type": "text/xml; charset=utf-8", "soapaction": f'"{operation}"'} if front == "soap11"
               else {"content-type": f'application/soap+xml; charset=utf-8; action="{operation}"'})
    answer = through_the_route("POST", "/scene7/services/IpsApiService", envelope, headers)
    root = etree.fromstring(answer["body"].encode())
    assert root.tag == f"{{{soap}}}Envelope", answer["body"]
    body = root.find(f"{{{soap}}}Body")
    fault = body.find(f"{{{soap}}}Fault")
    if fault is None:
        return answer["statusCode"], body[0]
    detail = fault.find("detail" if soap == SOAP11 else f"{{{soap}}}Detail")
    return answer["statusCode"], detail[0]


@pytest.fixture
def world(stack):
    """Two jobs per front and version (one to pause, resume and stop; one to delete) and one asset."""
    jpeg = (pyvips.Image.black(32, 24, bands=3) + [200, 30, 30]).cast("uchar").copy(
        interpretation="srgb").jpegsave_buffer()
    opened = stack.call("POST", "/v1/upload-jobs", {"jobName": "with-asset", "destFolder": "shoes/", "uploadParams": {
        "overwrite": True, "readyForPublish": True, "createMask": False, "emailSetting": "None"}})
    assert opened.status == 201, opened.body
    assert stack.post_file(opened.body["upload"], "red.jpg", jpeg).status_code in (200, 204)
    assert stack.call("POST", f"/v1/upload-jobs/{opened.body['jobHandle']}/end").status == 202
    stack.drain()
    (asset,) = stack.call("GET", "/v1/assets", query={"jobHandle": opened.body["jobHandle"]}).body["assetArray"]
    return {"asset": asset["assetHandle"], "finished": opened.body["jobHandle"]}


def _params(stack, world: dict, job: str, doomed: str) -> dict[str, tuple[str, str]]:
    """Each operation → (parameters that succeed, parameters that fault)."""
    company = f"<companyHandle>{stack.company}</companyHandle>"
    unknown_job = f"{company}<jobHandle>j-nosuchjob</jobHandle>"
    return {
        "checkLogin": (f"<email>{USER}</email><password>{stack.key}</password>", "<email>x</email>"),
        "getCompanyInfo": (company, "<companyHandle>c-nosuchcompany</companyHandle>"),
        "getActiveJobs": (f"<jobHandle>{job}</jobHandle>", "<includeWaitingJobs>perhaps</includeWaitingJobs>"),
        "getScheduledJobs": (company, "<companyHandle>c-nosuchcompany</companyHandle>"),
        "getJobLogs": (company + "<numRows>5</numRows>", company + "<sortBy>Colour</sortBy>"),
        "getJobLogDetails": (f"{company}<jobHandle>{world['finished']}</jobHandle>", unknown_job),
        "getAssetJobLogs": (f"{company}<assetHandle>{world['asset']}</assetHandle>", company),
        "pauseJob": (f"{company}<jobHandle>{job}</jobHandle>", unknown_job),
        "resumeJob": (f"{company}<jobHandle>{job}</jobHandle>", f"{company}<jobHandle>{world['finished']}</jobHandle>"),
        "stopJob": (f"{company}<jobHandle>{job}</jobHandle>", f"{company}<jobHandle>{job}</jobHandle>"),
        "deleteJob": (f"{company}<jobHandle>{doomed}</jobHandle>", unknown_job),
        "getAssets": (f"{company}<assetHandleArray><items>{world['asset']}</items></assetHandleArray>", company),
        "searchAssets": (company + "<folder>shoes/</folder>", company + "<includeSubfolders>true</includeSubfolders>"),
    }


@pytest.mark.parametrize("version", VERSIONS, ids=["unversioned", "2014-04-03"])
@pytest.mark.parametrize("front", FRONTS)
def test_every_operation_answers_and_faults_valid_against_the_served_schema(stack, world, front, version):
    schemas = served_schemas(version)
    ns = namespace(version)
    job, doomed = stack.open_job(f"{front}-job").body["jobHandle"], stack.open_job(f"{front}-doomed").body["jobHandle"]
    params = _params(stack, world, job, doomed)
    assert set(params) == set(OPERATIONS)  # a new operation needs its case here
    # stopJob last: its second call (the fault) stops a stopped job.
    for operation in [*[o for o in params if o != "stopJob"], "stopJob"]:
        good, bad = params[operation]
        status, returned = call(front, version, operation, good, stack.key)
        assert status == 200 and returned.tag == f"{{{ns}}}{operation}Return", (operation, etree.tostring(returned))
        schemas[ns].assertValid(returned)
        if operation == "checkLogin":  # its faults are answers: InvalidLogin
            continue
        status, fault = call(front, version, operation, bad, stack.key)
        assert status == 500, (operation, etree.tostring(fault))
        assert etree.QName(fault).localname in ("ipsApiFault", "authorizationFault"), etree.tostring(fault)
        assert etree.QName(fault).namespace == BASE_NS  # the unversioned namespace, as IPS (spec §11.2)
        schemas[BASE_NS].assertValid(fault)
    # An authentication fault and a checkLogin refusal, too.
    status, fault = call(front, version, "getActiveJobs", "", "oips_wrong")
    assert (status, etree.QName(fault).localname) == (500, "authenticationFault")
    schemas[BASE_NS].assertValid(fault)
    status, returned = call(front, version, "checkLogin", f"<email>{USER}</email><password>nope</password>", stack.key)
    assert status == 200 and returned.findtext(f"{{{ns}}}status") == "InvalidLogin"
    schemas[ns].assertValid(returned)


def test_the_schema_check_is_not_vacuous(stack):
    """An answer with an element out of order, or a number past xsd:int, is refused by the same schemas."""
    schemas = served_schemas(None)
    job = stack.open_job("order").body["jobHandle"]
    _, returned = call("soap11", None, "getActiveJobs", f"<jobHandle>{job}</jobHandle>", stack.key)
    item = returned.find(f"{{{BASE_NS}}}jobArray/{{{BASE_NS}}}items")
    schemas[BASE_NS].assertValid(returned)
    item.find(f"{{{BASE_NS}}}totalSize").text = str(2**31)
    assert not schemas[BASE_NS].validate(returned)
    item.find(f"{{{BASE_NS}}}totalSize").text = "0"
    item.insert(0, item[3])  # originalName first
    assert not schemas[BASE_NS].validate(returned)


def test_a_total_size_over_2_gib_saturates_at_the_largest_xsd_int(stack, monkeypatch):
    real: Callable = operations.jobs.active_jobs

    def five_gib(*args, **kwargs):
        found, scanned = real(*args, **kwargs)
        return [j.model_copy(update={"total_size": 5 * 2**30}) for j in found], scanned

    monkeypatch.setattr(operations.jobs, "active_jobs", five_gib)
    job = stack.open_job("huge").body["jobHandle"]
    for front in FRONTS:
        status, returned = call(front, "2014-04-03", "getActiveJobs", f"<jobHandle>{job}</jobHandle>", stack.key)
        ns = namespace("2014-04-03")
        assert status == 200
        assert returned.findtext(f"{{{ns}}}jobArray/{{{ns}}}items/{{{ns}}}totalSize") == str(2**31 - 1)
        served_schemas("2014-04-03")[ns].assertValid(returned)
    # The JSON API, reading the same service answer, carries the exact number.
    active = stack.call("GET", "/v1/jobs/active", query={"jobHandle": job}).body["jobArray"]
    assert [j["totalSize"] for j in active] == [5 * 2**30]


def test_the_served_wsdl_keeps_the_auth_header_and_faults_unversioned():
    answer = through_the_route("GET", "/scene7/webservice/IpsApi-2014-04-03.wsdl")
    root = etree.fromstring(answer["body"].encode())
    namespaces = {"xsd": XSD}
    base, versioned = (root.xpath("//xsd:schema[@targetNamespace=$ns]", ns=ns, namespaces=namespaces)[0]
                       for ns in (BASE_NS, namespace("2014-04-03")))
    declared = lambda schema: {e.get("name") for e in schema.findall(f"{{{XSD}}}element")}  # noqa: E731
    assert declared(base) == {"authHeader", "authenticationFault", "authorizationFault", "ipsApiFault"}
    assert "getActiveJobsReturn" in declared(versioned) and "ipsApiFault" not in declared(versioned)
