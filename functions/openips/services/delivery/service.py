"""``GET /is/image/{company}/{asset}``: a published asset's rendition, as Image Serving answers it.

Company by handle or by name, asset by its IPS asset ID (both case-sensitive); the query goes to
the grammar (``modifiers.py``), the rendition to the renderer (``imaging/render.py``), which reads
only the tiles it needs through ranged GETs. Caching (strong ETag, 304, Cache-Control), limits and
the IS-style text errors are decided here (docs/delivery.md).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from openips.imaging.render import CachedReader, displayed_size, render
from openips.imaging.render_geometry import oriented_size
from openips.models.rendition import RenditionRequest
from openips.models import errors
from openips.models.domain import Asset, Company
from openips.observability import logger
from openips.services.delivery.modifiers import Limits, ModifierError, cache_modifier, parse_modifiers
from openips.services.delivery.named_crops import find_asset
from openips.services.delivery.presets import presets_for
from openips.services.deps import Deps

# Part of every ETag: bump when the renderer's output for the same request changes.
RENDERER_VERSION = "2"  # 2: EXIF orientation applied
IGNORED_HEADER = "X-Openips-Ignored-Modifiers"
# IS answers a request it cannot honour with 403 and a text ("for most common errors, it is 403").
REQUEST_ERROR = 403
# Answers that are not renditions are never cached: a 404 must not outlive the upload that fixes it.
NO_STORE = "no-store"
_NAME_LIMIT = 1024
# What a modifier's name may show in a response header (anything else would be a header injection).
_HEADER_SAFE = re.compile(r"[^A-Za-z0-9_.$-]")
_MAX_IGNORED_SHOWN = 20


@dataclass(frozen=True)
class DeliveryAnswer:
    """What the handler sends: status, headers, body (bytes)."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class DeliveryError(Exception):
    """An answer other than the image: IS sends an HTTP status and a text message (docs/delivery.md)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def not_found() -> DeliveryError:
    # One answer for unknown, unpublished and unrenderable: nobody learns that another tenant's
    # unpublished asset exists.
    return DeliveryError(404, "Image not found")


def deliver(deps: Deps, company_segment: str, asset_segment: str, raw_query: str,
            if_none_match: str | None) -> DeliveryAnswer:
    """The rendition, a 304, or an IS-style text error; never raises for a request's fault."""
    try:
        return _deliver(deps, company_segment, asset_segment, raw_query or "", if_none_match)
    except DeliveryError as exc:
        return error_answer(exc.status, exc.message, exc.headers)


def error_answer(status: int, message: str, headers: dict[str, str] | None = None) -> DeliveryAnswer:
    return DeliveryAnswer(status, f"{message}\n".encode(), {
        "Content-Type": "text/plain; charset=utf-8", "Cache-Control": NO_STORE, "X-Content-Type-Options": "nosniff",
        **(headers or {})})


def _deliver(deps: Deps, company_segment: str, asset_segment: str, raw_query: str,
             if_none_match: str | None) -> DeliveryAnswer:
    settings = deps.settings
    if len(raw_query) > settings.delivery_max_query_length:
        raise DeliveryError(REQUEST_ERROR, f"The query is longer than {settings.delivery_max_query_length} characters")
    company = find_company(deps, _segment(company_segment))
    # <asset>:<cropName> names a smart crop: its rectangle goes first in the query (named_crops.py).
    asset, raw_query = find_asset(deps, company.company_handle, _segment(asset_segment), raw_query) \
        if company else (None, raw_query)
    if company is None or asset is None or not servable(asset):
        raise not_found()
    assert asset.width and asset.height and asset.optimized_key  # servable() checked them
    limits = Limits(max_pixels=settings.delivery_max_pixels, max_modifiers=settings.delivery_max_modifiers,
                    max_length=settings.delivery_max_query_length)
    # A $name$ is the only use of the company's presets: most requests never read them.
    presets = presets_for(deps, company.company_handle) if "$" in raw_query else {}
    pyramid, width, height = _displayed(deps, asset)
    try:
        request = parse_modifiers(raw_query, presets, width, height, limits=limits)
        cache_control = cache_header(cache_modifier(raw_query, presets, limits=limits), company.delivery_cache_max_age)
    except ModifierError as exc:
        raise DeliveryError(REQUEST_ERROR, f"Invalid modifier: {exc.message}") from exc
    tag = etag(asset, request)
    headers = {"ETag": tag, "Cache-Control": cache_control, **ignored_header(request)}
    if if_none_match is not None and matches(if_none_match, tag):
        return DeliveryAnswer(304, b"", headers)
    if pyramid is None:
        pyramid = _source(deps, asset)[0]
    return DeliveryAnswer(200, *_render(deps, asset, pyramid, request, headers))


def _displayed(deps: Deps, asset: Asset) -> tuple[CachedReader | None, int, int]:
    """The master's displayed size; from the record when it holds the orientation, so a 304 reads
    nothing from storage; older records: from level 0's tag, with the pyramid opened (returned)."""
    assert asset.width and asset.height
    if asset.orientation is not None:
        width, height = oriented_size((asset.width, asset.height), asset.orientation)
        return None, width, height
    return _source(deps, asset)


def _source(deps: Deps, asset: Asset) -> tuple[CachedReader, int, int]:
    """The pyramid (its reads shared with the renderer) and the master's size as displayed, which the
    modifiers refer to: the record keeps the stored size, level 0's EXIF orientation may swap it."""
    reader = deps.storage.range_reader(deps.settings.assets_bucket, asset.optimized_key or "")
    if reader is None:  # the record is ahead of its files (a failed store): nothing to serve yet
        raise not_found()
    pyramid = CachedReader(reader)
    try:
        width, height = displayed_size(pyramid, asset.width or 0, asset.height or 0)
    except errors.DamagedPyramidError as exc:
        logger.error("stored pyramid unreadable", asset=asset.asset_handle, error=exc.message)
        raise DeliveryError(500, "The image cannot be rendered") from exc
    except errors.TransientError as exc:
        logger.warning("rendition interrupted", asset=asset.asset_handle, error=str(exc))
        raise DeliveryError(503, "The image is being updated; try again", {"Retry-After": "1"}) from exc
    return pyramid, width, height


def _render(deps: Deps, asset: Asset, pyramid: CachedReader, request: RenditionRequest,
            headers: dict[str, str]) -> tuple[bytes, dict]:
    settings = deps.settings
    bucket = settings.assets_bucket
    mask = deps.storage.range_reader(bucket, asset.mask_key) if asset.mask_key else None
    try:
        rendition = render(pyramid, request, mask, max_pixels=settings.delivery_max_pixels)
    except errors.DamagedPyramidError as exc:  # ours to fix, not the caller's: no detail in the answer
        logger.error("stored pyramid unreadable", asset=asset.asset_handle, error=exc.message)
        raise DeliveryError(500, "The image cannot be rendered") from exc
    except errors.RenditionError as exc:
        # A request the renderer refuses (too many pixels): IS's usual 403; a format this build cannot write: 501.
        status = REQUEST_ERROR if exc.http_status == 400 else exc.http_status
        raise DeliveryError(status, f"Invalid modifier: {exc.message}" if status == REQUEST_ERROR else exc.message) \
            from exc
    except errors.TransientError as exc:  # S3 throttled, or the asset was replaced while it was read
        logger.warning("rendition interrupted", asset=asset.asset_handle, error=str(exc))
        raise DeliveryError(503, "The image is being updated; try again", {"Retry-After": "1"}) from exc
    if len(rendition.body) > settings.delivery_max_body_bytes:
        raise DeliveryError(REQUEST_ERROR, f"The reply image is {len(rendition.body)} bytes, over the "
                                 f"{settings.delivery_max_body_bytes} a reply may have: ask for fewer pixels, "
                                 "or fmt=jpeg or webp")
    logger.info("rendition", asset=asset.asset_handle, level=rendition.level, bytes_read=rendition.bytes_read,
                width=rendition.width, height=rendition.height, bytes=len(rendition.body))
    return rendition.body, {**headers, "Content-Type": rendition.content_type, "X-Content-Type-Options": "nosniff",
                            "Last-Modified": asset.updated.strftime("%a, %d %b %Y %H:%M:%S GMT")}


def _segment(raw: str) -> str:
    """A path segment as sent (percent-encoded) → the name it stands for; what no name can be is a 404."""
    try:
        name = unquote(raw, errors="strict")
    except UnicodeDecodeError as exc:
        raise not_found() from exc
    # Control characters, slashes and dot segments name no company or asset (names refuse them).
    if not name or len(name) > _NAME_LIMIT or name in (".", "..") or "/" in name or any(
            ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        raise not_found()
    return name


def find_company(deps: Deps, segment: str) -> Company | None:
    """By handle, else by name (case-sensitive); a name two companies share names neither."""
    company = deps.companies.get(segment)
    if company is not None:
        return company
    named = deps.companies.find_by_name(segment)
    return named[0] if len(named) == 1 else None


def servable(asset: Asset) -> bool:
    """Published (readyForPublish), with a pyramid to cut renditions from, and a known size."""
    return (asset.publish_state == "MarkedForPublish" and bool(asset.optimized_key)
            and bool(asset.width) and bool(asset.height))


def etag(asset: Asset, request: RenditionRequest) -> str:
    """Strong: the same bytes for as long as the asset's version and the normalised modifiers stay."""
    version = "\n".join((RENDERER_VERSION, asset.asset_handle, asset.last_claim, asset.updated.isoformat(),
                         asset.publish_state, request.normalised))
    return f'"{hashlib.sha256(version.encode()).hexdigest()[:32]}"'


def matches(if_none_match: str, tag: str) -> bool:
    """RFC 9110 §13.1.2: ``*``, or any listed tag equal to ours by the weak comparison."""
    candidates = [c.strip() for c in if_none_match.split(",")]
    return any(c == "*" or c.removeprefix("W/") == tag for c in candidates)


def cache_header(cache: str | None, max_age: int) -> str:
    """Cache-Control from the company's max-age and the ``cache`` modifier (``<client>[,<server>]``):
    client ``off`` → nothing keeps it; server ``off`` → browsers only (``private``: CloudFront is the
    server cache here). ``validate`` and ``update`` concern IS's server cache: they count as ``on``."""
    client, _, server = (cache or "on").partition(",")
    server = server or client
    if client == "off" or max_age == 0:
        return NO_STORE if client == "off" else "no-cache"
    return f"{'private' if server == 'off' else 'public'}, max-age={max_age}"


def ignored_header(request: RenditionRequest) -> dict[str, str]:
    if not request.ignored:
        return {}
    names = [_HEADER_SAFE.sub("?", name)[:64] for name in request.ignored[:_MAX_IGNORED_SHOWN]]
    if len(request.ignored) > _MAX_IGNORED_SHOWN:
        names.append("...")
    return {IGNORED_HEADER: ", ".join(names)}
