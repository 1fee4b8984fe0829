"""``S3Front``: the HTTP server in front of moto, which hands each request to ``post_object``
(a browser upload) or ``proxy`` (everything else)."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from openips_cli.s3front.context import FrontContext, UploadRecord
from openips_cli.s3front.cors import preflight, response_headers
from openips_cli.s3front.errors import S3Error
from openips_cli.s3front.post_object import PostObject, post_object_bucket
from openips_cli.s3front.proxy import ProxiedRequest
from openips_cli.s3front.upstream import Upstream
from openips_cli.s3front.wire import BodyReader, content_length, log, netloc, redact, send_error


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], front: FrontContext) -> None:
        self.front = front
        self.open_sockets: set[socket.socket] = set()
        self.lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer is routine; anything else is a bug worth a traceback.
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            log.debug("connection from %s ended: %s", client_address[0], error)
        else:
            log.error("request from %s failed", client_address[0], exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 120  # idle keep-alive and stalled uploads (S3's RequestTimeout is ~20 s of silence)

    def version_string(self) -> str:
        return "AmazonS3"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        log.debug("%s %s", self.address_string(), redact(format % args))

    # Every answer to a request with Origin carries the CORS headers of the bucket's matching rule,
    # as S3 adds them (errors too); not 100 Continue, and not twice to a preflight.
    def send_response_only(self, code: int, message: str | None = None) -> None:
        self._cors_pending = code >= 200 and self.command != "OPTIONS"
        super().send_response_only(code, message)

    def end_headers(self) -> None:
        if getattr(self, "_cors_pending", False):
            self._cors_pending = False
            for name, value in response_headers(self.server.front.s3, self.command, self.path, self.headers):
                self.send_header(name, value)
        super().end_headers()

    # Every method but a POST Object and a preflight goes to moto, once its signature holds.
    def do_GET(self) -> None:
        ProxiedRequest(self, self.server.front).run()

    do_HEAD = do_PUT = do_DELETE = do_PATCH = do_GET

    def do_OPTIONS(self) -> None:
        # A CORS preflight: never signed, answered from the bucket's CORS rules as S3 does.
        try:
            length = content_length(self.headers)
            if length and not BodyReader(self.rfile, length).drain(self.server.front.drain_limit):
                self.close_connection = True
                return
            allowed = preflight(self.server.front.s3, self.path, self.headers)
        except S3Error as error:
            log.info("preflight refused: %d %s %s", error.status, error.code, redact(self.path))
            send_error(self, error, close=False)
            return
        self.send_response(200)
        for name, value in allowed:
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        bucket = post_object_bucket(self.command, self.path)
        if bucket is None:
            ProxiedRequest(self, self.server.front).run()
            return
        try:
            PostObject(self, self.server.front, bucket).run()
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:
            log.exception("POST Object to %s failed", bucket)
            send_error(self, S3Error(500, "InternalError", "We encountered an internal error. Please try again."),
                       close=True)

    def handle_expect_100(self) -> bool:
        # A browser upload is checked as it streams in; any other request before its body is sent.
        if post_object_bucket(self.command, self.path) is None and not ProxiedRequest(self, self.server.front).admit():
            return False
        return super().handle_expect_100()


class S3Front:
    """S3's browser-based upload checks in front of a moto server; everything else proxied once signed.

    ``credentials`` maps access key id → secret access key; they sign POST forms and every
    proxied request alike. ``on_upload`` is called once per stored upload (from the request's
    thread); ``on_accept(bucket, key, client_ip)`` once an upload has passed every check, just
    before it is stored (so its S3 event cannot outrun it). ``trust_forwarded_for`` takes the
    client IP from ``X-Forwarded-For`` instead of the TCP peer. A refused request's body is read
    and discarded up to ``drain_limit`` bytes so that the client can read the error; past that
    the connection is closed, as S3 does. An accepted body (a file, a proxied request's) is
    spooled in memory up to ``spool_memory`` bytes, then on disk. The settings are read once,
    when the front starts.
    """

    def __init__(self, moto_url: str, credentials: Mapping[str, str], region: str = "us-east-1",
                 on_upload: Callable[[UploadRecord], None] | None = None, host: str = "127.0.0.1", port: int = 0,
                 *, on_accept: Callable[[str, str, str], None] | None = None,
                 trust_forwarded_for: bool = False, drain_limit: int = 64 * 1024**2,
                 spool_memory: int = 8 * 1024**2, upstream_timeout: float = 300.0) -> None:
        self.upstream = Upstream(moto_url, region, upstream_timeout)
        self.moto_url = self.upstream.url
        self.credentials = dict(credentials)
        self.region = region
        self.on_upload = on_upload
        self.on_accept = on_accept
        self.host = host
        self.port = port
        self.trust_forwarded_for = trust_forwarded_for
        self.drain_limit = drain_limit
        self.spool_memory = spool_memory
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._netloc = ""

    @property
    def url(self) -> str | None:
        """The base URL while started (``http://127.0.0.1:<port>``), else None."""
        return f"http://{self._netloc}" if self._server is not None else None

    def start(self) -> str:
        if self._server is not None:
            raise RuntimeError("S3Front is already started")
        access_key, secret = next(iter(self.credentials.items()), ("testing", "testing"))
        front = FrontContext(
            credentials=self.credentials, region=self.region, upstream=self.upstream,
            s3=self.upstream.s3_client(access_key, secret), drain_limit=self.drain_limit,
            spool_memory=self.spool_memory, trust_forwarded_for=self.trust_forwarded_for, on_accept=self.on_accept,
            on_upload=self.on_upload)
        self._server = server = _Server((self.host, self.port), front)
        self.port = server.server_address[1]
        self._netloc = netloc(server.server_address)
        self._thread = threading.Thread(target=server.serve_forever, name=f"s3front-{self.port}", daemon=True)
        self._thread.start()
        log.info("S3 front on http://%s → %s", self._netloc, self.moto_url)
        return f"http://{self._netloc}"

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with server.lock:
            sockets = list(server.open_sockets)
        for sock in sockets:  # keep-alive connections would otherwise idle until their timeout
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def __enter__(self) -> S3Front:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
