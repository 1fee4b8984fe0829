"""Hostile metadata in one upload must neither pin a worker nor change the next tenant's output.

Photoshop resource blocks (createMask) are walked in linear time under caps on size, count and
path length; XMP packets (xmpKeywords) are written with a prefix map of their own, never with
ElementTree's process-global registry, and a DTD is refused before any entity is read. No libvips.
"""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest

from openips.imaging import clipping_path
from openips.imaging.clipping_path import (
    MAX_JPEG_FILL_BYTES,
    MAX_JPEG_SEGMENTS,
    MAX_RECORDS,
    MAX_RESOURCES,
    PATH_RESOURCE_IDS,
    RECORD_SIZE,
    ClippingPathError,
    clipping_mask,
    decode_path,
    find_clipping_path,
    jpeg_irb_segments,
    parse_irb,
)
from openips.imaging.xmp import DC_NS, MAX_DEPTH, RDF_NS, merge_subject
from tests.imaging.clipping_fixtures import (
    SliceCountingBytes,
    clipping_tail,
    jpeg_with_irb,
    padded_irb,
    path_data,
    rectangle,
    resource,
)

MIB = 1024 * 1024
RECT = path_data([rectangle(0.25, 0.25, 0.75, 0.75)])
CLIP_TAIL = clipping_tail(RECT)
TINY = resource(4000, b"")  # 12 bytes: the most resources a block can hold


class _CountingIds:
    """An ``only`` filter that keeps nothing and counts how many 8BIM resources it was asked about."""

    def __init__(self) -> None:
        self.asked = 0

    def __contains__(self, resource_id: object) -> bool:
        self.asked += 1
        return False


# --- Photoshop resource blocks (createMask) ----------------------------------------------------


def test_a_16_mib_block_of_small_resources_is_walked_once() -> None:
    # Given: 16 MiB of 9,000-odd 1.8 KiB resources, the clipping path last
    irb = padded_irb(16 * MIB, 1864, CLIP_TAIL)
    block = SliceCountingBytes(irb, budget=len(irb))

    # When
    started = time.perf_counter()
    resources = parse_irb(block)
    elapsed = time.perf_counter() - started

    # Then: the right path, found without copying more than the block once
    print(f"parse_irb: {len(irb) / MIB:.1f} MiB, {len(irb) // 1864} resources in {elapsed:.3f} s")
    assert find_clipping_path(resources) == ("Clip", RECT, None)
    assert len(resources) == 1002 and block.copied <= len(irb)


def test_walking_a_16_mib_block_for_the_path_copies_only_the_path() -> None:
    # Given
    irb = padded_irb(16 * MIB, 1864, CLIP_TAIL)

    # When
    tracemalloc.start()
    try:
        resources = parse_irb(irb, only=PATH_RESOURCE_IDS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Then: a copy of the block's tail, even once, would show as megabytes
    assert sorted(resources) == [2000, 2999]
    assert peak < MIB // 4, f"parsing allocated up to {peak} bytes"


def test_a_block_of_more_resources_than_the_cap_is_refused_after_the_cap() -> None:
    # Given: 16 MiB of 12-byte resources, 1.4 million of them
    irb = TINY * (16 * MIB // len(TINY))
    asked = _CountingIds()

    # When
    started = time.perf_counter()
    with pytest.raises(ClippingPathError, match=f"more than {MAX_RESOURCES} entries"):
        parse_irb(SliceCountingBytes(irb, budget=len(irb)), only=asked)
    print(f"parse_irb refused {len(irb) // len(TINY)} resources in {time.perf_counter() - started:.4f} s")

    # Then
    assert asked.asked == MAX_RESOURCES


def test_the_cap_on_resources_is_a_create_mask_warning_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given
    irb = SliceCountingBytes(TINY * (16 * MIB // len(TINY)) + CLIP_TAIL, budget=16 * MIB)
    monkeypatch.setattr(clipping_path, "image_resource_block", lambda image: irb)

    # When
    problems: list[str] = []
    mask = clipping_mask(SimpleNamespace(width=40, height=30), problems)

    # Then
    assert mask is None
    assert problems == [f"createMask: the clipping path cannot be used (the Photoshop resources hold more than "
                        f"{MAX_RESOURCES} entries, where a real file has a few dozen), so no mask was made"]


def test_a_block_over_the_size_cap_is_refused_unread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clipping_path, "MAX_IRB_BYTES", MIB)

    with pytest.raises(ClippingPathError, match=r"are 1\.0 MiB, over the 1 MiB limit"):
        parse_irb(padded_irb(MIB + 2000, 2000, CLIP_TAIL))
    assert parse_irb(padded_irb(MIB, 2000, CLIP_TAIL))[2000] == ("Clip", RECT)


def test_a_path_over_the_record_cap_is_refused() -> None:
    with pytest.raises(ClippingPathError, match=f"more than {MAX_RECORDS} records"):
        decode_path(bytes(RECORD_SIZE * (MAX_RECORDS + 1)), 100, 100)


def test_jpeg_app13_segments_past_the_size_cap_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clipping_path, "MAX_IRB_BYTES", MIB)
    jpeg = b"\xff\xd8\xff\xda\x00\x02"

    pieces = jpeg_irb_segments(io.BytesIO(jpeg_with_irb(jpeg, padded_irb(MIB, 1000))))
    with pytest.raises(ClippingPathError, match="Photoshop resources are over the 1 MiB limit"):
        jpeg_irb_segments(io.BytesIO(jpeg_with_irb(jpeg, padded_irb(MIB + 1000, 1000))))

    assert len(b"".join(pieces)) == MIB // 1000 * 1000


def test_a_jpeg_of_endless_empty_segments_or_fill_bytes_is_refused() -> None:
    empty_app1 = b"\xff\xe1\x00\x02"
    many = b"\xff\xd8" + empty_app1 * MAX_JPEG_SEGMENTS + b"\xff\xda"
    fill = b"\xff\xd8" + b"\xff" * (MAX_JPEG_FILL_BYTES + 2) + b"\xda"

    assert jpeg_irb_segments(io.BytesIO(many)) == []
    with pytest.raises(ClippingPathError, match=f"more than {MAX_JPEG_SEGMENTS} segments"):
        jpeg_irb_segments(io.BytesIO(b"\xff\xd8" + empty_app1 * (MAX_JPEG_SEGMENTS + 1) + b"\xff\xda"))
    with pytest.raises(ClippingPathError, match=f"more than {MAX_JPEG_FILL_BYTES} fill bytes"):
        jpeg_irb_segments(io.BytesIO(fill))


# --- XMP packets (xmpKeywords) -----------------------------------------------------------------

XMP_NS = "http://ns.adobe.com/xap/1.0/"
EVIL_NS = "http://evil.example/ns/"


def _packet(description: str, namespaces: str) -> bytes:
    return (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{RDF_NS}">'
            f'<rdf:Description rdf:about="" {namespaces}>{description}</rdf:Description>'
            "</rdf:RDF></x:xmpmeta>").encode()


NORMAL = _packet('<dc:subject><rdf:Bag><rdf:li>beach</rdf:li></rdf:Bag></dc:subject><xmp:Rating>3</xmp:Rating>',
                 f'xmlns:dc="{DC_NS}" xmlns:xmp="{XMP_NS}"')
HOSTILE = {
    # "dc" bound to another URI, as the attack did: ElementTree gave dc's URI ns3 from then on
    "dc rebound": _packet('<dc:subject>not Dublin Core</dc:subject><xmp:Rating>1</xmp:Rating>',
                          f'xmlns:dc="{EVIL_NS}" xmlns:xmp="{XMP_NS}"'),
    # Dublin Core under another prefix, and "xmp" bound to a URI of the attacker's
    "dc under a hostile prefix": _packet('<pwn:subject><rdf:Bag><rdf:li>x</rdf:li></rdf:Bag></pwn:subject>'
                                         '<xmp:Rating>1</xmp:Rating>', f'xmlns:pwn="{DC_NS}" xmlns:xmp="{EVIL_NS}"'),
}


def _body(packet: bytes) -> ET.Element:
    return ET.fromstring(packet.decode().split("?>", 1)[1].rsplit("<?", 1)[0])


@pytest.mark.parametrize("hostile", HOSTILE.values(), ids=HOSTILE.keys())
def test_one_files_xmp_prefixes_do_not_change_the_next_files(hostile: bytes) -> None:
    # Given
    registry = dict(ET._namespace_map)  # type: ignore[attr-defined]

    # When: the hostile file, then an ordinary one, in the same process
    first = merge_subject(hostile, ["sale"])
    second = merge_subject(NORMAL, ["sale"])

    # Then: both written with the usual prefixes, and the process-wide registry untouched
    assert b"<dc:subject><rdf:Bag><rdf:li>" in first.packet and first.problem is None
    assert b"<dc:subject><rdf:Bag><rdf:li>beach</rdf:li><rdf:li>sale</rdf:li>" in second.packet
    assert b'xmlns:xmp="http://ns.adobe.com/xap/1.0/"' in second.packet and b"<xmp:Rating>3" in second.packet
    assert ET._namespace_map == registry  # type: ignore[attr-defined]
    assert ET.tostring(ET.Element(f"{{{DC_NS}}}subject")).startswith(b"<dc:subject ")


def test_the_hostile_files_own_names_keep_their_namespaces() -> None:
    # When
    merged = merge_subject(HOSTILE["dc rebound"], ["sale"])

    # Then: its foreign "dc" element survives under a prefix of its own, bound to its own URI
    body = _body(merged.packet)
    description = body.find(f".//{{{RDF_NS}}}Description")
    assert description is not None
    assert [child.tag for child in description] == [f"{{{EVIL_NS}}}subject", f"{{{XMP_NS}}}Rating",
                                                    f"{{{DC_NS}}}subject"]
    assert b'xmlns:ns0="http://evil.example/ns/"' in merged.packet and merged.subject == ("sale",)


def test_one_prefix_bound_to_two_uris_and_a_default_namespace_get_distinct_prefixes() -> None:
    # Given: "a" bound to two URIs in two scopes, and a default namespace
    packet = _packet('<a:one xmlns:a="urn:one">1</a:one><a:two xmlns:a="urn:two">2</a:two>'
                     '<three xmlns="urn:three" a:attr="x" xmlns:a="urn:one" xml:lang="en">3</three>', "")

    # When
    merged = merge_subject(packet, ["k"])

    # Then: the output reads back to the same names
    description = _body(merged.packet).find(f".//{{{RDF_NS}}}Description")
    assert description is not None
    one, two, three, _subject = description
    assert (one.tag, two.tag, three.tag) == ("{urn:one}one", "{urn:two}two", "{urn:three}three")
    assert three.attrib == {"{urn:one}attr": "x", "{http://www.w3.org/XML/1998/namespace}lang": "en"}
    assert b'xmlns:a="urn:one"' in merged.packet and b"xmlns:xml" not in merged.packet


BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
                  + b"".join(b'<!ENTITY %c "%s">' % (98 + i, b"&%c;" % (97 + i) * 10) for i in range(8))
                  + b"]>" + _packet("<dc:subject>&i;</dc:subject>", f'xmlns:dc="{DC_NS}"'))
EXTERNAL_ENTITY = (b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                   + _packet("<dc:title>&e;</dc:title>", f'xmlns:dc="{DC_NS}"'))


@pytest.mark.parametrize("packet", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion laughs", "external entity"])
def test_xmp_with_a_dtd_is_replaced_unread(packet: bytes) -> None:
    merged = merge_subject(packet, ["k"])

    assert merged.problem == "the file's XMP was not read: it declares a DTD (<!DOCTYPE>), which XMP does not use"
    assert merged.subject == ("k",) and b"passwd" not in merged.packet and b"aaaa" not in merged.packet


def test_xmp_nested_past_the_depth_cap_is_replaced_not_a_crash() -> None:
    deep = _packet("<dc:x>" * 5000 + "</dc:x>" * 5000, f'xmlns:dc="{DC_NS}"')

    merged = merge_subject(deep, ["k"])

    assert merged.problem == f"the file's XMP was not read: its elements nest more than {MAX_DEPTH} deep"
    assert merged.subject == ("k",)


def test_xmp_nested_to_the_depth_cap_is_kept() -> None:
    levels = MAX_DEPTH - 4  # x:xmpmeta, rdf:RDF, rdf:Description and the innermost element
    merged = merge_subject(_packet("<dc:x>" * levels + "<dc:y/>" + "</dc:x>" * levels, f'xmlns:dc="{DC_NS}"'), ["k"])

    assert merged.problem is None and merged.packet.count(b"<dc:x>") == levels
