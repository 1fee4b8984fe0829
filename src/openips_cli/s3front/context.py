"""What a running ``S3Front`` hands each request, and what it reports of each upload."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from openips_cli.s3front.upstream import Upstream


@dataclass(frozen=True)
class UploadRecord:
    """One accepted browser upload, as ``S3Front`` reports it to ``on_upload``."""

    bucket: str
    key: str
    size: int
    etag: str
    client_ip: str
    time: datetime


@dataclass(frozen=True)
class FrontContext:
    """An ``S3Front``'s settings as its requests see them, fixed when it starts."""

    credentials: Mapping[str, str]  # access key id → secret
    region: str
    upstream: Upstream
    s3: Any  # the upstream's boto3 S3 client, which stores accepted uploads
    drain_limit: int
    spool_memory: int
    trust_forwarded_for: bool
    on_accept: Callable[[str, str, str], None] | None
    on_upload: Callable[[UploadRecord], None] | None
