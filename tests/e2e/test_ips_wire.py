"""Issue 15 done-when, against ``openips local up`` over real HTTP: an integration written for IPS —
the UploadFile servlet's multipart POSTs and a SOAP client generated from the served WSDL — opens a
job, uploads files, follows it with getActiveJobs, reads getJobLogDetails, and ends it (one job) or
stops it (another), with no change but the host and the credentials. Each job, opened by the
servlet and controlled over SOAP, is read over the JSON API as well."""

from __future__ import annotations

import gzip
import time
import xml.etree.ElementTree as ET

import pytest
import requests

from tests.e2e.test_local_stack import jpeg
from tests.integration.test_ips_soap import items

zeep = pytest.importorskip("zeep")

NS = "http://www.scene7.com/IpsApi/xsd/2014-04-03"
IPS = "http://www.scene7.com/IpsApi/xsd"  # the authHeader's namespace in every WSDL version (spec §2)
OPTIONS = ("<uploadParams><overwrite>true</overwrite><readyForPublish>true</readyForPublish>"
           "<createMask>false</createMask><emailSetting>None</emailSetting></uploadParams>")


def servlet(local_stack: dict, params: str, files: dict[str, bytes] | None = None) -> str:
    """One UploadFile POST as an IPS client sends it (XML parts as text/plain) → the jobHandle."""
    auth = (f'<authHeader xmlns="{NS}"><user>{local_stack["userEmail"]}</user>'
            f'<password>{local_stack["apiKey"]}</password><appName>legacy</appName><appVersion>1</appVersion>'
            "</authHeader>")
    parts = {"auth": (None, auth, "text/plain"), "uploadParams": (None, params, "text/plain")}
    parts |= {f"file{n}": (name, data, "application/octet-stream")
              for n, (name, data) in enumerate((files or {}).items())}
    answer = requests.post(local_stack["apiUrl"] + "/scene7/UploadFile", files=parts, timeout=60)
    assert answer.status_code == 200, answer.text
    root = ET.fromstring(answer.content)
    assert root.tag == f"{{{NS}}}uploadPostReturn", answer.text
    return root.findtext(f"{{{NS}}}jobHandle")


def post_param(company: str, body: str) -> str:
    return f'<uploadPostParam xmlns="{NS}"><companyHandle>{company}</companyHandle>{body}</uploadPostParam>'


def json_api(local_stack: dict, path: str, **query: str) -> dict:
    """The same job over the JSON API (Bearer API key)."""
    answer = requests.get(local_stack["apiUrl"] + path, params=query, timeout=30,
                          headers={"Authorization": f"Bearer {local_stack['apiKey']}"})
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture
def ips(local_stack: dict):
    """A SOAP client generated from the WSDL this deployment serves (its address is the local one)."""
    client = zeep.Client(local_stack["apiUrl"] + "/scene7/webservice/IpsApi-2014-04-03.wsdl")
    header = client.get_element(f"{{{IPS}}}authHeader")(user=local_stack["userEmail"], password=local_stack["apiKey"],
                                                         appName="legacy", appVersion="1")
    return client, {"_soapheaders": [header]}


def wait_for_log(client, auth: dict, company: str, job: str, done) -> tuple:
    deadline = time.monotonic() + 90
    while True:
        (log,) = items(client.service.getJobLogDetails(companyHandle=company, jobHandle=job, **auth))
        details = [d.logType for d in items(log.detailArray)]
        if done(log, details) or time.monotonic() > deadline:
            return log, details
        time.sleep(0.5)


def test_an_ips_integration_opens_uploads_follows_and_ends_a_job(local_stack, ips):
    client, auth = ips
    company = local_stack["companyHandle"]
    assert client.service.checkLogin(email=local_stack["userEmail"], password=local_stack["apiKey"]) == "ValidLogin"

    job = servlet(local_stack, post_param(company, "<jobName>legacy-integration</jobName><endJob>false</endJob>"
                                                   + OPTIONS), {"legacy/shoe.jpg": jpeg(320, 200)})
    active = client.service.getActiveJobs(jobHandle=job, **auth)
    assert [(j.jobHandle, j.originalName) for j in items(active)] == [(job, "legacy-integration")]

    # A later POST adds a file, one more ends the job (endJob with no file part).
    assert servlet(local_stack, post_param(company, f"<jobHandle>{job}</jobHandle>"),
                   {"legacy/boot.jpg": jpeg(200, 120)}) == job
    assert servlet(local_stack, post_param(company, f"<jobHandle>{job}</jobHandle><endJob>true</endJob>")) == job
    log, details = wait_for_log(client, auth, company, job, lambda _, d: "EndUpload" in d)
    assert details.count("UploadSuccess") == 2 and "EndUpload" in details, details
    assert (log.fileSuccessCount, log.fileErrorCount) == (2, 0)
    assert job not in [j.jobHandle for j in items(client.service.getActiveJobs(**auth))]

    # The JSON API reads the same job: its log and its assets.
    summary = json_api(local_stack, f"/v1/jobs/{job}/log-details")["jobLogArray"][0]
    assert (summary["logType"], summary["fileSuccessCount"]) == ("EndUpload", 2)
    assets = {a["name"]: a for a in json_api(local_stack, "/v1/assets", jobHandle=job)["assetArray"]}
    assert (assets["shoe"]["folder"], assets["shoe"]["width"], assets["boot"]["height"]) == ("legacy/", 320, 120)


def test_an_ips_integration_stops_a_job_the_servlet_opened(local_stack, ips):
    client, auth = ips
    company = local_stack["companyHandle"]
    job = servlet(local_stack, post_param(company, "<jobName>legacy-stop</jobName>" + OPTIONS),
                  {"stop/a.jpg": jpeg(64, 48)})
    assert [j.jobHandle for j in items(client.service.getActiveJobs(jobHandle=job, **auth))] == [job]

    client.service.pauseJob(companyHandle=company, jobHandle=job, **auth)
    (paused,) = json_api(local_stack, "/v1/jobs/active", jobHandle=job)["jobArray"]
    assert paused["state"] == "WaitingCoordinator"  # the JSON API sees the SOAP pause
    client.service.stopJob(companyHandle=company, jobHandle=job, **auth)
    log, details = wait_for_log(client, auth, company, job, lambda log, _: log.endDate is not None)
    assert log.endDate is not None and "EndUpload" in details, details
    assert log.fileSuccessCount + log.fileErrorCount == 1  # the file is accounted for: processed or cancelled

    # Stopped for good: no longer active, a second stop is an IPS fault, and a later POST is refused.
    assert json_api(local_stack, "/v1/jobs/active", jobHandle=job)["jobArray"] == []
    status = json_api(local_stack, f"/v1/upload-jobs/{job}/task-status")["uploadTaskStatusArray"][0]
    assert status["statusArray"][0]["isJobStopped"] is True
    with pytest.raises(zeep.exceptions.Fault) as refused:
        client.service.stopJob(companyHandle=company, jobHandle=job, **auth)
    assert refused.value.detail[0].tag == f"{{{IPS}}}ipsApiFault"
    late = requests.post(local_stack["apiUrl"] + "/scene7/UploadFile", timeout=30, files={
        "auth": (None, f'<authHeader xmlns="{IPS}"><user>{local_stack["userEmail"]}</user>'
                       f'<password>{local_stack["apiKey"]}</password></authHeader>', "text/plain"),
        "uploadParams": (None, post_param(company, f"<jobHandle>{job}</jobHandle>"), "text/plain"),
        "late": ("late.jpg", jpeg(10, 10), "application/octet-stream")})
    assert late.status_code == 500 and ET.fromstring(late.content).findtext(f"{{{IPS}}}code") == "30001"


def test_a_gzipped_answer_reaches_the_client_as_gzip_over_the_local_front(local_stack):
    # The function answers gzip base64-encoded (isBase64Encoded), as API Gateway expects; the local
    # front must send the bytes, not the base64 text.
    envelope = (f'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header>'
                f'<authHeader xmlns="{IPS}"><user>{local_stack["userEmail"]}</user>'
                f'<password>{local_stack["apiKey"]}</password><gzipResponse>true</gzipResponse></authHeader>'
                f'</s:Header><s:Body><checkLoginParam xmlns="{NS}"><email>{local_stack["userEmail"]}</email>'
                f'<password>{local_stack["apiKey"]}</password></checkLoginParam></s:Body></s:Envelope>')
    answer = requests.post(local_stack["apiUrl"] + "/scene7/services/IpsApiService", data=envelope.encode(),
                           headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": "checkLogin"},
                           timeout=30, stream=True)
    raw = answer.raw.read(decode_content=False)
    assert (answer.status_code, answer.headers["Content-Encoding"]) == (200, "gzip"), raw[:200]
    assert raw[:2] == b"\x1f\x8b"  # gzip's magic number, not base64 text
    assert b"ValidLogin" in gzip.decompress(raw)
