"""Hostile files built byte by byte: TIFFs cut off, lying about their strips, chained thousands of
directories deep or in a loop; a progressive JPEG header claiming a huge image; ZIP and TAR.GZ
archives with damaged or unreadable members; PDFs whose page tree lists itself."""

from __future__ import annotations

import io
import random
import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass

from tests.pdf_fixtures import finish_pdf

# TIFF field types
SHORT, LONG = 3, 4


@dataclass
class Page:
    width: int
    height: int
    bands: int = 3
    rows_per_strip: int | None = None  # None: one strip
    shade: int = 128
    # Hostility: a strip offset to write instead of the real one (first strip), and where the
    # next-IFD pointer goes instead of the next page (an offset, e.g. a loop back).
    strip_offset: int | None = None
    next_ifd: int | None = None


def tiff_bytes(pages: list[Page], order: str = "<") -> bytes:
    """An uncompressed, stripped TIFF (``order`` "<" little- or ">" big-endian); each page's IFD precedes
    its pixels, as most writers other than libvips lay them out, so cutting the file cuts pixels."""
    out = bytearray((b"II" if order == "<" else b"MM") + struct.pack(order + "HI", 42, 8))
    for index, page in enumerate(pages):
        rows = page.rows_per_strip or page.height
        strips = -(-page.height // rows)
        row_bytes = page.width * page.bands
        counts = [row_bytes * min(rows, page.height - s * rows) for s in range(strips)]
        tags = {256: (LONG, [page.width]), 257: (LONG, [page.height]), 258: (SHORT, [8] * page.bands),
                259: (SHORT, [1]), 262: (SHORT, [2 if page.bands >= 3 else 1]), 273: (LONG, [0] * strips),
                277: (SHORT, [page.bands]), 278: (LONG, [rows]), 279: (LONG, counts), 284: (SHORT, [1])}

        def packed(kind: int, values: list[int]) -> bytes:
            return struct.pack(f"{order}{len(values)}{'H' if kind == SHORT else 'I'}", *values)

        # Values longer than 4 bytes go after the IFD, then the pixels.
        extra_at = len(out) + 2 + 12 * len(tags) + 4
        data_at = extra_at + sum(len(packed(*v)) for v in tags.values() if len(packed(*v)) > 4)
        offsets = [data_at + sum(counts[:s]) for s in range(strips)]
        if page.strip_offset is not None:
            offsets[0] = page.strip_offset
        tags[273] = (LONG, offsets)
        last = index == len(pages) - 1
        next_ifd = page.next_ifd if page.next_ifd is not None else (0 if last else data_at + sum(counts))
        entries, blobs = bytearray(struct.pack(order + "H", len(tags))), bytearray()
        for tag, (kind, values) in sorted(tags.items()):
            value = packed(kind, values)
            if len(value) > 4:
                entries += struct.pack(order + "HHII", tag, kind, len(values), extra_at + len(blobs))
                blobs += value
            else:
                entries += struct.pack(order + "HHI", tag, kind, len(values)) + value.ljust(4, b"\0")
        out += entries + struct.pack(order + "I", next_ifd) + blobs + bytes([page.shade]) * sum(counts)
    return bytes(out)


def truncated_tiff(width: int = 200, height: int = 100) -> bytes:
    """An RGB TIFF in 10-row strips cut off half-way through its pixels (a stopped upload or copy)."""
    data = tiff_bytes([Page(width, height, rows_per_strip=10)])
    return data[:len(data) - width * height * 3 // 2]


def strip_beyond_eof_tiff(width: int = 200, height: int = 100) -> bytes:
    """A whole TIFF whose first strip is said to lie 1 MB past the end of the file."""
    return tiff_bytes([Page(width, height, rows_per_strip=10, strip_offset=1_000_000)])


def chained_tiff(count: int = 4000) -> bytes:
    """``count`` 1×1 pages, each directory pointing at the next (540 KB for 4,000): a bomb for a walk
    that finds page N from the start of the chain."""
    return tiff_bytes([Page(1, 1, bands=3) for _ in range(count)])


def looping_tiff(pages: int = 3) -> bytes:
    """``pages`` directories whose last points back at the first (offset 8): an endless chain."""
    chain = [Page(64, 64) for _ in range(pages)]
    chain[-1].next_ifd = 8
    return tiff_bytes(chain)


def progressive_jpeg_header(width: int = 31000, height: int = 31000, components: int = 3) -> bytes:
    """A syntactically valid progressive JPEG (SOF2) header claiming ``width``×``height``, with one
    DC scan of no data: enough for a header parser, and a bomb for a decoder that believes it."""
    def segment(marker: int, body: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(body) + 2) + body

    quant = segment(0xDB, b"\x00" + bytes([1] * 64))
    sof = struct.pack(">BHHB", 8, height, width, components)
    # 4:2:0, as cameras and most encoders write: luma sampled 2×2, chroma 1×1.
    sof += b"".join(bytes([c + 1, 0x22 if c == 0 else 0x11, 0]) for c in range(components))
    # One DC Huffman table with one 1-bit code (value 0: every DC difference is zero).
    huffman = segment(0xC4, b"\x00" + bytes([1] + [0] * 15) + b"\x00")
    scan = segment(0xDA, bytes([components]) + b"".join(bytes([c + 1, 0x00]) for c in range(components))
                   + b"\x00\x00\x01")  # Ss=0 Se=0 Ah=0 Al=1: a DC first scan
    return (b"\xff\xd8" + segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00") + quant
            + segment(0xC2, sof) + huffman + scan + b"\x00" * 64 + b"\xff\xd9")


def zip_with_bad_members(good: bytes) -> bytes:
    """A ZIP of three members: ``good.jpg`` (Deflate), ``corrupt.jpg`` whose deflate stream is garbage, and
    ``old.jpg`` marked as compressed with Deflate64 (method 9), which Python's zipfile cannot read."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("good.jpg", good)
        archive.writestr("corrupt.jpg", good)
        archive.writestr("old.jpg", good)
    raw = bytearray(buffer.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as archive:
        infos = {info.filename: info for info in archive.infolist()}
    corrupt = infos["corrupt.jpg"]
    start = corrupt.header_offset + 30 + len(corrupt.filename.encode())
    raw[start:start + 16] = b"\xff" * 16  # deflate block type 3 (reserved): "invalid block type"
    old = infos["old.jpg"]
    struct.pack_into("<H", raw, old.header_offset + 8, 9)  # local header's method
    central = raw.index(b"PK\x01\x02")
    while True:  # the central directory entry of old.jpg: its method too
        name_len = struct.unpack_from("<H", raw, central + 28)[0]
        if bytes(raw[central + 46:central + 46 + name_len]) == b"old.jpg":
            struct.pack_into("<H", raw, central + 10, 9)
            break
        central = raw.index(b"PK\x01\x02", central + 4)
    return bytes(raw)


def tgz_with_corrupt_stream(second: bytes = b"x" * 1000) -> bytes:
    """A TAR.GZ whose deflate stream turns invalid after its first member (256 KiB of noise, more than
    the 128 KiB gzip decompresses ahead when the archive is opened): the file is recognised as an
    archive and its first header read; walking on to the second header meets "invalid block type"."""
    first = random.Random(7).randbytes(256 * 1024)  # incompressible: no expansion-ratio refusal first
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in (("a.bin", first), ("b.jpg", second)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    cut = 512 + len(first)  # the first member's header and data (a multiple of 512)
    gzip = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip header and trailer
    head = gzip.compress(raw[:cut]) + gzip.flush(zlib.Z_FULL_FLUSH)  # the next block starts on a byte
    rest = gzip.compress(raw[cut:]) + gzip.flush()
    return head + b"\xff" * 8 + rest[8:]  # BFINAL 1, BTYPE 3: a reserved block type


def pdf_from_objects(objects: list[str]) -> bytes:
    """A PDF of ``objects`` (numbered from 1, object 1 the catalog) with a correct xref table."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n{body}\nendobj\n".encode())
    return finish_pdf(out, offsets)


_PAGE = "<< /Type /Page /Parent {parent} 0 R /MediaBox [0 0 200 100] >>"
# /Pages node 2 lists itself next to its one real page: /Count 2, one page reachable.
SELF_LISTING_PDF_OBJECTS = ["<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R 2 0 R] /Count 2 >>",
                            _PAGE.format(parent=2)]
# /Pages node 3, a child of 2, lists its parent: no page is reachable.
PARENT_LISTING_PDF_OBJECTS = ["<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 2 >>",
                              "<< /Type /Pages /Parent 2 0 R /Kids [2 0 R 4 0 R] /Count 2 >>", _PAGE.format(parent=3)]


def self_listing_pdf() -> bytes:
    return pdf_from_objects(SELF_LISTING_PDF_OBJECTS)


def parent_listing_pdf() -> bytes:
    return pdf_from_objects(PARENT_LISTING_PDF_OBJECTS)
