"""xmpKeywords: the optimized TIFF's XMP dc:subject holds the source's keywords then the job's."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pyvips = pytest.importorskip("pyvips")

from openips.imaging.encode import MAX_METADATA_BLOB_BYTES  # noqa: E402
from openips.imaging.optimize import optimize  # noqa: E402
from openips.imaging.options import ProcessingOptions  # noqa: E402
from openips.imaging.step_context import StepContext  # noqa: E402
from openips.imaging.xmp import DC_NS, RDF_NS, merge_subject  # noqa: E402

MAX_PIXELS = 100_000_000
XMP_NS = "http://ns.adobe.com/xap/1.0/"
SOURCE_XMP = f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{RDF_NS}">
<rdf:Description rdf:about="" xmlns:xmp="{XMP_NS}" xmp:CreatorTool="Camera 1.0"/>
<rdf:Description rdf:about="" xmlns:dc="{DC_NS}"><dc:subject><rdf:Bag>
<rdf:li>beach</rdf:li><rdf:li>sale</rdf:li></rdf:Bag></dc:subject></rdf:Description>
</rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>""".encode()


def _source(path: Path, xmp: bytes | None = None) -> str:
    """A small JPEG (or TIFF, by ``path``'s suffix: JPEG cannot hold XMP over 64 KB) with ``xmp``."""
    image = (pyvips.Image.black(64, 48, bands=3) + [90, 120, 200]).cast("uchar").copy(interpretation="srgb")
    if xmp is not None:
        image = image.copy()
        image.set_type(pyvips.GValue.blob_type, "xmp-data", xmp)
    image.write_to_file(str(path))
    return str(path)


def _optimize(tmp_path: Path, source: str, keywords: tuple[str, ...]) -> tuple[str, StepContext]:
    ctx = StepContext(options=ProcessingOptions(xmp_keywords=keywords))
    dst = str(tmp_path / "out.tif")
    optimize(source, dst, max_pixels=MAX_PIXELS, ctx=ctx)
    return dst, ctx


def _xmp(path: str) -> ET.Element:
    image = pyvips.Image.tiffload(path)
    return ET.fromstring(image.get("xmp-data").rstrip(b"\x00"))


def _subject(root: ET.Element) -> list[str]:
    bags = root.findall(f".//{{{DC_NS}}}subject/{{{RDF_NS}}}Bag")
    assert len(bags) == 1
    return [li.text or "" for li in bags[0].findall(f"{{{RDF_NS}}}li")]


def test_keywords_are_written_into_a_new_packet(tmp_path: Path) -> None:
    # Given a JPEG without XMP
    source = _source(tmp_path / "in.jpg")

    # When
    dst, ctx = _optimize(tmp_path, source, ("sale", "red, blue", "shoes"))

    # Then
    root = _xmp(dst)
    assert root.tag == "{adobe:ns:meta/}xmpmeta"
    assert _subject(root) == ["sale", "red, blue", "shoes"]
    assert any("3 keyword(s) merged" in note for note in ctx.notes) and ctx.warnings == []


def test_source_subject_and_other_xmp_are_kept(tmp_path: Path) -> None:
    # Given a JPEG whose XMP has a creator tool and two keywords
    source = _source(tmp_path / "in.jpg", SOURCE_XMP)

    # When
    dst, _ = _optimize(tmp_path, source, ("sale", "shoes"))

    # Then: the source's keywords first, the job's new ones after, no repeats
    root = _xmp(dst)
    assert _subject(root) == ["beach", "sale", "shoes"]
    tools = [d.get(f"{{{XMP_NS}}}CreatorTool") for d in root.iter(f"{{{RDF_NS}}}Description")]
    assert "Camera 1.0" in tools
    assert b'xmlns:xmp="' in pyvips.Image.tiffload(dst).get("xmp-data")  # the file's own prefix survives


def test_xml_special_characters_round_trip(tmp_path: Path) -> None:
    # Given
    source = _source(tmp_path / "in.jpg")
    keywords = ('a<b & "c"', "x]]>y", "'quote'")

    # When
    dst, _ = _optimize(tmp_path, source, keywords)

    # Then
    assert _subject(_xmp(dst)) == list(keywords)
    assert b"a&lt;b &amp; " in pyvips.Image.tiffload(dst).get("xmp-data")


def test_no_keywords_leave_the_source_xmp_alone(tmp_path: Path) -> None:
    # Given
    source = _source(tmp_path / "in.jpg", SOURCE_XMP)

    # When
    dst, ctx = _optimize(tmp_path, source, ())

    # Then
    assert _subject(_xmp(dst)) == ["beach", "sale"]
    assert not any("xmpKeywords" in note for note in ctx.notes)


def test_unreadable_source_xmp_is_replaced_with_a_warning(tmp_path: Path) -> None:
    # Given
    source = _source(tmp_path / "in.jpg", b"<x:xmpmeta><not closed")

    # When
    dst, ctx = _optimize(tmp_path, source, ("k",))

    # Then
    assert _subject(_xmp(dst)) == ["k"]
    assert any("not well-formed" in warning for warning in ctx.warnings)


def test_an_oversized_source_packet_keeps_only_the_subject(tmp_path: Path) -> None:
    # Given XMP over the size encode keeps (it would drop the packet, keywords and all)
    padding = f'<rdf:Description rdf:about="" xmlns:xmp="{XMP_NS}" xmp:Label="{"p" * MAX_METADATA_BLOB_BYTES}"/>'
    big = SOURCE_XMP.replace(b"</rdf:RDF>", padding.encode() + b"</rdf:RDF>")
    source = _source(tmp_path / "in.tif", big)

    # When
    dst, ctx = _optimize(tmp_path, source, ("k",))

    # Then
    assert _subject(_xmp(dst)) == ["beach", "sale", "k"]
    assert len(pyvips.Image.tiffload(dst).get("xmp-data")) < MAX_METADATA_BLOB_BYTES
    assert any("keeps only dc:subject" in warning for warning in ctx.warnings)


def test_keywords_too_large_for_any_packet_are_left_out_with_a_warning(tmp_path: Path) -> None:
    # Given 1000 keywords of 256 characters (the most a job may give): about 270 KB of XMP
    source = _source(tmp_path / "in.jpg")
    keywords = tuple(f"{i:04d}" + "k" * 252 for i in range(1000))

    # When
    dst, ctx = _optimize(tmp_path, source, keywords)

    # Then
    image = pyvips.Image.tiffload(dst)
    assert image.get_typeof("xmp-data") == 0
    assert any("not embedded" in warning for warning in ctx.warnings)


def test_merge_subject_reads_attribute_form_and_bare_rdf() -> None:
    # Given a packet whose root is rdf:RDF and whose keyword is an attribute
    packet = (f'<rdf:RDF xmlns:rdf="{RDF_NS}" xmlns:dc="{DC_NS}">'
              '<rdf:Description rdf:about="" dc:subject="solo"/></rdf:RDF>').encode()

    # When
    merged = merge_subject(packet, ["solo", "two"])

    # Then
    assert merged.subject == ("solo", "two") and merged.problem is None
    assert _subject(ET.fromstring(merged.packet.decode().split("?>", 1)[1].rsplit("<?", 1)[0])) == ["solo", "two"]
