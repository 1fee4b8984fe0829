"""PDF and PDF-compatible Illustrator files with pdfium (pypdfium2): the only module that imports it.

What the rest of openips gets from here is plain data and file paths:

* ``sniff`` tells a PDF from a PostScript-based file by content (never by extension);
* ``open_document`` opens a PDF (refusing encrypted and damaged ones with a ``FileRejectedError``,
  among them a page tree in which a considered page cannot be found: a /Pages node listing
  itself or a parent, or a /Count larger than the pages it holds) and gives its page count,
  the active content it carries (JavaScript, launch and additional actions — found, never run:
  this pdfium build has no JavaScript engine and no form environment is ever initialised), each
  page's words, and each page rendered to an uncompressed TIFF that ``optimize`` then reads like
  any upload;
* no ``PdfiumError`` leaves this module: each is a ``PdfDamagedError`` (the document) or a
  ``PageRefusedError`` (one page);
* a page is rendered in horizontal strips of at most ``STRIP_BYTES`` into a raw file, so the
  memory one page needs is bounded whatever its size; the pixel count is checked first.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from openips.imaging import vips
from openips.models.errors import FileRejectedError
from openips.models.words import tokenize

MAX_PAGES = 100  # spec §3.5: at most 100 pages of a PDF are considered for extraction
STRIP_BYTES = 64 * 1024**2
MAX_LINKS_PER_PAGE = 100
MAX_HREF_CHARS = 2048
LINK_SCHEMES = ("http:", "https:", "mailto:", "tel:", "ftp:")

Colorspace = Literal["Auto", "Rgb", "Gray", "Cmyk"]

# First bytes of raster formats: a JPEG whose comment happens to hold "%PDF-" is still a JPEG.
_RASTER_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"II*\x00", b"MM\x00*", b"GIF8", b"RIFF", b"BM")
_DOS_EPS = b"\xc5\xd0\xd3\xc6"  # binary EPS header (Illustrator 8 and older may write it)
# Names whose presence means scripts or actions a viewer would run. Found by scanning the raw
# bytes (names may be #-escaped), plus pdfium's count of document-level JavaScript actions,
# which also sees scripts inside compressed object streams.
_ACTIVE_NAMES = {b"JavaScript": "JavaScript", b"JS": "JavaScript", b"AA": "additional actions (/AA)",
                 b"Launch": "launch actions (/Launch)"}
_NAME = re.compile(rb"/([A-Za-z#0-9]{2,40})(?=[\s/<>\[\]()]|$)")


class PdfEncryptedError(FileRejectedError):
    code = "pdf.encrypted"


class PdfDamagedError(FileRejectedError):
    code = "pdf.damaged"


class PageRefusedError(FileRejectedError):
    code = "pdf.page_refused"


@dataclass(frozen=True, slots=True)
class LinkArea:
    """A link rectangle in page-image pixels and where it goes (a URI, or ``#page=N`` inside the PDF)."""

    x: int
    y: int
    width: int
    height: int
    href: str


@dataclass(frozen=True, slots=True)
class RenderedPage:
    path: str  # an uncompressed TIFF
    width: int
    height: int
    links: list[LinkArea] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


SNIFF_BYTES = 1024  # where ``sniff_head`` looks for ``%PDF-``


def sniff(path: str) -> Literal["pdf", "postscript"] | None:
    """``pdf`` when ``%PDF-`` is within the first 1024 bytes, ``postscript`` for ``%!PS-Adobe``."""
    with open(path, "rb") as fh:
        return sniff_head(fh.read(SNIFF_BYTES))


def sniff_head(head: bytes) -> Literal["pdf", "postscript"] | None:
    """``sniff`` on a file's first bytes (only the first ``SNIFF_BYTES`` are looked at)."""
    head = head[:SNIFF_BYTES]
    if head.startswith(_RASTER_MAGIC):
        return None
    if b"%PDF-" in head:
        return "pdf"
    if head.startswith(b"%!PS-Adobe") or head.startswith(_DOS_EPS):
        return "postscript"
    return None


def active_content(path: str) -> list[str]:
    """Script-like content named in the file's bytes (see ``_ACTIVE_NAMES``), each kind once."""
    found: dict[str, None] = {}
    tail = b""
    with open(path, "rb") as fh:
        while chunk := fh.read(4 * 1024**2):
            data = tail + chunk
            for match in _NAME.finditer(data):
                name = _unescape(match.group(1))
                if name in _ACTIVE_NAMES:
                    found[_ACTIVE_NAMES[name]] = None
            tail = data[-16:]
    return list(found)


def _unescape(name: bytes) -> bytes:
    return re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), name) if b"#" in name else name


class PdfDocument:
    """An opened PDF; use through ``open_document``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._check_trailer(path)
        try:
            self._pdf = pdfium.PdfDocument(path)
        except pdfium.PdfiumError as exc:
            if getattr(exc, "err_code", None) == pdfium_c.FPDF_ERR_PASSWORD:
                raise PdfEncryptedError("the PDF is encrypted (it needs a password to open)") from exc
            raise PdfDamagedError(f"the PDF is damaged ({_reason(exc)})") from exc
        self.page_count = len(self._pdf)
        if self.page_count < 1:
            self._pdf.close()
            raise PdfDamagedError("the PDF has no pages (damaged page tree)")
        try:
            self._check_page_tree()
        except PdfDamagedError:
            self._pdf.close()
            raise
        # An owner password alone (permissions) does not stop reading; say so in the row.
        self.encrypted = pdfium_c.FPDF_GetSecurityHandlerRevision(self._pdf.raw) != -1
        scripts = pdfium_c.FPDFDoc_GetJavaScriptActionCount(self._pdf.raw)
        self.active_content = active_content(path)
        if scripts > 0 and "JavaScript" not in self.active_content:
            self.active_content.insert(0, "JavaScript")

    def _check_page_tree(self) -> None:
        """Every page that will be considered can be found. pdfium counts pages from /Count but
        cannot reach a page under a /Pages node that lists itself or a parent (it stops at the
        loop), so such a page would fail later, after the document's asset had been made."""
        considered = min(self.page_count, MAX_PAGES)
        for index in range(considered):
            try:
                self._pdf.get_page_size(index)
            except pdfium.PdfiumError as exc:
                declared = "1 page" if self.page_count == 1 else f"{self.page_count} pages"
                raise PdfDamagedError(
                    f"the PDF is damaged: its page tree declares {declared}, but page {index + 1} cannot be "
                    "found in it (a page list that contains itself, or a wrong page count)") from exc

    @staticmethod
    def _check_trailer(path: str) -> None:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            fh.seek(max(0, size - 1024))
            if b"%%EOF" not in fh.read():
                raise PdfDamagedError("the PDF is truncated or damaged (no %%EOF marker at its end)")

    def close(self) -> None:
        self._pdf.close()

    def page_size(self, index: int) -> tuple[float, float]:
        """Width and height in points (1/72 inch), as displayed (after the page's /Rotate)."""
        try:
            return self._pdf.get_page_size(index)
        except pdfium.PdfiumError as exc:
            raise PageRefusedError(f"page {index + 1} cannot be read ({_reason(exc)})") from exc

    def words(self, index: int) -> list[str]:
        """The words of one page, in reading order (duplicates kept); [] for a page without text."""
        with self._page(index) as page:
            try:
                textpage = page.get_textpage()
                try:
                    return tokenize(textpage.get_text_range())
                finally:
                    textpage.close()
            except pdfium.PdfiumError as exc:
                raise PageRefusedError(f"the text of page {index + 1} cannot be read ({_reason(exc)})") from exc

    def render(self, index: int, out_path: str, *, ppi: float | None = None, long_side: int | None = None,
               colorspace: Colorspace = "Auto", alpha: bool = False, max_pixels: int,
               links: bool = False, cmyk_profile: str | None = None) -> RenderedPage:
        """Render page ``index`` (from 0) at ``ppi``, or so its long side is ``long_side`` pixels."""
        width_pt, height_pt = self.page_size(index)
        if width_pt <= 0 or height_pt <= 0:
            raise PageRefusedError(f"page {index + 1} has no area ({width_pt}×{height_pt} pt)")
        scale = (long_side / max(width_pt, height_pt)) if long_side else (ppi or 150.0) / 72.0
        width, height = max(1, round(width_pt * scale)), max(1, round(height_pt * scale))
        if width * height > max_pixels:
            raise PageRefusedError(
                f"page {index + 1} would be {width}×{height} = {width * height} pixels at "
                f"{_ppi_text(scale)}, more than the limit of {max_pixels}")
        raw_path = out_path + ".raw"
        bands = 4 if alpha else 3
        try:
            with self._page(index) as page:
                self._render_strips(page, raw_path, width, height, alpha)
                areas, dropped = self._links(page, width, height) if links else ([], 0)
            image = vips.Image.rawload(raw_path, width, height, bands).copy(interpretation="srgb")
            notes = [f"page {index + 1} rendered at {_ppi_text(scale)} ({width}×{height})"]
            image, more = _colorspace(image, colorspace, cmyk_profile)
            notes += more
            image.tiffsave(out_path, compression="none", bigtiff=width * height * bands > 3_900_000_000)
        except vips.VipsError as exc:
            raise PageRefusedError(f"page {index + 1} could not be rendered: {vips.error_summary(exc)}") from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(raw_path)
        warnings = [f"page {index + 1}: {dropped} link(s) left out of the image map (not http, https, mailto, "
                    f"tel or ftp, too long, or more than {MAX_LINKS_PER_PAGE})"] if dropped else []
        return RenderedPage(out_path, width, height, areas, notes, warnings)

    @contextlib.contextmanager
    def _page(self, index: int) -> Iterator[pdfium.PdfPage]:
        try:
            page = self._pdf[index]
        except pdfium.PdfiumError as exc:
            raise PageRefusedError(f"page {index + 1} cannot be read ({_reason(exc)})") from exc
        try:
            yield page
        finally:
            page.close()

    @staticmethod
    def _render_strips(page: pdfium.PdfPage, raw_path: str, width: int, height: int, alpha: bool) -> None:
        """The page as raw RGB(A) rows, rendered a strip at a time (bounded memory)."""
        bands = 4 if alpha else 3
        stride = width * bands
        rows = max(1, STRIP_BYTES // stride)
        fmt = pdfium_c.FPDFBitmap_BGRA if alpha else pdfium_c.FPDFBitmap_BGR
        flags = pdfium_c.FPDF_ANNOT | pdfium_c.FPDF_REVERSE_BYTE_ORDER  # RGB(A) byte order
        fill = 0x00000000 if alpha else 0xFFFFFFFF  # transparent or white paper (0xAARRGGBB)
        with open(raw_path, "wb") as fh:
            for top in range(0, height, rows):
                strip = min(rows, height - top)
                buffer = (ctypes.c_ubyte * (stride * strip))()
                bitmap = pdfium_c.FPDFBitmap_CreateEx(width, strip, fmt, buffer, stride)
                if not bitmap:
                    raise PageRefusedError(f"no memory for a {width}×{strip} strip of the page")
                try:
                    pdfium_c.FPDFBitmap_FillRect(bitmap, 0, 0, width, strip, fill)
                    # The whole page laid out at (0, -top): pdfium draws only the strip's rows.
                    pdfium_c.FPDF_RenderPageBitmap(bitmap, page.raw, 0, -top, width, height, 0, flags)
                finally:
                    pdfium_c.FPDFBitmap_Destroy(bitmap)
                fh.write(memoryview(buffer))
                del buffer

    def _links(self, page: pdfium.PdfPage, width: int, height: int) -> tuple[list[LinkArea], int]:
        """Link annotations as pixel rectangles of the rendered page; the count of those left out."""
        areas: list[LinkArea] = []
        dropped = 0
        position, link = ctypes.c_int(0), pdfium_c.FPDF_LINK()
        while pdfium_c.FPDFLink_Enumerate(page.raw, ctypes.byref(position), ctypes.byref(link)):
            href = self._link_target(link)
            rect = pdfium_c.FS_RECTF()
            if href is None or not pdfium_c.FPDFLink_GetAnnotRect(link, ctypes.byref(rect)) \
                    or len(areas) >= MAX_LINKS_PER_PAGE:
                dropped += 1
                continue
            corners = [self._to_device(page, x, y, width, height)
                       for x, y in ((rect.left, rect.bottom), (rect.right, rect.top))]
            left = max(0, min(c[0] for c in corners))
            top = max(0, min(c[1] for c in corners))
            right = min(width, max(c[0] for c in corners))
            bottom = min(height, max(c[1] for c in corners))
            if right <= left or bottom <= top:
                dropped += 1
                continue
            areas.append(LinkArea(left, top, right - left, bottom - top, href))
        return areas, dropped

    @staticmethod
    def _to_device(page: pdfium.PdfPage, x: float, y: float, width: int, height: int) -> tuple[int, int]:
        dx, dy = ctypes.c_int(0), ctypes.c_int(0)
        pdfium_c.FPDF_PageToDevice(page.raw, 0, 0, width, height, 0, x, y, ctypes.byref(dx), ctypes.byref(dy))
        return dx.value, dy.value

    def _link_target(self, link: pdfium_c.FPDF_LINK) -> str | None:
        """A URI with an allowed scheme, or ``#page=N`` for a destination in the document; else None."""
        doc = self._pdf.raw
        action = pdfium_c.FPDFLink_GetAction(link)
        dest = None
        if action:
            kind = pdfium_c.FPDFAction_GetType(action)
            if kind == pdfium_c.PDFACTION_URI:
                size = pdfium_c.FPDFAction_GetURIPath(doc, action, None, 0)
                if size <= 1 or size > MAX_HREF_CHARS + 1:
                    return None
                buffer = ctypes.create_string_buffer(size)
                pdfium_c.FPDFAction_GetURIPath(doc, action, buffer, size)
                uri = buffer.value.decode("ascii", "replace").strip()
                return uri if uri.lower().startswith(LINK_SCHEMES) else None
            if kind == pdfium_c.PDFACTION_GOTO:
                dest = pdfium_c.FPDFAction_GetDest(doc, action)
            else:
                return None  # launch, remote go-to, JavaScript…: never part of an image map
        if not dest:
            dest = pdfium_c.FPDFLink_GetDest(doc, link)
        if not dest:
            return None
        target = pdfium_c.FPDFDest_GetDestPageIndex(doc, dest)
        return f"#page={target + 1}" if target >= 0 else None


@contextlib.contextmanager
def open_document(path: str) -> Iterator[PdfDocument]:
    """Open ``path`` (``PdfEncryptedError``, ``PdfDamagedError``) and close it afterwards."""
    document = PdfDocument(path)
    try:
        yield document
    finally:
        document.close()


def _colorspace(image: vips.Image, colorspace: Colorspace, cmyk_profile: str | None) -> tuple[vips.Image, list[str]]:
    """pdfium renders RGB(A); ``Gray`` and ``Cmyk`` are conversions of that rendering."""
    if colorspace == "Gray":
        return image.colourspace("b-w"), ["colorspace Gray: converted to greyscale"]
    if colorspace == "Cmyk":
        profile = cmyk_profile or "cmyk"
        converted = image.icc_transform(profile, input_profile="srgb", embedded=False)
        name = "the company's default CMYK profile" if cmyk_profile else "libvips' built-in CMYK profile"
        return converted, [f"colorspace Cmyk: rendered in RGB, converted to CMYK with {name}"]
    return image, []


def _ppi_text(scale: float) -> str:
    ppi = scale * 72
    return f"{ppi:g} ppi" if math.isclose(ppi, round(ppi), abs_tol=0.01) else f"{ppi:.1f} ppi"


def _reason(exc: Exception) -> str:
    return str(exc).rstrip(".") or type(exc).__name__
