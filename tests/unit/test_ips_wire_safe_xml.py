"""services/ips_wire/safe_xml.py: hostile XML is refused before it costs anything."""

from __future__ import annotations

import time

import pytest

from openips.services.ips_wire import safe_xml

BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + b"".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10 if n > 1 else "&lol;" * 10}">'.encode()
                             for n in range(1, 10))
                  + b"]><lolz>&lol9;</lolz>")


def test_a_plain_document_parses_with_its_namespace():
    root = safe_xml.parse(b'<a xmlns="urn:x"><b>text</b></a>')
    assert (safe_xml.local_name(root.tag), safe_xml.namespace(root.tag), root[0].text) == ("a", "urn:x", "text")
    assert safe_xml.namespace("plain") is None and safe_xml.local_name("plain") == "plain"


@pytest.mark.parametrize("document", [
    BILLION_LAUGHS,
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
    b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "file:///etc/passwd"><r/>',
    b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://example.invalid/x.dtd"><r/>',
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "http://example.invalid/p">%p;]><r/>',
    b"<!DOCTYPE r><r/>",
], ids=["billion-laughs", "xxe-file", "external-dtd-file", "external-dtd-http", "parameter-entity", "bare-doctype"])
def test_dtds_and_entities_are_refused_at_once(document):
    started = time.perf_counter()
    with pytest.raises(safe_xml.XmlRejected, match="DTD"):
        safe_xml.parse(document)
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("document, message", [
    (b"", "empty"),
    (b"   ", "empty"),
    (b"<a><b></a>", "malformed"),
    (b"not xml", "malformed"),
    (b"<a>" * (safe_xml.MAX_DEPTH + 1) + b"</a>" * (safe_xml.MAX_DEPTH + 1), "deeper"),
    (b"<a>" + b"<b/>" * safe_xml.MAX_ELEMENTS + b"</a>", "more than"),
    (b"<a>" + b"x" * safe_xml.MAX_BYTES + b"</a>", "limit"),
])
def test_broken_deep_wide_or_large_documents_are_refused(document, message):
    with pytest.raises(safe_xml.XmlRejected, match=message):
        safe_xml.parse(document)


def test_the_rejection_is_a_value_error_with_a_smaller_limit():
    with pytest.raises(ValueError, match="limit is 10"):
        safe_xml.parse(b"<a>0123456789</a>", max_bytes=10)
