"""CORS as S3 applies a bucket's CORS rules: preflights (``OPTIONS``) answered from them, the
headers of the first matching rule added to every answer of a request that names an ``Origin``.

S3's behaviour, which the front copies: a preflight needs ``Origin`` (400 ``BadRequest``) and a
valid ``Access-Control-Request-Method`` (400); a bucket that does not exist, has no CORS rules or
none that allows the origin, method and every requested header is refused with 403
``AccessForbidden`` (``CORSResponse: …``, the method and whether a bucket or an object was asked
for). A rule matches when it lists the method, an origin pattern matching the ``Origin`` (one
``*`` wildcard at most), and, for a preflight, an ``AllowedHeader`` pattern for each requested
header (case-insensitive). A simple request (a browser upload, a presigned ``GET``) whose origin
no rule allows is served all the same, without CORS headers: the browser is what withholds the
answer from the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from botocore.exceptions import ClientError

from openips_cli.s3front.errors import S3Error

METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD")
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
NOT_ALLOWED = ("CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, "
               "request method / Access-Control-Request-Method or Access-Control-Request-Headers are not "
               "whitelisted by the resource's CORS spec.")  # sic: S3's spelling
DISABLED = "CORSResponse: CORS is not enabled for this bucket."
NO_BUCKET = "CORSResponse: Bucket not found"


@dataclass(frozen=True)
class CorsRule:
    methods: tuple[str, ...]
    origins: tuple[str, ...]
    headers: tuple[str, ...] = ()
    expose: tuple[str, ...] = ()
    max_age: int | None = None

    @classmethod
    def from_api(cls, rule: Mapping[str, Any]) -> CorsRule:
        """A rule as ``GetBucketCors`` returns it."""
        return cls(tuple(rule.get("AllowedMethods", ())), tuple(rule.get("AllowedOrigins", ())),
                   tuple(rule.get("AllowedHeaders", ())), tuple(rule.get("ExposeHeaders", ())),
                   rule.get("MaxAgeSeconds"))

    def allows(self, origin: str, method: str, request_headers: Sequence[str] = ()) -> bool:
        return (method in self.methods and any(_matches(pattern, origin) for pattern in self.origins)
                and all(any(_matches(p.lower(), h.lower()) for p in self.headers) for h in request_headers))

    def headers_for(self, origin: str, request_headers: Sequence[str] = ()) -> list[tuple[str, str]]:
        anyone = "*" in self.origins and not any(o == origin for o in self.origins)
        out = [("Access-Control-Allow-Origin", "*" if anyone else origin),
               ("Access-Control-Allow-Methods", ", ".join(self.methods))]
        if request_headers:
            out.append(("Access-Control-Allow-Headers", ", ".join(h.lower() for h in request_headers)))
        if self.expose:
            out.append(("Access-Control-Expose-Headers", ", ".join(self.expose)))
        if self.max_age is not None:
            out.append(("Access-Control-Max-Age", str(self.max_age)))
        if not anyone:  # S3 allows credentials only to an origin it names
            out.append(("Access-Control-Allow-Credentials", "true"))
        out.append(("Vary", VARY))
        return out


def _matches(pattern: str, value: str) -> bool:
    head, star, tail = pattern.partition("*")
    if not star:
        return pattern == value
    return len(value) >= len(head) + len(tail) and value.startswith(head) and value.endswith(tail)


def target(path: str) -> tuple[str | None, str]:
    """(bucket, ``BUCKET`` or ``OBJECT``) of a path-style request target."""
    bucket, _, key = urlsplit(path).path.lstrip("/").partition("/")
    return (unquote(bucket) or None), ("OBJECT" if key else "BUCKET")


def bucket_rules(s3: Any, bucket: str) -> list[CorsRule] | None:
    """The bucket's CORS rules ([] when it has none), None when there is no such bucket."""
    try:
        answer = s3.get_bucket_cors(Bucket=bucket)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "NoSuchCORSConfiguration":
            return []
        if code == "NoSuchBucket":
            return None
        raise
    return [CorsRule.from_api(rule) for rule in answer.get("CORSRules", ())]


def _request_headers(value: str | None) -> list[str]:
    return [name.strip() for name in (value or "").split(",") if name.strip()]


def preflight(s3: Any, path: str, headers: Any) -> list[tuple[str, str]]:
    """The CORS headers of an allowed preflight; raises the ``S3Error`` S3 answers otherwise."""
    origin = headers.get("Origin")
    if origin is None:
        raise S3Error(400, "BadRequest", "Insufficient information. Origin request header needed.")
    method = headers.get("Access-Control-Request-Method")
    if method not in METHODS:
        raise S3Error(400, "BadRequest", f"Invalid Access-Control-Request-Method: {method or 'null'}")
    bucket, resource = target(path)
    rules = bucket_rules(s3, bucket) if bucket else None
    requested = _request_headers(headers.get("Access-Control-Request-Headers"))

    def refused(message: str) -> S3Error:
        return S3Error(403, "AccessForbidden", message, (("Method", method), ("ResourceType", resource)))

    if rules is None:
        raise refused(NO_BUCKET)
    if not rules:
        raise refused(DISABLED)
    rule = next((r for r in rules if r.allows(origin, method, requested)), None)
    if rule is None:
        raise refused(NOT_ALLOWED)
    return rule.headers_for(origin, requested)


def response_headers(s3: Any, method: str, path: str, headers: Any) -> list[tuple[str, str]]:
    """The CORS headers S3 adds to an answer (errors too) to a request with ``Origin``; none without."""
    origin = headers.get("Origin")
    bucket, _ = target(path)
    if origin is None or bucket is None:
        return []
    # S3 takes the method a preflight would name when the request carries that header.
    method = headers.get("Access-Control-Request-Method") or method
    try:
        rules = bucket_rules(s3, bucket) or []
    except ClientError:
        return []
    rule = next((r for r in rules if r.allows(origin, method)), None)
    return rule.headers_for(origin) if rule else []
