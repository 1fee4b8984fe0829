"""Signature Version 4 of a request the front proxies: its ``Authorization`` header or presigned
URL, checked as S3 checks them. ``payload`` then checks the body against what was signed."""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, unquote, unquote_to_bytes, urlsplit

from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders

from openips_cli.s3front.errors import S3Error, hex_bytes, invalid_argument, signature_mismatch, unknown_access_key
from openips_cli.s3front.signing import (
    ALGORITHM,
    PAYLOAD_MODES,
    SHA256_HEX,
    TIMESTAMP_FORMAT,
    UNSIGNED_PAYLOAD,
    Signer,
    credential_scope,
    parse_timestamp,
    signing_key,
)

_QUERY_AUTH = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-SignedHeaders",
               "X-Amz-Expires")
#: The parameters that authenticate a presigned URL: checked here, never forwarded to moto.
QUERY_AUTH_NAMES = frozenset({*_QUERY_AUTH, "X-Amz-Security-Token"})
#: "The difference between the request time and the current time is too large" past 15 minutes.
MAX_SKEW = timedelta(minutes=15)
#: A presigned URL lives at most a week.
MAX_EXPIRES = 7 * 24 * 3600


@dataclass(frozen=True)
class SignedRequest:
    """A request whose SigV4 signature holds; ``verify_payload`` then checks its body."""

    access_key_id: str
    timestamp: str  # yyyymmddTHHMMSSZ, as signed
    scope: str  # yyyymmdd/region/s3/aws4_request
    payload: str  # the payload hash signed: a SHA-256, UNSIGNED-PAYLOAD or a STREAMING-* mode
    presigned: bool
    signature: str = field(repr=False)
    signing_key: bytes = field(repr=False)


def _unsupported() -> S3Error:
    return S3Error(400, "InvalidRequest", "The authorization mechanism you have provided is not supported. "
                   "Please use AWS4-HMAC-SHA256.")


def _header_fault(message: str, *extra: tuple[str, str]) -> S3Error:
    return S3Error(400, "AuthorizationHeaderMalformed", f"The authorization header is malformed; {message}", extra)


def _query_fault(message: str, *extra: tuple[str, str]) -> S3Error:
    return S3Error(400, "AuthorizationQueryParametersError",
                   f"Error parsing the X-Amz-Credential parameter; {message}", extra)


def _query_pairs(query: str) -> list[tuple[str, str]]:
    # Canonical query strings encode the decoded names and values again, whatever encoding was sent.
    pairs = [piece.partition("=") for piece in query.split("&") if piece]
    return [(unquote(name), unquote(value)) for name, _, value in pairs]


def _header_lists(headers: Any) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, value in headers.items() if hasattr(headers, "items") else headers:
        found.setdefault(name.lower(), []).append(value)
    return found


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _from_header(values: list[str], received: dict[str, list[str]]) -> tuple[str, str, str, str, str]:
    """Credential, SignedHeaders, Signature, timestamp and the date as sent, from ``Authorization``."""
    scheme, _, rest = values[0].strip().partition(" ")
    if scheme == "AWS":
        raise _unsupported()
    if scheme != ALGORITHM or len(values) > 1:
        raise invalid_argument("Unsupported Authorization Type", "Authorization", values[0])
    parts = dict(piece.strip().partition("=")[::2] for piece in rest.split(","))
    credential, signed, signature = (parts.get(name, "") for name in ("Credential", "SignedHeaders", "Signature"))
    if not (credential and signed and signature):
        raise _header_fault("the authorization header requires three components: Credential, SignedHeaders, "
                            "and Signature.")
    if "x-amz-date" in received:
        sent = received["x-amz-date"][0]
        moment = parse_timestamp(sent)
    else:  # S3 takes Date when there is no x-amz-date
        sent = (received.get("date") or [""])[0]
        try:
            moment = parsedate_to_datetime(sent).astimezone(UTC)
        except (TypeError, ValueError, IndexError):
            moment = None
    if moment is None:
        raise S3Error(403, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
    return credential, signed, signature, moment.strftime(TIMESTAMP_FORMAT), sent


def _from_query(params: list[tuple[str, str]]) -> tuple[str, str, str, str, int]:
    """Credential, SignedHeaders, Signature, timestamp and expiry (s) of a presigned URL."""
    values: dict[str, str] = {}
    for name, value in params:
        values.setdefault(name, value)
    if any(name not in values for name in _QUERY_AUTH):
        raise S3Error(400, "AuthorizationQueryParametersError", "Query-string authentication version 4 requires "
                      "the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
                      "and X-Amz-Expires parameters.")

    def fault(message: str) -> S3Error:
        return S3Error(400, "AuthorizationQueryParametersError", message)

    if values["X-Amz-Algorithm"] != ALGORITHM:
        raise fault('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
    if parse_timestamp(values["X-Amz-Date"]) is None:
        raise fault("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
    expires = values["X-Amz-Expires"]
    if not re.fullmatch(r"-?[0-9]{1,12}", expires):
        raise fault("X-Amz-Expires should be a number")
    if int(expires) < 0:
        raise fault("X-Amz-Expires must be non-negative")
    if int(expires) > MAX_EXPIRES:
        raise fault(f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES}")
    return (values["X-Amz-Credential"], values["X-Amz-SignedHeaders"], values["X-Amz-Signature"],
            values["X-Amz-Date"], int(expires))


def authenticate_request(method: str, target: str, headers: Any, credentials: Mapping[str, str],
                         now: datetime | None = None, *, region: str = "us-east-1") -> SignedRequest:
    """Check a request's Signature Version 4 as S3 does: its ``Authorization`` header or presigned URL.

    ``target`` is the request target as received (path and query), ``headers`` its headers (a
    mapping, pairs, or ``http.server``'s message), ``credentials`` access key id → secret.
    Anonymous requests are refused (no bucket here is public), and so is Signature Version 2.
    The body is checked against what was signed by ``verify_payload``, once it has arrived.
    Raises ``S3Error``.
    """
    now = now or datetime.now(UTC)
    split = urlsplit(target)
    params = _query_pairs(split.query)
    names = {name for name, _ in params}
    received = _header_lists(headers)
    authorization = received.get("authorization")
    presigned = bool(names.intersection(_QUERY_AUTH))
    if authorization and (presigned or names & {"Signature", "AWSAccessKeyId"}):
        raise invalid_argument("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                               "Signature query string parameter or the Authorization header should be specified",
                               "Authorization", authorization[0])
    if not authorization and not presigned:
        if names & {"Signature", "AWSAccessKeyId"}:
            raise _unsupported()
        raise S3Error(403, "AccessDenied", "Access Denied")
    if authorization:
        credential, signed_headers, signature, timestamp, sent = _from_header(authorization, received)
        fault: Callable[..., S3Error] = _header_fault
    else:
        credential, signed_headers, signature, timestamp, expires = _from_query(params)
        fault = _query_fault
    access_key, day = credential_scope(credential, region, fault)
    if day != timestamp[:8]:
        raise fault("Invalid credential date. Date is not the same as X-Amz-Date.")
    secret = credentials.get(access_key)
    if secret is None:
        raise unknown_access_key(access_key)
    claim = (received.get("x-amz-content-sha256") or [None])[0]
    if claim is None and not presigned:
        raise S3Error(400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
    if claim is not None and claim not in PAYLOAD_MODES and not SHA256_HEX.match(claim):
        raise invalid_argument("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
                               "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a "
                               "valid sha256 value.", "x-amz-content-sha256", claim)
    signed_names = [name.strip().lower() for name in signed_headers.split(";")]
    # Host and every x-amz-* header sent must be signed, or anyone could add them to a signed request.
    unsigned = sorted(({"host"} | {name for name in received if name.startswith("x-amz-")}) - set(signed_names))
    if unsigned:
        raise S3Error(403, "AccessDenied", "There were headers present in the request which were not signed",
                      (("HeadersNotSigned", ", ".join(unsigned)),))
    signed_at = datetime.strptime(timestamp, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    if authorization and abs(now - signed_at) > MAX_SKEW:
        raise S3Error(403, "RequestTimeTooSkewed", "The difference between the request time and the current time "
                      "is too large.", (("RequestTime", sent), ("ServerTime", _iso(now)),
                                        ("MaxAllowedSkewMilliseconds", str(int(MAX_SKEW.total_seconds() * 1000)))))

    chosen = HTTPHeaders()
    for name in signed_names:
        for value in received.get(name, []):
            chosen[name] = value
    path = quote(unquote_to_bytes(split.path or "/"), safe="/~")  # S3 signs the path URI-encoded once
    request = AWSRequest(method=method.upper(), url="http://s3" + path,
                         params=[pair for pair in params if pair[0] != "X-Amz-Signature"])
    request.context["timestamp"] = timestamp
    signer = Signer(access_key, secret, region, claim or UNSIGNED_PAYLOAD, chosen)
    canonical = signer.canonical_request(request)
    string_to_sign = signer.string_to_sign(request, canonical)
    if not hmac.compare_digest(signer.signature(string_to_sign, request).encode(), signature.encode()):
        raise signature_mismatch(access_key, string_to_sign, signature, ("CanonicalRequest", canonical),
                                 ("CanonicalRequestBytes", hex_bytes(canonical)))
    if not authorization:
        if now > signed_at + timedelta(seconds=expires):
            raise S3Error(403, "AccessDenied", "Request has expired", (
                ("X-Amz-Expires", str(expires)), ("Expires", _iso(signed_at + timedelta(seconds=expires))),
                ("ServerTime", _iso(now))))
        if signed_at > now + MAX_SKEW:
            raise S3Error(403, "AccessDenied", "Request is not valid yet")
    return SignedRequest(access_key_id=access_key, timestamp=timestamp, scope=signer.credential_scope(request),
                         payload=claim or UNSIGNED_PAYLOAD, presigned=not authorization, signature=signature,
                         signing_key=signing_key(secret, day, region))
