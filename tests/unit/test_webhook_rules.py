"""Webhook rules without AWS: SSRF address checks, DNS pinning, signature, answer classes."""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from openips.adapters import webhook_http
from openips.services import webhooks


@pytest.mark.parametrize(("address", "reason"), [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"),
    ("10.0.0.1", "private"), ("172.16.5.4", "private"), ("192.168.1.1", "private"), ("fd12::1", "private"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("224.0.0.251", "multicast"), ("ff02::1", "multicast"),
    ("100.64.0.1", "not globally routable"), ("192.0.2.10", "private"),
    ("::ffff:10.0.0.1", "private"), ("::ffff:169.254.169.254", "link-local"),
    ("2002:7f00:0001::", "loopback"),  # 6to4 of 127.0.0.1
    ("8.8.8.8", None), ("2606:4700:4700::1111", None), ("93.184.216.34", None),
])
def test_address_refusal(address, reason):
    assert webhook_http.address_refusal(address) == reason


def test_loopback_allowance_covers_loopback_only():
    assert webhook_http.address_refusal("127.0.0.1", allow_loopback=True) is None
    assert webhook_http.address_refusal("::1", allow_loopback=True) is None
    assert webhook_http.address_refusal("10.0.0.1", allow_loopback=True) == "private"
    assert webhook_http.address_refusal("169.254.169.254", allow_loopback=True) == "link-local"


def _fake_dns(monkeypatch, answers: dict[str, list[str]]):
    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in answers[host]]
    monkeypatch.setattr(webhook_http.socket, "getaddrinfo", getaddrinfo)


def test_a_name_with_any_private_address_is_refused(monkeypatch):
    _fake_dns(monkeypatch, {"mixed.example": ["93.184.216.34", "10.0.0.7"]})
    with pytest.raises(webhook_http.WebhookRefusedError, match=r"10\.0\.0\.7 \(private\)"):
        webhook_http.post("https://mixed.example/hook", b"{}", {}, 1.0)


def test_dns_failure_is_retryable(monkeypatch):
    _fake_dns(monkeypatch, {})
    with pytest.raises(webhook_http.WebhookTransportError) as info:
        webhook_http.post("https://nowhere.invalid/hook", b"{}", {}, 1.0)
    assert info.value.kind == "dns"


def test_connects_to_the_checked_address_and_keeps_the_host_header(monkeypatch):
    """No second resolution: the socket goes to the address that was checked."""
    seen = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            seen["host"] = self.headers["Host"]
            seen["body"] = self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        calls = []
        real = socket.getaddrinfo

        def getaddrinfo(host, *args, **kwargs):
            if host == "127.0.0.1":  # create_connection on the pinned numeric address: no DNS
                return real(host, *args, **kwargs)
            calls.append(host)
            if host == "hooks.example" and len(calls) == 1:  # later answers would be a rebinding attack
                return real("127.0.0.1", *args, **kwargs)
            raise AssertionError(f"unexpected resolution of {host}")

        monkeypatch.setattr(webhook_http.socket, "getaddrinfo", getaddrinfo)
        response = webhook_http.post(f"http://hooks.example:{port}/x", b'{"a":1}', {}, 2.0, allow_loopback=True)
        assert (response.status, response.address) == (204, "127.0.0.1")
        assert calls == ["hooks.example"]
        assert seen == {"host": f"hooks.example:{port}", "body": b'{"a":1}'}
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("url", ["ftp://x.example/", "file:///etc/passwd", "http:///x", "gopher://x.example/",
                                 "http://x.example:70000/"])
def test_non_http_urls_are_refused_before_any_lookup(monkeypatch, url):
    _fake_dns(monkeypatch, {})
    with pytest.raises(webhook_http.WebhookRefusedError):
        webhook_http.post(url, b"{}", {}, 1.0)


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    body = b'{"jobHandle":"j-1"}'
    expected = hmac.new(b"whsec_test", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert webhooks.signature("whsec_test", 1700000000, body) == expected
    headers = webhooks.signed_headers(["whsec_new", "whsec_old"], 1700000000, body, "j-1.0", 2)
    assert headers["X-Openips-Signature"] == (f"v1={webhooks.signature('whsec_new', 1700000000, body)},"
                                              f"v1={webhooks.signature('whsec_old', 1700000000, body)}")
    assert headers["X-Openips-Attempt"] == "2" and headers["X-Openips-Delivery"] == "j-1.0"


@pytest.mark.parametrize(("status", "result"), [
    (200, "Delivered"), (204, "Delivered"), (500, "Retry"), (502, "Retry"), (503, "Retry"), (429, "Retry"),
    (408, "Retry"), (400, "Stopped"), (401, "Stopped"), (404, "Stopped"), (410, "Stopped"),
    (301, "Stopped"), (302, "Stopped"), (307, "Stopped"),
])
def test_answer_classes(status, result):
    assert webhooks.classify(status).result == result


def test_display_url_drops_query_and_credentials():
    assert webhooks.display_url("https://u:p@hooks.example:8443/a/b?token=x#f") == "https://hooks.example:8443/a/b"
    assert webhooks.display_url("http://[::1]:9000") == "http://[::1]:9000/"


def test_default_schedule_is_about_six_hours(monkeypatch):
    from openips.settings import Settings

    delays = Settings(jobs_table="t", incoming_bucket="i", assets_bucket="a").webhook_retry_delays
    assert len(delays) + 1 == 8
    assert 5.5 * 3600 <= sum(delays) <= 6 * 3600
    assert all(d > 0 for d in delays)
