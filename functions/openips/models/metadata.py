"""``metadataOptions``: the metadata updates a job applies to each of its assets (spec §5.17).

An asset's metadata is a map from field handle to a value: a string, a boolean, an
integer, a float, a date (ISO 8601 with a zone) or a list of tag values. The value kind
comes from the update (openips has no per-company field definitions yet), so:

* ``value`` / ``boolVal`` / ``longVal`` / ``doubleVal`` / ``dateVal`` set the field;
* ``setTagValueArray`` replaces the tag list, then ``addTagValueArray`` appends the
  values it lacks, then ``deleteTagValueArray`` removes the listed values;
* a tag operation on a field that holds a single value starts from that value as a
  one-element tag list; ``value`` on a tag field resets it to that one value (§5.17).

Updates apply in array order; re-uploading keeps the metadata an asset already has and
applies the new job's updates on top.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

MAX_UPDATES = 100
MAX_TAGS = 100
MAX_VALUE_CHARS = 4096
SCALAR_KINDS = ("value", "bool_val", "long_val", "double_val", "date_val")
TAG_KINDS = ("set_tag_value_array", "add_tag_value_array", "delete_tag_value_array")

MetadataValue = str | bool | int | float | list[str]


def apply_updates(current: dict[str, Any], updates: Iterable[Any]) -> dict[str, Any]:
    """The metadata after ``updates`` (``MetadataUpdate`` models); ``current`` is not changed."""
    result = dict(current)
    for update in updates:
        field = update.field_handle
        scalar = next((getattr(update, kind) for kind in SCALAR_KINDS if getattr(update, kind) is not None), None)
        if scalar is not None:
            result[field] = _stored(scalar)
            continue
        tags = _as_tags(result.get(field))
        if update.set_tag_value_array is not None:
            tags = _unique(update.set_tag_value_array)
        if update.add_tag_value_array is not None:
            tags = _unique([*tags, *update.add_tag_value_array])
        if update.delete_tag_value_array is not None:
            removed = set(update.delete_tag_value_array)
            tags = [t for t in tags if t not in removed]
        result[field] = tags
    return result


def _stored(value: Any) -> MetadataValue:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


def _as_tags(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return list(value)
    if isinstance(value, bool):
        return ["true" if value else "false"]
    return [str(value)]


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
