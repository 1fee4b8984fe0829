"""Signature Version 4 as both kinds of check use it: the signing key, the credential scope,
timestamps, the payload modes, and botocore's signer."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.auth import S3SigV4Auth
from botocore.credentials import Credentials

from openips_cli.s3front.errors import S3Error, invalid_argument

ALGORITHM = "AWS4-HMAC-SHA256"
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
_AMZ_DATE = re.compile(r"^\d{8}T\d{6}Z$")

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
SIGNED_STREAMING = frozenset({"STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"})
#: What ``x-amz-content-sha256`` may say besides the body's SHA-256.
PAYLOAD_MODES = frozenset({UNSIGNED_PAYLOAD, "STREAMING-UNSIGNED-PAYLOAD-TRAILER", *SIGNED_STREAMING})
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def parse_timestamp(text: str) -> datetime | None:
    """An ISO 8601 basic timestamp (``20130524T000000Z``) in UTC, or None."""
    if not _AMZ_DATE.match(text):
        return None
    try:
        return datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def signing_key(secret: str, day: str, region: str, service: str = "s3") -> bytes:
    """The SigV4 signing key: HMAC chain over the day (yyyymmdd), region, service, "aws4_request"."""
    key = hmac.new(f"AWS4{secret}".encode(), day.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def credential_scope(credential: str, region: str,
                     fault: Callable[..., S3Error] | None = None) -> tuple[str, str]:
    """``<akid>/<yyyymmdd>/<region>/s3/aws4_request`` → (access key, day), or ``fault(message, *extra)``.

    The default fault is a POST form's InvalidArgument; request authentication passes its own.
    """

    def form_fault(message: str, *extra: tuple[str, str]) -> S3Error:
        return invalid_argument(message, "X-Amz-Credential", credential, *extra)

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


class Signer(S3SigV4Auth):
    """botocore's S3 signer, told the payload hash and (to check a request) exactly which headers were signed."""

    def __init__(self, access_key: str, secret: str, region: str, payload: str, signed_headers: Any = None) -> None:
        super().__init__(Credentials(access_key, secret), "s3", region)
        self._payload = payload
        self._signed_headers = signed_headers

    def headers_to_sign(self, request: Any) -> Any:
        return super().headers_to_sign(request) if self._signed_headers is None else self._signed_headers

    def payload(self, request: Any) -> str:
        return self._payload
