"""The S3 front's SigV4 request verifier, without sockets: AWS's published examples, then each refusal.

The examples (credentials, requests and signatures) are those of Amazon S3's API reference:
"Signature Calculations for the Authorization Header" (GET Object), "Query String Request
Authentication" (presigned GET) and "Transferring Payload in Multiple Chunks" (PUT Object).
"""

from __future__ import annotations

import hashlib
import hmac
import io
from datetime import UTC, datetime, timedelta

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from openips_cli.s3front import BodyReader, S3Error, SignedRequest, authenticate_request, verify_payload

AKID, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
CREDENTIALS = {AKID: SECRET}
NOW = datetime(2013, 5, 24, tzinfo=UTC)
SCOPE = f"{AKID}/20130524/us-east-1/s3/aws4_request"
EMPTY = hashlib.sha256(b"").hexdigest()

GET_HEADERS = [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"), ("x-amz-content-sha256", EMPTY),
               ("x-amz-date", "20130524T000000Z")]
GET_AUTH = (f"AWS4-HMAC-SHA256 Credential={SCOPE},SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
PRESIGNED = ("/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2F"
             "us-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
             "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
PRESIGNED_HOST = [("Host", "examplebucket.s3.amazonaws.com")]
CHUNKED_HEADERS = [
    ("Host", "s3.amazonaws.com"), ("x-amz-date", "20130524T000000Z"), ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
    ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"), ("Content-Encoding", "aws-chunked"),
    ("x-amz-decoded-content-length", "66560"), ("Content-Length", "66824"),
    ("Authorization", f"AWS4-HMAC-SHA256 Credential={SCOPE},SignedHeaders=content-encoding;content-length;host;"
                      "x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,"
                      "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")]
CHUNKED_BODY = (b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n"
                + b"a" * 65536 + b"\r\n"
                + b"400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n"
                + b"a" * 1024 + b"\r\n"
                + b"0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n")


def refused(method="GET", target="/test.txt", headers=(*GET_HEADERS, ("Authorization", GET_AUTH)),
            now=NOW, credentials=None) -> S3Error:
    with pytest.raises(S3Error) as info:
        authenticate_request(method, target, list(headers), credentials or CREDENTIALS, now)
    return info.value


def replaced(headers, name: str, value: str | None) -> list[tuple[str, str]]:
    kept = [(k, v) for k, v in headers if k.lower() != name.lower()]
    return kept if value is None else [*kept, (name, value)]


def test_the_aws_header_example_verifies():
    signed = authenticate_request("GET", "/test.txt", [*GET_HEADERS, ("Authorization", GET_AUTH)], CREDENTIALS, NOW)
    assert (signed.access_key_id, signed.payload, signed.presigned) == (AKID, EMPTY, False)
    verify_payload(signed, io.BytesIO(b""))
    assert "f0e8bd" not in repr(signed)  # the signature and signing key stay out of reprs (and logs)


def test_the_aws_presigned_example_verifies_until_it_expires():
    signed = authenticate_request("GET", PRESIGNED, PRESIGNED_HOST, CREDENTIALS, NOW + timedelta(hours=23))
    assert (signed.payload, signed.presigned) == ("UNSIGNED-PAYLOAD", True)
    error = refused(target=PRESIGNED, headers=PRESIGNED_HOST, now=NOW + timedelta(seconds=86401))
    assert (error.status, error.code, error.message) == (403, "AccessDenied", "Request has expired")
    assert dict(error.details) == {"X-Amz-Expires": "86400", "Expires": "2013-05-25T00:00:00Z",
                                   "ServerTime": "2013-05-25T00:00:01Z"}
    early = refused(target=PRESIGNED, headers=PRESIGNED_HOST, now=NOW - timedelta(hours=1))
    assert (early.code, early.message) == ("AccessDenied", "Request is not valid yet")


def test_the_aws_chunked_upload_example_verifies_chunk_by_chunk():
    signed = authenticate_request("PUT", "/examplebucket/chunkObject.txt", CHUNKED_HEADERS, CREDENTIALS, NOW)
    body = io.BytesIO(CHUNKED_BODY)
    verify_payload(signed, body, "66560")
    assert body.tell() == 0 and len(CHUNKED_BODY) == 66824


@pytest.mark.parametrize(("body", "decoded", "code"), [
    (CHUNKED_BODY.replace(b"a" * 1024, b"b" + b"a" * 1023), "66560", "SignatureDoesNotMatch"),  # a chunk changed
    (CHUNKED_BODY.replace(b"\r\n0;", b"\r\n1;chunk-signature=" + b"0" * 64 + b"\r\nb\r\n0;", 1), "66560",
     "SignatureDoesNotMatch"),  # a chunk inserted
    (CHUNKED_BODY + b"extra", "66560", "IncompleteBody"),
    (CHUNKED_BODY[:-10], "66560", "IncompleteBody"),
    (CHUNKED_BODY, "66561", "IncompleteBody"),
    (CHUNKED_BODY, None, "MissingContentLength"),
    (b"-1;chunk-signature=" + b"0" * 64 + b"\r\n", "66560", "IncompleteBody"),  # a negative size is no size
])
def test_chunked_bodies_that_were_not_signed_are_refused(body: bytes, decoded: str | None, code: str):
    signed = authenticate_request("PUT", "/examplebucket/chunkObject.txt", CHUNKED_HEADERS, CREDENTIALS, NOW)
    with pytest.raises(S3Error) as info:
        verify_payload(signed, io.BytesIO(body), decoded)
    assert info.value.code == code


def trailer_body(signed: SignedRequest, data: bytes, checksum: str) -> bytes:
    """A STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER body, signed as sigv4-streaming-trailers says."""
    key = hmac.new(f"AWS4{SECRET}".encode(), signed.timestamp[:8].encode(), hashlib.sha256).digest()
    for part in (b"us-east-1", b"s3", b"aws4_request"):
        key = hmac.new(key, part, hashlib.sha256).digest()

    def sign(kind: str, previous: str, *hashes: str) -> str:
        string = "\n".join((kind, signed.timestamp, signed.scope, previous, *hashes))
        return hmac.new(key, string.encode(), hashlib.sha256).hexdigest()

    first = sign("AWS4-HMAC-SHA256-PAYLOAD", signed.signature, EMPTY, hashlib.sha256(data).hexdigest())
    final = sign("AWS4-HMAC-SHA256-PAYLOAD", first, EMPTY, EMPTY)
    trailer = f"x-amz-checksum-crc32:{checksum}\n"
    signature = sign("AWS4-HMAC-SHA256-TRAILER", final, hashlib.sha256(trailer.encode()).hexdigest())
    return (f"{len(data):x};chunk-signature={first}\r\n".encode() + data + b"\r\n"
            + f"0;chunk-signature={final}\r\n".encode() + trailer.replace("\n", "\r\n").encode()
            + f"x-amz-trailer-signature:{signature}\r\n\r\n".encode())


class _TrailerSigner(S3SigV4Auth):
    def payload(self, request):
        return "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"


def test_a_trailer_is_covered_by_its_own_signature():
    request = AWSRequest("PUT", "http://s3.amazonaws.com/examplebucket/t.txt", headers={
        "x-amz-trailer": "x-amz-checksum-crc32", "x-amz-decoded-content-length": "5",
        "Content-Encoding": "aws-chunked"})
    _TrailerSigner(Credentials(AKID, SECRET), "s3", "us-east-1").add_auth(request)
    signed = authenticate_request("PUT", "/examplebucket/t.txt", [("Host", "s3.amazonaws.com"),
                                                                  *request.headers.items()], CREDENTIALS)
    body = trailer_body(signed, b"hello", "NhCmhg==")
    verify_payload(signed, io.BytesIO(body), "5")
    for changed in (body.replace(b"NhCmhg==", b"AAAAAA=="), body[:-68] + b"0" * 64 + b"\r\n\r\n"):
        with pytest.raises(S3Error) as info:
            verify_payload(signed, io.BytesIO(changed), "5")
        assert info.value.code == "SignatureDoesNotMatch"


def test_a_signed_payload_hash_must_match_the_body():
    headers = replaced(replaced(GET_HEADERS, "x-amz-content-sha256", hashlib.sha256(b"one").hexdigest()),
                       "Authorization", GET_AUTH)
    # A SHA-256 claim that differs from the signed one fails the signature first ...
    assert refused(headers=headers).code == "SignatureDoesNotMatch"
    signed = authenticate_request("GET", "/test.txt", [*GET_HEADERS, ("Authorization", GET_AUTH)], CREDENTIALS, NOW)
    # ... and a body that differs from the signed claim fails here, before anything is forwarded.
    with pytest.raises(S3Error) as info:
        verify_payload(signed, io.BytesIO(b"smuggled"))
    assert (info.value.status, info.value.code) == (400, "XAmzContentSHA256Mismatch")
    assert dict(info.value.details)["ClientComputedContentSHA256"] == EMPTY


@pytest.mark.parametrize(("change", "status", "code"), [
    ("path", 403, "SignatureDoesNotMatch"),
    ("range", 403, "SignatureDoesNotMatch"),
    ("secret", 403, "SignatureDoesNotMatch"),
    ("unknown key", 403, "InvalidAccessKeyId"),
    ("anonymous", 403, "AccessDenied"),
    ("unsigned x-amz header", 403, "AccessDenied"),
    ("skewed", 403, "RequestTimeTooSkewed"),
    ("no date", 403, "AccessDenied"),
    ("no payload hash", 400, "InvalidRequest"),
    ("bad payload hash", 400, "InvalidArgument"),
    ("signature v2", 400, "InvalidRequest"),
    ("other scheme", 400, "InvalidArgument"),
    ("two components", 400, "AuthorizationHeaderMalformed"),
    ("wrong region", 400, "AuthorizationHeaderMalformed"),
    ("credential date", 400, "AuthorizationHeaderMalformed"),
    ("both mechanisms", 400, "InvalidArgument"),
])
def test_header_signed_requests_are_refused_as_s3_refuses_them(change: str, status: int, code: str):
    target, headers, now, credentials = "/test.txt", [*GET_HEADERS, ("Authorization", GET_AUTH)], NOW, None
    if change == "path":
        target = "/other.txt"
    elif change == "range":
        headers = replaced(headers, "Range", "bytes=0-99999")
    elif change == "secret":
        credentials = {AKID: "another secret"}
    elif change == "unknown key":
        credentials = {"AKIDSOMEONEELSE": SECRET}
    elif change == "anonymous":
        headers = replaced(headers, "Authorization", None)
    elif change == "unsigned x-amz header":
        headers = [*headers, ("x-amz-copy-source", "/examplebucket/secret.txt")]
    elif change == "skewed":
        now = NOW + timedelta(minutes=16)
    elif change == "no date":
        headers = replaced(headers, "x-amz-date", None)
    elif change == "no payload hash":
        headers = replaced(headers, "x-amz-content-sha256", None)
    elif change == "bad payload hash":
        headers = replaced(headers, "x-amz-content-sha256", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD")
    elif change == "signature v2":
        headers = replaced(headers, "Authorization", f"AWS {AKID}:frJIUN8DYpKDtOLCwo//yllqDzg=")
    elif change == "other scheme":
        headers = replaced(headers, "Authorization", "Bearer abc")
    elif change == "two components":
        headers = replaced(headers, "Authorization", GET_AUTH.split(",Signature=")[0])
    elif change == "wrong region":
        headers = replaced(headers, "Authorization", GET_AUTH.replace("us-east-1", "eu-west-1"))
    elif change == "credential date":
        headers = replaced(headers, "Authorization", GET_AUTH.replace("20130524/", "20130523/"))
    elif change == "both mechanisms":
        target = PRESIGNED
    error = refused(target=target, headers=headers, now=now, credentials=credentials)
    assert (error.status, error.code) == (status, code), error.message
    if change == "unsigned x-amz header":
        assert dict(error.details) == {"HeadersNotSigned": "x-amz-copy-source"}
    if change == "wrong region":
        assert dict(error.details) == {"Region": "us-east-1"}
    if code == "SignatureDoesNotMatch":
        assert dict(error.details)["CanonicalRequest"].startswith("GET\n")
    error.to_xml("request-id")  # every refusal renders as S3's <Error> document


@pytest.mark.parametrize(("old", "new", "code"), [
    ("X-Amz-Expires=86400", "X-Amz-Expires=86401", "SignatureDoesNotMatch"),
    ("/test.txt?", "/other.txt?", "SignatureDoesNotMatch"),
    ("X-Amz-SignedHeaders=host&", "", "AuthorizationQueryParametersError"),
    ("X-Amz-Expires=86400", "X-Amz-Expires=604801", "AuthorizationQueryParametersError"),
    ("X-Amz-Expires=86400", "X-Amz-Expires=-1", "AuthorizationQueryParametersError"),
    ("X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-HMAC-SHA1", "AuthorizationQueryParametersError"),
    ("X-Amz-Date=20130524T000000Z", "X-Amz-Date=2013-05-24", "AuthorizationQueryParametersError"),
    ("us-east-1", "eu-west-1", "AuthorizationQueryParametersError"),
])
def test_presigned_urls_that_were_changed_are_refused(old: str, new: str, code: str):
    error = refused(target=PRESIGNED.replace(old, new), headers=PRESIGNED_HOST)
    assert (error.status, error.code) == (403 if code == "SignatureDoesNotMatch" else 400, code), error.message


def test_a_presigned_url_with_signature_v2_or_an_unsigned_amz_header_is_refused():
    assert refused(target="/test.txt?AWSAccessKeyId=AKID&Expires=1&Signature=abc", headers=PRESIGNED_HOST).code \
        == "InvalidRequest"
    error = refused(target=PRESIGNED, headers=[*PRESIGNED_HOST, ("x-amz-acl", "public-read")])
    assert (error.code, dict(error.details)) == ("AccessDenied", {"HeadersNotSigned": "x-amz-acl"})


def test_a_body_reader_refuses_a_negative_length():
    with pytest.raises(ValueError):
        BodyReader(io.BytesIO(b"abc"), -1)
