"""Where a rendition's pixels come from: the view size, the scale, the pyramid level and the level region.

Pure arithmetic on a ``RenditionRequest`` (no pyvips), so that the sizes, the max-pixel guard and
the level choice are decided before a byte of the pyramid is read. The meaning of each modifier
is the table in ``imaging/render.py``; this module only implements it.

Frames, in the order IS applies them:

* **source**: level 0 of the pyramid (the master) as displayed, i.e. turned by its EXIF
  orientation, in source pixels; the **stored** frame is the pyramid's pixels as they lie in the
  file (``stored_rect`` maps a region of one onto the other, ``oriented_size`` the sizes);
* **layer**: the ``crop`` region of the source, flipped, then rotated by a multiple of 90°;
* **content**: the layer scaled by (fx, fy);
* **view**: the content centred on a ``wid``×``hei`` canvas (padding or cutting its edges);
* **reply**: the ``rect`` region of the view (padding where it leaves the view).

A rotation by a multiple of 90° commutes with scaling (the axes swap), so the renderer scales the
crop first and turns the small image, while the sizes are decided on the rotated layer, as IS does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from openips.models.rendition import Rect, RenditionRequest

# A level is used when it holds as many pixels across the crop as the content needs, less half a
# pixel: levels halve with rounding down (6000 -> 187 at 1/32, not 187.5), which is no upsampling.
_COVER_TOLERANCE = 0.5


@dataclass(frozen=True, slots=True)
class Plan:
    """The geometry of one rendition, decided before reading."""

    crop: Rect  # the source region (IS crop), whole image when absent
    turned: bool  # rotate is 90 or 270: the layer's axes are the crop's swapped
    fx: float  # layer -> content scale, horizontal (in the layer's, i.e. rotated, axes)
    fy: float
    content_width: int  # the scaled layer, rotated axes
    content_height: int
    view_width: int  # the canvas the content is centred on
    view_height: int
    reply: Rect  # the region of the view that is returned (rect, or the whole view)

    @property
    def content_offset(self) -> tuple[int, int]:
        """Top-left of the content on the view canvas; negative when the canvas cuts the content.

        Centred, the odd pixel going right and down either way (padding or cutting)."""
        return int((self.view_width - self.content_width) / 2), int((self.view_height - self.content_height) / 2)

    @property
    def unturned_content(self) -> tuple[int, int]:
        """The content's size before rotation (the crop's axes)."""
        if self.turned:
            return self.content_height, self.content_width
        return self.content_width, self.content_height

    @property
    def source_scale(self) -> tuple[float, float]:
        """Content pixels per source pixel along the crop's (unrotated) x and y axes."""
        return (self.fy, self.fx) if self.turned else (self.fx, self.fy)


def plan(request: RenditionRequest) -> Plan:
    """Sizes and scales for ``request``; ValueError for a request whose sizes are not positive."""
    crop = request.crop or Rect(0, 0, request.source_width, request.source_height)
    if crop.width <= 0 or crop.height <= 0:
        raise ValueError(f"the crop region {crop.width}×{crop.height} is empty")
    turned = request.rotate % 180 == 90
    layer_w, layer_h = (crop.height, crop.width) if turned else (crop.width, crop.height)
    fx, fy, canvas = _scales(request, layer_w, layer_h)
    content_w = max(1, round(layer_w * fx))
    content_h = max(1, round(layer_h * fy))
    view_w, view_h = canvas if canvas is not None else (content_w, content_h)
    reply = request.rect or Rect(0, 0, view_w, view_h)
    if reply.width <= 0 or reply.height <= 0:
        raise ValueError(f"the rect region {reply.width}×{reply.height} is empty")
    return Plan(crop=crop, turned=turned, fx=fx, fy=fy, content_width=content_w, content_height=content_h,
                view_width=view_w, view_height=view_h, reply=reply)


def _scales(request: RenditionRequest, layer_w: int, layer_h: int) -> tuple[float, float, tuple[int, int] | None]:
    """(fx, fy, canvas): the layer's scale and the view canvas when it is not the content's own size."""
    # IS enlarges for wid/hei/scl alone; with fit= only when its upscale flag is 1.
    enlarge = request.fit is None or request.upscale
    cap = (lambda f: f) if enlarge else (lambda f: min(f, 1.0))
    wid, hei = request.width, request.height
    if request.scale is not None:
        f = 1.0 / request.scale
        return f, f, None
    if wid and hei:
        xs, ys = wid / layer_w, hei / layer_h
        mode = request.fit or "fit"  # both sizes without fit=: IS fits inside and pads to wid×hei
        if mode == "stretch":
            return cap(xs), cap(ys), (wid, hei)
        f = cap({"fit": min(xs, ys), "constrain": min(xs, ys), "crop": max(xs, ys),
                 "hfit": xs, "vfit": ys}[mode])
        return f, f, None if mode == "constrain" else (wid, hei)
    if wid:
        f = cap(wid / layer_w)
        return f, f, None
    if hei:
        f = cap(hei / layer_h)
        return f, f, None
    return 1.0, 1.0, None


def choose_level(levels: list[tuple[int, int]], p: Plan) -> int:
    """The smallest level whose pixels across the crop still reach the content's size (never upsample
    from a smaller level when a larger one exists); level 0 when none is large enough."""
    source_w, source_h = levels[0]
    scale_x, scale_y = p.source_scale
    need_w, need_h = p.crop.width * scale_x, p.crop.height * scale_y  # unrounded
    best = 0
    for index, (w, h) in enumerate(levels):
        across_w = p.crop.width * w / source_w
        across_h = p.crop.height * h / source_h
        if across_w >= need_w - _COVER_TOLERANCE and across_h >= need_h - _COVER_TOLERANCE:
            best = index
    return best


@dataclass(frozen=True, slots=True)
class LevelRegion:
    """The crop in a level's pixels: the integer box to extract and the exact float region inside it."""

    box: Rect  # integer pixels of the level to read
    left: float  # where the crop starts inside the box (level pixels)
    top: float
    width: float  # the crop's size in level pixels
    height: float


def level_region(crop: Rect, source: tuple[int, int], level: tuple[int, int]) -> LevelRegion:
    """The source ``crop`` mapped onto a level of size ``level``."""
    ax, ay = level[0] / source[0], level[1] / source[1]
    left, top = crop.x * ax, crop.y * ay
    right, bottom = (crop.x + crop.width) * ax, (crop.y + crop.height) * ay
    x0, y0 = max(0, math.floor(left)), max(0, math.floor(top))
    x1, y1 = min(level[0], max(x0 + 1, math.ceil(right))), min(level[1], max(y0 + 1, math.ceil(bottom)))
    return LevelRegion(box=Rect(x0, y0, x1 - x0, y1 - y0), left=left - x0, top=top - y0,
                       width=right - left, height=bottom - top)


# EXIF orientation -> (transpose, flip x, flip y): the displayed pixel (x, y), mirrored in the
# displayed frame as flagged, then transposed, is the stored pixel. libvips' autorot agrees.
_ORIENTATIONS = {1: (False, False, False), 2: (False, True, False), 3: (False, True, True),
                 4: (False, False, True), 5: (True, False, False), 6: (True, True, False),
                 7: (True, True, True), 8: (True, False, True)}


def transposes(orientation: int) -> bool:
    """Whether the orientation swaps the axes (5-8: the displayed width is the stored height)."""
    return _ORIENTATIONS.get(orientation, _ORIENTATIONS[1])[0]


def oriented_size(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    """The displayed size of a stored ``size`` (the same mapping goes back: it is its own inverse)."""
    return (size[1], size[0]) if transposes(orientation) else size


def stored_rect(rect: Rect, orientation: int, displayed: tuple[int, int]) -> Rect:
    """The stored pixels that show as ``rect`` of an image displayed at ``displayed`` (w, h)."""
    transpose, flip_x, flip_y = _ORIENTATIONS.get(orientation, _ORIENTATIONS[1])
    x = displayed[0] - rect.x - rect.width if flip_x else rect.x
    y = displayed[1] - rect.y - rect.height if flip_y else rect.y
    return Rect(y, x, rect.height, rect.width) if transpose else Rect(x, y, rect.width, rect.height)
