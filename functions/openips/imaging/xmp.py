"""XMP packets: merge keywords into ``dc:subject`` (spec §9.7). Pure XML work, no pyvips.

The source packet is kept whole and only its ``dc:subject`` rewritten: every
``dc:subject`` found (in any ``rdf:Description``, element or attribute form) is collected,
removed, and one ``rdf:Bag`` holding those entries followed by the new keywords (no exact
repeats) is written into the first ``rdf:Description``. A packet that cannot be parsed, or
has no ``rdf:RDF``, is replaced by a minimal one, and the caller is told why.

Packets come from uploaded files and the process serves many tenants, so nothing here writes
to ElementTree's global prefix registry: each packet is written with its own prefix map. A
packet with a DOCTYPE (the only way to declare entities) is refused before any entity is read.
"""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

from openips.models.keywords import merge_keywords

X_NS = "adobe:ns:meta/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DC_NS = "http://purl.org/dc/elements/1.1/"
_RDF = f"{{{RDF_NS}}}RDF"
_DESCRIPTION = f"{{{RDF_NS}}}Description"
_LI = f"{{{RDF_NS}}}li"
_SUBJECT = f"{{{DC_NS}}}subject"
PACKET_HEADER = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
PACKET_TRAILER = '\n<?xpacket end="w"?>'
XML_NS = "http://www.w3.org/XML/1998/namespace"  # xml:lang; bound by XML itself, never declared
FIXED_PREFIXES = {X_NS: "x", RDF_NS: "rdf", DC_NS: "dc", XML_NS: "xml"}
MAX_DEPTH = 200  # XMP nests about ten deep; ElementTree writes recursively and fails past ~1000


class UnsafeXmpError(ET.ParseError):
    """A packet refused unread: it declares a DTD or nests too deep. A ParseError, so callers treat it as unreadable."""


@dataclass(frozen=True, slots=True)
class MergedXmp:
    """The packet to embed, the keywords its ``dc:subject`` holds, and why the source packet was not kept."""

    packet: bytes
    subject: tuple[str, ...]
    problem: str | None = None


def merge_subject(source: bytes | None, keywords: Sequence[str]) -> MergedXmp:
    """``source`` (an XMP packet or None) with ``keywords`` merged into its ``dc:subject``."""
    if not source or not source.strip(b"\x00 \t\r\n"):
        return _minimal(keywords, None)
    try:
        root, file_prefixes = parse_packet(source)
    except UnsafeXmpError as exc:
        return _minimal(keywords, f"the file's XMP was not read: {exc}")
    except ET.ParseError as exc:
        return _minimal(keywords, f"the file's XMP is not well-formed XML ({exc})")
    rdf = root if root.tag == _RDF else root.find(f".//{_RDF}")
    if rdf is None:
        return _minimal(keywords, "the file's XMP has no rdf:RDF element")
    existing: list[str] = []
    descriptions = rdf.findall(_DESCRIPTION)
    for description in descriptions:
        if _SUBJECT in description.attrib:  # a lone keyword in attribute form
            existing.append(description.attrib.pop(_SUBJECT).strip())
        for node in description.findall(_SUBJECT):
            existing += [(li.text or "").strip() for li in node.iter(_LI)]
            description.remove(node)
    if not descriptions:
        descriptions = [ET.SubElement(rdf, _DESCRIPTION, {f"{{{RDF_NS}}}about": ""})]
    subject = merge_keywords(existing, keywords)
    _append_subject(descriptions[0], subject)
    return MergedXmp(_serialize(root, file_prefixes), tuple(subject))


def minimal_packet(keywords: Sequence[str]) -> bytes:
    """A complete XMP packet holding only ``dc:subject``."""
    return _minimal(keywords, None).packet


def _minimal(keywords: Sequence[str], problem: str | None) -> MergedXmp:
    root = ET.Element(f"{{{X_NS}}}xmpmeta")
    rdf = ET.SubElement(root, _RDF)
    description = ET.SubElement(rdf, _DESCRIPTION, {f"{{{RDF_NS}}}about": ""})
    subject = merge_keywords([], keywords)
    _append_subject(description, subject)
    return MergedXmp(_serialize(root, {}), tuple(subject), problem)


def _append_subject(description: ET.Element, subject: Sequence[str]) -> None:
    bag = ET.SubElement(ET.SubElement(description, _SUBJECT), f"{{{RDF_NS}}}Bag")
    for keyword in subject:
        ET.SubElement(bag, _LI).text = keyword


def parse_packet(source: bytes) -> tuple[ET.Element, dict[str, str]]:
    """Parse an untrusted XMP packet: its root, and namespace URI → the prefix the file first bound it to.

    Raises UnsafeXmpError for a DOCTYPE or nesting past ``MAX_DEPTH``, ET.ParseError for bad XML.
    """
    builder = _GuardedBuilder()
    parser = ET.XMLParser(target=builder)
    parser.feed(source.rstrip(b"\x00"))
    return parser.close(), builder.prefixes


class _GuardedBuilder(ET.TreeBuilder):
    """A TreeBuilder that notes the file's prefixes and refuses DTDs and deep nesting."""

    def __init__(self) -> None:
        super().__init__()
        self.prefixes: dict[str, str] = {}
        self._depth = 0

    def start_ns(self, prefix: str, uri: str) -> None:
        self.prefixes.setdefault(uri, prefix)

    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        # Called as the DOCTYPE opens, before any entity in it is declared or expanded.
        raise UnsafeXmpError("it declares a DTD (<!DOCTYPE>), which XMP does not use")

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise UnsafeXmpError(f"its elements nest more than {MAX_DEPTH} deep")
        return super().start(tag, attrs)

    def end(self, tag: str) -> ET.Element:
        self._depth -= 1
        return super().end(tag)


def _serialize(root: ET.Element, file_prefixes: dict[str, str]) -> bytes:
    """The packet text, every name written with a prefix chosen for this packet alone.

    Names are rewritten to ``prefix:local`` in place and the declarations put on the root, so
    ElementTree writes them as they are and never looks at its global prefix registry.
    """
    elements = list(root.iter())
    used: dict[str, None] = {}  # namespace URIs in first-use order
    for element in elements:
        for name in (element.tag, *element.attrib):
            if name.startswith("{"):
                used.setdefault(name[1:].partition("}")[0])
    prefixes = _choose_prefixes(used, file_prefixes)
    for element in elements:
        element.tag = _qualified(element.tag, prefixes)
        element.attrib = {_qualified(key, prefixes): value for key, value in element.attrib.items()}
    declarations = {f"xmlns:{prefix}": uri for uri, prefix in sorted(prefixes.items(), key=lambda item: item[1])
                    if uri != XML_NS}
    root.attrib = {**declarations, **root.attrib}
    # The xpacket processing instructions are dropped by the parser; write fresh ones.
    return (PACKET_HEADER + ET.tostring(root, encoding="unicode") + PACKET_TRAILER).encode("utf-8")


def _choose_prefixes(uris: dict[str, None], file_prefixes: dict[str, str]) -> dict[str, str]:
    """URI → prefix: the fixed ones, else the file's own when no other URI holds it, else a fresh nsN."""
    chosen = {uri: prefix for uri, prefix in FIXED_PREFIXES.items() if uri in uris}
    taken = set(FIXED_PREFIXES.values())
    for uri in uris:
        prefix = file_prefixes.get(uri, "")
        if uri not in chosen and prefix and prefix not in taken:
            chosen[uri] = prefix
            taken.add(prefix)
    fresh = (f"ns{n}" for n in itertools.count())
    for uri in uris:
        if uri not in chosen:
            chosen[uri] = next(p for p in fresh if p not in taken)
    return chosen


def _qualified(name: str, prefixes: dict[str, str]) -> str:
    if not name.startswith("{"):
        return name
    uri, _, local = name[1:].partition("}")
    return f"{prefixes[uri]}:{local}"
