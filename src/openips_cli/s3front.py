"""An S3 front for the local stack: moto behind it, S3's browser-upload checks in front of it.

moto stores whatever a presigned POST form sends: it reads no policy, checks no signature,
size, prefix or expiration (platform notes §4a). ``S3Front`` listens where the API's
presigned ``url`` points and

* answers ``POST /<bucket>`` with ``multipart/form-data`` (S3 "POST Object", a browser-based
  upload) itself: it checks the form as S3 does (``authorize_post``), streams the file to a
  spooled temporary file, stores it in moto with ``PutObject`` (so moto's S3 notification
  fires, as ``ObjectCreated:Put``), reports an ``UploadRecord`` and answers as S3 answers;
* checks every other request's Signature Version 4 as S3 does, with the same credentials
  (``authenticate_request``: the ``Authorization`` header or a presigned URL, its expiry, clock
  skew, unsigned ``x-amz-*`` headers; then ``verify_payload``: the body's SHA-256 or each
  aws-chunked chunk's signature), and only then proxies it to moto, body and all (presigned GET
  URLs, boto3 calls, HEAD ...). Anonymous requests are refused: no bucket here is public. CORS
  preflights (``OPTIONS``) go through unsigned, as S3 answers them from the bucket's CORS rules.
  A presigned request reaches moto signed in headers instead, and the front logs no query
  string, so no signature or credential is written to a log.

The checks, their order and their answers follow AWS's "Browser-Based Uploads Using POST
(AWS Signature Version 4)", "POST Policy" (sigv4-HTTPPOSTConstructPolicy) and the S3 error
code list, and where those are silent, what S3 was recorded answering:

1. the form itself: ``multipart/form-data`` (400 ``RequestIsNotMultiPartContent``), well formed
   (400 ``MalformedPOSTRequest``), at most 20 KB of fields before ``file`` (400
   ``MaxPostPreDataLengthExceededError``), a ``file`` part (400 ``InvalidArgument``). Fields
   after ``file`` are ignored;
2. ``key`` present and not empty once ``${filename}`` is replaced (400 ``InvalidArgument``),
   at most 1024 bytes (400 ``KeyTooLongError``);
3. signature fields: none at all is an anonymous form, which no bucket here accepts (403
   ``AccessDenied``); Signature Version 2 fields are refused (400 ``InvalidArgument``, see
   ``authorize_post``); otherwise ``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``,
   ``X-Amz-Signature`` and ``Policy`` are all required, in that order (400 ``InvalidArgument``);
4. their values: the algorithm, the date, the credential's shape and scope (400
   ``InvalidArgument``); the access key (403 ``InvalidAccessKeyId``); the signature over the
   policy as sent (403 ``SignatureDoesNotMatch``);
5. the policy document (400 ``InvalidPolicyDocument``), its expiration (403 ``AccessDenied``),
   each condition in turn (403 ``AccessDenied``), every field covered by a condition (403
   ``AccessDenied``);
6. the file's size against ``content-length-range`` once it has arrived (400
   ``EntityTooLarge`` / ``EntityTooSmall``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import secrets
import socket
import sys
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http.client import HTTPConnection, HTTPException, HTTPSConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, Any
from urllib.parse import quote, unquote, unquote_to_bytes, urlencode, urlsplit
from xml.sax.saxutils import escape

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

__all__ = [
    "MAX_POST_OBJECT_SIZE",
    "PostGrant",
    "S3Error",
    "S3Front",
    "SignedRequest",
    "UploadRecord",
    "authenticate_request",
    "authorize_post",
    "signing_key",
    "verify_payload",
    "verify_post",
]

log = logging.getLogger("openips.local.s3")

ALGORITHM = "AWS4-HMAC-SHA256"
#: "You can upload objects of up to 5 GB in size" with POST (RESTObjectPOST).
MAX_POST_OBJECT_SIZE = 5 * 1024**3
#: S3 refuses a form whose fields before ``file`` exceed 20 KB (MaxPostPreDataLengthExceededError).
MAX_PRE_DATA = 20 * 1024
MAX_KEY_BYTES = 1024
_CHUNK = 256 * 1024

# The fields that must be in a signed form, in the order S3 names the first one missing.
_SIGNED_FIELDS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Signature", "Policy")
# "Each form field that you specify in a form (except x-amz-signature, file, policy, and field
# names that have an x-ignore- prefix) must appear in the list of conditions." (POST Policy)
_EXEMPT_FIELDS = frozenset({"x-amz-signature", "file", "policy"})
_AMZ_DATE = re.compile(r"^\d{8}T\d{6}Z$")
_TIMESTAMP = "%Y%m%dT%H%M%SZ"
_EXPIRATION = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z$")


# ---- errors ----------------------------------------------------------------------------


class S3Error(Exception):
    """An S3 error answer: HTTP status, S3 error code, message and S3's extra elements."""

    def __init__(self, status: int, code: str, message: str, details: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = tuple(details)

    def to_xml(self, request_id: str, host_id: str = "") -> bytes:
        """The ``<Error>`` document S3 sends: Code, Message, the extras, RequestId, HostId."""
        parts = [f"<Code>{escape(self.code)}</Code>", f"<Message>{escape(self.message)}</Message>"]
        parts += [f"<{name}>{escape(str(value))}</{name}>" for name, value in self.details]
        parts += [f"<RequestId>{escape(request_id)}</RequestId>", f"<HostId>{escape(host_id)}</HostId>"]
        return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error>' + "".join(parts) + "</Error>").encode()


def _argument(message: str, name: str, value: str = "", *extra: tuple[str, str]) -> S3Error:
    return S3Error(400, "InvalidArgument", message, (("ArgumentName", name), ("ArgumentValue", value), *extra))


def _missing(name: str) -> S3Error:
    # S3's wording, two spaces included; the "order" hint is because fields after `file` are unread.
    return _argument(f"Bucket POST must contain a field named '{name}'.  "
                     "If it is specified, please check the order of the fields.", name)


def _bad_policy(detail: str) -> S3Error:
    return S3Error(400, "InvalidPolicyDocument", f"Invalid Policy: {detail}")


def _denied(detail: str) -> S3Error:
    return S3Error(403, "AccessDenied", f"Invalid according to Policy: {detail}")


def _hex_bytes(text: str) -> str:
    return " ".join(f"{b:02x}" for b in text.encode())


def _mismatch(access_key: str, string_to_sign: str, provided: str, *extra: tuple[str, str]) -> S3Error:
    return S3Error(403, "SignatureDoesNotMatch",
                   "The request signature we calculated does not match the signature you provided. "
                   "Check your key and signing method.",
                   (("AWSAccessKeyId", access_key), ("StringToSign", string_to_sign), ("SignatureProvided", provided),
                    ("StringToSignBytes", _hex_bytes(string_to_sign)), *extra))


def _parse_timestamp(text: str) -> datetime | None:
    """An ISO 8601 basic timestamp (``20130524T000000Z``) in UTC, or None."""
    if not _AMZ_DATE.match(text):
        return None
    try:
        return datetime.strptime(text, _TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


# ---- the pure verifier -----------------------------------------------------------------


@dataclass(frozen=True)
class UploadRecord:
    """One accepted browser upload, as ``S3Front`` reports it to ``on_upload``."""

    bucket: str
    key: str
    size: int
    etag: str
    client_ip: str
    time: datetime


@dataclass(frozen=True)
class PostGrant:
    """What a form that passed every check but the size may upload."""

    key: str
    access_key_id: str
    min_size: int = 0
    max_size: int = MAX_POST_OBJECT_SIZE

    def check_size(self, size: int) -> None:
        """``content-length-range``, bounds included; the largest bound is reported first."""
        if size > self.max_size:
            raise S3Error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size",
                          (("ProposedSize", str(size)), ("MaxSizeAllowed", str(self.max_size))))
        if size < self.min_size:
            raise S3Error(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size",
                          (("ProposedSize", str(size)), ("MinSizeAllowed", str(self.min_size))))


class _Form:
    """Form fields in the order sent; names are case-insensitive, values are not (RESTObjectPOST)."""

    def __init__(self, fields: Mapping[str, str] | Iterable[tuple[str, str]]) -> None:
        items = fields.items() if isinstance(fields, Mapping) else fields
        self.items: list[tuple[str, str]] = [(str(name), str(value)) for name, value in items]

    def get(self, name: str) -> str | None:
        lowered = name.lower()
        return next((value for field, value in self.items if field.lower() == lowered), None)


def signing_key(secret: str, day: str, region: str, service: str = "s3") -> bytes:
    """The SigV4 signing key: HMAC chain over the day (yyyymmdd), region, service, "aws4_request"."""
    key = hmac.new(f"AWS4{secret}".encode(), day.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _file_basename(filename: str | None) -> str:
    # Old browsers send a whole client path (C:\Users\me\photo.jpg); S3 keeps the last segment.
    return re.split(r"[\\/]", filename or "")[-1]


def _credential_scope(credential: str, region: str,
                      fault: Callable[..., S3Error] | None = None) -> tuple[str, str]:
    """``<akid>/<yyyymmdd>/<region>/s3/aws4_request`` → (access key, day), or ``fault(message, *extra)``.

    The default fault is a POST form's InvalidArgument; request authentication passes its own.
    """

    def form_fault(message: str, *extra: tuple[str, str]) -> S3Error:
        return _argument(message, "X-Amz-Credential", credential, *extra)

    fault = fault or form_fault
    parts = credential.rsplit("/", 4)
    if len(parts) != 5:
        raise fault('the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".')
    access_key, day, scoped_region, service, terminal = parts
    if not access_key:
        raise fault("a non-empty Access Key (AKID) must be provided in the credential.")
    try:
        if not re.fullmatch(r"\d{8}", day):
            raise ValueError(day)
        datetime.strptime(day, "%Y%m%d")
    except ValueError:
        raise fault(f'incorrect date format "{day}". This date in the credential must be in the format '
                    '"yyyyMMdd".') from None
    if scoped_region != region:
        raise fault(f"the region '{scoped_region}' is wrong; expecting '{region}'", ("Region", region))
    if service != "s3":
        raise fault(f'incorrect service "{service}". This endpoint belongs to "s3".')
    if terminal != "aws4_request":
        raise fault(f'incorrect terminal "{terminal}". This endpoint uses "aws4_request".')
    return access_key, day


@dataclass(frozen=True)
class _Condition:
    op: str  # "eq", "starts-with" or "content-length-range"
    field: str | None  # lowercased name without "$"; None when the policy named no field
    operand: str = ""
    bounds: tuple[int | None, int | None] = (None, None)  # None: a bound that holds no size
    written: str = ""  # as S3 quotes it in "Policy Condition failed: ..."

    def covers(self, name: str) -> bool:
        return self.op != "content-length-range" and self.field == name.lower()


def _written(items: Sequence[Any]) -> str:
    return "[" + ", ".join(json.dumps(item, ensure_ascii=False) for item in items) + "]"


def _read_bound(value: Any) -> int | None:
    # S3 reads a bound from a whole number or a string of digits; 512.0 and -1 are "Invalid JSON",
    # a string like "test" makes the condition fail when it is evaluated.
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _bad_policy("Invalid JSON.")
    if isinstance(value, int):
        if value < 0:
            raise _bad_policy("Invalid JSON.")
        return value
    return int(value) if value.isascii() and value.isdigit() else None


def _read_condition(item: Any) -> _Condition:
    if isinstance(item, dict):
        if len(item) != 1:
            raise _bad_policy("Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.")
        ((name, value),) = item.items()
        if value is None:
            raise _bad_policy("Invalid JSON.")
        if not isinstance(value, str):
            raise _bad_policy("Invalid Simple-Condition: value must be a string.")
        # S3 quotes a simple condition as the `eq` it stands for.
        return _Condition("eq", name.lower(), value, written=_written(["eq", f"${name}", value]))
    if not isinstance(item, list):
        raise _bad_policy("Invalid condition test: must be a List or Object.")
    if not item or not isinstance(item[0], str):
        raise _bad_policy("Invalid Condition: missing operation identifier.")
    op = item[0].lower()
    if op not in ("eq", "starts-with", "content-length-range"):
        raise _bad_policy(f"Invalid Condition: unknown operation '{item[0]}'.")
    if len(item) != 3:
        raise _bad_policy(f"Invalid {item[0]}: wrong number of arguments.")
    if op == "content-length-range":
        return _Condition(op, None, bounds=(_read_bound(item[1]), _read_bound(item[2])), written=_written(item))
    name, operand = item[1], item[2]
    if not isinstance(name, str) or not isinstance(operand, str):
        raise _bad_policy("Invalid JSON.")
    # A name without "$" names no form field: the condition can only fail.
    field = name[1:].lower() if name.startswith("$") else None
    return _Condition(op, field, operand, written=_written(item))


def _read_policy(policy: str) -> tuple[datetime, list[_Condition]]:
    try:
        raw = base64.b64decode(policy + "=" * (-len(policy) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise _bad_policy("invalid Base64 encoding.") from None
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _bad_policy("Invalid JSON.") from None
    if not isinstance(document, dict):
        raise _bad_policy("Invalid JSON.")
    unexpected = next((name for name in document if name not in ("expiration", "conditions")), None)
    if unexpected is not None:
        raise _bad_policy(f"Unexpected: '{unexpected.lower()}'")
    if "expiration" not in document:
        raise _bad_policy("Policy missing expiration.")
    expiration = document["expiration"]
    match = _EXPIRATION.match(expiration) if isinstance(expiration, str) else None
    try:
        if match is None:
            raise ValueError(expiration)
        expires = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
        expires = expires.replace(microsecond=int((match.group(2) or "0")[:6].ljust(6, "0")))
    except ValueError:
        shown = expiration if isinstance(expiration, str) else json.dumps(expiration)
        raise _bad_policy(f"Invalid 'expiration' value: '{shown}'") from None
    if "conditions" not in document:
        raise _bad_policy("Policy missing conditions.")
    if not isinstance(document["conditions"], list):
        raise _bad_policy("Invalid 'conditions' value: must be a List.")
    return expires, [_read_condition(item) for item in document["conditions"]]


def _holds(condition: _Condition, form: _Form, bucket: str) -> bool:
    if condition.field is None:
        return False
    # The policy's bucket condition is checked against the bucket the form is posted to.
    value = bucket if condition.field == "bucket" else form.get(condition.field)
    if value is None:  # a missing field fails even `starts-with ""` on S3
        return False
    if condition.op == "eq":
        return value == condition.operand
    if condition.field == "content-type":
        # "Content-Types values for a starts-with condition that include commas are interpreted as
        # lists. Each value in the list must meet the condition" (POST Policy).
        return all(item.strip(" \t").startswith(condition.operand) for item in value.split(","))
    return value.startswith(condition.operand)


def authorize_post(fields: Mapping[str, str] | Iterable[tuple[str, str]], filename: str | None, bucket: str,
                   credentials: Mapping[str, str], now: datetime | None = None, *,
                   region: str = "us-east-1") -> PostGrant:
    """Every check of a POST Object form except the file's size, in S3's order.

    ``fields`` are the form fields that precede ``file``, ``filename`` the file part's file name,
    ``bucket`` the bucket of the URL, ``credentials`` access key id → secret. Returns the key to
    store (``${filename}`` replaced) and the sizes the policy allows; raises ``S3Error``.

    Only Signature Version 4 forms are accepted. A form with Signature Version 2 fields
    (``AWSAccessKeyId``, ``signature``) and none of Version 4 is refused with 400
    ``InvalidArgument``: the project only hands out SigV4 forms, and S3 itself refuses
    Version 2 in every region opened since 2014.
    """
    form = fields if isinstance(fields, _Form) else _Form(fields)
    now = now or datetime.now(UTC)
    key = form.get("key")
    if key is not None and "${filename}" in key:
        # "The variable ${filename} is automatically replaced with the name of the file provided
        # by the user" (RESTObjectPOST); conditions are then checked against the result.
        key = key.replace("${filename}", _file_basename(filename))
    if not key:
        raise _missing("key")
    form = _Form([(name, key if name.lower() == "key" else value) for name, value in form.items])
    if len(key.encode()) > MAX_KEY_BYTES:
        raise S3Error(400, "KeyTooLongError", "Your key is too long.",
                      (("Size", str(len(key.encode()))), ("MaxSizeAllowed", str(MAX_KEY_BYTES))))

    if not any(form.get(name) is not None for name in _SIGNED_FIELDS[:4]):
        if form.get("AWSAccessKeyId") is not None or form.get("Signature") is not None:
            raise _argument("Signature Version 2 POST forms are not supported: sign the policy with "
                            "AWS4-HMAC-SHA256 (Signature Version 4).", "AWSAccessKeyId",
                            form.get("AWSAccessKeyId") or "")
        # An unsigned form is anonymous; only a publicly writable bucket takes it, and none is here.
        raise S3Error(403, "AccessDenied", "Access Denied")
    values = []
    for name in _SIGNED_FIELDS:
        value = form.get(name)
        if value is None:
            raise _missing(name)
        values.append(value)
    algorithm, credential, amz_date, signature, policy = values
    if algorithm != ALGORITHM:
        raise _argument('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"', "X-Amz-Algorithm", algorithm)
    if _parse_timestamp(amz_date) is None:
        raise _argument("X-Amz-Date must be formated via ISO8601 Long format", "X-Amz-Date", amz_date)
    access_key, day = _credential_scope(credential, region)
    secret = credentials.get(access_key)
    if secret is None:
        raise S3Error(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.",
                      (("AWSAccessKeyId", access_key),))

    # "the policy is the string you sign" (sigv4-authentication-HTTPPOST): the base64 text as
    # sent, so a policy changed after signing fails here, before it is even decoded.
    expected = hmac.new(signing_key(secret, day, region), policy.encode(), hashlib.sha256).digest()
    try:
        provided = bytes.fromhex(signature)
    except ValueError:
        provided = b""
    if not hmac.compare_digest(expected, provided):
        raise _mismatch(access_key, policy, signature)

    expires, conditions = _read_policy(policy)
    if now > expires:
        raise _denied("Policy expired.")
    low, high = 0, MAX_POST_OBJECT_SIZE
    for condition in conditions:
        if condition.op == "content-length-range":
            lo, hi = condition.bounds
            if lo is None or hi is None:
                raise _denied(f"Policy Condition failed: {condition.written}")
            low, high = max(low, lo), min(high, hi)
        elif not _holds(condition, form, bucket):
            raise _denied(f"Policy Condition failed: {condition.written}")
    for name, _ in form.items:
        lowered = name.lower()
        if lowered in _EXEMPT_FIELDS or lowered.startswith("x-ignore-"):
            continue
        if not any(condition.covers(lowered) for condition in conditions):
            raise _denied(f"Extra input fields: {name}")
    return PostGrant(key=key, access_key_id=access_key, min_size=low, max_size=high)


def verify_post(fields: Mapping[str, str] | Iterable[tuple[str, str]], filename: str | None, size: int, bucket: str,
                credentials: Mapping[str, str], now: datetime | None = None, *, region: str = "us-east-1") -> str:
    """``authorize_post`` then the size check: the key to store, or ``S3Error``."""
    grant = authorize_post(fields, filename, bucket, credentials, now, region=region)
    grant.check_size(size)
    return grant.key


# ---- SigV4 for every request the front proxies ---------------------------------------------

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_SIGNED_STREAMING = frozenset({"STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"})
_PAYLOAD_MODES = frozenset({UNSIGNED_PAYLOAD, "STREAMING-UNSIGNED-PAYLOAD-TRAILER", *_SIGNED_STREAMING})
_QUERY_AUTH = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-SignedHeaders",
               "X-Amz-Expires")
#: The parameters that authenticate a presigned URL: checked here, never forwarded to moto.
_QUERY_AUTH_NAMES = frozenset({*_QUERY_AUTH, "X-Amz-Security-Token"})
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_CHUNK_HEADER = re.compile(rb"([0-9a-fA-F]{1,16});chunk-signature=([0-9a-f]{64})")
_MAX_CHUNK_LINE = 4096
#: "The difference between the request time and the current time is too large" past 15 minutes.
MAX_SKEW = timedelta(minutes=15)
#: A presigned URL lives at most a week.
MAX_EXPIRES = 7 * 24 * 3600
#: The largest object one PUT takes (S3's limit); also bounds what the front spools.
MAX_PUT_SIZE = 5 * 1024**3


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


class _Signer(S3SigV4Auth):
    """botocore's S3 signer, told the payload hash and (to check a request) exactly which headers were signed."""

    def __init__(self, access_key: str, secret: str, region: str, payload: str, signed_headers: Any = None) -> None:
        super().__init__(Credentials(access_key, secret), "s3", region)
        self._payload = payload
        self._signed_headers = signed_headers

    def headers_to_sign(self, request: Any) -> Any:
        return super().headers_to_sign(request) if self._signed_headers is None else self._signed_headers

    def payload(self, request: Any) -> str:
        return self._payload


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
        raise _argument("Unsupported Authorization Type", "Authorization", values[0])
    parts = dict(piece.strip().partition("=")[::2] for piece in rest.split(","))
    credential, signed, signature = (parts.get(name, "") for name in ("Credential", "SignedHeaders", "Signature"))
    if not (credential and signed and signature):
        raise _header_fault("the authorization header requires three components: Credential, SignedHeaders, "
                            "and Signature.")
    if "x-amz-date" in received:
        sent = received["x-amz-date"][0]
        moment = _parse_timestamp(sent)
    else:  # S3 takes Date when there is no x-amz-date
        sent = (received.get("date") or [""])[0]
        try:
            moment = parsedate_to_datetime(sent).astimezone(UTC)
        except (TypeError, ValueError, IndexError):
            moment = None
    if moment is None:
        raise S3Error(403, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
    return credential, signed, signature, moment.strftime(_TIMESTAMP), sent


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
    if _parse_timestamp(values["X-Amz-Date"]) is None:
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
        raise _argument("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query "
                        "string parameter or the Authorization header should be specified", "Authorization",
                        authorization[0])
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
    access_key, day = _credential_scope(credential, region, fault)
    if day != timestamp[:8]:
        raise fault("Invalid credential date. Date is not the same as X-Amz-Date.")
    secret = credentials.get(access_key)
    if secret is None:
        raise S3Error(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.",
                      (("AWSAccessKeyId", access_key),))
    claim = (received.get("x-amz-content-sha256") or [None])[0]
    if claim is None and not presigned:
        raise S3Error(400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
    if claim is not None and claim not in _PAYLOAD_MODES and not _SHA256_HEX.match(claim):
        raise _argument("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
                        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid "
                        "sha256 value.", "x-amz-content-sha256", claim)
    signed_names = [name.strip().lower() for name in signed_headers.split(";")]
    # Host and every x-amz-* header sent must be signed, or anyone could add them to a signed request.
    unsigned = sorted(({"host"} | {name for name in received if name.startswith("x-amz-")}) - set(signed_names))
    if unsigned:
        raise S3Error(403, "AccessDenied", "There were headers present in the request which were not signed",
                      (("HeadersNotSigned", ", ".join(unsigned)),))
    signed_at = datetime.strptime(timestamp, _TIMESTAMP).replace(tzinfo=UTC)
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
    signer = _Signer(access_key, secret, region, claim or UNSIGNED_PAYLOAD, chosen)
    canonical = signer.canonical_request(request)
    string_to_sign = signer.string_to_sign(request, canonical)
    if not hmac.compare_digest(signer.signature(string_to_sign, request).encode(), signature.encode()):
        raise _mismatch(access_key, string_to_sign, signature, ("CanonicalRequest", canonical),
                        ("CanonicalRequestBytes", _hex_bytes(canonical)))
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


def verify_payload(signed: SignedRequest, body: IO[bytes], decoded_length: str | None = None) -> None:
    """The body against what was signed: its SHA-256, or every aws-chunked chunk's signature.

    ``decoded_length`` is ``x-amz-decoded-content-length``, which chunk-signed bodies must send.
    Leaves ``body`` at its start; raises ``S3Error``.
    """
    if _SHA256_HEX.match(signed.payload):
        digest = hashlib.sha256()
        while chunk := body.read(_CHUNK):
            digest.update(chunk)
        if digest.hexdigest() != signed.payload:
            raise S3Error(400, "XAmzContentSHA256Mismatch",
                          "The provided 'x-amz-content-sha256' header does not match what was computed.",
                          (("ClientComputedContentSHA256", signed.payload),
                           ("S3ComputedContentSHA256", digest.hexdigest())))
    elif signed.payload in _SIGNED_STREAMING:
        if decoded_length is None or not re.fullmatch(r"[0-9]{1,19}", decoded_length):
            raise S3Error(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
        if _verify_chunks(signed, body) != int(decoded_length):
            raise _incomplete()
    body.seek(0)


def _incomplete() -> S3Error:
    return S3Error(400, "IncompleteBody", "The request body terminated unexpectedly")


def _chained(signed: SignedRequest, kind: str, previous: str, provided: str, *hashes: str) -> str:
    """One link of a chunked upload's signature chain (sigv4-streaming): checked, then returned."""
    string = "\n".join((kind, signed.timestamp, signed.scope, previous, *hashes))
    expected = hmac.new(signed.signing_key, string.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), provided.encode()):
        raise _mismatch(signed.access_key_id, string, provided)
    return expected


def _verify_chunks(signed: SignedRequest, body: IO[bytes]) -> int:
    """Each chunk's signature chained from the seed, then the trailer's; the decoded size."""

    def line() -> bytes:
        text = body.readline(_MAX_CHUNK_LINE)
        if not text.endswith(b"\n"):
            raise _incomplete()
        return text.rstrip(b"\r\n")

    trailer = signed.payload.endswith("-TRAILER")
    previous, size, total = signed.signature, -1, 0
    while size != 0:  # every pass reads a chunk header from the spooled body, or raises
        match = _CHUNK_HEADER.fullmatch(line())
        if match is None:
            raise _incomplete()
        size = int(match[1], 16)
        data = body.read(size)
        if len(data) != size or (size and body.read(2) != b"\r\n"):
            raise _incomplete()
        previous = _chained(signed, "AWS4-HMAC-SHA256-PAYLOAD", previous, match[2].decode(), _EMPTY_SHA256,
                            hashlib.sha256(data).hexdigest())
        total += size
    trailers, provided = [], ""
    while text := line():  # trailing headers up to the empty line; bounded by the body
        name, colon, value = text.decode("latin-1").partition(":")
        if not colon or not trailer:
            raise _incomplete()
        if name.strip().lower() == "x-amz-trailer-signature":
            provided = value.strip()
        else:
            trailers.append(f"{name.strip().lower()}:{value.strip()}\n")
    if trailer:
        _chained(signed, "AWS4-HMAC-SHA256-TRAILER", previous, provided,
                 hashlib.sha256("".join(trailers).encode()).hexdigest())
    if body.read(1):
        raise _incomplete()
    return total


def _upstream_auth(method: str, url: str, access_key: str, secret: str, region: str) -> dict[str, str]:
    """``Authorization``, ``X-Amz-Date``, ``X-Amz-Content-SHA256`` for ``url``, signed by botocore."""
    request = AWSRequest(method=method, url=url)
    _Signer(access_key, secret, region, UNSIGNED_PAYLOAD).add_auth(request)
    return {name: request.headers[name] for name in ("Authorization", "X-Amz-Date", "X-Amz-Content-SHA256")}


# ---- the HTTP front --------------------------------------------------------------------

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                         "trailers", "transfer-encoding", "upgrade", "proxy-connection"})
# Form fields that stand for PutObject parameters ("Parameters that are passed to PUT through
# HTTP headers are instead passed as form fields", RESTObjectPOST).
_PUT_PARAMS = {
    "content-type": "ContentType", "cache-control": "CacheControl", "content-disposition": "ContentDisposition",
    "content-encoding": "ContentEncoding", "content-language": "ContentLanguage", "expires": "Expires",
    "content-md5": "ContentMD5", "acl": "ACL", "x-amz-storage-class": "StorageClass",
    "x-amz-server-side-encryption": "ServerSideEncryption",
    "x-amz-server-side-encryption-aws-kms-key-id": "SSEKMSKeyId",
    "x-amz-website-redirect-location": "WebsiteRedirectLocation",
}


class _ClientGone(Exception):
    """The client closed the connection or stopped sending before Content-Length bytes."""


class _ClientTimeout(_ClientGone):
    """The client sent nothing for the handler's timeout."""


class _BodyReader:
    """The request body, ``Content-Length`` bytes of the connection, read in chunks."""

    def __init__(self, rfile: Any, length: int) -> None:
        if length < 0:
            raise ValueError(f"a body cannot have {length} bytes")
        self.rfile = rfile
        self.remaining = length

    def read(self, size: int = _CHUNK) -> bytes:
        if self.remaining <= 0:
            return b""
        reader = getattr(self.rfile, "read1", self.rfile.read)
        try:
            data = reader(min(size, self.remaining))
        except TimeoutError:
            raise _ClientTimeout from None
        except OSError:
            raise _ClientGone from None
        if not data:
            raise _ClientGone
        self.remaining -= len(data)
        return data

    def drain(self, limit: int) -> bool:
        """Discard up to ``limit`` bytes; whether the body was read to its end."""
        try:
            while self.remaining > 0 and limit > 0:
                limit -= len(self.read(min(_CHUNK, limit)))
        except _ClientGone:
            return False
        return self.remaining == 0


def _content_length(headers: Any) -> int | None:
    """``Content-Length`` (None when absent); S3 answers 400 to a negative, non-numeric or repeated one."""
    values = {value.strip() for value in headers.get_all("Content-Length") or []}
    if not values:
        return None
    (value,) = values if len(values) == 1 else ("",)
    if not re.fullmatch(r"[0-9]{1,19}", value):
        raise S3Error(400, "BadRequest", "An error occurred when parsing the HTTP request.")
    return int(value)


def _redact(text: str) -> str:
    # Query strings hold presigned URLs' credentials and signatures: none is logged.
    return re.sub(r"\?\S*", "?…", text)


def _bucket_of(path: str) -> str | None:
    """The bucket of a path-style ``/<bucket>`` or ``/<bucket>/``, else None."""
    name = path[1:] if path.startswith("/") else path
    name = name[:-1] if name.endswith("/") else name
    return unquote(name) if name and "/" not in name else None


def _tagging_query(document: str) -> str:
    """The ``tagging`` field's ``<Tagging>`` XML as the query-string form PutObject takes."""
    try:
        root = ET.fromstring(document)
    except ET.ParseError:
        raise S3Error(400, "MalformedXML", "The XML you provided was not well-formed or did not validate "
                      "against our published schema") from None
    tags = [(tag.findtext("{*}Key") or "", tag.findtext("{*}Value") or "") for tag in root.iter()
            if tag.tag.rsplit("}", 1)[-1] == "Tag"]
    return urlencode(tags)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], front: S3Front) -> None:
        self.front = front
        self.open_sockets: set[socket.socket] = set()
        self.lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer is routine; anything else is a bug worth a traceback.
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            log.debug("connection from %s ended: %s", client_address[0], error)
        else:
            log.error("request from %s failed", client_address[0], exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 120  # idle keep-alive and stalled uploads (S3's RequestTimeout is ~20 s of silence)

    def version_string(self) -> str:
        return "AmazonS3"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        log.debug("%s %s", self.address_string(), _redact(format % args))

    # Every method but a POST Object goes to moto, once its signature holds.
    def do_GET(self) -> None:
        self._proxy()

    do_HEAD = do_PUT = do_DELETE = do_OPTIONS = do_PATCH = do_GET

    def _post_object_bucket(self) -> str | None:
        """The bucket of a browser-based upload (``POST /<bucket>``, no query), which the front answers itself."""
        split = urlsplit(self.path)
        return _bucket_of(split.path) if self.command == "POST" and not split.query else None

    def do_POST(self) -> None:
        bucket = self._post_object_bucket()
        if bucket is None:
            self._proxy()
            return
        try:
            _PostObject(self, bucket).run()
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:
            log.exception("POST Object to %s failed", bucket)
            _send_error(self, S3Error(500, "InternalError", "We encountered an internal error. Please try again."),
                        close=True)

    def handle_expect_100(self) -> bool:
        # S3 refuses a request it will not take before its body is sent (100-continue), not after.
        if self._post_object_bucket() is None:
            try:
                self._body_length()
                self._authenticate()
            except S3Error as error:
                self._refuse(error, close=True)
                return False
        return super().handle_expect_100()

    # ---- proxy ----------------------------------------------------------------------

    def _body_length(self) -> int | None:
        if "Transfer-Encoding" in self.headers:
            # S3 takes no chunked transfer encoding: a request says how long its body is.
            raise S3Error(501, "NotImplemented", "A header you provided implies functionality that is not implemented",
                          (("Header", "Transfer-Encoding"),))
        length = _content_length(self.headers)
        if length is not None and length > MAX_PUT_SIZE:
            raise S3Error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size",
                          (("ProposedSize", str(length)), ("MaxSizeAllowed", str(MAX_PUT_SIZE))))
        return length

    def _authenticate(self) -> SignedRequest | None:
        if self.command == "OPTIONS":
            return None  # CORS preflights are never signed: S3 answers them from the bucket's CORS rules
        front = self.server.front
        return authenticate_request(self.command, self.path, self.headers, front.credentials, region=front.region)

    def _refuse(self, error: S3Error, *, close: bool) -> None:
        log.warning("request refused: %d %s %s %s client=%s", error.status, error.code, self.command,
                    _redact(self.path), self.client_address[0])
        _send_error(self, error, close=close)

    def _proxy(self) -> None:
        front = self.server.front
        try:
            length = self._body_length()
        except S3Error as error:
            self._refuse(error, close=True)  # a body of unknown length cannot be skipped
            return
        try:
            signed = self._authenticate()
        except S3Error as error:
            drained = not length or _BodyReader(self.rfile, length).drain(front.drain_limit)
            self._refuse(error, close=not drained)
            return
        # Spooled whole before moto sees a byte: the payload is checked against its signature first.
        body = tempfile.SpooledTemporaryFile(max_size=front.spool_memory)
        try:
            reader = _BodyReader(self.rfile, length or 0)
            while chunk := reader.read():
                body.write(chunk)
            body.seek(0)
            if signed is not None:
                verify_payload(signed, body, self.headers.get("x-amz-decoded-content-length"))
            self._forward(signed, body, length)
        except S3Error as error:
            self._refuse(error, close=False)
        except _ClientGone:
            self.close_connection = True
        finally:
            body.close()

    def _forward(self, signed: SignedRequest | None, body: IO[bytes], length: int | None) -> None:
        front = self.server.front
        split = urlsplit(self.path)
        presigned = signed is not None and signed.presigned
        kept = [piece for piece in split.query.split("&")
                if piece and not (presigned and unquote(piece.partition("=")[0]) in _QUERY_AUTH_NAMES)]
        target = (split.path or "/") + ("?" + "&".join(kept) if kept else "")
        skip, extra = _HOP_BY_HOP | {"host", "expect", "content-length"}, {}
        if signed is not None and presigned:
            # moto gets a presigned request signed in headers: its URL (which moto logs) carries no credentials.
            skip |= {"authorization", "x-amz-date", "x-amz-content-sha256"}
            extra = _upstream_auth(self.command, front.moto_url + target, signed.access_key_id,
                                   front.credentials[signed.access_key_id], front.region)
        conn = front._upstream()
        try:
            conn.putrequest(self.command, target, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", front._moto_netloc)
            headers = [(name, value) for name, value in self.headers.items() if name.lower() not in skip]
            for name, value in [*headers, *extra.items()]:
                conn.putheader(name, value)
            if length is not None:
                conn.putheader("Content-Length", str(length))
            conn.endheaders()
            while chunk := body.read(_CHUNK):
                conn.send(chunk)
            response = conn.getresponse()
        except OSError as exc:
            conn.close()
            log.error("moto unreachable for %s %s: %s", self.command, split.path, exc)
            _send_error(self, S3Error(503, "ServiceUnavailable", "Please reduce your request rate."), close=True)
            return
        try:
            self._relay(response)
        except (OSError, HTTPException):
            self.close_connection = True  # mid-body: the client can only learn it from the closed connection
        finally:
            conn.close()

    def _relay(self, response: Any) -> None:
        self.send_response_only(response.status, response.reason)
        headers = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
        bodyless = self.command == "HEAD" or response.status in (204, 304) or response.status < 200
        length = response.getheader("Content-Length")
        if bodyless or length is not None:
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            while not bodyless and (chunk := response.read(_CHUNK)):
                self.wfile.write(chunk)
            return
        data = response.read()  # moto answered without a length: small XML, held in memory anyway
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _request_ids() -> tuple[str, str]:
    return uuid.uuid4().hex[:16].upper(), base64.b64encode(secrets.token_bytes(48)).decode()


def _send_error(handler: _Handler, error: S3Error, *, close: bool) -> None:
    request_id, host_id = _request_ids()
    body = error.to_xml(request_id, host_id)
    handler.send_response(error.status)
    handler.send_header("Content-Type", "application/xml")
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("x-amz-request-id", request_id)
    handler.send_header("x-amz-id-2", host_id)
    if close:
        handler.send_header("Connection", "close")
        handler.close_connection = True
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


class _PostObject:
    """One ``POST /<bucket>`` browser upload: parse, authorize, stream, store, answer."""

    def __init__(self, handler: _Handler, bucket: str) -> None:
        self.handler = handler
        self.front = handler.server.front
        self.bucket = bucket
        self.reader: _BodyReader | None = None
        headers = handler.headers
        forwarded = headers.get("X-Forwarded-For") if self.front.trust_forwarded_for else None
        self.client_ip = forwarded.split(",")[0].strip() if forwarded else handler.client_address[0]

    def run(self) -> None:
        spool = tempfile.SpooledTemporaryFile(max_size=self.front.spool_memory)
        try:
            fields, key, size = self._receive(spool)
        except S3Error as error:
            spool.close()
            self._refuse(error)
            return
        except _ClientTimeout:
            spool.close()
            self._refuse(S3Error(400, "RequestTimeout", "Your socket connection to the server was not read from "
                                 "or written to within the timeout period. Idle connections will be closed."))
            return
        except _ClientGone:
            spool.close()
            self.handler.close_connection = True
            return
        if self.front.on_accept is not None:
            # Before the object exists: its notification may be consumed before _store returns.
            self.front.on_accept(self.bucket, key, self.client_ip)
        try:
            try:
                etag = self.front._store(self.bucket, key, fields, spool, size)
            except S3Error as error:
                self._refuse(error)
                return
        finally:
            spool.close()
        record = UploadRecord(bucket=self.bucket, key=key, size=size, etag=etag.strip('"'),
                              client_ip=self.client_ip, time=datetime.now(UTC))
        log.info("upload stored: bucket=%s key=%s size=%d client=%s", self.bucket, key, size, self.client_ip)
        if self.front.on_upload is not None:
            try:
                self.front.on_upload(record)
            except Exception:  # the object is stored; S3 would answer success whatever we do with it
                log.exception("on_upload failed for %s/%s", self.bucket, key)
        self._succeed(_Form(fields), key, etag)

    def _receive(self, spool: IO[bytes]) -> tuple[list[tuple[str, str]], str, int]:
        """Read the fields, authorize them, then stream the file into ``spool``."""
        from werkzeug.http import parse_options_header
        from werkzeug.sansio.multipart import NEED_DATA, Data, Epilogue, Field, File, MultipartDecoder

        headers = self.handler.headers
        # Without a valid length the body cannot be skipped: the connection closes after the answer.
        length = None if "Transfer-Encoding" in headers else _content_length(headers)
        if length is None:
            raise S3Error(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
        self.reader = reader = _BodyReader(self.handler.rfile, length)
        mimetype, options = parse_options_header(headers.get("Content-Type", ""))
        if mimetype.lower() != "multipart/form-data":
            raise S3Error(400, "RequestIsNotMultiPartContent",
                          "Bucket POST must be of the enclosure-type multipart/form-data.")
        boundary = options.get("boundary")
        malformed = S3Error(400, "MalformedPOSTRequest",
                            "The body of your POST request is not well-formed multipart/form-data.")
        if not boundary or not boundary.isascii():
            raise malformed
        decoder = MultipartDecoder(boundary.encode("ascii"))

        def events() -> Iterator[Any]:
            while True:
                try:
                    event = decoder.next_event()
                except (ValueError, UnicodeDecodeError):
                    raise malformed from None
                if event is NEED_DATA:
                    decoder.receive_data(reader.read() or None)
                    continue
                yield event
                if isinstance(event, Epilogue):
                    return

        fields: list[tuple[str, str]] = []
        pre_data = 0
        stream = events()
        current: str | None = None
        value = bytearray()
        for event in stream:
            if isinstance(event, File | Field) and (event.name or "").lower() == "file":
                filename = event.filename if isinstance(event, File) else ""
                break
            if isinstance(event, File | Field):
                current, value = event.name or "", bytearray()
                pre_data += len(current.encode())
            elif isinstance(event, Data) and current is not None:
                value += event.data
                pre_data += len(event.data)
                if pre_data > MAX_PRE_DATA:
                    raise S3Error(400, "MaxPostPreDataLengthExceededError",
                                  "Your POST request fields preceding the upload file were too large.")
                if not event.more_data:
                    fields.append((current, value.decode("utf-8", "replace")))
                    current = None
        else:
            raise _argument("POST requires exactly one file upload per request.", "file", "0")

        grant = authorize_post(fields, filename, self.bucket, self.front.credentials, region=self.front.region)
        # Fields after `file` are ignored by S3: the first Data events are the file, nothing else is read.
        size = 0
        trailer = len(b"\r\n--" + boundary.encode("ascii") + b"--\r\n")
        for event in stream:
            if not isinstance(event, Data):
                break
            size += len(event.data)
            if size > grant.max_size:
                # Count on (without storing) for an exact ProposedSize, up to drain_limit.
                budget = self.front.drain_limit
                while event.more_data and budget > 0:
                    event = next(stream)
                    size += len(event.data)
                    budget -= len(event.data)
                if event.more_data:
                    size += max(0, reader.remaining - trailer)  # an upper estimate from Content-Length
                grant.check_size(size)
            spool.write(event.data)
            if not event.more_data:
                break
        grant.check_size(size)
        if not reader.drain(self.front.drain_limit):
            self.handler.close_connection = True
        spool.seek(0)
        return fields, grant.key, size

    def _refuse(self, error: S3Error) -> None:
        drained = self.reader.drain(self.front.drain_limit) if self.reader is not None else False
        log.warning("upload refused: %d %s bucket=%s client=%s", error.status, error.code, self.bucket,
                    self.client_ip)
        _send_error(self.handler, error, close=not drained)
        if not drained:
            self._linger()

    def _linger(self) -> None:
        """Half-close and read a little, so the client can read the error before the socket resets."""
        connection = self.handler.connection
        try:
            self.handler.wfile.flush()
            connection.shutdown(socket.SHUT_WR)
            connection.settimeout(1.0)
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline and connection.recv(_CHUNK):
                pass
        except OSError:
            pass

    def _succeed(self, form: _Form, key: str, etag: str) -> None:
        handler = self.handler
        request_id, host_id = _request_ids()
        host = handler.headers.get("Host") or self.front._netloc
        location = f"http://{host}/{quote(self.bucket, safe='')}/{quote(key, safe='')}"
        redirect = form.get("success_action_redirect") or form.get("redirect")
        status, body = 204, b""
        if redirect and urlsplit(redirect).scheme.lower() in ("http", "https") and urlsplit(redirect).netloc:
            # "the bucket, key and etag parameters are added to the URL" (RESTObjectPOST), then 303.
            base, _, fragment = redirect.partition("#")
            query = urlencode({"bucket": self.bucket, "key": key, "etag": etag})
            location = f"{base}{'&' if '?' in base else '?'}{query}" + (f"#{fragment}" if fragment else "")
            status = 303
        elif form.get("success_action_status") == "200":
            status = 200
        elif form.get("success_action_status") == "201":
            status = 201
            body = ('<?xml version="1.0" encoding="UTF-8"?>\n<PostResponse>'
                    f"<Location>{escape(location)}</Location><Bucket>{escape(self.bucket)}</Bucket>"
                    f"<Key>{escape(key)}</Key><ETag>{escape(etag)}</ETag></PostResponse>").encode()
        handler.send_response(status)
        handler.send_header("ETag", etag)
        handler.send_header("Location", location)
        handler.send_header("x-amz-request-id", request_id)
        handler.send_header("x-amz-id-2", host_id)
        if body:
            handler.send_header("Content-Type", "application/xml")
        if status != 204:
            handler.send_header("Content-Length", str(len(body)))
        if handler.close_connection:
            handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(body)


class S3Front:
    """S3's browser-based upload checks in front of a moto server; everything else proxied once signed.

    ``credentials`` maps access key id → secret access key; they sign POST forms and every
    proxied request alike. ``on_upload`` is called once per stored upload (from the request's
    thread); ``on_accept(bucket, key, client_ip)`` once an upload has passed every check, just
    before it is stored (so its S3 event cannot outrun it). ``trust_forwarded_for`` takes the
    client IP from ``X-Forwarded-For`` instead of the TCP peer. A refused request's body is read
    and discarded up to ``drain_limit`` bytes so that the client can read the error; past that
    the connection is closed, as S3 does. An accepted body (a file, a proxied request's) is
    spooled in memory up to ``spool_memory`` bytes, then on disk.
    """

    def __init__(self, moto_url: str, credentials: Mapping[str, str], region: str = "us-east-1",
                 on_upload: Callable[[UploadRecord], None] | None = None, host: str = "127.0.0.1", port: int = 0,
                 *, on_accept: Callable[[str, str, str], None] | None = None,
                 trust_forwarded_for: bool = False, drain_limit: int = 64 * 1024**2,
                 spool_memory: int = 8 * 1024**2, upstream_timeout: float = 300.0) -> None:
        upstream = urlsplit(moto_url)
        if upstream.scheme not in ("http", "https") or not upstream.hostname:
            raise ValueError(f"moto_url must be an http(s) URL, not {moto_url!r}")
        self.moto_url = moto_url.rstrip("/")
        self.credentials = dict(credentials)
        self.region = region
        self.on_upload = on_upload
        self.on_accept = on_accept
        self.host = host
        self.port = port
        self.trust_forwarded_for = trust_forwarded_for
        self.drain_limit = drain_limit
        self.spool_memory = spool_memory
        self.upstream_timeout = upstream_timeout
        self._upstream_split = upstream
        self._moto_netloc = upstream.netloc
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self._netloc = ""

    @property
    def url(self) -> str | None:
        """The base URL while started (``http://127.0.0.1:<port>``), else None."""
        return f"http://{self._netloc}" if self._server is not None else None

    def start(self) -> str:
        if self._server is not None:
            raise RuntimeError("S3Front is already started")
        import boto3
        from botocore.config import Config

        access_key, secret = next(iter(self.credentials.items()), ("testing", "testing"))
        self._client = boto3.client(
            "s3", endpoint_url=self.moto_url, region_name=self.region, aws_access_key_id=access_key,
            aws_secret_access_key=secret,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                          retries={"max_attempts": 3, "mode": "standard"}))
        self._server = _Server((self.host, self.port), self)
        bound_host, bound_port = self._server.server_address[:2]
        self.port = bound_port
        self._netloc = f"[{bound_host}]:{bound_port}" if ":" in str(bound_host) else f"{bound_host}:{bound_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"s3front-{bound_port}", daemon=True)
        self._thread.start()
        log.info("S3 front on http://%s → %s", self._netloc, self.moto_url)
        return f"http://{self._netloc}"

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with server.lock:
            sockets = list(server.open_sockets)
        for sock in sockets:  # keep-alive connections would otherwise idle until their timeout
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def __enter__(self) -> S3Front:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _upstream(self) -> HTTPConnection:
        split = self._upstream_split
        cls = HTTPSConnection if split.scheme == "https" else HTTPConnection
        return cls(split.hostname, split.port, timeout=self.upstream_timeout)

    def _store(self, bucket: str, key: str, fields: list[tuple[str, str]], body: IO[bytes], size: int) -> str:
        """PutObject into moto with the form's PutObject fields; returns the quoted ETag."""
        from botocore.exceptions import BotoCoreError, ClientError
        from botocore.utils import parse_timestamp

        params: dict[str, Any] = {"Bucket": bucket, "Key": key, "Body": body, "ContentLength": size}
        metadata: dict[str, str] = {}
        for name, value in fields:
            lowered = name.lower()
            if lowered in _PUT_PARAMS:
                params.setdefault(_PUT_PARAMS[lowered], value)
            elif lowered.startswith("x-amz-meta-"):
                metadata.setdefault(lowered[len("x-amz-meta-"):], value)
            elif lowered == "tagging":
                params["Tagging"] = _tagging_query(value)
        if metadata:
            params["Metadata"] = metadata
        if "Expires" in params:
            try:
                params["Expires"] = parse_timestamp(params["Expires"])
            except (ValueError, TypeError, OverflowError):
                del params["Expires"]  # S3 keeps an unparsable Expires as text; boto3 can only send dates
        try:
            return self._client.put_object(**params)["ETag"]
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 500)
            raise S3Error(status, error.get("Code") or "InternalError", error.get("Message") or str(exc)) from exc
        except (BotoCoreError, OSError) as exc:
            log.error("storing %s/%s in moto failed: %s", bucket, key, exc)
            raise S3Error(503, "ServiceUnavailable", "Please reduce your request rate.") from exc
