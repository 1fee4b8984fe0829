"""The local S3 front's POST Object verifier, without sockets: forms signed by real boto3."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.config import Config

from openips_cli.s3front import (
    MAX_POST_OBJECT_SIZE,
    S3Error,
    authorize_post,
    signing_key,
    verify_post,
)

AKID, SECRET = "AKIDLOCALTEST", "local-secret-key"
CREDENTIALS = {AKID: SECRET}
BUCKET, PREFIX = "openips-uploads", "incoming/c-1/job-1/"


def presigned(conditions=None, fields=None, expires_in=900, key=PREFIX + "${filename}", secret=SECRET):
    """A form as the API makes it: boto3 SigV4, path style, against a local endpoint."""
    client = boto3.client("s3", endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
                          aws_access_key_id=AKID, aws_secret_access_key=secret,
                          config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    if conditions is None:
        conditions = [["starts-with", "$key", PREFIX], ["content-length-range", 0, 1000]]
    form = client.generate_presigned_post(BUCKET, key, Fields=fields, Conditions=conditions, ExpiresIn=expires_in)
    return dict(form["fields"])


def policy_of(fields) -> dict:
    return json.loads(base64.b64decode(fields["policy"]))


def with_policy(fields, document) -> dict:
    return {**fields, "policy": base64.b64encode(json.dumps(document).encode()).decode()}


def refused(fields, filename="photo.jpg", size=10, bucket=BUCKET, credentials=CREDENTIALS, now=None) -> S3Error:
    with pytest.raises(S3Error) as info:
        verify_post(fields, filename, size, bucket, credentials, now)
    return info.value


def test_a_boto3_form_verifies_and_substitutes_the_filename():
    fields = presigned()
    assert verify_post(fields, "photo.jpg", 10, BUCKET, CREDENTIALS) == PREFIX + "photo.jpg"
    # A client path, as old browsers send it, keeps only its last segment.
    assert verify_post(fields, "C:\\Users\\me\\scan 1.tif", 10, BUCKET, CREDENTIALS) == PREFIX + "scan 1.tif"


def test_expiry_is_the_policys():
    fields = presigned(expires_in=600)
    expiration = datetime.fromisoformat(policy_of(fields)["expiration"].replace("Z", "+00:00"))
    assert verify_post(fields, "a.jpg", 1, BUCKET, CREDENTIALS, now=expiration) == PREFIX + "a.jpg"
    error = refused(fields, now=expiration + timedelta(seconds=1))
    assert (error.status, error.code, error.message) == (
        403, "AccessDenied", "Invalid according to Policy: Policy expired.")


def test_a_tampered_policy_does_not_match_its_signature():
    fields = presigned()
    document = policy_of(fields)
    document["conditions"] = [["starts-with", "$key", ""] if c == ["starts-with", "$key", PREFIX] else c
                              for c in document["conditions"]]
    tampered = with_policy(fields, document)
    error = refused({**tampered, "key": "elsewhere/${filename}"})
    assert (error.status, error.code) == (403, "SignatureDoesNotMatch")
    assert dict(error.details)["StringToSign"] == tampered["policy"]
    # So does a signature over another field set: the signature covers the policy only.
    assert refused({**fields, "x-amz-signature": "0" * 64}).code == "SignatureDoesNotMatch"


def test_a_wrong_secret_does_not_match():
    error = refused(presigned(secret="not-the-secret"))
    assert (error.status, error.code) == (403, "SignatureDoesNotMatch")
    assert dict(error.details)["AWSAccessKeyId"] == AKID


def test_an_unknown_access_key():
    error = refused(presigned(), credentials={"AKIDOTHER": SECRET})
    assert (error.status, error.code) == (403, "InvalidAccessKeyId")
    assert error.details == (("AWSAccessKeyId", AKID),)


def test_a_key_outside_the_prefix_fails_the_condition():
    error = refused({**presigned(), "key": "incoming/c-2/job-9/${filename}"})
    assert (error.status, error.code) == (403, "AccessDenied")
    assert error.message == f'Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "{PREFIX}"]'


@pytest.mark.parametrize(("size", "code", "bound"), [(1001, "EntityTooLarge", "MaxSizeAllowed"),
                                                      (4, "EntityTooSmall", "MinSizeAllowed")])
def test_content_length_range(size, code, bound):
    fields = presigned(conditions=[["starts-with", "$key", PREFIX], ["content-length-range", 5, 1000]])
    for inside in (5, 1000):
        verify_post(fields, "a.jpg", inside, BUCKET, CREDENTIALS)
    error = refused(fields, size=size)
    assert (error.status, error.code) == (400, code)
    assert dict(error.details) == {"ProposedSize": str(size), bound: "5" if size == 4 else "1000"}


def test_several_ranges_intersect_and_five_gb_is_the_ceiling():
    ranges = [["content-length-range", 0, 100], ["content-length-range", 5, 10**12]]
    grant = authorize_post(presigned(conditions=ranges), "a", BUCKET, CREDENTIALS)
    assert (grant.min_size, grant.max_size) == (5, 100)
    assert authorize_post(presigned(conditions=[]), "a", BUCKET, CREDENTIALS).max_size == MAX_POST_OBJECT_SIZE


def test_every_field_must_be_covered_by_a_condition():
    fields = presigned()
    error = refused({**fields, "x-amz-meta-owner": "eve"})
    assert (error.status, error.code, error.message) == (
        403, "AccessDenied", "Invalid according to Policy: Extra input fields: x-amz-meta-owner")
    # x-ignore- fields need no condition; policy, x-amz-signature and file never do.
    assert verify_post({**fields, "X-Ignore-Submit": "Upload"}, "a.jpg", 1, BUCKET, CREDENTIALS)


def test_eq_condition_on_content_type():
    fields = presigned(fields={"Content-Type": "image/jpeg"},
                       conditions=[["starts-with", "$key", PREFIX], ["eq", "$Content-Type", "image/jpeg"]])
    assert verify_post(fields, "a.jpg", 1, BUCKET, CREDENTIALS) == PREFIX + "a.jpg"
    # Field names are case-insensitive, values are not.
    lowered = {("content-type" if name == "Content-Type" else name): v for name, v in fields.items()}
    assert verify_post(lowered, "a.jpg", 1, BUCKET, CREDENTIALS)
    error = refused({**fields, "Content-Type": "text/html"})
    assert error.message == ('Invalid according to Policy: Policy Condition failed: '
                             '["eq", "$Content-Type", "image/jpeg"]')
    missing = {name: v for name, v in fields.items() if name != "Content-Type"}
    assert refused(missing).code == "AccessDenied"


def test_starts_with_content_type_applies_to_each_listed_type():
    fields = presigned(fields={"Content-Type": "image/jpeg"}, conditions=[["starts-with", "$Content-Type", "image/"]],
                       key="k")
    assert verify_post({**fields, "Content-Type": "image/png, image/gif"}, "a", 1, BUCKET, CREDENTIALS) == "k"
    assert refused({**fields, "Content-Type": "image/png,text/html"}).code == "AccessDenied"


def test_the_bucket_of_the_url_must_be_the_policys():
    error = refused(presigned(), bucket="another-bucket")
    assert error.message == f'Invalid according to Policy: Policy Condition failed: ["eq", "$bucket", "{BUCKET}"]'


def test_filename_substitution_is_checked_against_the_conditions():
    fields = presigned(conditions=[["starts-with", "$key", PREFIX + "photo"]])
    assert verify_post(fields, "photo-1.jpg", 1, BUCKET, CREDENTIALS) == PREFIX + "photo-1.jpg"
    assert refused(fields, filename="other.jpg").code == "AccessDenied"
    # An empty file name leaves an empty key: as missing as no key at all.
    assert refused({**fields, "key": "${filename}"}, filename="").code == "InvalidArgument"


@pytest.mark.parametrize("missing", ["key", "x-amz-algorithm", "x-amz-credential", "x-amz-date",
                                     "x-amz-signature", "policy"])
def test_missing_fields_are_named_as_s3_names_them(missing):
    fields = {name: value for name, value in presigned().items() if name != missing}
    error = refused(fields)
    named = {"key": "key", "policy": "Policy"}.get(missing) or "-".join(p.capitalize() for p in missing.split("-"))
    assert (error.status, error.code) == (400, "InvalidArgument")
    assert error.message == (f"Bucket POST must contain a field named '{named}'.  "
                             "If it is specified, please check the order of the fields.")
    assert error.details == (("ArgumentName", named), ("ArgumentValue", ""))


def test_unsigned_and_signature_v2_forms_are_refused():
    fields = presigned()
    unsigned = {"key": fields["key"], "policy": fields["policy"]}
    assert (refused(unsigned).status, refused(unsigned).code) == (403, "AccessDenied")
    v2 = {**unsigned, "AWSAccessKeyId": AKID, "signature": "c2lnbmF0dXJl"}
    assert (refused(v2).status, refused(v2).code) == (400, "InvalidArgument")


def test_signing_values_are_checked():
    fields = presigned()
    assert refused({**fields, "x-amz-algorithm": "AWS4-ECDSA-P256-SHA256"}).details[0] == (
        "ArgumentName", "X-Amz-Algorithm")
    assert refused({**fields, "x-amz-date": "2026-01-01T00:00:00Z"}).details[0] == ("ArgumentName", "X-Amz-Date")
    west = fields["x-amz-credential"].replace("us-east-1", "us-west-2")
    error = refused({**fields, "x-amz-credential": west})
    assert (error.code, error.message) == ("InvalidArgument", "the region 'us-west-2' is wrong; expecting 'us-east-1'")
    assert refused({**fields, "x-amz-credential": "no-slashes"}).code == "InvalidArgument"


def sign(document: dict | str) -> dict:
    """Fields for a hand-written policy, signed with the test credentials."""
    text = document if isinstance(document, str) else json.dumps(document)
    policy = base64.b64encode(text.encode()).decode()
    day = "20260101"
    signature = hmac.new(signing_key(SECRET, day, "us-east-1"), policy.encode(), hashlib.sha256).hexdigest()
    return {"key": "k", "x-amz-algorithm": "AWS4-HMAC-SHA256",
            "x-amz-credential": f"{AKID}/{day}/us-east-1/s3/aws4_request",
            "x-amz-date": f"{day}T000000Z", "policy": policy, "x-amz-signature": signature}


SIGNING_CONDITIONS = [["starts-with", "$key", ""], ["starts-with", "$x-amz-algorithm", ""],
                      ["starts-with", "$x-amz-credential", ""], ["starts-with", "$x-amz-date", ""]]


@pytest.mark.parametrize(("document", "message"), [
    ("not json", "Invalid Policy: Invalid JSON."),
    ({"conditions": []}, "Invalid Policy: Policy missing expiration."),
    ({"expiration": "2099-01-01T00:00:00Z"}, "Invalid Policy: Policy missing conditions."),
    ({"expiration": "2099-01-01T00:00:00+02:00", "conditions": []},
     "Invalid Policy: Invalid 'expiration' value: '2099-01-01T00:00:00+02:00'"),
    ({"expiration": "2099-01-01T00:00:00Z", "conditions": [{}]},
     "Invalid Policy: Invalid Simple-Condition: Simple-Conditions must have exactly one property specified."),
    ({"expiration": "2099-01-01T00:00:00Z", "conditions": [["ne", "$key", "k"]]},
     "Invalid Policy: Invalid Condition: unknown operation 'ne'."),
    ({"expiration": "2099-01-01T00:00:00Z", "conditions": [["content-length-range", 0, 1.5]]},
     "Invalid Policy: Invalid JSON."),
    ({"Version": "2012-10-17", "Statement": []}, "Invalid Policy: Unexpected: 'version'"),
])
def test_malformed_policies(document, message):
    error = refused(sign(document), now=datetime(2026, 1, 1, tzinfo=UTC))
    assert (error.status, error.code, error.message) == (400, "InvalidPolicyDocument", message)


def test_hand_written_policy_semantics():
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    base = {"expiration": "2026-01-02T00:00:00.000Z", "conditions": [*SIGNING_CONDITIONS, {"bucket": BUCKET}]}
    assert verify_post(sign(base), "a", 1, BUCKET, CREDENTIALS, now) == "k"
    # Operators and field names in any case; a field the form lacks fails even starts-with "".
    mixed = {**base, "conditions": [*base["conditions"], ["StArTs-WiTh", "$X-AMZ-META-Tag", "v"]]}
    assert verify_post({**sign(mixed), "x-amz-meta-tag": "v1"}, "a", 1, BUCKET, CREDENTIALS, now) == "k"
    empty = {**base, "conditions": [*base["conditions"], ["starts-with", "$Content-Type", ""]]}
    assert refused(sign(empty), now=now).message.endswith('["starts-with", "$Content-Type", ""]')
    # A name without "$" names no field.
    bare = {**base, "conditions": [*base["conditions"], ["eq", "acl", "private"]]}
    assert refused({**sign(bare), "acl": "private"}, now=now).code == "AccessDenied"
    # A bound that holds no number fails the condition.
    unreadable = {**base, "conditions": [*base["conditions"], ["content-length-range", "test", "10"]]}
    assert refused(sign(unreadable), now=now).message.endswith('["content-length-range", "test", "10"]')
    strings = {**base, "conditions": [*base["conditions"], ["content-length-range", "2", "10"]]}
    assert authorize_post(sign(strings), "a", BUCKET, CREDENTIALS, now).min_size == 2


# AWS's own example ("Example: Browser-Based Upload using HTTP POST (Using AWS Signature Version 4)"):
# its base64 policy, example credentials and published signature.
AWS_POLICY = (
    "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJz"
    "aWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJw"
    "dWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6"
    "b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2Uv"
    "Il0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRp"
    "b24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRl"
    "bnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXot"
    "YWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9"
)
AWS_SIGNATURE = "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e"


def test_the_aws_documentation_example():
    fields = {
        "key": "user/user1/${filename}", "acl": "public-read",
        "success_action_redirect": "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html",
        "Content-Type": "image/jpeg", "x-amz-meta-uuid": "14365123651274", "x-amz-server-side-encryption": "AES256",
        "X-Amz-Credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request",
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Date": "20151229T000000Z", "x-amz-meta-tag": "",
        "Policy": AWS_POLICY, "X-Amz-Signature": AWS_SIGNATURE,
    }
    credentials = {"AKIAIOSFODNN7EXAMPLE": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
    before = datetime(2015, 12, 30, 11, tzinfo=UTC)
    assert verify_post(fields, "photo.jpg", 100, "sigv4examplebucket", credentials, before) == "user/user1/photo.jpg"
    after = datetime(2015, 12, 30, 12, 0, 1, tzinfo=UTC)
    assert refused(fields, bucket="sigv4examplebucket", credentials=credentials, now=after).message.endswith("expired.")


def test_error_xml_is_s3s():
    error = refused({**presigned(), "x-amz-meta-x": "1"})
    document = error.to_xml("REQ123", "HOST").decode()
    assert document.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>')
    assert document.endswith("<RequestId>REQ123</RequestId><HostId>HOST</HostId></Error>")
