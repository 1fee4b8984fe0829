"""Synthetic EPS / PostScript files for the tests (built in memory; no binary fixtures)."""

from __future__ import annotations

import struct

import pyvips

HEADER = 30


def postscript(width_pt: float = 200, height_pt: float = 100, *, bbox: bool = True, hires: bool = False) -> bytes:
    """A small EPS PostScript program (never run by openips: only its DSC comments are read)."""
    lines = ["%!PS-Adobe-3.0 EPSF-3.0", "%%Creator: openips tests"]
    if bbox:
        lines.append(f"%%BoundingBox: 0 0 {int(width_pt)} {int(height_pt)}")
        if hires:
            lines.append(f"%%HiResBoundingBox: 0 0 {width_pt} {height_pt}")
    lines += ["%%EndComments", "newpath 10 10 moveto 50 50 lineto stroke", "showpage", "%%EOF", ""]
    return "\n".join(lines).encode()


def tiff_preview(width: int = 200, height: int = 100, *, bands: int = 3, interpretation: str = "srgb",
                 alpha: bool = False) -> bytes:
    """A TIFF preview: a coloured block with a white border (so auto crops have something to find)."""
    image = (pyvips.Image.black(width, height, bands=bands) + [255] * bands).cast("uchar")
    inner = (pyvips.Image.black(width // 2, height // 2, bands=bands) + [30, 90, 200, 10][:bands]).cast("uchar")
    image = image.insert(inner, width // 4, height // 4).copy(interpretation=interpretation)
    if alpha:
        image = image.bandjoin(255)
    return image.tiffsave_buffer(compression="none")


def dos_eps(ps: bytes | None = None, tiff: bytes | None = b"", wmf: bytes = b"", *,
            header: tuple[int, int, int, int, int, int] | None = None, trailing: bytes = b"") -> bytes:
    """A DOS EPS: header, PostScript, WMF, TIFF, in that order; ``header`` overrides the six numbers."""
    ps = postscript() if ps is None else ps
    tiff = tiff_preview() if tiff == b"" else (tiff or b"")
    ps_off = HEADER
    wmf_off = ps_off + len(ps) if wmf else 0
    tiff_off = ps_off + len(ps) + len(wmf) if tiff else 0
    numbers = header or (ps_off, len(ps), wmf_off, len(wmf), tiff_off, len(tiff))
    return b"\xc5\xd0\xd3\xc6" + struct.pack("<6I", *numbers) + b"\xff\xff" + ps + wmf + tiff + trailing


def bomb_tiff(width: int = 100_000, height: int = 100_000) -> bytes:
    """A TIFF header claiming width×height 1-band pixels, with a tiny (wrong) body."""
    small = pyvips.Image.black(8, 8).cast("uchar").tiffsave_buffer(compression="none")
    # Patch the ImageWidth (256) and ImageLength (257) tags of the first IFD.
    data = bytearray(small)
    assert data[:4] == b"II*\x00"
    ifd = struct.unpack_from("<I", data, 4)[0]
    count = struct.unpack_from("<H", data, ifd)[0]
    for i in range(count):
        entry = ifd + 2 + 12 * i
        tag, kind = struct.unpack_from("<HH", data, entry)
        if tag in (256, 257):
            value = width if tag == 256 else height
            if kind == 3:  # SHORT
                struct.pack_into("<HI", data, entry + 2, 4, 1)  # make it a LONG
            struct.pack_into("<I", data, entry + 8, value)
    return bytes(data)
