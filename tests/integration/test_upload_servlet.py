"""POST /scene7/UploadFile, the IPS servlet (spec §3), on the in-process stack: real handlers, moto.

Requests are raw multipart bytes, as IPS clients send them, turned into the HTTP API event API
Gateway would build (binary bodies base64-encoded); files go to S3 and through the queues as
presigned uploads do (``stack.drain()``).
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET  # noqa: S405 - reading our own answers
from http.server import ThreadingHTTPServer

import boto3
import pytest

from openips.models.api import CreateCompanyRequest, CreateUserRequest
from openips.services import auth
from openips.services.deps import get_deps
from openips_cli.inprocess import LambdaContext, _routes, event_body, http_api_event, invoke_route
from openips_cli.provision import route_for

pyvips = pytest.importorskip("pyvips")

IPS = "http://www.scene7.com/IpsApi/xsd"
NS = "http://www.scene7.com/IpsApi/xsd/2014-04-03"
USER = "ops@acme.example"


def jpeg_bytes(width: int, height: int) -> bytes:
    image = pyvips.Image.xyz(width, height).extract_band(0).cast("uchar").bandjoin([128, 64])
    data = image.copy(interpretation="srgb").jpegsave_buffer(Q=80)
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # what a text-decoding front would have corrupted
    return data


# ---- building requests ----------------------------------------------------------------------------


def auth_header(password: str, user: str = USER, ns: str = NS, extra: str = "") -> str:
    return (f'<authHeader xmlns="{ns}">\r\n  <user>{user}</user><password>{password}</password>\r\n'
            f"  <appName>uploader</appName><appVersion>1.0</appVersion>{extra}\r\n</authHeader>")


def post_param(company: str, *, job_name: str | None = "batch-42", job_handle: str | None = None,
               dest_folder: str | None = None, end: bool = False, options: str | None = None,
               extra: str = "") -> str:
    inner = [f"<companyHandle>{company}</companyHandle>"]
    inner += [f"<jobName>{job_name}</jobName>"] if job_name else []
    inner += [f"<jobHandle>{job_handle}</jobHandle>"] if job_handle else []
    inner += [f"<destFolder>{dest_folder}</destFolder>"] if dest_folder is not None else []
    inner += [f"<endJob>{'true' if end else 'false'}</endJob>", extra]
    if options is None and job_name:
        options = ("<overwrite>true</overwrite><readyForPublish>true</readyForPublish>"
                   "<createMask>false</createMask><emailSetting>None</emailSetting>")
    inner += [f"<uploadParams>{options}</uploadParams>"] if options is not None else []
    return f'<uploadPostParam xmlns="{NS}">\r\n  ' + "\r\n  ".join(inner) + "\r\n</uploadPostParam>"


def multipart(parts: list[tuple[str, str | None, str | None, bytes]], boundary: str = "XYZ") -> bytes:
    """(name, filename, content type, data) → a multipart/form-data body with CRLF delimiters."""
    out = b""
    for name, filename, content_type, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        out += f"Content-Type: {content_type}\r\n".encode() if content_type else b""
        out += b"\r\n" + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def servlet_post(stack, password: str, params: str, files: dict[str, bytes] | None = None) -> bytes:
    parts = [("auth", None, "text/plain; charset=US-ASCII", auth_header(password).encode()),
             ("uploadParams", None, "text/plain; charset=US-ASCII", params.encode())]
    parts += [(f"file{n}", name, "application/octet-stream", data)
              for n, (name, data) in enumerate((files or {}).items(), 1)]
    return multipart(parts)


class Answer:
    def __init__(self, result: dict) -> None:
        self.status = int(result["statusCode"])
        self.headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
        body = result.get("body") or ""
        self.data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
        self.root = ET.fromstring(self.data)

    @property
    def job_handle(self) -> str:
        assert self.root.tag.endswith("}uploadPostReturn"), self.data
        return self.root.findtext(f"{{{self.root.tag[1:].split('}')[0]}}}jobHandle")

    @property
    def fault(self) -> tuple[str, int, str]:
        assert self.root.tag.startswith(f"{{{IPS}}}"), self.data
        return (self.root.tag.split("}")[1], int(self.root.findtext(f"{{{IPS}}}code")),
                self.root.findtext(f"{{{IPS}}}reason"))


def send(body: bytes, content_type: str = "multipart/form-data; boundary=XYZ", source_ip: str = "203.0.113.7",
         path: str = "/scene7/UploadFile") -> Answer:
    """As API Gateway hands the request to the route's function (binary bodies base64-encoded)."""
    text, is_base64 = event_body(body, content_type)
    headers = {"content-type": content_type, "content-length": str(len(body))}
    event = http_api_event("POST", path, headers, None, text, source_ip, is_base64)
    route = route_for(_routes(), "POST", path)
    assert route is not None and route.function == "IpsWireFunction"
    return Answer(invoke_route(route, event, LambdaContext(function_name=route.function)))


def assets_of(stack, job: str) -> dict[str, dict]:
    found = stack.call("GET", "/v1/assets", query={"jobHandle": job})
    assert found.status == 200, found.body
    return {a["name"]: a for a in found.body["assetArray"]}


# ---- the reference's request ---------------------------------------------------------------------


def reference_request(company: str, password: str, image: bytes) -> bytes:
    """The request of spec §3.7, byte for byte (CRLF), with this stack's company and credentials, the
    authHeader in the versioned namespace and both XML parts as text/plain (as the documented
    example sends them), and a filename carrying the company's root folder (§3.1)."""
    return (
        b"--XYZ\r\n"
        b'Content-Disposition: form-data; name="auth"\r\n'
        b"Content-Type: text/plain; charset=US-ASCII\r\n"
        b"\r\n"
        b'<authHeader xmlns="http://www.scene7.com/IpsApi/xsd/2014-04-03">\r\n'
        b"  <user>" + USER.encode() + b"</user><password>" + password.encode() + b"</password>\r\n"
        b"  <appName>uploader</appName><appVersion>1.0</appVersion>\r\n"
        b"</authHeader>\r\n"
        b"--XYZ\r\n"
        b'Content-Disposition: form-data; name="uploadParams"\r\n'
        b"Content-Type: text/plain; charset=US-ASCII\r\n"
        b"\r\n"
        b'<uploadPostParam xmlns="http://www.scene7.com/IpsApi/xsd/2014-04-03">\r\n'
        b"  <companyHandle>" + company.encode() + b"</companyHandle>\r\n"
        b"  <jobName>batch-42</jobName>\r\n"
        b"  <destFolder>Acme/products/</destFolder>\r\n"
        b"  <endJob>false</endJob>\r\n"
        b"  <uploadParams>\r\n"
        b"    <overwrite>true</overwrite>\r\n"
        b"    <readyForPublish>true</readyForPublish>\r\n"
        b"    <createMask>false</createMask>\r\n"
        b"    <emailSetting>None</emailSetting>\r\n"
        b"  </uploadParams>\r\n"
        b"</uploadPostParam>\r\n"
        b"--XYZ\r\n"
        b'Content-Disposition: form-data; name="f1"; filename="Acme/shoe-01.jpg"\r\n'
        b"Content-Type: application/octet-stream\r\n"
        b"\r\n" + image + b"\r\n"
        b"--XYZ--\r\n"
    )


def test_the_reference_request_opens_a_job_whose_files_become_assets_then_more_posts_and_end(stack):
    # The reference's first POST opens the job with its file
    first = send(reference_request(stack.company, stack.key, jpeg_bytes(640, 480)))
    assert first.status == 200, first.data
    assert first.headers["content-type"].startswith("text/xml")
    assert first.root.tag == f"{{{NS}}}uploadPostReturn"  # answered in the request's namespace
    job = first.job_handle
    active = stack.call("GET", "/v1/jobs/active", query={"jobHandle": job})
    assert [j["jobHandle"] for j in active.body["jobArray"]] == [job]

    # a later POST with jobHandle adds a binary file, one more ends the job
    second = send(servlet_post(stack, stack.key, post_param(stack.company, job_name=None, job_handle=job),
                               {"Acme/products/boots/b-02.jpg": jpeg_bytes(333, 222)}))
    assert (second.status, second.job_handle) == (200, job), second.data
    ended = send(servlet_post(stack, stack.key, post_param(stack.company, job_name=None, job_handle=job, end=True)))
    assert (ended.status, ended.job_handle) == (200, job), ended.data
    assert stack.drain() == {"ProcessQueue": [], "MediaQueue": [], "JobEventsQueue": []}

    # the job ended with both files as assets, their pixels intact, read over the JSON API
    log = stack.job_log(job)
    assert log["logType"] == "EndUpload"
    assert (log["fileSuccessCount"], log["fileErrorCount"], log["totalFileCount"]) == (2, 0, 2)
    found = assets_of(stack, job)
    shoe = found["shoe-01"]
    assert (shoe["folder"], shoe["width"], shoe["height"]) == ("products/", 640, 480)
    assert (found["b-02"]["folder"], found["b-02"]["width"], found["b-02"]["height"]) == ("products/boots/", 333, 222)

    # and a POST to the ended job is refused
    late = send(servlet_post(stack, stack.key, post_param(stack.company, job_name=None, job_handle=job),
                             {"late.jpg": b"x"}))
    assert late.fault[:2] == ("ipsApiFault", 30001)


EXAMPLE_BOUNDARY = b"O9-ba7tieRtqA4QRSaVk-eDq6658SPrYfvUcJ"


def published_example_request(company: str, password: str, first: bytes, second: bytes) -> bytes:
    """The request of the IPS reference's "Example POST request" (c-http-post), byte for byte in its shape:
    its boundary, headers, indented XML parts with faultHttpStatusCode 200, the manual crop and Photoshop
    options, and its quirk (spec §3.6): the body is closed (``--boundary--``) right after uploadParams,
    then each file part follows a close delimiter, and the last one closes the body again. Only the
    company, the credentials and the root folder are this stack's; the file bytes are real JPEGs."""
    b = EXAMPLE_BOUNDARY
    return (
        b"--" + b + b"\r\n"
        b'Content-Disposition: form-data; name="auth"\r\n'
        b"Content-Type: text/plain; charset=US-ASCII\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n"
        b'            <authHeader xmlns="http://www.scene7.com/IpsApi/xsd/2014-04-03">\r\n'
        b"                   <user>" + USER.encode() + b"</user>\r\n"
        b"                   <password>" + password.encode() + b"</password>\r\n"
        b"                   <locale>en-US</locale>\r\n"
        b"                   <appName>MyUploadServletTest</appName>\r\n"
        b"                   <appVersion>1.0</appVersion>\r\n"
        b"                   <faultHttpStatusCode>200</faultHttpStatusCode>\r\n"
        b"           </authHeader>\r\n"
        b"\r\n"
        b"--" + b + b"\r\n"
        b'Content-Disposition: form-data; name="uploadParams"\r\n'
        b"Content-Type: text/plain; charset=US-ASCII\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n"
        b'            <uploadPostParam xmlns="http://www.scene7.com/IpsApi/xsd/2014-04-03">\r\n'
        b"                <companyHandle>" + company.encode() + b"</companyHandle>\r\n"
        b"                <jobName>uploadFileServlet-1376682217351</jobName>\r\n"
        b"                <uploadParams>\r\n"
        b"                    <overwrite>true</overwrite>\r\n"
        b"                    <readyForPublish>true</readyForPublish>\r\n"
        b"                    <preservePublishState>true</preservePublishState>\r\n"
        b"                    <createMask>true</createMask>\r\n"
        b"                    <preserveCrop>true</preserveCrop>\r\n"
        b"                    <manualCropOptions>\r\n"
        b"                      <left>500</left>\r\n"
        b"                      <right>500</right>\r\n"
        b"                      <top>500</top>\r\n"
        b"                      <bottom>500</bottom>\r\n"
        b"                    </manualCropOptions>\r\n"
        b"                    <photoshopOptions>\r\n"
        b"                      <process>MaintainLayers</process>\r\n"
        b"                      <layerOptions>\r\n"
        b"                        <layerNaming>AppendNumber</layerNaming>\r\n"
        b"                        <anchor>Northwest</anchor>\r\n"
        b"                        <createTemplate>true</createTemplate>\r\n"
        b"                        <extractText>true</extractText>\r\n"
        b"                        <extendLayers>false</extendLayers>\r\n"
        b"                      </layerOptions>\r\n"
        b"                    </photoshopOptions>\r\n"
        b"                    <emailSetting>None</emailSetting>\r\n"
        b"                </uploadParams>\r\n"
        b"            </uploadPostParam>\r\n"
        b"\r\n"
        b"--" + b + b"--\r\n"  # the example's early close
        b'Content-Disposition: form-data; name="file1"; '
        b'filename="Acme/UploadFileServlet1376682217351//1376682217351-1.jpg"\r\n'
        b"Content-Type: application/octet-stream; charset=ISO-8859-1\r\n"
        b"Content-Transfer-Encoding: binary\r\n"
        b"\r\n" + first + b"\r\n"
        b"--" + b + b"--\r\n"
        b'Content-Disposition: form-data; name="file2"; '
        b'filename="Acme/UploadFileServlet1376682217351//1376682217351-2.jpg"\r\n'
        b"Content-Type: application/octet-stream; charset=ISO-8859-1\r\n"
        b"Content-Transfer-Encoding: binary\r\n"
        b"\r\n" + second + b"\r\n"
        b"--" + b + b"--\r\n"
    )


def test_the_published_example_with_its_early_close_opens_a_job_whose_files_become_assets(stack):
    body = published_example_request(stack.company, stack.key, jpeg_bytes(1200, 1100), jpeg_bytes(1300, 1040))
    assert body.count(b"--" + EXAMPLE_BOUNDARY + b"--\r\n") == 3  # closed three times, as published
    first = send(body, content_type=f"multipart/form-data; boundary={EXAMPLE_BOUNDARY.decode()}")
    assert first.status == 200, first.data
    assert first.root.tag == f"{{{NS}}}uploadPostReturn"
    job = first.job_handle
    # Both files after the early close reached the job's prefix, under the folder their path names.
    stored = boto3.client("s3").list_objects_v2(Bucket=stack.resources.names["IncomingBucket"], Prefix="incoming/")
    assert sorted(o["Key"].split(f"/{job}/", 1)[1] for o in stored.get("Contents", [])) == [
        "UploadFileServlet1376682217351/1376682217351-1.jpg", "UploadFileServlet1376682217351/1376682217351-2.jpg"]

    ended = send(servlet_post(stack, stack.key, post_param(stack.company, job_name=None, job_handle=job, end=True)))
    assert (ended.status, ended.job_handle) == (200, job), ended.data
    stack.drain()
    log = stack.job_log(job)
    assert (log["logType"], log["fileSuccessCount"], log["fileErrorCount"]) == ("EndUpload", 2, 0), log
    found = assets_of(stack, job)
    one, two = found["1376682217351-1"], found["1376682217351-2"]
    # The example's options were applied: 500 px cropped off each side.
    assert (one["folder"], one["width"], one["height"]) == ("UploadFileServlet1376682217351/", 200, 100)
    assert (two["width"], two["height"]) == (300, 40)


@pytest.mark.parametrize("shape", ["close-then-delimiter", "close-blank-line-then-delimiter", "lf-line-ends"])
def test_an_early_close_followed_by_a_delimiter_line_is_read_on(stack, shape):
    xml = [("auth", None, "text/plain", auth_header(stack.key).encode()),
           ("uploadParams", None, "text/plain", post_param(stack.company, end=True).encode())]
    file_part = (b'Content-Disposition: form-data; name="f"; filename="late.jpg"\r\n\r\n'
                 + jpeg_bytes(40, 30) + b"\r\n--XYZ--\r\n")
    filler = {"close-then-delimiter": b"", "close-blank-line-then-delimiter": b"\r\n"}.get(shape, b"")
    body = multipart(xml) + filler + b"--XYZ\r\n" + file_part
    if shape == "lf-line-ends":  # the published text's own line ends, in the delimiters and headers
        body = multipart(xml).replace(b"--XYZ--\r\n", b"--XYZ--\n") + b"--XYZ\n" + file_part.replace(
            b'"late.jpg"\r\n\r\n', b'"late.jpg"\n\n')
    answer = send(body)
    assert answer.status == 200, answer.data
    stack.drain()
    assert set(assets_of(stack, answer.job_handle)) == {"late"}


@pytest.mark.parametrize("tail", [
    b'Content-Disposition: form-data; name="f"; filename="lost.jpg"\r\n\r\n\xff\xd8\xff',  # no delimiter ends it
    b'\r\ncontent-disposition:form-data; name="f"; filename="lost.jpg"\r\n\r\nbytes\r\n',
], ids=["part-after-the-last-close", "lower-case-header-in-the-epilogue"])
def test_a_file_part_after_the_final_close_is_refused_not_dropped(stack, tail):
    body = multipart([("auth", None, None, auth_header(stack.key).encode()),
                      ("uploadParams", None, None, post_param(stack.company).encode())]) + tail
    answer = send(body)
    assert answer.fault[:2] == ("ipsApiFault", 30003) and "final close delimiter" in answer.fault[2], answer.data
    assert get_deps().jobs.count_active(stack.company) == 0


def test_malformed_multipart_stays_a_30003_fault(stack):
    xml = multipart([("auth", None, None, auth_header(stack.key).encode()),
                     ("uploadParams", None, None, post_param(stack.company).encode())])
    never_closed = xml[: -len(b"--XYZ--\r\n")] + b'--XYZ\r\nContent-Disposition: form-data; name="f"; ' \
        b'filename="x.jpg"\r\n\r\n\xff\xd8'
    no_blank_line = xml.replace(b"--XYZ--\r\n", b'--XYZ\r\nContent-Disposition: form-data; name="f"; '
                                b'filename="x.jpg"\r\n\xff\xd8\xff\r\n--XYZ--\r\n')
    no_boundary_in_the_body = b"--OTHER\r\n\r\nx\r\n--OTHER--\r\n"
    for body in (never_closed, no_blank_line, no_boundary_in_the_body):
        answer = send(body)
        assert answer.fault[:2] == ("ipsApiFault", 30003), (body[-80:], answer.data)
    assert send(xml, content_type="multipart/form-data; charset=utf-8").fault[:2] == ("ipsApiFault", 30003)
    assert get_deps().jobs.count_active(stack.company) == 0


def test_files_and_end_job_on_the_first_post_and_file_name_override(stack):
    image = jpeg_bytes(120, 80)
    params = post_param(stack.company, end=True, extra="<fileName>renamed.jpg</fileName>")
    answer = send(servlet_post(stack, stack.key, params, {"original.jpg": image}))
    assert answer.status == 200, answer.data
    stored = boto3.client("s3").list_objects_v2(Bucket=stack.resources.names["IncomingBucket"], Prefix="incoming/")
    assert [o["Key"].rsplit("/", 1)[1] for o in stored.get("Contents", [])] == ["renamed.jpg"]
    stack.drain()
    assert stack.job_log(answer.job_handle)["logType"] == "EndUpload"
    assert set(assets_of(stack, answer.job_handle)) == {"renamed"}


def test_options_use_the_xsd_element_names(stack):
    options = ("<overwrite>false</overwrite><readyForPublish>false</readyForPublish><createMask>true</createMask>"
               "<manualCropOptions><left>1</left><right>2</right><top>3</top><bottom>4</bottom></manualCropOptions>"
               "<emailSetting>Error</emailSetting><xmpKeywords>red,shoe</xmpKeywords>")
    answer = send(servlet_post(stack, stack.key, post_param(stack.company, options=options)))
    assert answer.status == 200, answer.data
    job = get_deps().jobs.get(answer.job_handle)
    assert job is not None and job.options.manual_crop_options is not None
    assert (job.options.overwrite, job.options.create_mask, job.options.email_setting) == (False, True, "Error")
    assert job.options.manual_crop_options.bottom == 4 and job.options.xmp_keywords == "red,shoe"

    unknown = send(servlet_post(stack, stack.key, post_param(stack.company, options=options + "<noSuchOption/>")))
    assert unknown.fault[:2] == ("ipsApiFault", 30001) and "noSuchOption" in unknown.fault[2]
    missing = send(servlet_post(stack, stack.key, post_param(stack.company, options="<overwrite>true</overwrite>")))
    assert missing.fault[:2] == ("ipsApiFault", 30002)


# ---- faults --------------------------------------------------------------------------------------


def test_authentication_faults(stack):
    wrong = send(servlet_post(stack, "oips_wrong", post_param(stack.company)))
    assert (wrong.status, wrong.fault[:2]) == (500, ("authenticationFault", 10001))
    other_user = send(multipart([("auth", None, None, auth_header(stack.key, user="admin@example.com").encode()),
                                 ("uploadParams", None, None, post_param(stack.company).encode())]))
    assert other_user.fault[:2] == ("authenticationFault", 10001)  # the key is not that user's
    # faultHttpStatusCode chooses the status (spec §2), as the reference's fault example shows
    asked = multipart([("auth", None, None, auth_header("bad", extra="<faultHttpStatusCode>200</faultHttpStatusCode>")
                        .encode()), ("uploadParams", None, None, post_param(stack.company).encode())])
    assert (send(asked).status, send(asked).fault[:2]) == (200, ("authenticationFault", 10001))
    no_auth = send(multipart([("uploadParams", None, None, post_param(stack.company).encode())]))
    assert no_auth.fault[:2] == ("authenticationFault", 10000)
    assert get_deps().jobs.count_active(stack.company) == 0


def test_another_company_is_refused(stack):
    admin = get_deps().accounts.get_user_by_key_hash(auth.hash_key(stack.admin_key))
    other = auth.create_company(get_deps().companies, admin, CreateCompanyRequest(name="Other"))
    answer = send(servlet_post(stack, stack.key, post_param(other.company_handle), {"x.jpg": b"\xff\xd8"}))
    assert answer.fault[:2] == ("authorizationFault", 20000)
    assert get_deps().jobs.count_active(other.company_handle) == 0
    # a job of another company, even with the right companyHandle
    _, other_key = auth.create_user(get_deps().companies, get_deps().accounts, admin, CreateUserRequest(
        company_handle=other.company_handle, email="up@other.example", role="IpsUser"))
    theirs = send(multipart([("auth", None, None, auth_header(other_key, user="up@other.example").encode()),
                             ("uploadParams", None, None, post_param(other.company_handle).encode())]))
    assert theirs.status == 200, theirs.data
    into_theirs = send(servlet_post(stack, stack.key, post_param(stack.company, job_name=None,
                                                                 job_handle=theirs.job_handle), {"x.jpg": b"\xff"}))
    assert into_theirs.fault[:2] == ("authorizationFault", 20006)


def test_a_role_that_may_not_upload_is_refused(stack):
    admin = get_deps().accounts.get_user_by_key_hash(auth.hash_key(stack.admin_key))
    _, key = auth.create_user(get_deps().companies, get_deps().accounts, admin, CreateUserRequest(
        company_handle=stack.company, email="viewer@acme.example", role="ImagePortalUser"))
    answer = send(multipart([("auth", None, None, auth_header(key, user="viewer@acme.example").encode()),
                             ("uploadParams", None, None, post_param(stack.company).encode())]))
    assert answer.fault[:2] == ("authorizationFault", 20003)


def test_missing_parts_and_parameters(stack):
    only_auth = send(multipart([("auth", None, None, auth_header(stack.key).encode())]))
    assert only_auth.fault[:2] == ("ipsApiFault", 30002)
    both = send(servlet_post(stack, stack.key, post_param(stack.company, job_handle="j-x")))
    assert both.fault[:2] == ("ipsApiFault", 30002)  # jobName and jobHandle
    neither = send(servlet_post(stack, stack.key, post_param(stack.company, job_name=None)))
    assert neither.fault[:2] == ("ipsApiFault", 30002)
    not_multipart = send(b"<uploadPostParam/>", content_type="text/xml")
    assert not_multipart.fault[:2] == ("ipsApiFault", 30003)
    no_boundary = send(b"garbage", content_type="multipart/form-data")
    assert no_boundary.fault[:2] == ("ipsApiFault", 30003)
    assert get_deps().jobs.count_active(stack.company) == 0


BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + b"".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10 if n > 1 else "&lol;" * 10}">'.encode()
                             for n in range(1, 10))
                  + b"]><authHeader><user>&lol9;</user></authHeader>")
XXE = (b'<?xml version="1.0"?><!DOCTYPE authHeader [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
       b"<authHeader><user>&x;</user><password>p</password></authHeader>")
XXE_DTD = b'<?xml version="1.0"?><!DOCTYPE authHeader SYSTEM "file:///etc/passwd"><authHeader/>'


@pytest.mark.parametrize("part", ["auth", "uploadParams"])
@pytest.mark.parametrize("document", [b"<authHeader><user>a</authHeader>", b"not xml at all", XXE, XXE_DTD,
                                      BILLION_LAUGHS],
                         ids=["malformed", "not-xml", "xxe", "xxe-external-dtd", "billion-laughs"])
def test_malformed_and_hostile_xml_is_a_fault_that_costs_nothing(stack, part, document):
    good = {"auth": auth_header(stack.key).encode(), "uploadParams": post_param(stack.company).encode()}
    good[part] = document
    started = time.perf_counter()
    answer = send(multipart([(name, None, "text/plain", data) for name, data in good.items()]))
    assert time.perf_counter() - started < 1
    assert answer.fault[:2] == ("ipsApiFault", 30003), answer.data
    assert b"root:" not in answer.data and b"lollol" not in answer.data
    assert get_deps().jobs.count_active(stack.company) == 0


@pytest.mark.parametrize("filename", ["../../other-company/x.jpg", "a/../../x.jpg", "./x.jpg", "a\u202egpj.exe"])
def test_path_traversal_in_a_filename_is_refused_before_anything_is_written(stack, filename):
    answer = send(servlet_post(stack, stack.key, post_param(stack.company), {filename: b"\xff\xd8\xff"}))
    assert answer.fault[:2] == ("ipsApiFault", 30001), answer.data
    assert get_deps().jobs.count_active(stack.company) == 0  # no job was opened
    stored = boto3.client("s3").list_objects_v2(Bucket=stack.resources.names["IncomingBucket"])
    assert stored.get("KeyCount", 0) == 0


def test_a_later_post_from_another_address_is_refused(stack):
    first = send(servlet_post(stack, stack.key, post_param(stack.company)))
    later = send(servlet_post(stack, stack.key, post_param(stack.company, job_name=None, job_handle=first.job_handle),
                              {"x.jpg": b"\xff\xd8"}), source_ip="198.51.100.9")
    assert later.fault[:2] == ("ipsApiFault", 30001) and "IP address" in later.fault[2]


def test_a_body_over_the_limit_is_refused_pointing_to_the_presigned_route(stack, monkeypatch):
    monkeypatch.setenv("IPS_WIRE_MAX_BODY_BYTES", "4096")
    answer = send(servlet_post(stack, stack.key, post_param(stack.company), {"big.jpg": b"\xff" * 5000}))
    kind, code, reason = answer.fault
    assert (kind, code) == ("ipsApiFault", 30001) and "POST /v1/upload-jobs" in reason and "4096" in reason
    assert get_deps().jobs.count_active(stack.company) == 0
    monkeypatch.delenv("IPS_WIRE_MAX_BODY_BYTES")  # the local stack: no limit
    assert send(servlet_post(stack, stack.key, post_param(stack.company), {"big.jpg": b"\xff" * 5000})).status == 200


def test_other_scene7_paths_are_ips_faults_and_the_json_api_does_not_list_them(stack):
    answer = send(b"", path="/scene7/NoSuchServlet")
    assert (answer.status, answer.fault[:2]) == (404, ("ipsApiFault", 30003))
    route = route_for(_routes(), "GET", "/scene7/UploadFile")
    event = http_api_event("GET", "/scene7/UploadFile", {}, None, None, "203.0.113.7")
    wrong_method = Answer(invoke_route(route, event, LambdaContext(function_name=route.function)))
    assert (wrong_method.status, wrong_method.headers["allow"]) == (405, "POST")
    document = stack.call("GET", "/v1/openapi.json").body
    assert not [path for path in document["paths"] if path.startswith("/scene7")]


# ---- the fronts: binary bodies arrive intact --------------------------------------------------------


def test_the_local_stack_http_front_passes_binary_multipart_intact(stack):
    from openips_cli.local import ApiRequestHandler

    server = ThreadingHTTPServer(("127.0.0.1", 0), ApiRequestHandler)
    server.routes = _routes()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # over the 1 MiB the local front allows the JSON API: /scene7 has no API Gateway or Lambda cap here
        padding = bytes(range(256)) * (5 * 1024)
        body = servlet_post(stack, stack.key, post_param(stack.company, end=True),
                            {"bin.jpg": jpeg_bytes(77, 55), "pad.bin": padding})
        assert len(body) > 1024 * 1024
        request = urllib.request.Request(f"http://127.0.0.1:{server.server_port}/scene7/UploadFile", data=body,
                                         headers={"Content-Type": "multipart/form-data; boundary=XYZ"})
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own local server
            root = ET.fromstring(response.read())
    finally:
        server.shutdown()
        server.server_close()
    job = root.findtext(f"{{{NS}}}jobHandle")
    stack.drain()
    found = assets_of(stack, job)
    assert (found["bin"]["width"], found["bin"]["height"]) == (77, 55)
    log = stack.job_log(job)
    assert (log["fileSuccessCount"], log["fileErrorCount"]) == (1, 1)  # pad.bin: not an image, but it arrived


def test_the_wsgi_app_passes_binary_multipart_intact(stack):
    from openips_cli.wsgi import api_wsgi_app

    body = servlet_post(stack, stack.key, post_param(stack.company, end=True), {"w.jpg": jpeg_bytes(66, 44)})
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/scene7/UploadFile", "QUERY_STRING": "",
               "CONTENT_TYPE": "multipart/form-data; boundary=XYZ", "CONTENT_LENGTH": str(len(body)),
               "REMOTE_ADDR": "203.0.113.7", "wsgi.input": io.BytesIO(body)}
    statuses: list[str] = []
    data = b"".join(api_wsgi_app()(environ, lambda status, headers: statuses.append(status)))
    assert statuses == ["200 OK"], data
    job = ET.fromstring(data).findtext(f"{{{NS}}}jobHandle")
    stack.drain()
    found = assets_of(stack, job)
    assert (found["w"]["width"], found["w"]["height"]) == (66, 44)
    assert json.dumps(found)  # plain JSON over the JSON API
