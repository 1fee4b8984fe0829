"""HTTP plumbing both kinds of request share: reading a body of known length, answering an
error as S3 does, keeping credentials out of the log."""

from __future__ import annotations

import base64
import logging
import re
import secrets
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any

from openips_cli.s3front.errors import S3Error

log = logging.getLogger("openips.local.s3")

CHUNK = 256 * 1024


class ClientGone(Exception):
    """The client closed the connection or stopped sending before Content-Length bytes."""


class ClientTimeout(ClientGone):
    """The client sent nothing for the handler's timeout."""


class BodyReader:
    """The request body, ``Content-Length`` bytes of the connection, read in chunks."""

    def __init__(self, rfile: Any, length: int) -> None:
        if length < 0:
            raise ValueError(f"a body cannot have {length} bytes")
        self.rfile = rfile
        self.remaining = length

    def read(self, size: int = CHUNK) -> bytes:
        if self.remaining <= 0:
            return b""
        reader = getattr(self.rfile, "read1", self.rfile.read)
        try:
            data = reader(min(size, self.remaining))
        except TimeoutError:
            raise ClientTimeout from None
        except OSError:
            raise ClientGone from None
        if not data:
            raise ClientGone
        self.remaining -= len(data)
        return data

    def drain(self, limit: int) -> bool:
        """Discard up to ``limit`` bytes; whether the body was read to its end."""
        try:
            while self.remaining > 0 and limit > 0:
                limit -= len(self.read(min(CHUNK, limit)))
        except ClientGone:
            return False
        return self.remaining == 0


def content_length(headers: Any) -> int | None:
    """``Content-Length`` (None when absent); S3 answers 400 to a negative, non-numeric or repeated one."""
    values = {value.strip() for value in headers.get_all("Content-Length") or []}
    if not values:
        return None
    (value,) = values if len(values) == 1 else ("",)
    if not re.fullmatch(r"[0-9]{1,19}", value):
        raise S3Error(400, "BadRequest", "An error occurred when parsing the HTTP request.")
    return int(value)


def redact(text: str) -> str:
    # Query strings hold presigned URLs' credentials and signatures: none is logged.
    return re.sub(r"\?\S*", "?…", text)


def netloc(address: tuple[Any, ...]) -> str:
    """``host:port`` of a bound server address (``[::1]:port`` for IPv6)."""
    host, port = address[:2]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def request_ids() -> tuple[str, str]:
    """``x-amz-request-id`` and ``x-amz-id-2`` for one answer, shaped like S3's."""
    return uuid.uuid4().hex[:16].upper(), base64.b64encode(secrets.token_bytes(48)).decode()


def send_error(handler: BaseHTTPRequestHandler, error: S3Error, *, close: bool) -> None:
    request_id, host_id = request_ids()
    body = error.to_xml(request_id, host_id)
    handler.send_response(error.status)
    handler.send_header("Content-Type", "application/xml")
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("x-amz-request-id", request_id)
    handler.send_header("x-amz-id-2", host_id)
    if close:
        handler.send_header("Connection", "close")
        handler.close_connection = True
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)
