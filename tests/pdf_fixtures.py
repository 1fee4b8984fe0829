"""Small PDFs (and Illustrator files) the PDF tests generate: reportlab pages, and hand-written hostile ones."""

from __future__ import annotations

import io

import pytest

canvas = pytest.importorskip("reportlab.pdfgen.canvas")

A4 = (595.0, 842.0)


def pdf_bytes(pages: list[str] | int = 1, size: tuple[float, float] = A4, *, encrypt: str | None = None,
              links: bool = False, background: bool = True) -> bytes:
    """A PDF with one page per text (or ``pages`` pages "Page N"); ``links`` adds a URI link, an internal
    link to page 2 and a ``javascript:`` link on page 1. ``background=False`` leaves the paper unpainted."""
    texts = [f"Page {n + 1}" for n in range(pages)] if isinstance(pages, int) else pages
    buffer = io.BytesIO()
    c = canvas.Canvas(buffer, pagesize=size, encrypt=encrypt)
    for n, text in enumerate(texts):
        if n == 1:
            c.bookmarkPage("second")
        if background:
            c.setFillColorRGB(1, 1, 1)
            c.rect(0, 0, size[0], size[1], fill=1, stroke=0)
        c.setFillColorRGB(0.8, 0.1, 0.1)
        c.rect(size[0] / 4, size[1] / 4, size[0] / 2, size[1] / 2, fill=1, stroke=0)
        c.setFillColorRGB(0, 0, 0)
        c.setFont("Helvetica", 12)
        c.drawString(20, size[1] - 30, text)
        if links and n == 0:
            c.linkURL("https://example.com/sale", (10, 10, 110, 40))  # PDF units, origin bottom-left
            c.linkRect("", "second", (200, 10, 250, 30))
            c.linkURL("javascript:alert(1)", (300, 10, 350, 30))
        c.showPage()
    c.save()
    return buffer.getvalue()


def handmade_pdf(catalog_extra: str = "", page_extra: str = "") -> bytes:
    """A minimal one-page PDF with correct xref offsets; extra entries for the catalog and the page dict."""
    objects = [
        f"<< /Type /Catalog /Pages 2 0 R {catalog_extra}>>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Contents 4 0 R {page_extra}>>",
    ]
    stream = b"0 0 1 rg 10 10 50 50 re f"
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n{body}\nendobj\n".encode())
    offsets.append(out.tell())
    out.write(b"4 0 obj\n<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream\nendobj\n")
    return finish_pdf(out, offsets)


def finish_pdf(out, offsets: list[int]) -> bytes:
    """Write the cross-reference table and trailer of the objects at ``offsets`` (object 1 the catalog)."""
    xref = out.tell()
    out.write(f"xref\n0 {len(offsets) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(offsets) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


JAVASCRIPT_PDF_CATALOG = "/OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >> "
POSTSCRIPT_AI = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%Creator: Adobe Illustrator(R) 8.0\n%%BoundingBox: 0 0 100 100\n"
                 b"newpath 10 10 moveto 90 90 lineto stroke\nshowpage\n%%EOF\n")
