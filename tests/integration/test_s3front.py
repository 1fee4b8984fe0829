"""The local S3 front over real sockets: moto in server mode behind it, requests and boto3 in front."""

from __future__ import annotations

import json
import tempfile
import threading
import tracemalloc
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from openips_cli.s3front import S3Front, UploadRecord

AKID, SECRET, REGION = "AKIDLOCALSTACK", "local-stack-secret", "us-east-1"
PREFIX = "incoming/c-1/job-1/"
S3_CONFIG = Config(signature_version="s3v4", s3={"addressing_style": "path"})


def client(service: str, endpoint: str):
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id=AKID,
                        aws_secret_access_key=SECRET, config=S3_CONFIG if service == "s3" else None)


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@dataclass
class Local:
    moto_url: str
    front_url: str
    front: S3Front
    bucket: str
    queue_url: str
    uploads: list[UploadRecord] = field(default_factory=list)

    @property
    def moto_s3(self):
        return client("s3", self.moto_url)

    @property
    def front_s3(self):
        return client("s3", self.front_url)

    def form(self, conditions=None, expires_in=600, fields=None, key=PREFIX + "${filename}"):
        """A presigned POST form as the API hands it out: its URL is the front's."""
        if conditions is None:
            conditions = [["starts-with", "$key", PREFIX], ["content-length-range", 0, 1024 * 1024]]
        return self.front_s3.generate_presigned_post(self.bucket, key, Fields=fields, Conditions=conditions,
                                                     ExpiresIn=expires_in)

    def exists(self, key: str) -> bool:
        try:
            self.moto_s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError:
            return False
        return True

    def events(self) -> list[dict]:
        sqs = client("sqs", self.moto_url)
        messages = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
        bodies = [json.loads(m["Body"]) for m in messages]
        return [record for body in bodies for record in body.get("Records", [])]


@pytest.fixture
def local(moto_url: str) -> Iterator[Local]:
    bucket = f"uploads-{uuid.uuid4().hex[:8]}"
    s3, sqs = client("s3", moto_url), client("sqs", moto_url)
    s3.create_bucket(Bucket=bucket)
    queue_url = sqs.create_queue(QueueName=f"process-{bucket}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
    sqs.purge_queue(QueueUrl=queue_url)  # drop the s3:TestEvent the configuration sent
    uploads: list[UploadRecord] = []
    front = S3Front(moto_url, {AKID: SECRET}, REGION, on_upload=uploads.append)
    front_url = front.start()
    try:
        yield Local(moto_url, front_url, front, bucket, queue_url, uploads)
    finally:
        front.stop()


def error_code(response: requests.Response) -> str:
    assert response.headers["Content-Type"] == "application/xml"
    root = ET.fromstring(response.content)
    assert root.tag == "Error" and root.findtext("RequestId")
    return root.findtext("Code") or ""


def test_an_upload_lands_in_moto_fires_the_notification_and_is_reported(local: Local):
    form = local.form()
    assert form["url"] == f"{local.front_url}/{local.bucket}"
    response = requests.post(form["url"], data=form["fields"], files={"file": ("photo.jpg", b"jpeg bytes")})
    assert response.status_code == 204, response.text
    key = PREFIX + "photo.jpg"
    head = local.moto_s3.head_object(Bucket=local.bucket, Key=key)
    assert head["ContentLength"] == 10
    assert response.headers["ETag"] == head["ETag"]
    assert response.headers["Location"] == f"{local.front_url}/{local.bucket}/incoming%2Fc-1%2Fjob-1%2Fphoto.jpg"
    (record,) = local.uploads
    assert (record.bucket, record.key, record.size, record.client_ip) == (local.bucket, key, 10, "127.0.0.1")
    assert f'"{record.etag}"' == head["ETag"]
    (event,) = local.events()
    assert event["eventName"].startswith("ObjectCreated:")
    assert event["s3"]["bucket"]["name"] == local.bucket and event["s3"]["object"]["size"] == 10


@pytest.mark.parametrize(("case", "status", "code"), [
    ("key outside the prefix", 403, "AccessDenied"),
    ("too large", 400, "EntityTooLarge"),
    ("too small", 400, "EntityTooSmall"),
    ("tampered policy", 403, "SignatureDoesNotMatch"),
    ("expired", 403, "AccessDenied"),
    ("extra field", 403, "AccessDenied"),
    ("wrong bucket", 403, "AccessDenied"),
    ("no file", 400, "InvalidArgument"),
    ("key after file", 400, "InvalidArgument"),
])
def test_refused_uploads_store_nothing(local: Local, case: str, status: int, code: str):
    form = local.form(conditions=[["starts-with", "$key", PREFIX], ["content-length-range", 2, 100]],
                      expires_in=-60 if case == "expired" else 600)
    fields, url = dict(form["fields"]), form["url"]
    body, files = b"0123456789", None
    if case == "key outside the prefix":
        fields["key"] = "incoming/c-2/job-9/${filename}"
    elif case == "too large":
        body = b"x" * 101
    elif case == "too small":
        body = b"x"
    elif case == "tampered policy":
        import base64
        document = json.loads(base64.b64decode(fields["policy"]))
        document["conditions"] = [c for c in document["conditions"] if c != ["starts-with", "$key", PREFIX]]
        fields["policy"] = base64.b64encode(json.dumps(document).encode()).decode()
    elif case == "extra field":
        fields["x-amz-meta-owner"] = "eve"
    elif case == "wrong bucket":
        other = f"other-{uuid.uuid4().hex[:8]}"
        local.moto_s3.create_bucket(Bucket=other)
        url = f"{local.front_url}/{other}"
    elif case == "no file":
        files = [("x-ignore-submit", (None, "Upload"))]  # multipart, but no file part
    elif case == "key after file":
        key = fields.pop("key")
        files = [("file", ("photo.jpg", body)), ("key", (None, key))]
    response = requests.post(url, data=fields, files=files if files is not None else {"file": ("photo.jpg", body)})
    assert response.status_code == status, response.text
    assert error_code(response) == code
    assert not local.exists(PREFIX + "photo.jpg")
    assert local.uploads == []
    assert local.events() == []


def test_fields_after_the_file_are_ignored(local: Local):
    form = local.form()
    files = [("file", ("late.jpg", b"abc")), ("x-amz-meta-late", (None, "not covered by the policy"))]
    response = requests.post(form["url"], data=form["fields"], files=files)
    assert response.status_code == 204, response.text
    assert local.moto_s3.head_object(Bucket=local.bucket, Key=PREFIX + "late.jpg")["Metadata"] == {}


def test_success_action_status_201_answers_a_post_response(local: Local):
    form = local.form(fields={"success_action_status": "201"},
                      conditions=[["starts-with", "$key", PREFIX], {"success_action_status": "201"}])
    response = requests.post(form["url"], data=form["fields"], files={"file": ("a b.png", b"png")})
    assert response.status_code == 201, response.text
    root = ET.fromstring(response.content)
    assert root.tag == "PostResponse"
    assert root.findtext("Bucket") == local.bucket and root.findtext("Key") == PREFIX + "a b.png"
    assert root.findtext("ETag") == response.headers["ETag"] == local.moto_s3.head_object(
        Bucket=local.bucket, Key=PREFIX + "a b.png")["ETag"]
    assert root.findtext("Location") == f"{local.front_url}/{local.bucket}/incoming%2Fc-1%2Fjob-1%2Fa%20b.png"


def test_success_action_redirect_answers_303_with_bucket_key_and_etag(local: Local):
    target = "https://app.example/uploaded?job=1"
    form = local.form(fields={"success_action_redirect": target},
                      conditions=[["starts-with", "$key", PREFIX], ["starts-with", "$success_action_redirect", ""]])
    response = requests.post(form["url"], data=form["fields"], files={"file": ("r.jpg", b"r")},
                             allow_redirects=False)
    assert response.status_code == 303, response.text
    location = urlsplit(response.headers["Location"])
    assert location.netloc == "app.example" and location.path == "/uploaded"
    query = parse_qs(location.query)
    assert query == {"job": ["1"], "bucket": [local.bucket], "key": [PREFIX + "r.jpg"],
                     "etag": [response.headers["ETag"]]}


def test_the_content_type_the_policy_allows_is_stored(local: Local):
    form = local.form(fields={"Content-Type": "image/jpeg"},
                      conditions=[["starts-with", "$key", PREFIX], ["eq", "$Content-Type", "image/jpeg"]])
    response = requests.post(form["url"], data=form["fields"], files={"file": ("c.jpg", b"c")})
    assert response.status_code == 204, response.text
    assert local.moto_s3.head_object(Bucket=local.bucket, Key=PREFIX + "c.jpg")["ContentType"] == "image/jpeg"
    refused = requests.post(form["url"], data={**form["fields"], "Content-Type": "text/html"},
                            files={"file": ("d.jpg", b"d")})
    assert (refused.status_code, error_code(refused)) == (403, "AccessDenied")


def test_presigned_get_head_and_api_calls_go_through_to_moto(local: Local):
    local.moto_s3.put_object(Bucket=local.bucket, Key="assets/a.tif", Body=b"tiff bytes", ContentType="image/tiff")
    url = local.front_s3.generate_presigned_url("get_object", Params={"Bucket": local.bucket, "Key": "assets/a.tif"},
                                                ExpiresIn=300)
    assert url.startswith(local.front_url)
    got = requests.get(url)
    assert (got.status_code, got.content, got.headers["Content-Type"]) == (200, b"tiff bytes", "image/tiff")
    head_url = local.front_s3.generate_presigned_url("head_object", ExpiresIn=300,
                                                     Params={"Bucket": local.bucket, "Key": "assets/a.tif"})
    head = requests.head(head_url)
    assert (head.status_code, head.headers["Content-Length"], head.content) == (200, "10", b"")
    # An anonymous request is refused by the front, as S3 refuses it for a private bucket.
    assert requests.head(f"{local.front_url}/{local.bucket}/assets/a.tif").status_code == 403
    assert local.front_s3.head_object(Bucket=local.bucket, Key="assets/a.tif")["ContentLength"] == 10
    missing = requests.get(local.front_s3.generate_presigned_url(
        "get_object", Params={"Bucket": local.bucket, "Key": "nothing-here"}, ExpiresIn=300))
    assert (missing.status_code, ET.fromstring(missing.content).findtext("Code")) == (404, "NoSuchKey")
    # boto3 pointed at the front: a PUT with a body, a listing, a POST ?delete.
    local.front_s3.put_object(Bucket=local.bucket, Key="via-front.txt", Body=b"hello")
    listed = local.front_s3.list_objects_v2(Bucket=local.bucket)["Contents"]
    assert {o["Key"] for o in listed} == {"assets/a.tif", "via-front.txt"}
    local.front_s3.delete_objects(Bucket=local.bucket, Delete={"Objects": [{"Key": "via-front.txt"}]})
    assert not local.exists("via-front.txt")
    assert local.uploads == []


def test_concurrent_uploads(local: Local):
    form = local.form()
    results: list[int] = []

    def upload(index: int) -> None:
        response = requests.post(form["url"], data=form["fields"],
                                 files={"file": (f"p{index}.jpg", bytes([index]) * (50_000 + index))})
        results.append(response.status_code)

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [204] * 6
    assert sorted(r.size for r in local.uploads) == [50_000 + i for i in range(6)]


def multipart_file(fields: dict, filename: str, size: int) -> tuple[tempfile.SpooledTemporaryFile, str, int]:
    """A multipart body written to disk, so that the client side does not hold it in memory."""
    boundary = uuid.uuid4().hex
    out = tempfile.TemporaryFile()
    for name, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
              "Content-Type: application/octet-stream\r\n\r\n".encode())
    chunk = b"\xab" * (1024 * 1024)
    for offset in range(0, size, len(chunk)):
        out.write(chunk[: min(len(chunk), size - offset)])
    out.write(f"\r\n--{boundary}--\r\n".encode())
    length = out.tell()
    out.seek(0)
    return out, f"multipart/form-data; boundary={boundary}", length


def post_streamed(url: str, fields: dict, filename: str, size: int) -> requests.Response:
    body, content_type, length = multipart_file(fields, filename, size)
    with body:
        return requests.post(url, data=body, headers={"Content-Type": content_type, "Content-Length": str(length)})


def traced_peak(action) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = action()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_20_mb_upload_is_streamed(local: Local):
    size = 20 * 1024 * 1024
    # moto itself holds an uploaded body in memory: the baseline is a PutObject straight to moto.
    with tempfile.TemporaryFile() as direct:
        direct.write(b"\xab" * size)
        direct.seek(0)
        _, baseline = traced_peak(lambda: local.moto_s3.put_object(Bucket=local.bucket, Key="direct", Body=direct))
    form = local.form(conditions=[["starts-with", "$key", PREFIX], ["content-length-range", 0, 64 * 1024 * 1024]])
    response, peak = traced_peak(lambda: post_streamed(form["url"], form["fields"], "big.tif", size))
    assert response.status_code == 204, response.text
    assert peak < baseline + 8 * 1024 * 1024, f"front {peak / 2**20:.1f} MiB, moto alone {baseline / 2**20:.1f} MiB"
    assert local.moto_s3.head_object(Bucket=local.bucket, Key=PREFIX + "big.tif")["ContentLength"] == size
    assert local.uploads[0].size == size


def test_a_refused_20_mb_upload_is_read_without_being_held(local: Local):
    size = 20 * 1024 * 1024
    form = local.form(conditions=[["starts-with", "$key", PREFIX], ["content-length-range", 0, 1024 * 1024]])
    response, peak = traced_peak(lambda: post_streamed(form["url"], form["fields"], "big.tif", size))
    assert (response.status_code, error_code(response)) == (400, "EntityTooLarge")
    root = ET.fromstring(response.content)
    assert (root.findtext("ProposedSize"), root.findtext("MaxSizeAllowed")) == (str(size), str(1024 * 1024))
    assert peak < 8 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB for a {size / 2**20:.0f} MiB refused upload"
    assert not local.exists(PREFIX + "big.tif")


def test_past_the_drain_limit_the_error_is_sent_and_the_connection_closed(moto_url: str, local: Local):
    form = local.form(conditions=[["starts-with", "$key", PREFIX], ["content-length-range", 0, 1024]])
    with S3Front(moto_url, {AKID: SECRET}, REGION, drain_limit=256 * 1024) as front:
        url = f"{front.url}/{local.bucket}"
        try:
            response = post_streamed(url, form["fields"], "huge.bin", 8 * 1024 * 1024)
        except requests.ConnectionError:
            response = None  # a client still sending when the socket closes may see a reset, as with S3
        if response is not None:
            assert (response.status_code, error_code(response)) == (400, "EntityTooLarge")
            assert response.headers["Connection"] == "close"
            assert int(ET.fromstring(response.content).findtext("ProposedSize")) >= 8 * 1024 * 1024
    assert not local.exists(PREFIX + "huge.bin")


def test_forwarded_for_is_honoured_only_when_trusted(moto_url: str, local: Local):
    for trusted, expected in ((False, "127.0.0.1"), (True, "203.0.113.9")):
        seen: list[UploadRecord] = []
        with S3Front(moto_url, {AKID: SECRET}, REGION, on_upload=seen.append, trust_forwarded_for=trusted) as front:
            form = local.form()
            response = requests.post(f"{front.url}/{local.bucket}", data=form["fields"],
                                     files={"file": ("f.jpg", b"f")},
                                     headers={"X-Forwarded-For": "203.0.113.9, 10.0.0.1"})
            assert response.status_code == 204, response.text
        assert [r.client_ip for r in seen] == [expected]


def test_refusals_are_logged_without_secrets(local: Local, caplog: pytest.LogCaptureFixture):
    form = local.form()
    fields = {**form["fields"], "x-amz-signature": "0" * 64}
    with caplog.at_level("INFO", logger="openips.local.s3"):
        response = requests.post(form["url"], data=fields, files={"file": ("s.jpg", b"s")})
    assert error_code(response) == "SignatureDoesNotMatch"
    (line,) = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert "SignatureDoesNotMatch" in line and "127.0.0.1" in line
    for secret in (form["fields"]["policy"], form["fields"]["x-amz-signature"], AKID, SECRET):
        assert secret not in caplog.text


def test_not_a_form_and_no_file(local: Local):
    response = requests.post(f"{local.front_url}/{local.bucket}", data=b"<xml/>",
                             headers={"Content-Type": "application/xml"})
    assert (response.status_code, error_code(response)) == (400, "RequestIsNotMultiPartContent")
    broken = requests.post(f"{local.front_url}/{local.bucket}", data=b"garbage",
                           headers={"Content-Type": "multipart/form-data; boundary=xyz"})
    assert (broken.status_code, error_code(broken)) == (400, "MalformedPOSTRequest")
