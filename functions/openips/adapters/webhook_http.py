"""Outbound webhook POSTs (``postHttpUrl``), with the SSRF rules of docs/notifications.md.

The only network code outside boto3. The host name is resolved once, every address it
resolves to must be public, and the connection goes to the checked address (TLS still
verifies the certificate against the host name), so DNS cannot be re-pointed between the
check and the connect. Redirects are never followed: a 3xx is an answer like any other.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_RESPONSE_BYTES = 4096
USER_AGENT = "openips-webhook/1"


class WebhookRefusedError(Exception):
    """The URL may not be called (scheme, or an address that is not public). Permanent."""


class WebhookTransportError(Exception):
    """No HTTP answer: DNS failure, connection refused/reset, TLS failure or timeout. Retryable."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind  # "timeout" | "connection" | "dns" | "tls"
        self.detail = detail


@dataclass(frozen=True)
class WebhookResponse:
    status: int
    address: str


def address_refusal(address: str, allow_loopback: bool = False) -> str | None:
    """Why ``address`` may not be called, or None when it is a public unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        # ::ffff:10.0.0.1 and 2002:0a00:0001:: (6to4) carry an IPv4 address: judge that one.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is not None:
            return address_refusal(str(embedded), allow_loopback)
    if ip.is_loopback:
        return None if allow_loopback else "loopback"
    for reason, flag in (("unspecified", ip.is_unspecified), ("multicast", ip.is_multicast),
                         ("link-local", ip.is_link_local), ("private", ip.is_private),
                         ("reserved", ip.is_reserved), ("not globally routable", not ip.is_global)):
        if flag:
            return reason
    return None


def check_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL; raises WebhookRefusedError otherwise."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise WebhookRefusedError(f"scheme {scheme or '(none)'} is not http or https")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise WebhookRefusedError(f"invalid port: {exc}") from exc
    host = parts.hostname
    if not host:
        raise WebhookRefusedError("the URL has no host")
    return scheme, host, port


def resolve(host: str, port: int, allow_loopback: bool) -> str:
    """The address to connect to; every address the name resolves to must be allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise WebhookTransportError("dns", f"{host}: {exc}") from exc
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise WebhookTransportError("dns", f"{host} has no address")
    for address in addresses:
        reason = address_refusal(address, allow_loopback)
        if reason:
            raise WebhookRefusedError(f"{host} resolves to {address} ({reason})")
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def post(url: str, body: bytes, headers: dict[str, str], timeout: float,
         allow_loopback: bool = False) -> WebhookResponse:
    """POST ``body`` to ``url`` once. Raises WebhookRefusedError or WebhookTransportError."""
    scheme, host, port = check_url(url)
    address = resolve(host, port, allow_loopback)
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    cls = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    connection = cls(host, port, address, timeout)
    try:
        connection.request("POST", target, body=body, headers={
            "Content-Type": "application/json", "User-Agent": USER_AGENT, **headers})
        response = connection.getresponse()
        response.read(MAX_RESPONSE_BYTES)
        return WebhookResponse(response.status, address)
    except (TimeoutError, socket.timeout) as exc:
        raise WebhookTransportError("timeout", f"no answer within {timeout:g} s") from exc
    except ssl.SSLError as exc:
        raise WebhookTransportError("tls", str(exc)) from exc
    except (OSError, http.client.HTTPException) as exc:
        raise WebhookTransportError("connection", f"{type(exc).__name__}: {exc}") from exc
    finally:
        connection.close()
