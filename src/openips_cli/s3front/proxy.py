"""Every request but a browser upload: its signature checked, its body spooled and checked
against what was signed, then sent to moto and moto's answer relayed, body and all."""

from __future__ import annotations

import tempfile
from http.client import HTTPException
from http.server import BaseHTTPRequestHandler
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from openips_cli.s3front.context import FrontContext
from openips_cli.s3front.errors import S3Error, entity_too_large
from openips_cli.s3front.payload import verify_payload
from openips_cli.s3front.sigv4 import QUERY_AUTH_NAMES, SignedRequest, authenticate_request
from openips_cli.s3front.wire import CHUNK, BodyReader, ClientGone, content_length, log, redact, send_error

#: The largest object one PUT takes (S3's limit); also bounds what the front spools.
MAX_PUT_SIZE = 5 * 1024**3
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                         "trailers", "transfer-encoding", "upgrade", "proxy-connection"})


class ProxiedRequest:
    """One request for moto, from the connection ``handler`` reads."""

    def __init__(self, handler: BaseHTTPRequestHandler, front: FrontContext) -> None:
        self.handler = handler
        self.front = front

    def admit(self) -> bool:
        """Whether to take the body of an ``Expect: 100-continue`` request: S3 refuses (and closes)
        before a body is sent, not after."""
        try:
            self._body_length()
            self._authenticate()
        except S3Error as error:
            self._refuse(error, close=True)
            return False
        return True

    def run(self) -> None:
        try:
            length = self._body_length()
        except S3Error as error:
            self._refuse(error, close=True)  # a body of unknown length cannot be skipped
            return
        try:
            signed = self._authenticate()
        except S3Error as error:
            drained = not length or BodyReader(self.handler.rfile, length).drain(self.front.drain_limit)
            self._refuse(error, close=not drained)
            return
        # Spooled whole before moto sees a byte: the payload is checked against its signature first.
        body = tempfile.SpooledTemporaryFile(max_size=self.front.spool_memory)
        try:
            reader = BodyReader(self.handler.rfile, length or 0)
            while chunk := reader.read():
                body.write(chunk)
            body.seek(0)
            if signed is not None:
                verify_payload(signed, body, self.handler.headers.get("x-amz-decoded-content-length"))
            self._forward(signed, body, length)
        except S3Error as error:
            self._refuse(error, close=False)
        except ClientGone:
            self.handler.close_connection = True
        finally:
            body.close()

    def _body_length(self) -> int | None:
        if "Transfer-Encoding" in self.handler.headers:
            # S3 takes no chunked transfer encoding: a request says how long its body is.
            raise S3Error(501, "NotImplemented", "A header you provided implies functionality that is not implemented",
                          (("Header", "Transfer-Encoding"),))
        length = content_length(self.handler.headers)
        if length is not None and length > MAX_PUT_SIZE:
            raise entity_too_large(length, MAX_PUT_SIZE)
        return length

    def _authenticate(self) -> SignedRequest:
        handler = self.handler
        return authenticate_request(handler.command, handler.path, handler.headers, self.front.credentials,
                                    region=self.front.region)

    def _refuse(self, error: S3Error, *, close: bool) -> None:
        handler = self.handler
        log.warning("request refused: %d %s %s %s client=%s", error.status, error.code, handler.command,
                    redact(handler.path), handler.client_address[0])
        send_error(handler, error, close=close)

    def _forward(self, signed: SignedRequest | None, body: IO[bytes], length: int | None) -> None:
        handler, front = self.handler, self.front
        split = urlsplit(handler.path)
        presigned = signed is not None and signed.presigned
        kept = [piece for piece in split.query.split("&")
                if piece and not (presigned and unquote(piece.partition("=")[0]) in QUERY_AUTH_NAMES)]
        target = (split.path or "/") + ("?" + "&".join(kept) if kept else "")
        skip, extra = _HOP_BY_HOP | {"host", "expect", "content-length"}, {}
        if signed is not None and presigned:
            # moto gets a presigned request signed in headers: its URL (which moto logs) carries no credentials.
            skip |= {"authorization", "x-amz-date", "x-amz-content-sha256"}
            extra = front.upstream.signed_headers(handler.command, target, signed.access_key_id,
                                                  front.credentials[signed.access_key_id])
        conn = front.upstream.connect()
        try:
            conn.putrequest(handler.command, target, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", front.upstream.netloc)
            headers = [(name, value) for name, value in handler.headers.items() if name.lower() not in skip]
            for name, value in [*headers, *extra.items()]:
                conn.putheader(name, value)
            if length is not None:
                conn.putheader("Content-Length", str(length))
            conn.endheaders()
            while chunk := body.read(CHUNK):
                conn.send(chunk)
            response = conn.getresponse()
        except OSError as exc:
            conn.close()
            log.error("moto unreachable for %s %s: %s", handler.command, split.path, exc)
            send_error(handler, S3Error(503, "ServiceUnavailable", "Please reduce your request rate."), close=True)
            return
        try:
            self._relay(response)
        except (OSError, HTTPException):
            handler.close_connection = True  # mid-body: the client can only learn it from the closed connection
        finally:
            conn.close()

    def _relay(self, response: Any) -> None:
        handler = self.handler
        handler.send_response_only(response.status, response.reason)
        # moto's own CORS headers are dropped: the front adds S3's (server.py, cors.py).
        headers = [(k, v) for k, v in response.getheaders()
                   if k.lower() not in _HOP_BY_HOP and not k.lower().startswith("access-control-")]
        bodyless = handler.command == "HEAD" or response.status in (204, 304) or response.status < 200
        length = response.getheader("Content-Length")
        if bodyless or length is not None:
            for name, value in headers:
                handler.send_header(name, value)
            handler.end_headers()
            while not bodyless and (chunk := response.read(CHUNK)):
                handler.wfile.write(chunk)
            return
        data = response.read()  # moto answered without a length: small XML, held in memory anyway
        for name, value in headers:
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
