"""InDesign documents: recognised by their GUID, page previews read from their XMP, hostile XMP refused."""

from __future__ import annotations

import base64

import pytest

from openips.imaging.indesign import INDESIGN_MAGIC, MAX_PREVIEWS, is_indesign, page_previews

pyvips = pytest.importorskip("pyvips")


def preview_jpeg(width: int, height: int, shade: int) -> bytes:
    return (pyvips.Image.black(width, height, bands=3) + shade).cast("uchar").jpegsave_buffer()


def page_item(number: int, jpeg: bytes, width: int, height: int) -> str:
    encoded = base64.b64encode(jpeg).decode()
    wrapped = "&#xA;".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))  # as InDesign writes it
    return (f'<rdf:li rdf:parseType="Resource"><xmpGImg:pageNumber>{number}</xmpGImg:pageNumber>'
            f"<xmpGImg:format>JPEG</xmpGImg:format><xmpGImg:width>{width}</xmpGImg:width>"
            f"<xmpGImg:height>{height}</xmpGImg:height><xmpGImg:image>{wrapped}</xmpGImg:image></rdf:li>")


def packet(items: list[str], prolog: str = "") -> bytes:
    return (f'{prolog}<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
            'xmlns:xmpGImg="http://ns.adobe.com/xap/1.0/g/img/"><xmp:PageInfo><rdf:Seq>'
            + "".join(items) + "</rdf:Seq></xmp:PageInfo></rdf:Description></rdf:RDF></x:xmpmeta>").encode()


def indd(tmp_path, *packets: bytes, name: str = "doc.indd"):
    path = tmp_path / name
    path.write_bytes(INDESIGN_MAGIC + b"DOCUMENT" + bytes(4000) + b"".join(p + bytes(1000) for p in packets))
    return path


def test_page_previews_are_read_in_page_order(tmp_path):
    pages = [preview_jpeg(120, 90, 40), preview_jpeg(90, 120, 200)]
    path = indd(tmp_path, packet([page_item(1, pages[0], 120, 90), page_item(2, pages[1], 90, 120)]))
    assert is_indesign(path.read_bytes()[:32])
    found = page_previews(str(path))
    assert [(p.page, p.width, p.height, p.jpeg) for p in found.pages] == [(1, 120, 90, pages[0]), (2, 90, 120, pages[1])]
    assert found.problems == [] and found.more_pages == 0
    decoded = pyvips.Image.new_from_buffer(found.pages[1].jpeg, "")
    assert (decoded.width, decoded.height) == (90, 120)


def test_placed_images_packets_after_the_documents_are_not_read(tmp_path):
    own = packet([page_item(1, preview_jpeg(40, 40, 1), 40, 40)])
    placed = packet([page_item(1, preview_jpeg(50, 50, 2), 50, 50), page_item(2, preview_jpeg(50, 50, 3), 50, 50)])
    assert len(page_previews(str(indd(tmp_path, own, placed))).pages) == 1


def test_not_indesign_and_no_xmp(tmp_path):
    assert not is_indesign(b"%PDF-1.7\n" + bytes(40))
    plain = indd(tmp_path)
    assert page_previews(str(plain)).pages == []
    empty = tmp_path / "empty.indd"
    empty.write_bytes(b"")
    assert page_previews(str(empty)).pages == []


def test_hostile_xmp_is_refused_and_bad_previews_skipped(tmp_path):
    # A DTD can only come before the packet, which is never parsed with it: its entities stay
    # undefined inside the packet (no expansion, no bomb), and one declared inside is refused.
    laughs = '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    bomb = packet([page_item(1, preview_jpeg(10, 10, 1), 10, 10).replace("JPEG", "&b;")], prolog=laughs)
    found = page_previews(str(indd(tmp_path, bomb)))
    assert found.pages == [] and "not well-formed" in found.problems[0]
    inside = packet([]).replace(b"<rdf:RDF", b"<!ENTITY c 'x'><rdf:RDF", 1)
    found = page_previews(str(indd(tmp_path, inside, name="inside.indd")))
    assert found.pages == [] and "DTD or entities" in found.problems[0]

    not_jpeg = base64.b64encode(b"GIF89a" + bytes(30)).decode()
    items = [page_item(1, preview_jpeg(10, 10, 1), 10, 10),
             '<rdf:li rdf:parseType="Resource"><xmpGImg:image>!!!not base64!!!</xmpGImg:image></rdf:li>',
             f'<rdf:li rdf:parseType="Resource"><xmpGImg:image>{not_jpeg}</xmpGImg:image></rdf:li>']
    found = page_previews(str(indd(tmp_path, packet(items), name="bad.indd")))
    assert [p.page for p in found.pages] == [1]
    assert any("page 2 is not valid base64" in p for p in found.problems)
    assert any("page 3 is not a JPEG" in p for p in found.problems)

    broken = indd(tmp_path, b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><unclosed></x:xmpmeta>", name="broken.indd")
    assert "not well-formed" in page_previews(str(broken)).problems[0]
    unterminated = tmp_path / "cut.indd"
    unterminated.write_bytes(INDESIGN_MAGIC + b"<x:xmpmeta " + bytes(100))
    assert page_previews(str(unterminated)).pages == []


def test_previews_beyond_the_page_limit_are_counted_not_read(tmp_path):
    tiny = preview_jpeg(4, 4, 9)
    path = indd(tmp_path, packet([page_item(n, tiny, 4, 4) for n in range(1, MAX_PREVIEWS + 6)]))
    found = page_previews(str(path))
    assert len(found.pages) == MAX_PREVIEWS and found.more_pages == 5
