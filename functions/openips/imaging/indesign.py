"""InDesign documents (spec §5.14, §9.6): recognise them and read the page previews in their XMP.

InDesign writes an XMP packet into every ``.indd``/``.indt`` with one JPEG preview per page
(``xmp:PageInfo`` → ``rdf:Seq`` of ``xmpGImg:image``, base64) besides the document
thumbnail (``xmp:Thumbnails``). Nothing here renders the document itself: there is no
InDesign engine on Lambda, so the previews (at most 1024 px, InDesign's own setting) are
what becomes visible.

The file is never parsed as a whole: packets are found by their markers in a memory map,
each is bounded in size, XML with a DTD or entities is refused, and the previews are
checked as JPEGs by their magic number before anything decodes them.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import mmap
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field

from openips.imaging import vips, xmp
from openips.imaging.pdf import PageRefusedError, RenderedPage

# The GUID every InDesign document (and template) starts with.
INDESIGN_MAGIC = bytes.fromhex("0606EDF5D81D46E5BD31EFE7FE74B71D")
XMP_START, XMP_END = b"<x:xmpmeta", b"</x:xmpmeta>"
MAX_PACKET_BYTES = 64 * 1024 * 1024
MAX_PACKETS = 16
MAX_PREVIEWS = 100  # as many pages as a PDF gets rasterised (spec §3.5)
MAX_PREVIEW_BYTES = 16 * 1024 * 1024

RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
XMP = "{http://ns.adobe.com/xap/1.0/}"
XMP_G_IMG = "{http://ns.adobe.com/xap/1.0/g/img/}"


@dataclass(frozen=True)
class PagePreview:
    page: int  # 1-based, in document order
    width: int | None
    height: int | None
    jpeg: bytes


@dataclass
class Previews:
    pages: list[PagePreview] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # why some previews (or packets) were skipped
    more_pages: int = 0  # previews beyond MAX_PREVIEWS, not read


def is_indesign(head: bytes) -> bool:
    return head.startswith(INDESIGN_MAGIC)


def page_previews(path: str) -> Previews:
    """Every page preview of the document's XMP packets, in page order."""
    found = Previews()
    with open(path, "rb") as fh:
        size = fh.seek(0, 2)
        if size == 0:
            return found
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            for packet in _packets(data, found):
                _read_pages(packet, found)
                if found.pages:  # the document's packet; later ones belong to placed images
                    break
    return found


def _packets(data: mmap.mmap, found: Previews) -> list[bytes]:
    packets, at = [], 0
    while len(packets) < MAX_PACKETS:
        start = data.find(XMP_START, at)
        if start < 0:
            break
        end = data.find(XMP_END, start, start + MAX_PACKET_BYTES)
        if end < 0:
            found.problems.append(f"an XMP packet at byte {start} has no end within {MAX_PACKET_BYTES} bytes")
            break
        packets.append(bytes(data[start:end + len(XMP_END)]))
        at = end
    return packets


def _read_pages(packet: bytes, found: Previews) -> None:
    if b"<!DOCTYPE" in packet or b"<!ENTITY" in packet:
        found.problems.append("an XMP packet declares a DTD or entities and was not read")
        return
    try:
        root, _ = xmp.parse_packet(packet)  # depth-capped, DTD-refusing, no global prefix writes
    except ET.ParseError as exc:
        found.problems.append(f"an XMP packet is not well-formed XML ({exc})")
        return
    for info in root.iter(f"{XMP}PageInfo"):
        for number, item in enumerate(info.iter(f"{RDF}li"), start=1):
            if len(found.pages) >= MAX_PREVIEWS:
                found.more_pages += 1
                continue
            preview = _preview(item, number, found)
            if preview is not None:
                found.pages.append(preview)


def _preview(item: ET.Element, number: int, found: Previews) -> PagePreview | None:
    fields = {child.tag: (child.text or "").strip() for child in item.iter() if child is not item}
    fields |= {key: value.strip() for key, value in item.attrib.items()}  # the attribute form
    encoded = fields.get(f"{XMP_G_IMG}image", "")
    if not encoded:
        return None  # a page entry without a preview
    if len(encoded) > MAX_PREVIEW_BYTES * 4 // 3 + 4:
        found.problems.append(f"the preview of page {number} is larger than {MAX_PREVIEW_BYTES} bytes")
        return None
    try:
        jpeg = base64.b64decode("".join(encoded.split()), validate=True)
    except (binascii.Error, ValueError):
        found.problems.append(f"the preview of page {number} is not valid base64")
        return None
    if not jpeg.startswith(b"\xff\xd8\xff"):
        found.problems.append(f"the preview of page {number} is not a JPEG")
        return None
    page = _int(fields.get(f"{XMP_G_IMG}pageNumber")) or number
    return PagePreview(page, _int(fields.get(f"{XMP_G_IMG}width")), _int(fields.get(f"{XMP_G_IMG}height")), jpeg)


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


class InDesignDocument:
    """An InDesign file's page previews, offered like ``pdf.PdfDocument`` pages (services.ingest.documents)."""

    encrypted = False

    def __init__(self, path: str) -> None:
        self.previews = page_previews(path)
        self.page_count = len(self.previews.pages)
        self.active_content: list[str] = []

    def words(self, index: int) -> list[str]:
        return []  # the previews are pictures; the text stays in the master

    def render(self, index: int, out_path: str, *, max_pixels: int, **_: object) -> RenderedPage:
        """Page ``index``'s preview as a file the raster pipeline reads (no resolution to choose)."""
        preview = self.previews.pages[index]
        try:
            header = vips.Image.new_from_buffer(preview.jpeg, "", access="sequential")
            width, height = header.width, header.height
        except vips.VipsError as exc:
            raise PageRefusedError(f"the preview of page {preview.page} is not a readable JPEG "
                                   f"({vips.error_summary(exc)})") from exc
        if width * height > max_pixels:
            raise PageRefusedError(f"the preview of page {preview.page} has {width}×{height} pixels, "
                                   f"more than the limit of {max_pixels}")
        with open(out_path, "wb") as fh:
            fh.write(preview.jpeg)
        return RenderedPage(out_path, width, height, [], [f"page {preview.page}: the preview InDesign stored in "
                                                          f"the file ({width}×{height})"], [])


@contextlib.contextmanager
def open_document(path: str) -> Iterator[InDesignDocument]:
    yield InDesignDocument(path)


def is_indesign_file(path: str) -> bool:
    with open(path, "rb") as fh:
        return is_indesign(fh.read(len(INDESIGN_MAGIC)))
