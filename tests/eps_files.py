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


# ---------------------------------------------------------------- PostScript that Ghostscript runs

WORDS = "Openips renders Ghostscript words"


def vector_eps(width_pt: float = 200, height_pt: float = 100, *, origin: tuple[float, float] = (0, 0),
               body: str | None = None, comments: tuple[str, ...] = ()) -> bytes:
    """An EPS whose left half is pure red (RGB) and right half is left unpainted, with a line of text.

    ``origin`` moves the bounding box (``-dEPSCrop`` must move it back); ``body`` replaces the
    drawing (hostile programs); ``comments`` are extra DSC lines.
    """
    llx, lly = origin
    lines = ["%!PS-Adobe-3.0 EPSF-3.0", "%%Creator: openips tests",
             f"%%BoundingBox: {llx:g} {lly:g} {llx + width_pt:g} {lly + height_pt:g}", *comments, "%%EndComments"]
    if body is None:
        body = (f"1 0 0 setrgbcolor {llx:g} {lly:g} {width_pt / 2:g} {height_pt:g} rectfill\n"
                f"/Helvetica findfont 9 scalefont setfont 0 0 1 setrgbcolor "
                f"{llx + width_pt / 2 + 4:g} {lly + 4:g} moveto ({WORDS}) show\n"
                "showpage")
    return "\n".join([*lines, body, "%%EOF", ""]).encode()


def cmyk_eps(width_pt: float = 200, height_pt: float = 100) -> bytes:
    """Left half pure black ink (0 0 0 1), right half pure cyan ink (1 0 0 0); declares CMYK process colours."""
    body = (f"0 0 0 1 setcmykcolor 0 0 {width_pt / 2:g} {height_pt:g} rectfill\n"
            f"1 0 0 0 setcmykcolor {width_pt / 2:g} 0 {width_pt / 2:g} {height_pt:g} rectfill\nshowpage")
    return vector_eps(width_pt, height_pt, body=body,
                      comments=("%%DocumentProcessColors: Cyan Black",))


def two_page_ps() -> bytes:
    """A plain (not encapsulated) PostScript document: 2 pages of 200×100 pt, red then green."""
    page = ("%%Page: {n} {n}\n{colour} setrgbcolor 0 0 200 100 rectfill\n"
            "/Helvetica findfont 12 scalefont setfont 0 0 0 setrgbcolor 10 40 moveto ({text}) show\nshowpage")
    return "\n".join([
        "%!PS-Adobe-3.0", "%%Pages: 2", "%%DocumentMedia: Plain 200 100 0 () ()", "%%EndComments",
        page.format(n=1, colour="1 0 0", text="first page"), page.format(n=2, colour="0 1 0", text="second page"),
        "%%EOF", ""]).encode()


# Hostile PostScript bodies (each inside a 200×100 pt EPS): what Ghostscript must refuse or stop.
HOSTILE = {
    "infinite_loop": "{} loop",
    "memory_bomb": "/hoard [ { 1000000 string } loop ] def",
    "read_passwd": "(/etc/passwd) (r) file 100 string readstring pop print showpage",
    "delete_file": "(VICTIM) deletefile showpage",
    "pipe_command": "(%pipe%touch VICTIM) (w) file (x) writestring showpage",
    "pipe_output_device": "<< /OutputFile (%pipe%touch VICTIM) >> setpagedevice showpage",
    "deep_recursion": "/recurse { 1 recurse 1 } def recurse",
    "huge_page_request": "<< /PageSize [100000 100000] >> setpagedevice 1 0 0 setrgbcolor 0 0 200 100 rectfill "
                         "showpage",
}


def hostile_eps(name: str, victim: str = "/nonexistent/victim") -> bytes:
    return vector_eps(body=HOSTILE[name].replace("VICTIM", victim))


def require_ghostscript() -> str:
    """The gs the tests run: skipped without one, but a failure when OPENIPS_REQUIRE_GS=1 (CI must not skip)."""
    import os

    import pytest
    from openips.imaging import ghostscript

    found = ghostscript.locate(os.environ.get("GHOSTSCRIPT_PATH") or None)
    if found is None:
        if os.environ.get("OPENIPS_REQUIRE_GS") == "1":
            pytest.fail("Ghostscript (gs) is required (OPENIPS_REQUIRE_GS=1) but was not found")
        pytest.skip("Ghostscript (gs) is not installed")
    return found
