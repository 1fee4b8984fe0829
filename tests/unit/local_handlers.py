"""Lambda handlers for tests of the local stack's worker processes (imported by spawned workers)."""

from __future__ import annotations

import time
from typing import Any


def sleeping(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """An invocation that takes ``event["seconds"]``: a stuck transcode, a hung parser."""
    time.sleep(event["seconds"])
    return {"slept": event["seconds"]}
