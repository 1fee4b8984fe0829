"""Issue 13 item 10: a download's file name is quoted per RFC 5987/6266 and cannot break the header."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from openips.adapters.storage import content_disposition


@pytest.mark.parametrize("name", ["plain.jpg", "résumé.jpg", 'a";b=c.jpg', "x\r\nSet-Cookie: s=1.jpg", "\u202egpj.exe"])
def test_the_header_has_one_ascii_fallback_and_the_exact_name(name):
    header = content_disposition(name)
    assert "\r" not in header and "\n" not in header and header.isascii()
    assert unquote(header.split("filename*=UTF-8''")[1], errors="strict") == name  # what browsers use (RFC 6266)
    fallback = header.split('filename="')[1].split('"')[0]
    assert fallback.isprintable() and ";" not in fallback
