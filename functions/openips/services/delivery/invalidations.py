"""Cached renditions dropped on behalf of a function that cannot reach CloudFront itself.

The API function sits behind the HTTP API that the distribution fronts, so its template entry
cannot name the distribution (a circular dependency). A smart crop adjusted through the API is
therefore a message on JobEventsQueue, and FinalizeJobFunction, which may invalidate, carries it out.
"""

from __future__ import annotations

from openips.adapters.cdn import ROUTE, get_cdn
from openips.observability import logger
from openips.services.deps import Deps

MESSAGE_TYPE = "InvalidateRenditions"
MAX_PATHS = 15  # CloudFront takes at most 15 wildcard paths in flight
_MAX_PATH_LENGTH = 4096


def request(deps: Deps, paths: list[str], reference: str) -> None:
    """Queue the invalidation of ``paths`` (``reference`` makes a re-sent one the same invalidation)."""
    deps.events.invalidate_renditions(paths, reference)


def carry_out(deps: Deps, message: dict) -> bool:
    """Invalidate what a queued request names; a request that is not one of ours is dropped, logged."""
    paths, reference = message.get("paths"), message.get("reference")
    valid = (isinstance(paths, list) and 0 < len(paths) <= MAX_PATHS and isinstance(reference, str)
             and 0 < len(reference) <= 128
             and all(isinstance(p, str) and p.startswith(f"{ROUTE}/") and len(p) <= _MAX_PATH_LENGTH for p in paths))
    if not valid:
        # Retrying would not make it valid: acknowledged, not failed.
        logger.error("invalidation request refused", paths=str(paths)[:200])
        return False
    return get_cdn(deps.settings.cdn_distribution_id).invalidate(paths, reference)
