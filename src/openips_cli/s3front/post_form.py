"""Every check of a browser-based upload form (S3 "POST Object", Signature Version 4) but the
file's size, in S3's order; ``PostGrant`` then checks the size once the file has arrived."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from openips_cli.s3front.errors import (
    S3Error,
    entity_too_large,
    invalid_argument,
    signature_mismatch,
    unknown_access_key,
)
from openips_cli.s3front.policy import Condition, read_policy
from openips_cli.s3front.signing import ALGORITHM, credential_scope, parse_timestamp, signing_key

#: "You can upload objects of up to 5 GB in size" with POST (RESTObjectPOST).
MAX_POST_OBJECT_SIZE = 5 * 1024**3
MAX_KEY_BYTES = 1024

# The fields that must be in a signed form, in the order S3 names the first one missing.
_SIGNED_FIELDS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Signature", "Policy")
# "Each form field that you specify in a form (except x-amz-signature, file, policy, and field
# names that have an x-ignore- prefix) must appear in the list of conditions." (POST Policy)
_EXEMPT_FIELDS = frozenset({"x-amz-signature", "file", "policy"})

FormFields = Mapping[str, str] | Iterable[tuple[str, str]]


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
            raise entity_too_large(size, self.max_size)
        if size < self.min_size:
            raise S3Error(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size",
                          (("ProposedSize", str(size)), ("MinSizeAllowed", str(self.min_size))))


class Form:
    """Form fields in the order sent; names are case-insensitive, values are not (RESTObjectPOST)."""

    def __init__(self, fields: FormFields) -> None:
        items = fields.items() if isinstance(fields, Mapping) else fields
        self.items: list[tuple[str, str]] = [(str(name), str(value)) for name, value in items]

    def get(self, name: str) -> str | None:
        lowered = name.lower()
        return next((value for field, value in self.items if field.lower() == lowered), None)


def _missing(name: str) -> S3Error:
    # S3's wording, two spaces included; the "order" hint is because fields after `file` are unread.
    return invalid_argument(f"Bucket POST must contain a field named '{name}'.  "
                            "If it is specified, please check the order of the fields.", name)


def _denied(detail: str) -> S3Error:
    return S3Error(403, "AccessDenied", f"Invalid according to Policy: {detail}")


def _file_basename(filename: str | None) -> str:
    # Old browsers send a whole client path (C:\Users\me\photo.jpg); S3 keeps the last segment.
    return re.split(r"[\\/]", filename or "")[-1]


def _field_value(condition: Condition, form: Form, bucket: str) -> str | None:
    # The policy's bucket condition is checked against the bucket the form is posted to.
    if condition.field == "bucket":
        return bucket
    return form.get(condition.field) if condition.field is not None else None


def authorize_post(fields: FormFields, filename: str | None, bucket: str, credentials: Mapping[str, str],
                   now: datetime | None = None, *, region: str = "us-east-1") -> PostGrant:
    """Every check of a POST Object form except the file's size, in S3's order.

    ``fields`` are the form fields that precede ``file``, ``filename`` the file part's file name,
    ``bucket`` the bucket of the URL, ``credentials`` access key id → secret. Returns the key to
    store (``${filename}`` replaced) and the sizes the policy allows; raises ``S3Error``.

    Only Signature Version 4 forms are accepted. A form with Signature Version 2 fields
    (``AWSAccessKeyId``, ``signature``) and none of Version 4 is refused with 400
    ``InvalidArgument``: the project only hands out SigV4 forms, and S3 itself refuses
    Version 2 in every region opened since 2014.
    """
    form = fields if isinstance(fields, Form) else Form(fields)
    now = now or datetime.now(UTC)
    key = form.get("key")
    if key is not None and "${filename}" in key:
        # "The variable ${filename} is automatically replaced with the name of the file provided
        # by the user" (RESTObjectPOST); conditions are then checked against the result.
        key = key.replace("${filename}", _file_basename(filename))
    if not key:
        raise _missing("key")
    form = Form([(name, key if name.lower() == "key" else value) for name, value in form.items])
    if len(key.encode()) > MAX_KEY_BYTES:
        raise S3Error(400, "KeyTooLongError", "Your key is too long.",
                      (("Size", str(len(key.encode()))), ("MaxSizeAllowed", str(MAX_KEY_BYTES))))

    if not any(form.get(name) is not None for name in _SIGNED_FIELDS[:4]):
        if form.get("AWSAccessKeyId") is not None or form.get("Signature") is not None:
            raise invalid_argument("Signature Version 2 POST forms are not supported: sign the policy with "
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
        raise invalid_argument('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"', "X-Amz-Algorithm", algorithm)
    if parse_timestamp(amz_date) is None:
        raise invalid_argument("X-Amz-Date must be formated via ISO8601 Long format", "X-Amz-Date", amz_date)
    access_key, day = credential_scope(credential, region)
    secret = credentials.get(access_key)
    if secret is None:
        raise unknown_access_key(access_key)

    # "the policy is the string you sign" (sigv4-authentication-HTTPPOST): the base64 text as
    # sent, so a policy changed after signing fails here, before it is even decoded.
    expected = hmac.new(signing_key(secret, day, region), policy.encode(), hashlib.sha256).digest()
    try:
        provided = bytes.fromhex(signature)
    except ValueError:
        provided = b""
    if not hmac.compare_digest(expected, provided):
        raise signature_mismatch(access_key, policy, signature)

    expires, conditions = read_policy(policy)
    if now > expires:
        raise _denied("Policy expired.")
    low, high = 0, MAX_POST_OBJECT_SIZE
    for condition in conditions:
        if condition.op == "content-length-range":
            lo, hi = condition.bounds
            if lo is None or hi is None:
                raise _denied(f"Policy Condition failed: {condition.written}")
            low, high = max(low, lo), min(high, hi)
        elif not condition.holds(_field_value(condition, form, bucket)):
            raise _denied(f"Policy Condition failed: {condition.written}")
    for name, _ in form.items:
        lowered = name.lower()
        if lowered in _EXEMPT_FIELDS or lowered.startswith("x-ignore-"):
            continue
        if not any(condition.covers(lowered) for condition in conditions):
            raise _denied(f"Extra input fields: {name}")
    return PostGrant(key=key, access_key_id=access_key, min_size=low, max_size=high)


def verify_post(fields: FormFields, filename: str | None, size: int, bucket: str, credentials: Mapping[str, str],
                now: datetime | None = None, *, region: str = "us-east-1") -> str:
    """``authorize_post`` then the size check: the key to store, or ``S3Error``."""
    grant = authorize_post(fields, filename, bucket, credentials, now, region=region)
    grant.check_size(size)
    return grant.key
