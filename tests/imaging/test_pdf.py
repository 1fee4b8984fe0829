"""imaging.pdf: pages of generated PDFs rendered with pdfium, words, links, and hostile files refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pdf_fixtures import JAVASCRIPT_PDF_CATALOG, POSTSCRIPT_AI, handmade_pdf, pdf_bytes

pyvips = pytest.importorskip("pyvips")
pdf = pytest.importorskip("openips.imaging.pdf")

BIG = 10**9


def write(tmp_path: Path, data: bytes, name: str = "doc.pdf") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_sniff_goes_by_content_not_by_name(tmp_path):
    assert pdf.sniff(write(tmp_path, pdf_bytes(), "renamed.jpg")) == "pdf"
    assert pdf.sniff(write(tmp_path, b"junk before\n" + pdf_bytes(), "late.bin")) == "pdf"  # within 1024 bytes
    assert pdf.sniff(write(tmp_path, b"x" * 1100 + pdf_bytes(), "too-late.pdf")) is None
    assert pdf.sniff(write(tmp_path, POSTSCRIPT_AI, "old.ai")) == "postscript"
    jpeg = pyvips.Image.black(8, 8).jpegsave_buffer()
    assert pdf.sniff(write(tmp_path, jpeg[:20] + b"%PDF-1.4" + jpeg[20:], "sneaky.jpg")) is None


@pytest.mark.parametrize(("ppi", "size"), [(72, (595, 842)), (150, (1240, 1754))])
def test_pages_render_at_the_resolution_asked(tmp_path, ppi, size):
    with pdf.open_document(write(tmp_path, pdf_bytes(2))) as document:
        assert document.page_count == 2 and document.active_content == [] and not document.encrypted
        page = document.render(1, str(tmp_path / "p.tif"), ppi=ppi, max_pixels=BIG)
    image = pyvips.Image.new_from_file(page.path)
    assert (page.width, page.height) == (image.width, image.height) == size
    assert image.bands == 3 and image.interpretation == "srgb"
    # the red square sits in the middle of a white page
    assert image(5, 5) == [255, 255, 255]
    assert image(size[0] // 2, size[1] // 2)[0] > 180 and image(size[0] // 2, size[1] // 2)[1] < 60


def test_thumbnail_long_side_and_colorspaces(tmp_path):
    with pdf.open_document(write(tmp_path, pdf_bytes(1))) as document:
        thumb = document.render(0, str(tmp_path / "t.tif"), long_side=256, max_pixels=BIG)
        grey = document.render(0, str(tmp_path / "g.tif"), ppi=36, colorspace="Gray", max_pixels=BIG)
        cmyk = document.render(0, str(tmp_path / "c.tif"), ppi=36, colorspace="Cmyk", max_pixels=BIG)
    assert (thumb.width, thumb.height) == (181, 256)
    g = pyvips.Image.new_from_file(grey.path)
    assert g.bands == 1 and g.interpretation == "b-w" and "Gray" in " ".join(grey.notes)
    c = pyvips.Image.new_from_file(cmyk.path)
    assert c.bands == 4 and c.interpretation == "cmyk" and c.get_typeof("icc-profile-data") != 0


def test_alpha_keeps_unpainted_paper_transparent(tmp_path):
    source = write(tmp_path, pdf_bytes(1, background=False), "art.ai")
    with pdf.open_document(source) as document:
        clear = document.render(0, str(tmp_path / "a.tif"), ppi=36, alpha=True, max_pixels=BIG)
        white = document.render(0, str(tmp_path / "w.tif"), ppi=36, max_pixels=BIG)
    rgba = pyvips.Image.new_from_file(clear.path)
    assert rgba.bands == 4 and rgba(2, 2)[3] == 0  # corner: nothing drawn, transparent
    assert rgba(rgba.width // 2, rgba.height // 2)[3] == 255  # the square is opaque
    assert pyvips.Image.new_from_file(white.path)(2, 2) == [255, 255, 255]


def test_strips_give_the_same_pixels_as_one_pass(tmp_path, monkeypatch):
    source = write(tmp_path, pdf_bytes(["Strips and more strips"]))
    with pdf.open_document(source) as document:
        whole = document.render(0, str(tmp_path / "whole.tif"), ppi=100, max_pixels=BIG)
        monkeypatch.setattr(pdf, "STRIP_BYTES", 827 * 3 * 7)  # 7 rows a strip, the last one shorter
        striped = document.render(0, str(tmp_path / "striped.tif"), ppi=100, max_pixels=BIG)
    a, b = pyvips.Image.new_from_file(whole.path), pyvips.Image.new_from_file(striped.path)
    assert (a.width, a.height) == (b.width, b.height)
    assert (a - b).abs().max() == 0


def test_words_are_lower_cased_tokens(tmp_path):
    with pdf.open_document(write(tmp_path, pdf_bytes(["Spring SALE: Red-Shoes 2026", "Ünïcode Wörds"]))) as document:
        assert document.words(0) == ["spring", "sale", "red", "shoes", "2026"]
        assert document.words(1) == ["ünïcode", "wörds"]


def test_links_become_pixel_rectangles_and_unsafe_targets_are_dropped(tmp_path):
    with pdf.open_document(write(tmp_path, pdf_bytes(2, links=True))) as document:
        page = document.render(0, str(tmp_path / "p.tif"), ppi=144, max_pixels=BIG, links=True)
        without = document.render(0, str(tmp_path / "q.tif"), ppi=144, max_pixels=BIG)
    by_href = {link.href: link for link in page.links}
    assert set(by_href) == {"https://example.com/sale", "#page=2"}
    sale = by_href["https://example.com/sale"]  # (10,10)-(110,40) pt on an 842 pt page, at 2 px/pt
    assert (sale.x, sale.y, sale.width, sale.height) == (20, (842 - 40) * 2, 200, 60)
    assert any("1 link(s) left out" in w for w in page.warnings)  # javascript: never reaches an image map
    assert without.links == []


def test_an_encrypted_pdf_is_refused(tmp_path):
    with pytest.raises(pdf.PdfEncryptedError, match="encrypted"):
        pdf.PdfDocument(write(tmp_path, pdf_bytes(1, encrypt="secret")))


@pytest.mark.parametrize("data", [
    pdf_bytes(3)[:-4000],  # truncated
    b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n",  # garbage behind a PDF header
    handmade_pdf().replace(b"/Type /Pages /Kids [3 0 R] /Count 1", b"/Type /Pages /Kids [] /Count 0"),  # no pages
])
def test_damaged_pdfs_are_refused(tmp_path, data):
    with pytest.raises(pdf.PdfDamagedError):
        pdf.PdfDocument(write(tmp_path, data))


@pytest.mark.parametrize(("catalog", "page", "found"), [
    (JAVASCRIPT_PDF_CATALOG, "", ["JavaScript"]),
    ("/OpenAction << /S /J#61vaScript /J#53 (x) >> ", "", ["JavaScript"]),  # #-escaped names
    ("", "/AA << /O << /S /Launch /F (calc.exe) >> >> ", ["additional actions (/AA)", "launch actions (/Launch)"]),
    ("/OpenAction [3 0 R /Fit] ", "", []),  # an OpenAction that only shows a page is not active content
])
def test_active_content_is_found_and_never_run(tmp_path, catalog, page, found):
    with pdf.open_document(write(tmp_path, handmade_pdf(catalog, page))) as document:
        assert sorted(document.active_content) == sorted(found)
        rendered = document.render(0, str(tmp_path / "p.tif"), ppi=72, max_pixels=BIG)  # still renders
    assert (rendered.width, rendered.height) == (200, 100)


def test_many_pages_are_counted_without_rendering_them(tmp_path):
    with pdf.open_document(write(tmp_path, pdf_bytes(150, size=(100, 100)))) as document:
        assert document.page_count == 150 and pdf.MAX_PAGES == 100


def test_a_page_over_the_pixel_limit_is_refused_before_rendering(tmp_path):
    with pdf.open_document(write(tmp_path, pdf_bytes(1))) as document:
        with pytest.raises(pdf.PageRefusedError, match=r"page 1 would be 4958×7017 .* more than the limit of 1000000"):
            document.render(0, str(tmp_path / "p.tif"), ppi=600, max_pixels=1_000_000)
    assert not (tmp_path / "p.tif").exists() and not (tmp_path / "p.tif.raw").exists()
