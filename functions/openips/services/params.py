"""Request parsing with IPS faults: bodies, query parameters, validation errors."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from openips.models import errors

MAX_BODY_BYTES = 256 * 1024
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


def parse_body(model: type[M], body: str | None, is_base64: bool = False) -> M:
    if not body:
        raise errors.missing_parameter("Missing JSON request body")
    raw = base64.b64decode(body) if is_base64 else body.encode()
    if len(raw) > MAX_BODY_BYTES:
        raise errors.IpsApiFault(errors.INVALID_REQUEST, f"Request body over {MAX_BODY_BYTES} bytes", 413)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.IpsApiFault(errors.INVALID_REQUEST, f"Request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise errors.IpsApiFault(errors.INVALID_REQUEST, "Request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise fault_from_validation(exc) from exc


def query_int(value: str | None, name: str, low: int, high: int | None) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError as exc:
        raise errors.invalid_parameter(f"{name} must be an integer") from exc
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


def query_list(value: str | None) -> list[str] | None:
    return [part for part in value.split(",") if part] if value else None
