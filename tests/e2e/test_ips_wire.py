"""Issue 15 done-when, against ``openips local up`` over real HTTP: an integration written for IPS —
the UploadFile servlet's multipart POSTs and a SOAP client generated from the served WSDL — opens a
job, uploads a file, follows it with getActiveJobs, reads getJobLogDetails and ends it, with no
change but the host and the credentials."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import pytest
import requests

from tests.e2e.test_local_stack import jpeg
from tests.integration.test_ips_soap import items

zeep = pytest.importorskip("zeep")

NS = "http://www.scene7.com/IpsApi/xsd/2014-04-03"


def servlet(local_stack: dict, params: str, files: dict[str, bytes] | None = None) -> ET.Element:
    auth = (f'<authHeader xmlns="{NS}"><user>{local_stack["userEmail"]}</user>'
            f'<password>{local_stack["apiKey"]}</password><appName>legacy</appName><appVersion>1</appVersion>'
            "</authHeader>")
    parts = {"auth": (None, auth, "text/plain"), "uploadParams": (None, params, "text/plain")}
    parts |= {f"file{n}": (name, data, "application/octet-stream") for n, (name, data) in enumerate((files or {}).items())}
    answer = requests.post(local_stack["apiUrl"] + "/scene7/UploadFile", files=parts, timeout=60)
    assert answer.status_code == 200, answer.text
    return ET.fromstring(answer.content)


def test_an_ips_integration_runs_against_the_local_stack(local_stack):
    company = local_stack["companyHandle"]
    opened = servlet(local_stack, f'<uploadPostParam xmlns="{NS}"><companyHandle>{company}</companyHandle>'
                                  "<jobName>legacy-integration</jobName><endJob>false</endJob><uploadParams>"
                                  "<overwrite>true</overwrite><readyForPublish>true</readyForPublish>"
                                  "<createMask>false</createMask><emailSetting>None</emailSetting>"
                                  "</uploadParams></uploadPostParam>", {"legacy/shoe.jpg": jpeg(320, 200)})
    job = opened.findtext(f"{{{NS}}}jobHandle")

    # A SOAP client generated from the WSDL this deployment serves (its address is the local one).
    client = zeep.Client(local_stack["apiUrl"] + "/scene7/webservice/IpsApi-2014-04-03.wsdl")
    header = client.get_element("ns0:authHeader")(user=local_stack["userEmail"], password=local_stack["apiKey"],
                                                   appName="legacy", appVersion="1")
    auth = {"_soapheaders": [header]}
    assert client.service.checkLogin(email=local_stack["userEmail"], password=local_stack["apiKey"]) == "ValidLogin"
    active = client.service.getActiveJobs(jobHandle=job, **auth)
    assert [j.jobHandle for j in items(active)] == [job]

    servlet(local_stack, f'<uploadPostParam xmlns="{NS}"><companyHandle>{company}</companyHandle>'
                         f"<jobHandle>{job}</jobHandle><endJob>true</endJob></uploadPostParam>")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        logs = client.service.getJobLogDetails(companyHandle=company, jobHandle=job, **auth)
        details = [d.logType for d in items(items(logs)[0].detailArray)]
        if "EndUpload" in details:
            break
        time.sleep(0.5)
    assert "UploadSuccess" in details and "EndUpload" in details, details
