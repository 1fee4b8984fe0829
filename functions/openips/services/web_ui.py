"""The upload page (docs/web-ui.md): its static files, read once from the package, and the headers
that keep it safe (a CSP without inline script, nosniff, revalidation on every load)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from openips.models import errors

if TYPE_CHECKING:  # boto3 loads with the first client, not with the page (docs/performance.md)
    from openips.adapters.storage import Storage

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
PAGE = "index.html"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True)
class StaticFile:
    name: str
    body: str
    content_type: str
    etag: str


@dataclass(frozen=True)
class Served:
    status: int  # 200, or 304 when the browser's copy is current
    content_type: str
    body: str
    headers: dict[str, str]


@lru_cache(maxsize=1)
def static_files() -> dict[str, StaticFile]:
    """Every servable file of ``web/`` by name; nothing else is reachable (no paths, no dot files)."""
    files = {}
    for path in sorted(WEB_DIR.iterdir()):
        content_type = CONTENT_TYPES.get(path.suffix)
        if content_type is None or not path.is_file() or path.name.startswith("."):
            continue
        body = path.read_text(encoding="utf-8")
        etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'
        files[path.name] = StaticFile(path.name, body, content_type, etag)
    return files


def storage_origins(storage: Storage, buckets: Iterable[str]) -> tuple[str, ...]:
    """The origins of the URLs the API hands out for ``buckets`` (upload forms, downloads): the page
    may POST and load images there and nowhere else."""
    return tuple(sorted({_origin(storage, bucket) for bucket in buckets if bucket}))


@lru_cache(maxsize=8)
def _origin(storage: Storage, bucket: str) -> str:
    # Signing is local computation: the URL the signer would hand out, without a request.
    url = urlsplit(storage.presign_get(bucket, "origin-probe", None, 60))
    return f"{url.scheme}://{url.netloc}"


def content_security_policy(origins: Iterable[str]) -> str:
    storage = "".join(f" {origin}" for origin in origins)
    return ("default-src 'none'; script-src 'self'; style-src 'self'; "
            f"img-src 'self'{storage}; connect-src 'self'{storage}; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def serve(name: str, if_none_match: str | None, origins: Iterable[str]) -> Served:
    """``name`` (``index.html`` for the page) with its security headers; 404 for anything else."""
    found = static_files().get(name)
    if found is None:
        raise errors.IpsApiFault(errors.INVALID_REQUEST, "No such file", 404)
    headers = {
        "Content-Security-Policy": content_security_policy(origins),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        # The files change with each deployment under the same names: always ask, 304 when unchanged.
        "Cache-Control": "no-cache",
        "ETag": found.etag,
    }
    if if_none_match and found.etag in {tag.strip() for tag in if_none_match.split(",")}:
        return Served(304, found.content_type, "", headers)
    return Served(200, found.content_type, found.body, headers)
