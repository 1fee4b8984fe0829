"""The POST policy document (sigv4-HTTPPOSTConstructPolicy), read as S3 reads it: its
expiration and its conditions, each of which is then checked against one form field."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from openips_cli.s3front.errors import S3Error

_EXPIRATION = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z$")


def _bad_policy(detail: str) -> S3Error:
    return S3Error(400, "InvalidPolicyDocument", f"Invalid Policy: {detail}")


@dataclass(frozen=True)
class Condition:
    op: str  # "eq", "starts-with" or "content-length-range"
    field: str | None  # lowercased name without "$"; None when the policy named no field
    operand: str = ""
    bounds: tuple[int | None, int | None] = (None, None)  # None: a bound that holds no size
    written: str = ""  # as S3 quotes it in "Policy Condition failed: ..."

    def covers(self, name: str) -> bool:
        return self.op != "content-length-range" and self.field == name.lower()

    def holds(self, value: str | None) -> bool:
        """Whether the field's ``value`` (None: the form has no such field) meets an eq or starts-with."""
        if self.field is None or value is None:  # a missing field fails even `starts-with ""` on S3
            return False
        if self.op == "eq":
            return value == self.operand
        if self.field == "content-type":
            # "Content-Types values for a starts-with condition that include commas are interpreted as
            # lists. Each value in the list must meet the condition" (POST Policy).
            return all(item.strip(" \t").startswith(self.operand) for item in value.split(","))
        return value.startswith(self.operand)


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


def _read_condition(item: Any) -> Condition:
    if isinstance(item, dict):
        if len(item) != 1:
            raise _bad_policy("Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.")
        ((name, value),) = item.items()
        if value is None:
            raise _bad_policy("Invalid JSON.")
        if not isinstance(value, str):
            raise _bad_policy("Invalid Simple-Condition: value must be a string.")
        # S3 quotes a simple condition as the `eq` it stands for.
        return Condition("eq", name.lower(), value, written=_written(["eq", f"${name}", value]))
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
        return Condition(op, None, bounds=(_read_bound(item[1]), _read_bound(item[2])), written=_written(item))
    name, operand = item[1], item[2]
    if not isinstance(name, str) or not isinstance(operand, str):
        raise _bad_policy("Invalid JSON.")
    # A name without "$" names no form field: the condition can only fail.
    field = name[1:].lower() if name.startswith("$") else None
    return Condition(op, field, operand, written=_written(item))


def read_policy(policy: str) -> tuple[datetime, list[Condition]]:
    """The base64 ``Policy`` field → its expiration and conditions; 400 ``InvalidPolicyDocument`` otherwise."""
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
