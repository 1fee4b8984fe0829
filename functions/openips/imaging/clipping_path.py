"""createMask (spec §4): the Photoshop clipping path a JPEG or TIFF carries, rasterised as the asset's mask.

Photoshop keeps paths in its image resource block (IRB: a run of "8BIM" resources; Adobe's
"Photoshop File Formats", "Path resource format"). Resources 2000–2997 are the saved paths,
named by their Pascal-string resource names; resource 2999 names the one that is the
clipping path. libvips exposes the IRB as ``photoshop-data`` (TIFF tag 34377) or inside
``iptc-data`` (the JPEG APP13 payload, "Photoshop 3.0\\0" + IRB). Parsing and path decoding
are pure Python; only ``rasterise`` needs libvips (svgload, i.e. librsvg, anti-aliased).
PSD files carry the same IRB, but this libvips build cannot load PSD, so they never get here.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Container, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Literal

if TYPE_CHECKING:
    from openips.imaging import vips

Point = tuple[float, float]  # (x, y) in pixels
FillRule = Literal["evenodd", "nonzero"]

JPEG_IRB_HEADER = b"Photoshop 3.0\x00"
IRB_SIGNATURES = frozenset({b"8BIM", b"PHUT", b"AgHg", b"DCSR", b"MeSa"})  # only 8BIM resources are kept
FIRST_PATH_ID, LAST_PATH_ID = 2000, 2997
CLIPPING_PATH_NAME_ID = 2999
RECORD_SIZE = 26
# librsvg re-walks the whole path for every tile it renders; far beyond any hand-drawn path.
MAX_RECORDS = 100_000
# Caps on what an uploaded file can make the parsers walk. Photoshop's own blocks are a few
# dozen resources and rarely over a few MB (thumbnails, previews): 64 MiB is about a thousand
# full APP13 segments and, walked linearly, parses in well under a second.
MAX_IRB_BYTES = 64 * 1024 * 1024
MAX_RESOURCES = 10_000
MAX_JPEG_SEGMENTS = 10_000  # metadata segments before the scan; a real JPEG has tens
MAX_JPEG_FILL_BYTES = 65_536  # 0xFF fill bytes between markers, all told; writers use none or a few
PATH_RESOURCE_IDS = range(FIRST_PATH_ID, CLIPPING_PATH_NAME_ID + 1)  # what createMask reads: paths and 2999

# Subpath operations: the undocumented bytes 4–5 of a subpath length record (as read by
# psd-tools). Files from before Photoshop CS6 hold 0 there, which is why XOR (= even-odd) is
# the reading for anything else.
XOR, OR, SUBTRACT, INTERSECT = 0, 1, 2, 3
_CLOSED_LENGTH, _OPEN_LENGTH = 0, 3
_CLOSED_KNOTS, _OPEN_KNOTS = (1, 2), (4, 5)
_PATH_FILL, _CLIPBOARD, _INITIAL_FILL = 6, 7, 8
_FIXED_ONE = float(1 << 24)  # coordinates are signed 8.24 fixed point
_STATED_FILL_RULES: dict[int, FillRule] = {1: "evenodd", 2: "nonzero"}  # 0: "same fill rule"
_NOT_ZERO = re.compile(rb"[^\x00]")


class ClippingPathError(ValueError):
    """A Photoshop resource or path that cannot be decoded; the message says why, for the job log."""


@dataclass(frozen=True, slots=True)
class Knot:
    """One Bézier knot in pixels: the control point arriving at the anchor, the anchor, the one leaving it."""

    preceding: Point
    anchor: Point
    leaving: Point


@dataclass(frozen=True, slots=True)
class Subpath:
    """One subpath: its knots in drawing order, whether it is closed, and how it combines with those before."""

    closed: bool
    knots: tuple[Knot, ...]
    operation: int = XOR


@dataclass(frozen=True, slots=True)
class Layer:
    """Subpaths drawn in one SVG render, then combined with the layers before by ``operation``."""

    operation: int
    fill_rule: FillRule
    subpaths: tuple[Subpath, ...]


def parse_irb(data: bytes | bytearray | memoryview, only: Container[int] | None = None,
              ) -> dict[int, tuple[str, bytes]]:
    """The 8BIM resources of a Photoshop image resource block: id → (name, data); the first of a repeated id wins.

    ``only`` keeps just those ids; the others are still walked but never copied. Walks offsets over
    one buffer, so the work is linear in the block; over ``MAX_IRB_BYTES`` or ``MAX_RESOURCES``
    it refuses the block with ClippingPathError.
    """
    view = memoryview(data).cast("B")
    end = len(view)
    if end > MAX_IRB_BYTES:
        raise ClippingPathError(f"the Photoshop resources are {end / 2**20:.1f} MiB, over the "
                                f"{MAX_IRB_BYTES // 2**20} MiB limit")
    resources: dict[int, tuple[str, bytes]] = {}
    pos = walked = 0
    while pos < end:
        signature = view[pos : pos + 4].tobytes()
        if signature not in IRB_SIGNATURES:
            if _NOT_ZERO.search(view, pos) is None:
                break  # writers pad the block to an even or 4-byte length
            raise ClippingPathError(f"no resource signature at byte {pos} of the Photoshop resources")
        walked += 1
        if walked > MAX_RESOURCES:
            raise ClippingPathError(f"the Photoshop resources hold more than {MAX_RESOURCES} entries, "
                                    "where a real file has a few dozen")
        if end - pos < 7:
            raise ClippingPathError(f"the Photoshop resources end inside the header at byte {pos}")
        resource_id, name_length = struct.unpack_from(">HB", view, pos + 4)
        name_field = 1 + name_length + ((1 + name_length) & 1)  # Pascal string padded to an even size
        size_at = pos + 6 + name_field
        if size_at + 4 > end:
            raise ClippingPathError(f"resource {resource_id} is cut off in its header")
        (size,) = struct.unpack_from(">I", view, size_at)
        start = size_at + 4
        if start + size > end:
            raise ClippingPathError(f"resource {resource_id} claims {size} bytes but only {end - start} remain")
        if signature == b"8BIM" and resource_id not in resources and (only is None or resource_id in only):
            resources[resource_id] = (_decode_name(view[pos + 7 : pos + 7 + name_length].tobytes()),
                                      view[start : start + size].tobytes())
        pos = start + size
        if size & 1 and view[pos : pos + 4].tobytes() not in IRB_SIGNATURES:
            pos += 1  # the pad byte to an even size, which some writers leave out
    return resources


def jpeg_irb_segments(fp: BinaryIO) -> list[bytes]:
    """The IRB pieces of every Photoshop APP13 segment of a JPEG, in file order (header stripped).

    Refuses (ClippingPathError) a JPEG whose pieces pass ``MAX_IRB_BYTES``, or with more than
    ``MAX_JPEG_SEGMENTS`` segments or ``MAX_JPEG_FILL_BYTES`` fill bytes before its scan.
    """
    pieces: list[bytes] = []
    total = fill = 0
    if fp.read(2) != b"\xff\xd8":
        return pieces
    for _ in range(MAX_JPEG_SEGMENTS + 1):  # + 1: the start of scan that ends the walk
        if fp.read(1) != b"\xff":
            return pieces
        marker = fp.read(1)
        while marker == b"\xff":
            fill += 1
            if fill > MAX_JPEG_FILL_BYTES:
                raise ClippingPathError(f"the JPEG has more than {MAX_JPEG_FILL_BYTES} fill bytes before its "
                                        "image data")
            marker = fp.read(1)
        if not marker or marker in (b"\xda", b"\xd9"):
            return pieces  # start of scan: no more metadata segments
        if 0xD0 <= marker[0] <= 0xD7 or marker == b"\x01":
            continue
        header = fp.read(2)
        if len(header) < 2 or (length := struct.unpack(">H", header)[0]) < 2:
            return pieces
        if marker == b"\xed":
            payload = fp.read(length - 2)
            if payload.startswith(JPEG_IRB_HEADER):
                total += len(payload) - len(JPEG_IRB_HEADER)
                if total > MAX_IRB_BYTES:
                    raise ClippingPathError(f"the JPEG's Photoshop resources are over the "
                                            f"{MAX_IRB_BYTES // 2**20} MiB limit")
                pieces.append(payload[len(JPEG_IRB_HEADER) :])
        else:
            fp.seek(length - 2, 1)
    raise ClippingPathError(f"the JPEG has more than {MAX_JPEG_SEGMENTS} segments before its image data")


def clipping_path_name(data: bytes) -> tuple[str, FillRule | None]:
    """Resource 2999: the clipping path's name and the fill rule it states, if any (1 even-odd, 2 non-zero)."""
    if not data or 1 + data[0] > len(data):
        raise ClippingPathError("the clipping-path name resource (2999) is truncated")
    name = _decode_name(data[1 : 1 + data[0]])
    rest = data[1 + data[0] :]
    # Pascal string, 4-byte flatness, 2-byte fill rule; read the rule from the end so a
    # padded string does not shift it.
    rule = struct.unpack(">H", rest[-2:])[0] if len(rest) >= 6 else 0
    return name, _STATED_FILL_RULES.get(rule)


def saved_paths(resources: dict[int, tuple[str, bytes]]) -> list[tuple[int, str, bytes]]:
    """The saved paths (resources 2000–2997) as (id, name, data), by id."""
    return [(rid, name, data) for rid, (name, data) in sorted(resources.items())
            if FIRST_PATH_ID <= rid <= LAST_PATH_ID]


def find_clipping_path(resources: dict[int, tuple[str, bytes]]) -> tuple[str, bytes, FillRule | None] | None:
    """The path resource 2999 designates, as (name, path data, stated fill rule); None without resource 2999."""
    if CLIPPING_PATH_NAME_ID not in resources:
        return None
    name, rule = clipping_path_name(resources[CLIPPING_PATH_NAME_ID][1])
    for _, path_name, data in saved_paths(resources):
        if path_name == name:
            return name, data, rule
    raise ClippingPathError(f"the clipping path {name!r} is not among the file's saved paths")


def decode_path(data: bytes, width: int, height: int) -> list[Subpath]:
    """Decode a path resource's 26-byte records into subpaths with knots in pixel coordinates."""
    if len(data) % RECORD_SIZE:
        raise ClippingPathError(f"path data is {len(data)} bytes, not a whole number of {RECORD_SIZE}-byte records")
    if len(data) // RECORD_SIZE > MAX_RECORDS:
        raise ClippingPathError(f"the path has more than {MAX_RECORDS} records")
    subpaths: list[Subpath] = []
    knots: list[Knot] = []
    expected, closed, operation = 0, True, XOR
    for index, record in enumerate(_records(data)):
        (selector,) = struct.unpack_from(">H", record)
        if selector in (_CLOSED_LENGTH, _OPEN_LENGTH):
            if expected:
                raise ClippingPathError(f"record {index}: a subpath starts {expected} knot(s) early")
            expected, operation = struct.unpack_from(">Hh", record, 2)
            closed, knots = selector == _CLOSED_LENGTH, []
        elif selector in _CLOSED_KNOTS + _OPEN_KNOTS:
            if not expected:
                raise ClippingPathError(f"record {index}: a knot outside any subpath")
            knots.append(_knot(record, width, height))
            expected -= 1
            if not expected:
                subpaths.append(Subpath(closed=closed, knots=tuple(knots), operation=operation))
        elif selector not in (_PATH_FILL, _CLIPBOARD, _INITIAL_FILL):
            raise ClippingPathError(f"record {index}: unknown path record selector {selector}")
    if expected:
        raise ClippingPathError(f"the path ends {expected} knot(s) short of its last subpath")
    return subpaths


def starts_filled(data: bytes) -> bool:
    """Whether the path's initial-fill record (selector 8) says the fill starts with all pixels."""
    for record in _records(data):
        if struct.unpack_from(">HH", record) == (_INITIAL_FILL, 1):
            return True
    return False


def layers(subpaths: list[Subpath], fill_rule: FillRule | None = None) -> list[Layer]:
    """Group subpaths into the fewest renders that reproduce their operations (XOR, OR, SUBTRACT, INTERSECT)."""
    subpaths = [s for s in subpaths if s.knots]
    if all(_operation(s) == XOR for s in subpaths):
        # Legacy (pre-CS6) paths: one even-odd render, unless resource 2999 states non-zero.
        return [Layer(XOR, fill_rule or "evenodd", tuple(subpaths))] if subpaths else []
    grouped: list[Layer] = []
    for subpath in subpaths:
        op = _operation(subpath)
        if op != XOR:
            # Under non-zero, a union of subpaths is a union only if all wind the same way.
            subpath = _positively_wound(subpath)
        if grouped and grouped[-1].operation == op and op != INTERSECT:
            last = grouped.pop()
            grouped.append(Layer(op, last.fill_rule, (*last.subpaths, subpath)))
        else:
            grouped.append(Layer(op, "evenodd" if op == XOR else "nonzero", (subpath,)))
    return grouped


def svg_document(layer: Layer, width: int, height: int) -> bytes:
    """An SVG, ``width`` x ``height`` pixels, that fills the layer's subpaths in opaque white on transparent."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><path fill="#fff" fill-rule="{layer.fill_rule}" '
        f'd="{svg_path_data(layer.subpaths)}"/></svg>'
    ).encode()


def svg_path_data(subpaths: tuple[Subpath, ...] | list[Subpath]) -> str:
    """SVG path data: M to the first anchor, one C per knot-to-knot curve, Z (and the closing curve) when closed."""
    parts: list[str] = []
    for subpath in subpaths:
        knots = subpath.knots
        if not knots:
            continue
        parts.append(f"M{_xy(knots[0].anchor)}")
        pairs = zip(knots, knots[1:] + (knots[:1] if subpath.closed else ()), strict=False)
        parts.extend(f"C{_xy(a.leaving)} {_xy(b.preceding)} {_xy(b.anchor)}" for a, b in pairs)
        if subpath.closed:
            parts.append("Z")
    return "".join(parts)


def rasterise(subpaths: list[Subpath], width: int, height: int, *, filled: bool = False,
              fill_rule: FillRule | None = None) -> vips.Image:
    """Render the path anti-aliased at ``width`` x ``height`` as a 1-band uchar mask, 255 inside."""
    # Imported here so the parsing above stays importable (and unit-testable) without libvips.
    from openips.imaging import vips

    mask: vips.Image | int = 255 if filled else 0
    for layer in layers(subpaths, fill_rule):
        # unlimited: the document is ours and bounded by MAX_RECORDS; libxml2's default caps
        # attribute values at 10 MB.
        try:
            svg = vips.Image.svgload_buffer(svg_document(layer, width, height), unlimited=True)
        except vips.VipsError as exc:
            raise ClippingPathError(f"the path cannot be drawn: {vips.error_summary(exc)}") from exc
        mask = _combine(mask, layer.operation, svg[3])
    if isinstance(mask, int):
        mask = vips.Image.black(width, height) + mask
    return mask.cast("uchar").copy(interpretation="b-w")


def image_resource_block(image: vips.Image) -> bytes | None:
    """The Photoshop IRB the loaded image carries (TIFF ``photoshop-data``, JPEG APP13 in ``iptc-data``), or None."""
    if image.get_typeof("photoshop-data"):
        return bytes(image.get("photoshop-data"))
    if not image.get_typeof("iptc-data"):
        return None
    blob = bytes(image.get("iptc-data"))
    if not blob.startswith(JPEG_IRB_HEADER):
        return None
    if image.get_typeof("filename") and image.get("vips-loader") == "jpegload":
        # Photoshop splits an IRB over 64 KB across several APP13 segments, and jpegload
        # keeps only the first: read them all from the file.
        try:
            with open(image.get("filename"), "rb") as fp:
                pieces = jpeg_irb_segments(fp)
        except OSError:
            pieces = []
        if len(pieces) > 1:
            return b"".join(pieces)
    return blob[len(JPEG_IRB_HEADER) :]


def clipping_mask(image: vips.Image, problems: list[str] | None = None) -> vips.Image | None:
    """The image's Photoshop clipping path as a mask of its size (1-band uchar, 255 inside), or None.

    None when the file has no clipping path; when it has one that cannot be used (or saved
    paths but none marked as the clipping path), the reason is appended to ``problems``.
    """
    try:
        irb = image_resource_block(image)
        if irb is None:
            return None
        resources = parse_irb(irb, only=PATH_RESOURCE_IDS)
        found = find_clipping_path(resources)
        if found is None:
            if (count := len(saved_paths(resources))) and problems is not None:
                problems.append(f"createMask: the file has {count} saved path(s) but none is set as the "
                                "clipping path, so no mask was made")
            return None
        name, data, fill_rule = found
        subpaths = decode_path(data, image.width, image.height)
        if not any(s.knots for s in subpaths):
            raise ClippingPathError(f"the clipping path {name!r} is empty")
        return rasterise(subpaths, image.width, image.height, filled=starts_filled(data), fill_rule=fill_rule)
    except ClippingPathError as exc:
        if problems is not None:
            problems.append(f"createMask: the clipping path cannot be used ({exc}), so no mask was made")
        return None


def _records(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data) - RECORD_SIZE + 1, RECORD_SIZE):
        yield data[start : start + RECORD_SIZE]


def _knot(record: bytes, width: int, height: int) -> Knot:
    values = struct.unpack_from(">6i", record, 2)  # (vertical, horizontal) x 3, fractions of the image
    points = [(values[i + 1] / _FIXED_ONE * width, values[i] / _FIXED_ONE * height) for i in (0, 2, 4)]
    return Knot(preceding=points[0], anchor=points[1], leaving=points[2])


def _decode_name(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("mac_roman")


def _operation(subpath: Subpath) -> int:
    return subpath.operation if subpath.operation in (OR, SUBTRACT, INTERSECT) else XOR


def _positively_wound(subpath: Subpath) -> Subpath:
    if _signed_area(subpath) >= 0:
        return subpath
    knots = tuple(Knot(preceding=k.leaving, anchor=k.anchor, leaving=k.preceding) for k in reversed(subpath.knots))
    return Subpath(closed=subpath.closed, knots=knots, operation=subpath.operation)


def _signed_area(subpath: Subpath) -> float:
    # Shoelace over the curves sampled 8 times each: enough for the sign.
    knots = subpath.knots
    points: list[Point] = []
    for a, b in zip(knots, knots[1:] + knots[:1], strict=True):
        for step in range(8):
            t = step / 8
            u = 1 - t
            points.append((
                u**3 * a.anchor[0] + 3 * u * u * t * a.leaving[0] + 3 * u * t * t * b.preceding[0] + t**3 * b.anchor[0],
                u**3 * a.anchor[1] + 3 * u * u * t * a.leaving[1] + 3 * u * t * t * b.preceding[1] + t**3 * b.anchor[1],
            ))
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True)) / 2


def _combine(mask: vips.Image | int, operation: int, coverage: vips.Image) -> vips.Image | int:
    """``mask`` (an image, or the constant 0 or 255) combined with a layer's coverage."""
    if isinstance(mask, int):
        if operation == OR:
            return coverage if mask == 0 else 255
        if operation == SUBTRACT:
            return 0 if mask == 0 else 255 - coverage
        if operation == INTERSECT:
            return 0 if mask == 0 else coverage
        return coverage if mask == 0 else 255 - coverage
    if operation == OR:
        return mask.maxpair(coverage)
    if operation == SUBTRACT:
        return mask.minpair(255 - coverage)
    if operation == INTERSECT:
        return mask.minpair(coverage)
    return (mask - coverage).abs()


def _xy(point: Point) -> str:
    return f"{_number(point[0])},{_number(point[1])}"


def _number(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") or "0"
