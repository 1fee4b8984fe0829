"""Pure builders for Photoshop path resources and IRBs, and for JPEGs carrying them (no pyvips here).

Points are (x, y) fractions of the image width and height, as Photoshop stores them
(in 8.24 fixed point, vertical first).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

Frac = tuple[float, float]
KnotSpec = tuple[Frac, Frac, Frac]  # preceding control point, anchor, leaving control point

KAPPA = 4 * (math.sqrt(2) - 1) / 3  # cubic Bézier quarter-circle control distance


def fixed(value: float) -> int:
    """8.24 signed fixed point."""
    return round(value * (1 << 24))


def knot_record(knot: KnotSpec, *, closed: bool = True, linked: bool = True) -> bytes:
    """A 26-byte Bézier knot record (selector 1/2 closed, 4/5 open)."""
    selector = (1 if linked else 2) if closed else (4 if linked else 5)
    coords = [fixed(c) for x, y in knot for c in (y, x)]
    return struct.pack(">H6i", selector, *coords)


def length_record(count: int, *, closed: bool = True, operation: int = 0) -> bytes:
    """A 26-byte subpath length record; ``operation`` fills the undocumented bytes 4–5."""
    return struct.pack(">HHh", 0 if closed else 3, count, operation) + bytes(20)


def path_data(subpaths: Sequence[Sequence[KnotSpec]], *, closed: bool = True, operations: Sequence[int] | None = None,
              initial_fill: bool = False) -> bytes:
    """A path resource: fill-rule record, initial-fill record, then each subpath's length and knot records."""
    out = struct.pack(">H", 6) + bytes(24) + struct.pack(">HH", 8, 1 if initial_fill else 0) + bytes(22)
    for index, knots in enumerate(subpaths):
        operation = operations[index] if operations else 0
        out += length_record(len(knots), closed=closed, operation=operation)
        out += b"".join(knot_record(k, closed=closed) for k in knots)
    return out


def corner(x: float, y: float) -> KnotSpec:
    """A sharp knot: both control points on the anchor."""
    return ((x, y), (x, y), (x, y))


def rectangle(left: float, top: float, right: float, bottom: float) -> list[KnotSpec]:
    """A rectangle's four corner knots, clockwise on screen."""
    return [corner(left, top), corner(right, top), corner(right, bottom), corner(left, bottom)]


def circle(cx: float, cy: float, radius: float, width: int, height: int) -> list[KnotSpec]:
    """Four smooth knots approximating a circle of ``radius`` pixels centred at pixel (cx, cy)."""
    k = KAPPA * radius
    knots = []
    for ax, ay, tx, ty in ((cx + radius, cy, 0, 1), (cx, cy + radius, -1, 0), (cx - radius, cy, 0, -1),
                           (cx, cy - radius, 1, 0)):
        pre = ((ax - tx * k) / width, (ay - ty * k) / height)
        leave = ((ax + tx * k) / width, (ay + ty * k) / height)
        knots.append((pre, (ax / width, ay / height), leave))
    return knots


def pascal(name: str, *, pad: bool = True) -> bytes:
    """A Pascal string, padded to an even size when ``pad``."""
    raw = name.encode()
    out = bytes([len(raw)]) + raw
    return out + b"\x00" if pad and len(out) % 2 else out


def resource(resource_id: int, data: bytes, name: str = "", *, signature: bytes = b"8BIM") -> bytes:
    """One image resource: signature, id, padded Pascal name, size, data padded to even."""
    return (signature + struct.pack(">H", resource_id) + pascal(name) + struct.pack(">I", len(data)) + data
            + (b"\x00" if len(data) % 2 else b""))


def clipping_name_data(name: str, fill_rule: int = 0) -> bytes:
    """Resource 2999: Pascal name (unpadded), flatness 0, fill rule."""
    return pascal(name, pad=False) + struct.pack(">iH", 0, fill_rule)


def build_irb_with_path(paths: dict[str, bytes], clipping: str | None = None, *, fill_rule: int = 0) -> bytes:
    """An IRB with resolution info, an IPTC record, the saved paths (ids from 2000) and, if given, resource 2999."""
    irb = resource(1005, bytes(16))  # resolution info, as Photoshop writes first
    irb += resource(1028, b"\x1c\x02\x00\x00\x02\x00\x04\x1c\x02\x05\x00\x03abc")  # IPTC, odd length
    for index, (name, data) in enumerate(paths.items()):
        irb += resource(2000 + index, data, name)
    if clipping is not None:
        irb += resource(2999, clipping_name_data(clipping, fill_rule))
    return irb


def jpeg_with_irb(jpeg: bytes, irb: bytes, *, segment_size: int = 65000) -> bytes:
    """``jpeg`` with ``irb`` in APP13 "Photoshop 3.0" segments right after SOI, split as Photoshop does."""
    assert jpeg[:2] == b"\xff\xd8"
    segments = []
    for start in range(0, len(irb), segment_size):
        payload = b"Photoshop 3.0\x00" + irb[start : start + segment_size]
        segments.append(b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload)
    return b"".join([jpeg[:2], *segments, jpeg[2:]])


def clipping_tail(data: bytes, name: str = "Clip") -> bytes:
    """Saved path 2000 holding ``data`` and resource 2999 naming it the clipping path."""
    return resource(2000, data, name) + resource(2999, clipping_name_data(name))


def padded_irb(total: int, resource_size: int, tail: bytes = b"") -> bytes:
    """``tail`` after as many ``resource_size``-byte 8BIM resources (ids 4000–4999, no path ids) as fill ``total``."""
    data_size = resource_size - len(resource(4000, b""))
    assert data_size >= 0 and data_size % 2 == 0
    count = (total - len(tail)) // resource_size
    filler = b"".join(resource(4000 + index % 1000, bytes([index % 251]) * data_size) for index in range(count))
    return filler + tail


class SliceCountingBytes(bytes):
    """bytes that count what slicing them copies, and stop a parser once that passes ``budget`` bytes.

    A parser that re-slices the rest of the block for every resource does quadratic work; this
    fails it after a few resources instead of letting it run for minutes.
    """

    def __new__(cls, data: bytes, budget: int) -> SliceCountingBytes:
        instance = super().__new__(cls, data)
        instance.copied, instance.budget = 0, budget
        return instance

    def __getitem__(self, key):  # type: ignore[no-untyped-def, override]
        item = super().__getitem__(key)
        if isinstance(key, slice):
            self.copied += len(item)
            if self.copied > self.budget:
                raise AssertionError(f"slices of a {len(self)}-byte block copied {self.copied} bytes, over the "
                                     f"{self.budget}-byte budget: the parser copies the block's tail per resource")
        return item
