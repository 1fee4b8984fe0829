"""CORS on the local S3 front, as S3 applies a bucket's CORS rules: preflights answered or refused
from them, the matching rule's headers on the answers to requests with ``Origin``; and the rule
the local stack gives the incoming bucket (the template's, with its own page's origin)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import requests

from openips_cli.local import page_origins
from openips_cli.provision import cors_configuration, load_template
from tests.integration.test_s3front import PREFIX, Local, local, moto_url  # noqa: F401 - fixtures

PAGE = "http://127.0.0.1:3000"
PAGE_RULE = {"CORSRules": [{"AllowedMethods": ["POST"], "AllowedOrigins": [PAGE], "AllowedHeaders": ["*"],
                            "ExposeHeaders": ["ETag", "Location"], "MaxAgeSeconds": 3000},
                           {"AllowedMethods": ["GET", "HEAD"], "AllowedOrigins": ["https://*.example.com"],
                            "AllowedHeaders": ["x-amz-*"]}]}


def preflight(local: Local, origin: str | None, method: str | None, path: str = "",
              request_headers: str | None = None) -> requests.Response:
    headers = {name: value for name, value in [("Origin", origin), ("Access-Control-Request-Method", method),
                                                ("Access-Control-Request-Headers", request_headers)] if value}
    return requests.options(f"{local.front_url}/{local.bucket}{path}", headers=headers, timeout=30)


def error(response: requests.Response) -> dict[str, str]:
    root = ET.fromstring(response.content)
    return {child.tag: child.text or "" for child in root if child.tag not in ("RequestId", "HostId")}


def cors_headers(response: requests.Response) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


@pytest.fixture
def with_rules(local: Local) -> Local:
    local.moto_s3.put_bucket_cors(Bucket=local.bucket, CORSConfiguration=PAGE_RULE)
    return local


def test_an_allowed_preflight_gets_the_rules_headers_and_no_body(with_rules: Local):
    response = preflight(with_rules, PAGE, "POST")
    assert response.status_code == 200 and response.content == b""
    assert cors_headers(response) == {
        "access-control-allow-origin": PAGE, "access-control-allow-methods": "POST",
        "access-control-expose-headers": "ETag, Location", "access-control-max-age": "3000",
        "access-control-allow-credentials": "true"}
    assert response.headers["Vary"] == "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
    wildcard = preflight(with_rules, "https://shop.example.com", "GET", "/a/key", "X-Amz-Date, x-amz-meta-tag")
    assert wildcard.status_code == 200
    assert wildcard.headers["Access-Control-Allow-Headers"] == "x-amz-date, x-amz-meta-tag"


@pytest.mark.parametrize(("origin", "method", "path", "request_headers", "resource"), [
    ("http://evil.example", "POST", "", None, "BUCKET"),  # origin not listed
    ("http://127.0.0.1:3001", "POST", "", None, "BUCKET"),  # the port is part of the origin
    (PAGE, "PUT", "/incoming/x.jpg", None, "OBJECT"),  # method not listed
    ("https://shop.example.com", "GET", "/key", "authorization", "OBJECT"),  # header not listed
    ("https://example.com", "GET", "", None, "BUCKET"),  # *.example.com needs a subdomain
])
def test_a_preflight_no_rule_allows_is_refused_as_s3_refuses_it(with_rules: Local, origin, method, path,
                                                                 request_headers, resource):
    response = preflight(with_rules, origin, method, path, request_headers)
    assert response.status_code == 403
    assert cors_headers(response) == {}
    assert error(response) == {
        "Code": "AccessForbidden", "Method": method, "ResourceType": resource,
        "Message": "CORSResponse: This CORS request is not allowed. This is usually because the evalution of "
                   "Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers "
                   "are not whitelisted by the resource's CORS spec."}


def test_preflights_without_origin_method_rules_or_bucket(local: Local):
    assert error(preflight(local, None, "POST")) == {
        "Code": "BadRequest", "Message": "Insufficient information. Origin request header needed."}
    assert error(preflight(local, PAGE, None)) == {
        "Code": "BadRequest", "Message": "Invalid Access-Control-Request-Method: null"}
    assert error(preflight(local, PAGE, "PATCH")) == {
        "Code": "BadRequest", "Message": "Invalid Access-Control-Request-Method: PATCH"}
    no_rules = preflight(local, PAGE, "POST")
    assert no_rules.status_code == 403
    assert error(no_rules)["Message"] == "CORSResponse: CORS is not enabled for this bucket."
    missing = requests.options(f"{local.front_url}/no-such-bucket/k", timeout=30,
                               headers={"Origin": PAGE, "Access-Control-Request-Method": "GET"})
    assert (missing.status_code, error(missing)["Message"]) == (403, "CORSResponse: Bucket not found")


def test_a_browser_upload_from_an_allowed_origin_gets_cors_headers_and_others_get_none(with_rules: Local):
    form = with_rules.form()
    sent = requests.post(form["url"], data=form["fields"], files={"file": ("a.jpg", b"bytes")},
                         headers={"Origin": PAGE}, timeout=30)
    assert sent.status_code == 204
    assert sent.headers["Access-Control-Allow-Origin"] == PAGE
    assert sent.headers["Access-Control-Expose-Headers"] == "ETag, Location"
    # Another origin's upload is stored all the same (CORS guards nothing on the server), but the
    # answer carries no CORS header, so that page's script cannot read it.
    other = requests.post(form["url"], data=form["fields"], files={"file": ("b.jpg", b"bytes")},
                          headers={"Origin": "http://evil.example"}, timeout=30)
    assert other.status_code == 204 and cors_headers(other) == {}
    # A refused upload's error carries them too, as S3's do: the page can read why.
    refused = requests.post(form["url"], data={**form["fields"], "key": "elsewhere/c.jpg"},
                            files={"file": ("c.jpg", b"bytes")}, headers={"Origin": PAGE}, timeout=30)
    assert refused.status_code == 403 and refused.headers["Access-Control-Allow-Origin"] == PAGE
    plain = requests.post(form["url"], data=form["fields"], files={"file": ("d.jpg", b"bytes")}, timeout=30)
    assert cors_headers(plain) == {}


def test_proxied_answers_carry_the_fronts_cors_headers_not_motos(with_rules: Local):
    with_rules.moto_s3.put_object(Bucket=with_rules.bucket, Key=PREFIX + "x.jpg", Body=b"x")
    url = with_rules.front_s3.generate_presigned_url(
        "get_object", Params={"Bucket": with_rules.bucket, "Key": PREFIX + "x.jpg"}, ExpiresIn=60)
    allowed = requests.get(url, headers={"Origin": "https://shop.example.com"}, timeout=30)
    assert allowed.status_code == 200 and allowed.content == b"x"
    assert cors_headers(allowed) == {"access-control-allow-origin": "https://shop.example.com",
                                     "access-control-allow-methods": "GET, HEAD",
                                     "access-control-allow-credentials": "true"}
    refused = requests.get(url, headers={"Origin": PAGE}, timeout=30)  # PAGE may POST, not GET
    assert refused.status_code == 200 and cors_headers(refused) == {}


def test_the_local_stack_gives_the_incoming_bucket_the_templates_rule_with_its_page_origin():
    template = load_template()
    config = template["Resources"]["IncomingBucket"]["Properties"]["CorsConfiguration"]
    origins = page_origins("127.0.0.1", 3000)
    assert origins == ["http://127.0.0.1:3000", "http://localhost:3000"]
    (rule,) = cors_configuration(config, {"UploadPageOrigins": ",".join(origins)})["CORSRules"]
    assert rule == {"AllowedMethods": ["POST"], "AllowedOrigins": origins, "AllowedHeaders": ["*"],
                    "ExposeHeaders": ["ETag", "Location"], "MaxAgeSeconds": 3000}
    (default,) = cors_configuration(config, {"UploadPageOrigins": "*"})["CORSRules"]
    assert default["AllowedOrigins"] == ["*"]
    assert page_origins("::1", 8080) == ["http://[::1]:8080"]
