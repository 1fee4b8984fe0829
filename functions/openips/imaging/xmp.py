"""XMP packets: merge keywords into ``dc:subject`` (spec §9.7). Pure XML work, no pyvips.

The source packet is kept whole and only its ``dc:subject`` rewritten: every
``dc:subject`` found (in any ``rdf:Description``, element or attribute form) is collected,
removed, and one ``rdf:Bag`` holding those entries followed by the new keywords (no exact
repeats) is written into the first ``rdf:Description``. A packet that cannot be parsed, or
has no ``rdf:RDF``, is replaced by a minimal one, and the caller is told why.
"""

from __future__ import annotations

import io
import re
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
_AUTO_PREFIX = re.compile(r"ns\d+$")

ET.register_namespace("x", X_NS)
ET.register_namespace("rdf", RDF_NS)
ET.register_namespace("dc", DC_NS)


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
        root = _parse(source)
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
    return MergedXmp(_serialize(root), tuple(subject))


def minimal_packet(keywords: Sequence[str]) -> bytes:
    """A complete XMP packet holding only ``dc:subject``."""
    return _minimal(keywords, None).packet


def _minimal(keywords: Sequence[str], problem: str | None) -> MergedXmp:
    root = ET.Element(f"{{{X_NS}}}xmpmeta")
    rdf = ET.SubElement(root, _RDF)
    description = ET.SubElement(rdf, _DESCRIPTION, {f"{{{RDF_NS}}}about": ""})
    subject = merge_keywords([], keywords)
    _append_subject(description, subject)
    return MergedXmp(_serialize(root), tuple(subject), problem)


def _append_subject(description: ET.Element, subject: Sequence[str]) -> None:
    bag = ET.SubElement(ET.SubElement(description, _SUBJECT), f"{{{RDF_NS}}}Bag")
    for keyword in subject:
        ET.SubElement(bag, _LI).text = keyword


def _parse(source: bytes) -> ET.Element:
    # Keep the file's own prefixes (xmp:, photoshop:, …) rather than ElementTree's ns0:.
    data = source.rstrip(b"\x00")
    for _, (prefix, uri) in ET.iterparse(io.BytesIO(data), events=("start-ns",)):
        if prefix and not _AUTO_PREFIX.match(prefix) and uri not in (X_NS, RDF_NS, DC_NS):
            ET.register_namespace(prefix, uri)
    return ET.fromstring(data)


def _serialize(root: ET.Element) -> bytes:
    # The xpacket processing instructions are dropped by the parser; write fresh ones.
    return (PACKET_HEADER + ET.tostring(root, encoding="unicode") + PACKET_TRAILER).encode("utf-8")

