"""Refused uploads are kept, never lost: copied under ``quarantine/`` for the company to inspect."""

from __future__ import annotations

from urllib.parse import quote

from openips.models.events import IncomingObject
from openips.models.messages import message
from openips.services.deps import Deps
from openips.services.keys import IncomingKey, quarantine_key


def keep(deps: Deps, obj: IncomingObject, owner: IncomingKey) -> dict:
    """Quarantine the upload; the sentence that says where it went, for its log row."""
    kept = quarantine(deps, obj, owner)
    return message("file.kept", location=f"s3://{obj.bucket}/{kept}") if kept else message("file.gone")


def quarantine(deps: Deps, obj: IncomingObject, owner: IncomingKey | None) -> str | None:
    """Copy the upload under ``quarantine/`` (its job's, when verified); None when the object is already gone."""
    if deps.storage.head_size(obj.bucket, obj.key) is None:
        return None
    target = quarantine_key(obj.key, owner)
    deps.storage.copy(obj.bucket, obj.key, obj.bucket, target, metadata={"original-key": quote(obj.key, safe="/")})
    return target
