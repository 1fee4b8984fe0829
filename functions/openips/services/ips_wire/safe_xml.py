"""The one way IPS wire XML is parsed: no DTDs, no entities, no network, bounded size, depth and count.

``parse(data, max_bytes=MAX_BYTES) -> Element`` or :class:`XmlRejected` (a ``ValueError``) saying why.

``defusedxml`` over the standard library's expat parser: a ``<!DOCTYPE`` is refused where it
starts, so an entity is never declared, let alone expanded (XXE and billion-laughs documents
cost one refused token); external references are never fetched; the size is checked before
parsing, the depth and element count while parsing, before anything more is built.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET  # noqa: S405 - the Element type and ParseError; parsing is defusedxml's

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_ELEMENTS = 100_000


class XmlRejected(ValueError):
    """The bytes are not a document openips reads: unsafe, too large, too deep, or not XML."""


def parse(data: bytes, max_bytes: int = MAX_BYTES) -> ET.Element:
    """The root element of ``data``; :class:`XmlRejected` for anything else."""
    if not data or not data.strip():
        raise XmlRejected("empty XML document")
    if len(data) > max_bytes:
        raise XmlRejected(f"XML document of {len(data)} bytes; the limit is {max_bytes}")
    depth = elements = 0
    root: ET.Element | None = None
    try:
        for event, element in iterparse(io.BytesIO(data), events=("start", "end"),
                                        forbid_dtd=True, forbid_entities=True, forbid_external=True):
            if event == "end":
                depth -= 1
                continue
            depth += 1
            elements += 1
            root = element if root is None else root
            if depth > MAX_DEPTH:
                raise XmlRejected(f"XML nested deeper than {MAX_DEPTH} elements")
            if elements > MAX_ELEMENTS:
                raise XmlRejected(f"XML with more than {MAX_ELEMENTS} elements")
    except DefusedXmlException as exc:
        raise XmlRejected(f"XML with a DTD, entities or external references is refused ({type(exc).__name__})") from exc
    except ET.ParseError as exc:
        raise XmlRejected(f"malformed XML: {exc}") from exc
    if root is None:
        raise XmlRejected("empty XML document")
    return root


def local_name(tag: str) -> str:
    """``{ns}name`` → ``name``."""
    return tag.rsplit("}", 1)[-1] if tag.startswith("{") else tag


def namespace(tag: str) -> str | None:
    """``{ns}name`` → ``ns``; None without one."""
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else None
