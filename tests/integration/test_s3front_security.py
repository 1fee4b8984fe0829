"""The S3 front as an attacker meets it: moto behind it, raw HTTP and botocore's own signer in front.

Every request the front proxies must carry a valid SigV4 signature (header or presigned URL) of
the front's credentials, as S3 requires; refused requests never reach moto; bodies of a
malformed length are refused; nothing the front (or moto behind it) logs holds a signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import socket
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from unittest import mock
from urllib.parse import urlsplit

import boto3
import pytest
import requests
from boto3.s3.transfer import TransferConfig
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from tests.integration.test_s3front import (  # noqa: F401 - local and moto_url are fixtures
    AKID,
    PREFIX,
    REGION,
    SECRET,
    Local,
    error_code,
    local,
    moto_url,
)

EMPTY = hashlib.sha256(b"").hexdigest()


class _Streaming(S3SigV4Auth):
    """botocore's signer with a STREAMING-* payload hash (boto3 picks one only over HTTPS)."""

    def __init__(self, mode: str, *args) -> None:
        super().__init__(*args)
        self.mode = mode

    def payload(self, request):
        return self.mode


def sign(method: str, url: str, body: bytes = b"", headers: dict | None = None, *, akid: str = AKID,
         secret: str = SECRET, unsigned_payload: bool = False, mode: str | None = None,
         when: datetime | None = None) -> dict[str, str]:
    """Headers of a request signed by botocore's S3 signer, as boto3 signs it."""
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    if unsigned_payload:
        request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    credentials = Credentials(akid, secret)
    signer = _Streaming(mode, credentials, "s3", REGION) if mode else S3SigV4Auth(credentials, "s3", REGION)
    moment = (when or datetime.now(UTC)).replace(tzinfo=None)  # botocore's clock is naive UTC
    with mock.patch("botocore.auth.get_current_datetime", return_value=moment):
        signer.add_auth(request)
    return dict(request.headers.items())


def raw(url: str, head: str, body: bytes = b"", timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as written (lengths a client library would refuse to send); status, headers, body."""
    from http.client import HTTPResponse

    split = urlsplit(url)
    with socket.create_connection((split.hostname, split.port), timeout=timeout) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        response = HTTPResponse(sock, method=head.split()[0])
        response.begin()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def code_of(body: bytes) -> str:
    """The S3 error code of an answer's body; "" when it is not S3's XML."""
    try:
        return ET.fromstring(body).findtext("Code") or ""
    except ET.ParseError:
        return ""


def stored(local: Local, key: str) -> bytes | None:
    try:
        return local.moto_s3.get_object(Bucket=local.bucket, Key=key)["Body"].read()
    except local.moto_s3.exceptions.NoSuchKey:
        return None


# ---- attack 1: unsigned and badly signed requests ---------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body"), [
    ("PUT", "incoming/c-2/job-9/evil.jpg", b"another company's asset"),  # into another tenant's prefix
    ("GET", "", b""),  # ListObjects
    ("GET", "?list-type=2", b""),
    ("GET", "kept.txt", b""),
    ("DELETE", "kept.txt", b""),
    ("POST", "?delete", b"<Delete><Object><Key>kept.txt</Key></Object></Delete>"),
])
def test_unsigned_requests_are_refused_before_moto(local: Local, method: str, path: str, body: bytes):
    local.moto_s3.put_object(Bucket=local.bucket, Key="kept.txt", Body=b"kept")
    local.events()  # drop the event of the object put here
    url = f"{local.front_url}/{local.bucket}" + (f"/{path}" if path and not path.startswith("?") else path)
    response = requests.request(method, url, data=body, timeout=10)
    assert (response.status_code, code_of(response.content)) == (403, "AccessDenied"), response.text
    assert response.headers["Content-Type"] == "application/xml"
    assert b"ListBucketResult" not in response.content
    assert stored(local, "kept.txt") == b"kept"
    assert stored(local, "incoming/c-2/job-9/evil.jpg") is None
    assert local.events() == []


def test_moto_s_own_api_is_not_reachable_through_the_front(local: Local):
    response = requests.get(f"{local.front_url}/moto-api/data.json", timeout=10)
    assert (response.status_code, error_code(response)) == (403, "AccessDenied")


@pytest.mark.parametrize(("case", "status", "code"), [
    ("wrong secret", 403, "SignatureDoesNotMatch"),
    ("unknown access key", 403, "InvalidAccessKeyId"),
    ("signed for another key", 403, "SignatureDoesNotMatch"),
    ("unsigned x-amz header", 403, "AccessDenied"),
    ("signed 20 minutes ago", 403, "RequestTimeTooSkewed"),
    ("body swapped", 400, "XAmzContentSHA256Mismatch"),
    ("signature version 2", 400, "InvalidRequest"),
])
def test_badly_signed_requests_are_refused_before_moto(local: Local, case: str, status: int, code: str):
    key, body = PREFIX + "photo.jpg", b"jpeg bytes"
    url = f"{local.front_url}/{local.bucket}/{key}"
    options: dict = {}
    if case == "wrong secret":
        options["secret"] = "not the secret"
    elif case == "unknown access key":
        options["akid"] = "AKIDSOMEONEELSE"
    elif case == "signed 20 minutes ago":
        options["when"] = datetime.now(UTC) - timedelta(minutes=20)
    headers = sign("PUT", url.replace("photo.jpg", "other.jpg") if case == "signed for another key" else url,
                   body, **options)
    if case == "unsigned x-amz header":
        headers["x-amz-meta-owner"] = "eve"
    elif case == "body swapped":
        body = b"other byte"  # the same length, not the signed SHA-256
    elif case == "signature version 2":
        headers["Authorization"] = f"AWS {AKID}:frJIUN8DYpKDtOLCwo//yllqDzg="
    response = requests.put(url, data=body, headers=headers, timeout=10)
    assert (response.status_code, code_of(response.content)) == (status, code), response.text
    assert stored(local, key) is None and local.events() == []


@pytest.mark.parametrize("payload_signing", [True, False], ids=["sha256-payload", "unsigned-payload"])
def test_boto3_through_the_front_still_works(local: Local, payload_signing: bool):
    s3 = boto3.client("s3", endpoint_url=local.front_url, region_name=REGION, aws_access_key_id=AKID,
                      aws_secret_access_key=SECRET, config=Config(signature_version="s3v4", s3={
                          "addressing_style": "path", "payload_signing_enabled": payload_signing}))
    s3.put_object(Bucket=local.bucket, Key="a/one.txt", Body=b"one", Metadata={"owner": "me"})
    big = bytes(range(256)) * (6 * 1024 * 1024 // 256)
    s3.upload_fileobj(io.BytesIO(big), local.bucket, "a/big.bin",
                      Config=TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024))
    s3.copy_object(Bucket=local.bucket, Key="a/copy.txt", CopySource={"Bucket": local.bucket, "Key": "a/one.txt"})
    assert s3.get_object(Bucket=local.bucket, Key="a/big.bin", Range="bytes=256-511")["Body"].read() == big[:256]
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=local.bucket, Prefix="a/")["Contents"]}
    assert listed == {"a/one.txt", "a/big.bin", "a/copy.txt"}
    assert stored(local, "a/big.bin") == big
    s3.delete_objects(Bucket=local.bucket, Delete={"Objects": [{"Key": "a/copy.txt"}]})
    assert stored(local, "a/copy.txt") is None and stored(local, "a/one.txt") == b"one"


def aws_chunked(headers: dict[str, str], chunks: list[bytes], mode: str, bad_chunk: int | None = None) -> bytes:
    """An aws-chunked body (sigv4-streaming, sigv4-streaming-trailers) chained from the seed signature."""
    timestamp = headers["X-Amz-Date"]
    scope = f"{timestamp[:8]}/{REGION}/s3/aws4_request"
    key = hmac.new(f"AWS4{SECRET}".encode(), timestamp[:8].encode(), hashlib.sha256).digest()
    for part in (REGION, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    previous = headers["Authorization"].rsplit("Signature=", 1)[1]
    signed, out = mode.startswith("STREAMING-AWS4"), bytearray()
    for index, data in enumerate([*chunks, b""]):
        if signed:
            string = "\n".join(("AWS4-HMAC-SHA256-PAYLOAD", timestamp, scope, previous, EMPTY,
                                hashlib.sha256(data).hexdigest()))
            previous = hmac.new(key, string.encode(), hashlib.sha256).hexdigest()
            shown = "0" * 64 if index == bad_chunk else previous
            out += f"{len(data):x};chunk-signature={shown}\r\n".encode()
        else:
            out += f"{len(data):x}\r\n".encode()
        out += data + b"\r\n" if data else b""
    if mode.endswith("TRAILER"):
        trailer = f"x-amz-checksum-sha256:{base64.b64encode(hashlib.sha256(b''.join(chunks)).digest()).decode()}\n"
        out += trailer.replace("\n", "\r\n").encode()
        if signed:
            string = "\n".join(("AWS4-HMAC-SHA256-TRAILER", timestamp, scope, previous,
                                hashlib.sha256(trailer.encode()).hexdigest()))
            out += f"x-amz-trailer-signature:{hmac.new(key, string.encode(), hashlib.sha256).hexdigest()}\r\n".encode()
    return bytes(out + b"\r\n")


@pytest.mark.parametrize("mode", ["STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
                                  "STREAMING-UNSIGNED-PAYLOAD-TRAILER"])
def test_chunked_payloads_are_checked_chunk_by_chunk(local: Local, mode: str):
    chunks = [b"a" * 8192, b"b" * 100]
    for key, bad_chunk in (("good.bin", None), ("bad.bin", 1)):
        url = f"{local.front_url}/{local.bucket}/{PREFIX}{key}"
        headers = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(8292)}
        if mode.endswith("TRAILER"):
            headers["x-amz-trailer"] = "x-amz-checksum-sha256"
        headers = sign("PUT", url, headers=headers, mode=mode)
        response = requests.put(url, data=aws_chunked(headers, chunks, mode, bad_chunk), headers=headers, timeout=10)
        if bad_chunk is None or mode.startswith("STREAMING-UNSIGNED"):
            assert response.status_code == 200, response.text
            assert stored(local, PREFIX + key) == b"".join(chunks)
        else:
            assert (response.status_code, error_code(response)) == (403, "SignatureDoesNotMatch")
            assert stored(local, PREFIX + key) is None


def test_presigned_urls_are_checked_and_expire(local: Local):
    local.moto_s3.put_object(Bucket=local.bucket, Key="assets/a.tif", Body=b"tiff bytes")
    params = {"Bucket": local.bucket, "Key": "assets/a.tif"}
    url = local.front_s3.generate_presigned_url("get_object", Params=params, ExpiresIn=300)
    assert requests.get(url, timeout=10).content == b"tiff bytes"
    # A download's Content-Disposition (RFC 5987, as storage.content_disposition writes it) signs as sent.
    disposition = "attachment; filename=\"_t_ (1).tif\"; filename*=UTF-8''%C3%A9t%C3%A9%20%22%3B%27*~+.tif"
    named = local.front_s3.generate_presigned_url("get_object", ExpiresIn=300,
                                                  Params={**params, "ResponseContentDisposition": disposition})
    response = requests.get(named, timeout=10)
    assert (response.status_code, response.headers["Content-Disposition"]) == (200, disposition), response.text
    two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=two_hours_ago):
        expired = local.front_s3.generate_presigned_url("get_object", Params=params, ExpiresIn=3600)
    response = requests.get(expired, timeout=10)
    assert (response.status_code, error_code(response)) == (403, "AccessDenied")
    root = ET.fromstring(response.content)
    assert root.findtext("Message") == "Request has expired" and root.findtext("X-Amz-Expires") == "3600"
    for tampered in (url.replace("assets/a.tif", "assets/b.tif"),
                     url.replace("X-Amz-Expires=300", "X-Amz-Expires=9000")):
        response = requests.get(tampered, timeout=10)
        assert (response.status_code, error_code(response)) == (403, "SignatureDoesNotMatch")
    put = local.front_s3.generate_presigned_url("put_object", ExpiresIn=300,
                                                Params={"Bucket": local.bucket, "Key": PREFIX + "p.jpg"})
    assert requests.put(put, data=b"put", timeout=10).status_code == 200
    assert stored(local, PREFIX + "p.jpg") == b"put"
    elsewhere = put.replace("incoming/c-1/job-1/p.jpg", "incoming/c-2/job-9/p.jpg")
    assert requests.put(elsewhere, data=b"evil", timeout=10).status_code == 403
    assert stored(local, "incoming/c-2/job-9/p.jpg") is None


def test_cors_preflights_are_answered_unsigned(local: Local):
    local.moto_s3.put_bucket_cors(Bucket=local.bucket, CORSConfiguration={"CORSRules": [
        {"AllowedMethods": ["POST"], "AllowedOrigins": ["*"], "AllowedHeaders": ["*"], "MaxAgeSeconds": 3000}]})
    response = requests.options(f"{local.front_url}/{local.bucket}", timeout=10, headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] in ("*", "https://app.example")


def test_an_unsigned_body_is_refused_before_it_is_sent(local: Local):
    # With Expect: 100-continue the refusal comes instead of "100 Continue": the body is never read.
    status, headers, body = raw(local.front_url, f"PUT /{local.bucket}/{PREFIX}huge.bin HTTP/1.1\nHost: x\n"
                                "Content-Length: 1073741824\nExpect: 100-continue\n")
    assert (status, code_of(body), headers.get("connection")) == (403, "AccessDenied", "close")


# ---- attack 2: request lengths ------------------------------------------------------------------


@pytest.mark.parametrize("length", ["-1", "abc", "+5", "5\nContent-Length: 6"])
def test_a_malformed_content_length_is_refused(local: Local, length: str):
    url = f"{local.front_url}/{local.bucket}/{PREFIX}neg.jpg"
    headers = sign("PUT", url, unsigned_payload=True)  # the signature holds: only the length is wrong
    head = "".join(f"{k}: {v}\n" for k, v in headers.items())
    status, answer, body = raw(local.front_url, f"PUT /{local.bucket}/{PREFIX}neg.jpg HTTP/1.1\n"
                               f"Host: {urlsplit(url).netloc}\n{head}Content-Length: {length}\n", b"hello")
    assert (status, code_of(body), answer.get("connection")) == (400, "BadRequest", "close")
    form = local.form()
    prepared = requests.Request("POST", form["url"], data=form["fields"], files={"file": ("f.jpg", b"f")}).prepare()
    head = "".join(f"{k}: {v}\n" for k, v in prepared.headers.items() if k != "Content-Length")
    status, answer, body = raw(local.front_url, f"POST /{local.bucket} HTTP/1.1\nHost: x\n{head}"
                               f"Content-Length: {length}\n", prepared.body)
    assert (status, code_of(body)) == (400, "BadRequest")
    assert stored(local, PREFIX + "neg.jpg") is None and stored(local, PREFIX + "f.jpg") is None


def test_a_chunked_transfer_encoding_is_not_read(local: Local):
    # The front once de-chunked bodies and trusted a chunk size of -5 (read to EOF); S3 takes no chunks.
    url = f"{local.front_url}/{local.bucket}/{PREFIX}chunked.jpg"
    head = "".join(f"{k}: {v}\n" for k, v in sign("PUT", url, unsigned_payload=True).items())
    status, _, body = raw(local.front_url, f"PUT /{local.bucket}/{PREFIX}chunked.jpg HTTP/1.1\n"
                          f"Host: {urlsplit(url).netloc}\n{head}Transfer-Encoding: chunked\n", b"-5\r\nhello\r\n",
                          timeout=5)
    assert (status, code_of(body)) == (501, "NotImplemented")
    assert stored(local, PREFIX + "chunked.jpg") is None


# ---- attack 3: logs -------------------------------------------------------------------------------------


def test_nothing_logged_holds_a_signature_or_a_credential(local: Local, caplog: pytest.LogCaptureFixture):
    local.moto_s3.put_object(Bucket=local.bucket, Key="assets/a.tif", Body=b"tiff bytes")
    url = local.front_s3.generate_presigned_url("get_object", ExpiresIn=300,
                                                Params={"Bucket": local.bucket, "Key": "assets/a.tif"})
    signature = url.rsplit("X-Amz-Signature=", 1)[1]
    form = local.form()
    with caplog.at_level("DEBUG", logger="openips.local.s3"), caplog.at_level("DEBUG", logger="werkzeug"):
        assert requests.get(url, timeout=10).status_code == 200
        requests.get(url.replace("a.tif", "b.tif"), timeout=10)  # refused: a signature mismatch
        local.front_s3.put_object(Bucket=local.bucket, Key="via-front.txt", Body=b"hello")
        requests.post(form["url"], data={**form["fields"], "x-amz-signature": "0" * 64}, files={"file": ("s", b"s")})
    lines = [r.getMessage() for r in caplog.records if r.name in ("openips.local.s3", "werkzeug")]
    assert any("assets/a.tif" in line for line in lines)  # the requests were logged, without their secrets
    text = "\n".join(lines)
    for secret in ("X-Amz-Signature", "X-Amz-Credential", "Signature=", signature, AKID, SECRET,
                   form["fields"]["policy"], form["fields"]["x-amz-signature"]):
        assert secret not in text
