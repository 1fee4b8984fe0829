"""Request parsing with IPS faults: bodies, query parameters, validation errors."""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from openips.models import errors

MAX_BODY_BYTES = 256 * 1024
# Every JSON string of a request; fields with a structure of their own are checked by their model.
MAX_STRING_CHARS = 8192
LONG_FIELDS = frozenset({"xmpKeywords"})
_INTEGER = re.compile(r"-?[0-9]{1,4000}")
M = TypeVar("M", bound=BaseModel)


def _path(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "body"


def fault_from_validation(exc: ValidationError) -> errors.IpsApiFault:
    """The first problem as an IPS fault naming the field (30002 missing, else 30001)."""
    first = exc.errors()[0]
    field = _path(first["loc"])
    if first["type"] == "missing":
        return errors.missing_parameter(f"Missing required field {field}")
    if first["type"] == "extra_forbidden":
        return errors.invalid_parameter(f"Unknown field {field}")
    return errors.invalid_parameter(f"Invalid value for {field}: {first['msg']}")


def _first_long_string(value: Any, where: tuple) -> tuple | None:
    """Where the first string over ``MAX_STRING_CHARS`` is (a field path), if any."""
    if isinstance(value, str):
        return where if len(value) > MAX_STRING_CHARS and not (where and where[-1] in LONG_FIELDS) else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if found := _first_long_string(item, (*where, key)):
            return found
    return None


def _json_number(text: str) -> int | float:
    """A JSON number with a fraction or exponent: an ``int`` when it is integral (JSON Schema's view)."""
    number = Decimal(text)
    if number.is_finite() and number == number.to_integral_value() and abs(number) < 10**30:
        return int(number)
    return float(text)


def _not_json(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")  # Python's json would read NaN and Infinity


def parse_body(model: type[M], body: str | None, is_base64: bool = False) -> M:
    if not body:
        raise errors.missing_parameter("Missing JSON request body")
    try:
        raw = base64.b64decode(body, validate=True) if is_base64 else body.encode("utf-8", "surrogatepass")
    except ValueError as exc:
        raise errors.IpsApiFault(errors.INVALID_REQUEST, "Request body is not valid base64") from exc
    if len(raw) > MAX_BODY_BYTES:
        raise errors.IpsApiFault(errors.INVALID_REQUEST, f"Request body over {MAX_BODY_BYTES} bytes", 413)
    try:
        data = json.loads(raw, parse_float=_json_number, parse_constant=_not_json)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.IpsApiFault(errors.INVALID_REQUEST, f"Request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise errors.IpsApiFault(errors.INVALID_REQUEST, "Request body must be a JSON object")
    if long := _first_long_string(data, ()):
        raise errors.invalid_parameter(f"Invalid value for {_path(long)}: longer than {MAX_STRING_CHARS} characters")
    try:
        # Strict: a JSON value of the documented type only (no "true" or 0 for a boolean, no "5"
        # for an integer), as the OpenAPI document generated from the same models promises.
        # Re-encoded so that 5.0, an integer to JSON Schema, reaches an ``int`` field as 5.
        return model.model_validate_json(json.dumps(data), strict=True)
    except ValidationError as exc:
        raise fault_from_validation(exc) from exc


def query_int(value: str | None, name: str, low: int, high: int | None) -> int | None:
    if value is None:
        return None
    if not _INTEGER.fullmatch(value):  # int() would also take " 5", "5_000" and non-ASCII digits
        raise errors.invalid_parameter(f"{name} must be an integer")
    number = int(value)
    if number < low or (high is not None and number > high):
        raise errors.invalid_parameter(f"{name} must be between {low} and {high or 'any'}")
    return number


def query_date(value: str | None, name: str) -> datetime | None:
    """An ISO 8601 date-time; IPS insists on a time zone (spec §8.1)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise errors.invalid_parameter(f"{name} must be an ISO 8601 date-time") from exc
    if parsed.tzinfo is None:
        raise errors.invalid_parameter(f"{name} must include a time zone")
    return parsed


def query_bool(value: str | None, name: str) -> bool | None:
    if value is None:
        return None
    if value not in ("true", "false"):
        raise errors.invalid_parameter(f"{name} must be true or false")
    return value == "true"


def query_list(value: str | None) -> list[str] | None:
    return [part for part in value.split(",") if part] if value else None
