"""Page tokens: where a DynamoDB listing stopped, bound to the listing it came from.

A token is the key of the last item a page read (what DynamoDB takes as ``ExclusiveStartKey``),
with the name of its listing, as base64url JSON. It is opaque to clients but not secret: its
binding comes from checking it, not from hiding it. Decoding checks that it names the same
listing and the same partition as the query it is handed to (a partition names the company, job
or project the caller was authorised for), so a token from another company, another listing or
edited by hand is refused (``InvalidPageToken``) before DynamoDB sees it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

# Keys are at most 2 KiB (partition) + 1 KiB (sort) per attribute pair; a GSI key has two pairs.
MAX_TOKEN_CHARS = 8192
MAX_KEY_VALUE_CHARS = 2048


class InvalidPageToken(ValueError):
    """A ``nextToken`` that is malformed or does not continue the listing it was given to."""


@dataclass(frozen=True)
class Position:
    """Where a listing stands just after one of its items."""

    listing: str
    key: Mapping[str, str]

    def token(self) -> str:
        raw = json.dumps({"l": self.listing, "k": dict(self.key)}, separators=(",", ":"), sort_keys=True)
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@dataclass(frozen=True)
class KeyShape:
    """A listing's name and what its items' keys look like.

    ``fixed``: attributes every key of the listing holds with this value (its partition);
    ``prefixed``: attributes whose values start with this prefix. Together, the key's attributes.
    """

    listing: str
    fixed: Mapping[str, str]
    prefixed: Mapping[str, str] = field(default_factory=dict)

    def position(self, item: Mapping) -> Position:
        return Position(self.listing, {name: item[name] for name in (*self.fixed, *self.prefixed)})

    def start_key(self, token: str | None) -> dict[str, str] | None:
        """The ``ExclusiveStartKey`` a token stands for, after checking it belongs to this listing."""
        if token is None:
            return None
        decoded = _decode(token)
        key = decoded.get("k")
        if decoded.get("l") != self.listing or not isinstance(key, dict):
            raise InvalidPageToken("does not continue this listing (pass the nextToken of the previous page "
                                   "of the same query)")
        if set(key) != {*self.fixed, *self.prefixed} or not all(
                isinstance(v, str) and len(v) <= MAX_KEY_VALUE_CHARS for v in key.values()):
            raise InvalidPageToken("is malformed")
        if any(key[name] != value for name, value in self.fixed.items()) or any(
                not key[name].startswith(prefix) for name, prefix in self.prefixed.items()):
            raise InvalidPageToken("does not continue this listing (pass the nextToken of the previous page "
                                   "of the same query)")
        return key


def _decode(token: str) -> dict:
    if len(token) > MAX_TOKEN_CHARS:
        raise InvalidPageToken("is malformed")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        decoded = json.loads(raw)
    except (ValueError, binascii.Error, RecursionError) as exc:  # bad base64, not UTF-8 JSON, nested too deep
        raise InvalidPageToken("is malformed") from exc
    if not isinstance(decoded, dict):
        raise InvalidPageToken("is malformed")
    return decoded
