"""Parameter elements in, return elements out, by the tables of ``schema.py``."""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 - building and walking trees; parsing is safe_xml's
from typing import Any

from openips.models import errors
from openips.services.ips_wire.safe_xml import local_name
from openips.services.ips_soap.schema import TYPES, F
from openips.services.params import query_date, query_int

_TRUE, _FALSE = {"true", "1"}, {"false", "0"}


def read_fields(element: ET.Element, fields: tuple[F, ...], where: str, strict: bool = False) -> dict[str, Any]:
    """The children of ``element`` by name (any namespace, any order), typed; missing required ones are 30002.

    Unknown children are ignored (newer IPS versions add elements), unless ``strict``.
    """
    by_name = {f.name: f for f in fields}
    values: dict[str, Any] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue  # comments and processing instructions
        name = local_name(child.tag)
        field = by_name.get(name)
        if field is None:
            if strict:
                raise errors.invalid_parameter(f"{where}/{name} is not supported by openips")
            continue
        value = _read_value(child, field, f"{where}/{name}", strict)
        if field.many:
            values.setdefault(name, []).append(value)
        elif name in values:
            raise errors.IpsApiFault(errors.INVALID_REQUEST, f"{where}/{name} given twice")
        else:
            values[name] = value
    for field in fields:
        if field.min and field.name not in values:
            raise errors.missing_parameter(f"{where}/{field.name} is required")
    return values


def _read_value(child: ET.Element, field: F, where: str, strict: bool) -> Any:
    if field.type in TYPES:
        fields = TYPES[field.type]
        read = read_fields(child, fields, where, strict)
        if len(fields) == 1 and fields[0].many:  # an array type: its items
            return read.get(fields[0].name, [])
        return read
    text = (child.text or "").strip()
    if field.type == "int":
        return query_int(text, where, INT_MIN, INT_MAX)
    if field.type == "boolean":
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise errors.invalid_parameter(f"{where} must be true or false")
    if field.type == "dateTime":
        return query_date(text, where)
    return child.text or ""


def write_fields(parent: ET.Element, ns: str, fields: tuple[F, ...], value: dict[str, Any]) -> None:
    """Children of ``parent`` for ``value`` (camelCase keys), in the order of ``fields``."""
    for field in fields:
        item = value.get(field.name)
        if item is None:
            if field.min == 0:
                continue
            item = [] if field.type in TYPES and _is_array(field.type) else ""
        for one in item if field.many else [item]:
            child = ET.SubElement(parent, f"{{{ns}}}{field.name}")
            if field.type in TYPES:
                inner = TYPES[field.type]
                if _is_array(field.type):
                    write_fields(child, ns, inner, {inner[0].name: one})
                else:
                    write_fields(child, ns, inner, one)
            else:
                child.text = _text(_clamp(one) if field.type == "int" else one)


INT_MIN, INT_MAX = -(2**31), 2**31 - 1


def _clamp(value: Any) -> Any:
    """An xsd:int value within xsd:int: a larger number (a job's ``totalSize`` in bytes passes 2 GiB)
    saturates at 2147483647 instead of making a document no IPS client can read."""
    if isinstance(value, int) and not isinstance(value, bool):
        return min(max(value, INT_MIN), INT_MAX)
    return value


def _is_array(type_name: str) -> bool:
    fields = TYPES[type_name]
    return len(fields) == 1 and fields[0].many


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
