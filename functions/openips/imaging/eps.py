"""EPS / PostScript files: read the DOS EPS header, take out the TIFF preview, prepare it for the pipeline.

Nothing here executes PostScript. The PostScript section is only *read* for its DSC
comments (``%%BoundingBox``, ``%%HiResBoundingBox``, ``%%DocumentMedia``, ``%%Pages``,
``%%DocumentProcessColors``), as text.

A DOS EPS (Adobe "Encapsulated PostScript File Format Specification" 3.0, §"Windows
Metafile or TIFF") starts with a 30-byte header::

    0  C5 D0 D3 C6        magic
    4  uint32 LE          offset of the PostScript section
    8  uint32 LE          its length
    12 uint32 LE          offset of the Windows Metafile preview (0 = none)
    16 uint32 LE          its length (0 = none)
    20 uint32 LE          offset of the TIFF preview (0 = none)
    24 uint32 LE          its length (0 = none)
    28 uint16             checksum of bytes 0-27, or FFFF (not checked: writers disagree)

Every section is checked against the file before any byte of it is used: inside the file,
after the header, not overlapping another section. The TIFF preview's header is checked
against the pixel limit (``probe``) before any pixel is decoded.

When Ghostscript renders the PostScript (``imaging.ghostscript``, a subprocess), the DSC
comments read here decide its page (``ghostscript_page``) and, for ``colorspace: Auto``, whether
it renders CMYK; ``render_plan`` picks the device and ``finish_rendering`` turns its output into
the pipeline's source.

Without Ghostscript, ``prepare_preview`` applies what ``postScriptOptions`` asks of a rendering
and the preview can give — ``colorspace``, ``alpha``, a ``resolution`` *lower* than the
preview's — and writes a lossless TIFF that the ordinary raster pipeline (``optimize``) takes
as its source. A preview is never upscaled: more pixels than it has cannot be invented without
rendering the PostScript (docs/formats-postscript.md).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import struct
from dataclasses import dataclass, field
from typing import Literal

from openips.imaging import vips
from openips.imaging.probe import probe
from openips.models.errors import CorruptImageError, FileRejectedError, ImageTooLargeError, UnsupportedFormatError

DOS_EPS_MAGIC = b"\xc5\xd0\xd3\xc6"
POSTSCRIPT_MAGIC = b"%!PS"
HEADER_SIZE = 30
DSC_SCAN_BYTES = 64 * 1024  # DSC header comments live at the start (or, with (atend), the end)
POINTS_PER_INCH = 72.0
DEFAULT_RESOLUTION = 150.0  # ppi; spec §5.7 [UNCONFIRMED], AEM's default
MAX_BOUNDING_BOX_POINTS = 200 * 72 * 12  # 200 feet: anything larger is not a real page

EpsKind = Literal["dos-eps", "postscript"]
Colorspace = Literal["Auto", "Rgb", "Cmyk", "Gray"]


class PostScriptRefusedError(FileRejectedError):
    """A damaged or hostile EPS/PS file (bad DOS EPS header, sections outside the file)."""

    code = "postscript.refused"


@dataclass(frozen=True, slots=True)
class Section:
    offset: int
    length: int

    @property
    def end(self) -> int:
        return self.offset + self.length


@dataclass(frozen=True, slots=True)
class BoundingBox:
    """The page in PostScript points (1/72 inch), from the DSC comments."""

    llx: float
    lly: float
    urx: float
    ury: float

    @property
    def width(self) -> float:
        return self.urx - self.llx

    @property
    def height(self) -> float:
        return self.ury - self.lly


@dataclass(frozen=True, slots=True)
class Dsc:
    """DSC comments of the PostScript section, read as text (a hostile file can write anything here)."""

    epsf: bool = False  # the first line says EPSF: an encapsulated single page (-dEPSCrop applies)
    declared_box: BoundingBox | None = None  # %%HiResBoundingBox, else %%BoundingBox, of any finite size
    media: tuple[float, float] | None = None  # the first %%DocumentMedia's width and height, in points
    pages: int | None = None  # %%Pages
    process_cmyk: bool = False  # %%DocumentProcessColors names Cyan, Magenta, Yellow or Black


@dataclass(frozen=True, slots=True)
class EpsFile:
    """What the file's structure says, checked; no PostScript was run to learn it."""

    kind: EpsKind
    size: int
    postscript: Section
    wmf: Section | None = None
    tiff: Section | None = None
    bounding_box: BoundingBox | None = None  # the declared box when it is a plausible page (≤ 200 feet)
    dsc: Dsc = field(default_factory=Dsc)

    @property
    def label(self) -> str:
        if self.kind == "postscript":
            return "PostScript"
        previews = [name for name, section in (("TIFF", self.tiff), ("WMF", self.wmf)) if section]
        return f"DOS EPS ({' and '.join(previews)} preview)" if previews else "DOS EPS (no preview)"


@dataclass(slots=True)
class PreparedPreview:
    """The preview, ready for ``optimize``: its path and what was done to it."""

    path: str
    width: int
    height: int
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def postscript_kind(path: str) -> EpsKind | None:
    """``dos-eps`` or ``postscript`` by content (never by extension); None for anything else."""
    with open(path, "rb") as fh:
        return postscript_kind_of(fh.read(4))


def postscript_kind_of(head: bytes) -> EpsKind | None:
    """``postscript_kind`` on a file's first bytes."""
    head = head[:4]
    if head == DOS_EPS_MAGIC:
        return "dos-eps"
    if head == POSTSCRIPT_MAGIC:
        return "postscript"
    return None


def read_eps(path: str) -> EpsFile:
    """Parse and check ``path``'s structure; PostScriptRefusedError when it is damaged or hostile."""
    size = os.path.getsize(path)
    kind = postscript_kind(path)
    if kind is None:
        raise UnsupportedFormatError("not a PostScript or EPS file (no %!PS or DOS EPS signature)")
    if kind == "postscript":
        section = Section(0, size)
        dsc = _dsc(path, section)
        return EpsFile(kind=kind, size=size, postscript=section, bounding_box=_plausible(dsc.declared_box), dsc=dsc)
    with open(path, "rb") as fh:
        header = fh.read(HEADER_SIZE)
    if len(header) < HEADER_SIZE:
        raise PostScriptRefusedError(f"the DOS EPS header is truncated ({len(header)} of {HEADER_SIZE} bytes)")
    ps_off, ps_len, wmf_off, wmf_len, tiff_off, tiff_len = struct.unpack_from("<6I", header, 4)
    postscript = _section("PostScript section", ps_off, ps_len, size, required=True)
    assert postscript is not None
    wmf = _section("WMF preview", wmf_off, wmf_len, size)
    tiff = _section("TIFF preview", tiff_off, tiff_len, size)
    sections = [(n, s) for n, s in (("PostScript section", postscript), ("WMF preview", wmf),
                                    ("TIFF preview", tiff)) if s is not None]
    for i, (name_a, a) in enumerate(sections):
        for name_b, b in sections[i + 1:]:
            if a.offset < b.end and b.offset < a.end:
                raise PostScriptRefusedError(f"the DOS EPS header is damaged: its {name_a} (bytes {a.offset}–"
                                             f"{a.end - 1}) overlaps its {name_b} (bytes {b.offset}–{b.end - 1})")
    with open(path, "rb") as fh:
        fh.seek(postscript.offset)
        if not fh.read(2) == b"%!":
            raise PostScriptRefusedError("the DOS EPS header is damaged: its PostScript section does not start "
                                         "with %!")
    dsc = _dsc(path, postscript)
    return EpsFile(kind=kind, size=size, postscript=postscript, wmf=wmf, tiff=tiff,
                   bounding_box=_plausible(dsc.declared_box), dsc=dsc)


def _section(name: str, offset: int, length: int, size: int, *, required: bool = False) -> Section | None:
    if length == 0:
        if required:
            raise PostScriptRefusedError(f"the DOS EPS header is damaged: its {name} is empty")
        return None  # "no preview" (writers leave the offset as it is)
    if offset < HEADER_SIZE or offset + length > size:
        raise PostScriptRefusedError(
            f"the DOS EPS header is damaged or the file is truncated: its {name} (offset {offset}, {length} bytes) "
            f"lies outside the file's {size} bytes")
    return Section(offset, length)


_BBOX = re.compile(rb"^%%(HiRes)?BoundingBox:[ \t]*(\(atend\)|[-+0-9.eE \t]+)[ \t]*\r?$", re.MULTILINE)
_MEDIA = re.compile(rb"^%%DocumentMedia:[ \t]*\S+[ \t]+([-+0-9.eE]+)[ \t]+([-+0-9.eE]+)", re.MULTILINE)
_PAGES = re.compile(rb"^%%Pages:[ \t]*(\d{1,9})", re.MULTILINE)
_PROCESS = re.compile(rb"^%%DocumentProcessColors:([^\n]*)", re.MULTILINE)
_EPSF = re.compile(rb"^%!PS-Adobe-\d+\.\d+[ \t]+EPSF-\d+\.\d+")


def _dsc(path: str, section: Section) -> Dsc:
    """The DSC comments that matter here, from the section's first and last 64 KiB (``(atend)`` lives there)."""
    with open(path, "rb") as fh:
        fh.seek(section.offset)
        head = fh.read(min(section.length, DSC_SCAN_BYTES))
        tail = b""
        if section.length > DSC_SCAN_BYTES:
            fh.seek(section.end - DSC_SCAN_BYTES)
            tail = fh.read(DSC_SCAN_BYTES)
    chunks = [chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n") for chunk in (head, tail)]
    boxes: dict[bool, BoundingBox] = {}
    media: tuple[float, float] | None = None
    pages: int | None = None
    cmyk = False
    for chunk in chunks:
        for match in _BBOX.finditer(chunk):
            box = _parse_box(match.group(2))
            if box is not None:
                boxes.setdefault(bool(match.group(1)), box)
        for match in _MEDIA.finditer(chunk):
            size = _numbers(match.group(1) + b" " + match.group(2))
            if media is None and size is not None and size[0] > 0 and size[1] > 0:
                media = (size[0], size[1])
        for match in _PAGES.finditer(chunk):
            pages = int(match.group(1))  # the last one wins: "(atend)" is resolved in the trailer
        for match in _PROCESS.finditer(chunk):
            cmyk = cmyk or any(ink in match.group(1).split() for ink in (b"Cyan", b"Magenta", b"Yellow", b"Black"))
    return Dsc(epsf=bool(_EPSF.match(chunks[0])), declared_box=boxes.get(True) or boxes.get(False), media=media,
               pages=pages, process_cmyk=cmyk)


def _numbers(text: bytes) -> tuple[float, ...] | None:
    try:
        values = tuple(float(v) for v in text.split())
    except ValueError:
        return None
    return values if all(math.isfinite(v) for v in values) else None


def _parse_box(text: bytes) -> BoundingBox | None:
    """Four finite numbers with a positive width and height ("(atend)" and garbage: None)."""
    values = _numbers(text)
    if values is None or len(values) != 4:
        return None
    box = BoundingBox(*values)
    return box if box.width > 0 and box.height > 0 else None


def _plausible(box: BoundingBox | None) -> BoundingBox | None:
    """The box as a page for the preview route: anything over 200 feet is not a real page."""
    if box is None or box.width > MAX_BOUNDING_BOX_POINTS or box.height > MAX_BOUNDING_BOX_POINTS:
        return None
    return box


def extract_tiff_preview(path: str, eps: EpsFile, dst: str) -> None:
    """Copy the TIFF preview's bytes to ``dst`` (bounded by the checked section)."""
    assert eps.tiff is not None
    extract_section(path, eps.tiff, dst, name="TIFF preview")


def extract_section(path: str, section: Section, dst: str, *, name: str = "PostScript section") -> None:
    """Copy one checked section of a DOS EPS to ``dst``."""
    remaining = section.length
    with open(path, "rb") as src, open(dst, "wb") as out:
        src.seek(section.offset)
        while remaining:
            chunk = src.read(min(remaining, 1 << 20))
            if not chunk:
                raise PostScriptRefusedError(f"the file is truncated inside its {name}")
            out.write(chunk)
            remaining -= len(chunk)


def prepare_preview(tiff_path: str, dst: str, *, max_pixels: int, colorspace: Colorspace = "Auto",
                    alpha: bool = False, resolution: float | None = None,
                    bounding_box: BoundingBox | None = None) -> PreparedPreview:
    """Check the preview, then apply ``colorspace``, ``alpha`` and a lower ``resolution``.

    Returns ``tiff_path`` itself when nothing had to change, else a lossless TIFF at ``dst``.
    """
    try:
        info = probe(tiff_path, max_pixels=max_pixels)  # header only: the pixel limit before any decode
    except ImageTooLargeError as exc:
        raise ImageTooLargeError(f"its TIFF preview is too large: {exc.message}") from exc
    except FileRejectedError as exc:
        raise CorruptImageError(f"its TIFF preview cannot be read: {exc.message}") from exc
    if info.format != "tiff":
        raise CorruptImageError(f"its TIFF preview is not a TIFF (it holds {info.format} data)")
    result = PreparedPreview(path=tiff_path, width=info.width, height=info.height)
    result.notes.append(f"preview {info.width}×{info.height} {_space_word(info.interpretation)}")
    image = vips.open_image(tiff_path, "tiffload")
    changed = False

    scale = _scale(info.width, info.height, resolution, bounding_box, result)
    if scale is not None:
        image = image.resize(scale)
        changed = True
        result.width, result.height = image.width, image.height

    if image.hasalpha() and not alpha:
        image = image.flatten(background=[255] * (image.bands - 1))
        result.notes.append("alpha false: the preview's transparency was flattened onto white")
        changed = True
    elif alpha and not image.hasalpha():
        result.warnings.append("postScriptOptions.alpha: the TIFF preview has no transparency, so the image is "
                               "opaque (a transparent background needs the PostScript rendered, which needs "
                               "Ghostscript)")

    converted = _convert(image, info.interpretation, colorspace, result)
    if converted is not None:
        image, changed = converted, True

    if not changed:
        return result
    try:
        image.tiffsave(dst, compression="deflate")
    except vips.VipsError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.remove(dst)
        raise CorruptImageError(f"its TIFF preview cannot be decoded: {vips.error_summary(exc)}") from exc
    result.path = dst
    return result


def _scale(width: int, height: int, resolution: float | None, box: BoundingBox | None,
           result: PreparedPreview) -> float | None:
    """The shrink factor that honours ``resolution``, or None; notes/warnings say what was decided."""
    wanted_ppi = resolution or DEFAULT_RESOLUTION
    asked = f"{wanted_ppi:g} ppi" + ("" if resolution else " (the default)")
    if box is None:
        result.warnings.append(f"postScriptOptions.resolution: the file has no usable %%BoundingBox, so the "
                               f"page size is unknown and {asked} could not be applied; the preview's "
                               f"{width}×{height} pixels were kept")
        return None
    preview_ppi = width / (box.width / POINTS_PER_INCH)
    target_w = max(1, round(box.width / POINTS_PER_INCH * wanted_ppi))
    target_h = max(1, round(box.height / POINTS_PER_INCH * wanted_ppi))
    page = f"{box.width:g}×{box.height:g} pt page"
    if abs(target_w - width) <= max(1, width // 100):  # rounding of the page size: the same resolution
        result.notes.append(f"resolution {asked}: the preview's own")
        return None
    if target_w < width:
        result.notes.append(f"resolution {asked}: preview ({preview_ppi:.0f} ppi) reduced to "
                            f"{target_w}×{target_h} for the {page}")
        return target_w / width
    if target_w > width:
        result.warnings.append(
            f"postScriptOptions.resolution: {asked} needs {target_w}×{target_h} pixels for the {page}, but the "
            f"embedded TIFF preview has only {width}×{height} (about {preview_ppi:.0f} ppi); the preview was "
            "used as it is, never upscaled (rendering the PostScript needs Ghostscript)")
    return None


_GREY = {"b-w", "grey16"}


def _space_word(interpretation: str) -> str:
    if interpretation in _GREY:
        return "greyscale"
    return "CMYK" if interpretation == "cmyk" else "RGB"


def _convert(image: vips.Image, interpretation: str, colorspace: Colorspace,
             result: PreparedPreview) -> vips.Image | None:
    """The preview in the requested colour space (None: unchanged); the pipeline's colour step follows."""
    current = _space_word(interpretation)
    if colorspace == "Auto":
        result.notes.append(f"colorspace Auto: kept {current}")
        return None
    wanted = {"Rgb": "RGB", "Gray": "greyscale", "Cmyk": "CMYK"}[colorspace]
    if current == wanted:
        result.notes.append(f"colorspace {colorspace}: already {wanted}")
        return None
    if current == "CMYK":
        image = image.icc_transform("srgb", input_profile="cmyk", embedded=True, intent="relative")
    if wanted == "greyscale":
        image = image.colourspace("b-w")
    elif wanted == "RGB":
        image = image.colourspace("srgb")
    else:
        if image.interpretation in _GREY:
            image = image.colourspace("srgb")
        # Tagged with libvips' CMYK profile, so colorManagementOptions read it as any tagged CMYK upload.
        image = image.icc_transform("cmyk", input_profile="srgb", embedded=False, intent="relative")
    if wanted != "CMYK" and vips.has_field(image, "icc-profile-data"):
        image = image.copy()
        image.remove("icc-profile-data")  # the source's profile no longer describes these pixels
    result.notes.append(f"colorspace {colorspace}: preview converted from {current} to {wanted}")
    return image


# ---------------------------------------------------------------- rendering with Ghostscript

LETTER_POINTS = (612.0, 792.0)  # Ghostscript's default page, for PostScript that declares none


@dataclass(frozen=True, slots=True)
class GhostscriptPage:
    """The page Ghostscript is given (fixed: the file cannot change it) and why."""

    width_pt: float
    height_pt: float
    eps_crop: bool
    source: str  # for the log row, e.g. "the 200×100 pt %%BoundingBox"


def ghostscript_page(info: EpsFile) -> GhostscriptPage:
    """The page: an EPS's bounding box (``-dEPSCrop``); other PostScript's ``%%DocumentMedia``, else a page
    reaching the bounding box's upper-right corner, else US Letter."""
    dsc = info.dsc
    box = dsc.declared_box
    if dsc.epsf and box is not None:
        return GhostscriptPage(box.width, box.height, True, f"the {box.width:g}×{box.height:g} pt bounding box")
    if dsc.media is not None:
        return GhostscriptPage(dsc.media[0], dsc.media[1], False,
                               f"the {dsc.media[0]:g}×{dsc.media[1]:g} pt %%DocumentMedia")
    if box is not None and box.urx > 0 and box.ury > 0:
        return GhostscriptPage(box.urx, box.ury, False,
                               f"a {box.urx:g}×{box.ury:g} pt page holding its %%BoundingBox")
    return GhostscriptPage(*LETTER_POINTS, False, "US Letter (the file declares no page size)")


Space = Literal["RGB", "greyscale", "CMYK"]


@dataclass(frozen=True, slots=True)
class RenderPlan:
    """Which Ghostscript device renders the page, and the colour space the pipeline then receives."""

    device: Literal["png16m", "pnggray", "pngalpha", "pamcmyk32"]
    space: Space
    alpha: bool
    note: str


def render_plan(info: EpsFile, colorspace: Colorspace, alpha: bool) -> RenderPlan:
    """``colorspace`` and ``alpha`` as a device: CMYK is rendered as CMYK (inks kept), unless alpha asks for RGBA."""
    if colorspace == "Auto":
        space: Space = "CMYK" if info.dsc.process_cmyk else "RGB"
        why = ("CMYK, as its %%DocumentProcessColors names process inks" if space == "CMYK"
               else "RGB (the file declares no CMYK process colours)")
        note = f"colorspace Auto: {why}"
    else:
        space = {"Rgb": "RGB", "Gray": "greyscale", "Cmyk": "CMYK"}[colorspace]  # type: ignore[assignment]
        note = f"colorspace {colorspace}: {space}"
    if alpha:
        # Only pngalpha keeps a transparent background; grey and CMYK are converted from it.
        if space != "RGB":
            note += " (rendered as RGBA for alpha, then converted)"
        return RenderPlan("pngalpha", space, True, note + ", alpha true: transparent background")
    device = {"RGB": "png16m", "greyscale": "pnggray", "CMYK": "pamcmyk32"}[space]
    return RenderPlan(device, space, False, note)  # type: ignore[arg-type]


def finish_rendering(path: str, plan: RenderPlan, width: int, height: int, dst: str) -> str:
    """Ghostscript's page as the pipeline's source: PNGs as they are, CMYK (PAM) and converted RGBA as a TIFF."""
    if plan.device == "pamcmyk32":
        image = vips.Image.rawload(path, width, height, 4, offset=_pam_header(path, width, height))
        image = image.copy(interpretation="cmyk")  # untagged: the colour step uses the default CMYK profile
    elif plan.device == "pngalpha" and plan.space != "RGB":
        image = vips.open_image(path, "pngload")
        if plan.space == "greyscale":
            image = image.colourspace("b-w")
        else:
            image = image.icc_transform("cmyk", input_profile="srgb", embedded=False, intent="relative")
    else:
        return path
    try:
        image.tiffsave(dst, compression="deflate", bigtiff=width * height * image.bands > 3_900_000_000)
    except vips.VipsError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.remove(dst)
        raise CorruptImageError(f"Ghostscript's rendering cannot be read: {vips.error_summary(exc)}") from exc
    return dst


def _pam_header(path: str, width: int, height: int) -> int:
    """The length of a ``pamcmyk32`` header, checked against the page gs was told to draw."""
    with open(path, "rb") as fh:
        head = fh.read(1024)
    end = head.find(b"ENDHDR\n")
    fields = dict(line.split(b" ", 1) for line in head[:max(end, 0)].split(b"\n")[1:] if b" " in line
                  and not line.startswith(b"#"))
    expected = {b"WIDTH": str(width).encode(), b"HEIGHT": str(height).encode(), b"DEPTH": b"4", b"MAXVAL": b"255"}
    offset = end + len(b"ENDHDR\n")
    if not head.startswith(b"P7\n") or end < 0 or any(fields.get(k, b"").strip() != v for k, v in expected.items()) \
            or os.path.getsize(path) != offset + width * height * 4:
        raise CorruptImageError("Ghostscript's CMYK rendering is not the expected PAM image")
    return offset
