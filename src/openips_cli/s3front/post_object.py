"""A browser-based upload (S3 "POST Object"), which the front answers itself: the form read
as it streams in, checked as S3 checks it (``post_form``), the file spooled, stored in moto,
reported, and answered as S3 answers."""

from __future__ import annotations

import socket
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import IO, Any
from urllib.parse import quote, unquote, urlencode, urlsplit
from xml.sax.saxutils import escape

from openips_cli.s3front.context import FrontContext, UploadRecord
from openips_cli.s3front.errors import S3Error, invalid_argument, missing_content_length
from openips_cli.s3front.post_form import Form, authorize_post
from openips_cli.s3front.put_object import put_object
from openips_cli.s3front.wire import (
    CHUNK,
    BodyReader,
    ClientGone,
    ClientTimeout,
    content_length,
    log,
    netloc,
    request_ids,
    send_error,
)

#: S3 refuses a form whose fields before ``file`` exceed 20 KB (MaxPostPreDataLengthExceededError).
MAX_PRE_DATA = 20 * 1024


def post_object_bucket(method: str, target: str) -> str | None:
    """The bucket of a browser-based upload (``POST /<bucket>``, path style, no query), else None."""
    split = urlsplit(target)
    if method != "POST" or split.query:
        return None
    name = split.path[1:] if split.path.startswith("/") else split.path
    name = name[:-1] if name.endswith("/") else name
    return unquote(name) if name and "/" not in name else None


class PostObject:
    """One ``POST /<bucket>`` browser upload: parse, authorize, stream, store, answer."""

    def __init__(self, handler: BaseHTTPRequestHandler, front: FrontContext, bucket: str) -> None:
        self.handler = handler
        self.front = front
        self.bucket = bucket
        self.reader: BodyReader | None = None
        headers = handler.headers
        forwarded = headers.get("X-Forwarded-For") if self.front.trust_forwarded_for else None
        self.client_ip = forwarded.split(",")[0].strip() if forwarded else handler.client_address[0]

    def run(self) -> None:
        spool = tempfile.SpooledTemporaryFile(max_size=self.front.spool_memory)
        try:
            fields, key, size = self._receive(spool)
        except S3Error as error:
            spool.close()
            self._refuse(error)
            return
        except ClientTimeout:
            spool.close()
            self._refuse(S3Error(400, "RequestTimeout", "Your socket connection to the server was not read from "
                                 "or written to within the timeout period. Idle connections will be closed."))
            return
        except ClientGone:
            spool.close()
            self.handler.close_connection = True
            return
        if self.front.on_accept is not None:
            # Before the object exists: its notification may be consumed before put_object returns.
            self.front.on_accept(self.bucket, key, self.client_ip)
        try:
            try:
                etag = put_object(self.front.s3, self.bucket, key, fields, spool, size)
            except S3Error as error:
                self._refuse(error)
                return
        finally:
            spool.close()
        record = UploadRecord(bucket=self.bucket, key=key, size=size, etag=etag.strip('"'),
                              client_ip=self.client_ip, time=datetime.now(UTC))
        log.info("upload stored: bucket=%s key=%s size=%d client=%s", self.bucket, key, size, self.client_ip)
        if self.front.on_upload is not None:
            try:
                self.front.on_upload(record)
            except Exception:  # the object is stored; S3 would answer success whatever we do with it
                log.exception("on_upload failed for %s/%s", self.bucket, key)
        self._succeed(Form(fields), key, etag)

    def _receive(self, spool: IO[bytes]) -> tuple[list[tuple[str, str]], str, int]:
        """Read the fields, authorize them, then stream the file into ``spool``."""
        from werkzeug.http import parse_options_header
        from werkzeug.sansio.multipart import NEED_DATA, Data, Epilogue, Field, File, MultipartDecoder

        headers = self.handler.headers
        # Without a valid length the body cannot be skipped: the connection closes after the answer.
        length = None if "Transfer-Encoding" in headers else content_length(headers)
        if length is None:
            raise missing_content_length()
        self.reader = reader = BodyReader(self.handler.rfile, length)
        mimetype, options = parse_options_header(headers.get("Content-Type", ""))
        if mimetype.lower() != "multipart/form-data":
            raise S3Error(400, "RequestIsNotMultiPartContent",
                          "Bucket POST must be of the enclosure-type multipart/form-data.")
        boundary = options.get("boundary")
        malformed = S3Error(400, "MalformedPOSTRequest",
                            "The body of your POST request is not well-formed multipart/form-data.")
        if not boundary or not boundary.isascii():
            raise malformed
        decoder = MultipartDecoder(boundary.encode("ascii"))

        def events() -> Iterator[Any]:
            while True:
                try:
                    event = decoder.next_event()
                except (ValueError, UnicodeDecodeError):
                    raise malformed from None
                if event is NEED_DATA:
                    decoder.receive_data(reader.read() or None)
                    continue
                yield event
                if isinstance(event, Epilogue):
                    return

        fields: list[tuple[str, str]] = []
        pre_data = 0
        stream = events()
        current: str | None = None
        value = bytearray()
        for event in stream:
            if isinstance(event, File | Field) and (event.name or "").lower() == "file":
                filename = event.filename if isinstance(event, File) else ""
                break
            if isinstance(event, File | Field):
                current, value = event.name or "", bytearray()
                pre_data += len(current.encode())
            elif isinstance(event, Data) and current is not None:
                value += event.data
                pre_data += len(event.data)
                if pre_data > MAX_PRE_DATA:
                    raise S3Error(400, "MaxPostPreDataLengthExceededError",
                                  "Your POST request fields preceding the upload file were too large.")
                if not event.more_data:
                    fields.append((current, value.decode("utf-8", "replace")))
                    current = None
        else:
            raise invalid_argument("POST requires exactly one file upload per request.", "file", "0")

        grant = authorize_post(fields, filename, self.bucket, self.front.credentials, region=self.front.region)
        # Fields after `file` are ignored by S3: the first Data events are the file, nothing else is read.
        size = 0
        trailer = len(b"\r\n--" + boundary.encode("ascii") + b"--\r\n")
        for event in stream:
            if not isinstance(event, Data):
                break
            size += len(event.data)
            if size > grant.max_size:
                # Count on (without storing) for an exact ProposedSize, up to drain_limit.
                budget = self.front.drain_limit
                while event.more_data and budget > 0:
                    event = next(stream)
                    size += len(event.data)
                    budget -= len(event.data)
                if event.more_data:
                    size += max(0, reader.remaining - trailer)  # an upper estimate from Content-Length
                grant.check_size(size)
            spool.write(event.data)
            if not event.more_data:
                break
        grant.check_size(size)
        if not reader.drain(self.front.drain_limit):
            self.handler.close_connection = True
        spool.seek(0)
        return fields, grant.key, size

    def _refuse(self, error: S3Error) -> None:
        drained = self.reader.drain(self.front.drain_limit) if self.reader is not None else False
        log.warning("upload refused: %d %s bucket=%s client=%s", error.status, error.code, self.bucket,
                    self.client_ip)
        send_error(self.handler, error, close=not drained)
        if not drained:
            self._linger()

    def _linger(self) -> None:
        """Half-close and read a little, so the client can read the error before the socket resets."""
        connection = self.handler.connection
        try:
            self.handler.wfile.flush()
            connection.shutdown(socket.SHUT_WR)
            connection.settimeout(1.0)
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline and connection.recv(CHUNK):
                pass
        except OSError:
            pass

    def _succeed(self, form: Form, key: str, etag: str) -> None:
        handler = self.handler
        request_id, host_id = request_ids()
        host = handler.headers.get("Host") or netloc(handler.server.server_address)
        location = f"http://{host}/{quote(self.bucket, safe='')}/{quote(key, safe='')}"
        redirect = form.get("success_action_redirect") or form.get("redirect")
        status, body = 204, b""
        if redirect and urlsplit(redirect).scheme.lower() in ("http", "https") and urlsplit(redirect).netloc:
            # "the bucket, key and etag parameters are added to the URL" (RESTObjectPOST), then 303.
            base, _, fragment = redirect.partition("#")
            query = urlencode({"bucket": self.bucket, "key": key, "etag": etag})
            location = f"{base}{'&' if '?' in base else '?'}{query}" + (f"#{fragment}" if fragment else "")
            status = 303
        elif form.get("success_action_status") == "200":
            status = 200
        elif form.get("success_action_status") == "201":
            status = 201
            body = ('<?xml version="1.0" encoding="UTF-8"?>\n<PostResponse>'
                    f"<Location>{escape(location)}</Location><Bucket>{escape(self.bucket)}</Bucket>"
                    f"<Key>{escape(key)}</Key><ETag>{escape(etag)}</ETag></PostResponse>").encode()
        handler.send_response(status)
        handler.send_header("ETag", etag)
        handler.send_header("Location", location)
        handler.send_header("x-amz-request-id", request_id)
        handler.send_header("x-amz-id-2", host_id)
        if body:
            handler.send_header("Content-Type", "application/xml")
        if status != 204:
            handler.send_header("Content-Length", str(len(body)))
        if handler.close_connection:
            handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(body)
