"""Smart crops (``autoSmartCropOptionsArray``): for each requested aspect ratio, the crop that keeps the
interesting part of the image, in master pixels (docs/smart-crops.md).

* **Where it looks.** The optimized pyramid TIFF is already on local disk when this runs, so the
  analysis reads its smallest level whose long side reaches ``ANALYSIS_SIDE`` (512 px): a few tiles,
  not a second decode of the master (``make bench``, "Smart crop", has both). The rectangle found
  there is scaled back to level 0, the master the delivery route crops (its ``crop=`` pixels), in the
  image's pixels as displayed: a level with an EXIF orientation is turned upright first.
* **How.** libvips' ``smartcrop`` with ``interesting="attention"`` (edges, skin tones and saturated
  colour, blurred; the open analogue of Scene7's Sensei crop) places a window of the asked aspect
  ratio; the window is the largest of that ratio the image holds, so a crop only ever cuts what the
  ratio forces it to.
* **Size.** Exactly ``width:height`` when the master holds a whole multiple of the reduced ratio
  (1600:900 → 16:9, ×k), else the nearest integer rectangle (a ratio such as 1001:1000 on a small image).
* **Score.** The share of the image's saliency the crop keeps, 0…1: saliency = |Sobel| of the
  lightness plus the chroma, per pixel of the analysed level (a stand-in for libvips' attention map,
  which it does not return). 1.0 = nothing salient was cut; the crop's share of the area is its floor
  for an image of even interest.
* **Colour.** Analysed as 8-bit sRGB, transparency flattened on white (a knocked-out product is
  judged as it is shown on a page); the pixels of the asset are not changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd

from openips.imaging import vips
from openips.imaging.thumbnail import fitting_level
from openips.imaging.types import EncodedTiff

ANALYSIS_SIDE = 512  # long side of the level analysed: enough for attention, a few tiles to read
METHOD = "attention"  # libvips' smartcrop interesting= mode, stored with each crop
MAX_SIDE = 65_535  # a requested width or height; the ratio is what matters, this bounds the arithmetic


class SmartCropError(Exception):
    """The image could not be analysed; the file keeps its asset, without smart crops."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CropItem:
    """One requested crop: its name and the size (hence aspect ratio) of the rendition it is for."""

    name: str
    width: int
    height: int

    def __post_init__(self) -> None:
        if not (0 < self.width <= MAX_SIDE and 0 < self.height <= MAX_SIDE):
            raise ValueError(f"smart crop {self.name!r}: {self.width}×{self.height} is not 1…{MAX_SIDE} a side")


@dataclass(frozen=True, slots=True)
class FoundCrop:
    """Where one item's crop lies, in master (level-0) pixels as displayed (EXIF orientation applied)."""

    name: str
    x: int
    y: int
    width: int
    height: int
    method: str
    score: float  # share of the image's saliency inside the crop, 0…1


def crop_size(master_w: int, master_h: int, want_w: int, want_h: int) -> tuple[int, int]:
    """The largest ``want_w:want_h`` rectangle inside the master: exact when the master holds the reduced ratio."""
    g = gcd(want_w, want_h)
    unit_w, unit_h = want_w // g, want_h // g
    k = min(master_w // unit_w, master_h // unit_h)
    if k >= 1:
        return unit_w * k, unit_h * k
    # The reduced ratio is larger than the image: the nearest integer rectangle, at least 1 pixel a side.
    if master_w * want_h >= master_h * want_w:
        return max(1, min(master_w, round(master_h * want_w / want_h))), master_h
    return master_w, max(1, min(master_h, round(master_w * want_h / want_w)))


def smart_crops(tiff: EncodedTiff, items: list[CropItem]) -> list[FoundCrop]:
    """The crop of every item, in order; SmartCropError when the pyramid cannot be read."""
    if not items:
        return []
    master_w, master_h = tiff.displayed_size  # crops are in pixels as displayed, as delivery's are
    try:
        level = analysis_image(tiff)
        saliency = _saliency(level)
        total = max(saliency.avg() * level.width * level.height, 1e-9)
        found = []
        for item in items:
            cw, ch = crop_size(master_w, master_h, item.width, item.height)
            x, y = _place(level, master_w, master_h, cw, ch)
            found.append(FoundCrop(item.name, x, y, cw, ch, METHOD,
                                   _kept(saliency, total, level, master_w, master_h, (x, y, cw, ch))))
        return found
    except vips.VipsError as exc:
        raise SmartCropError(vips.error_summary(exc)) from exc


def analysis_image(tiff: EncodedTiff) -> vips.Image:
    """The smallest pyramid level with a long side ≥ ANALYSIS_SIDE, as 8-bit sRGB without alpha, in memory."""
    index = fitting_level(tiff.levels, ANALYSIS_SIDE)
    if index == 0:
        level = vips.Image.tiffload(tiff.path)
    else:
        base = vips.Image.tiffload(tiff.path)
        # encode.py writes levels as pages; a pyramid written with SubIFDs keeps them there.
        if vips.has_field(base, "n-subifds") and base.get("n-subifds") > 0:
            level = vips.Image.tiffload(tiff.path, subifd=index - 1)
        else:
            level = vips.Image.tiffload(tiff.path, page=index)
    if tiff.orientation != 1:  # turned upright, as the delivery route turns what it serves
        level = vips.with_int(level, "orientation", tiff.orientation).autorot()
    return as_srgb(level).copy_memory()


def as_srgb(image: vips.Image) -> vips.Image:
    """8-bit sRGB, alpha flattened on white: what attention is measured on."""
    if str(image.interpretation) not in ("srgb", "b-w") or str(image.format) != "uchar":
        image = image.colourspace("srgb")
    if image.hasalpha():
        image = image.flatten(background=[255] * (image.bands - 1))
    if image.bands == 1:
        image = image.colourspace("srgb")
    return image.cast("uchar")


def _place(level: vips.Image, master_w: int, master_h: int, cw: int, ch: int) -> tuple[int, int]:
    """Left and top of a ``cw``×``ch`` master crop, placed by smartcrop on the level and scaled back."""
    sx, sy = level.width / master_w, level.height / master_h
    lw = max(1, min(level.width, round(cw * sx)))
    lh = max(1, min(level.height, round(ch * sy)))
    if (lw, lh) == (level.width, level.height):
        left = top = 0
    else:
        window = level.smartcrop(lw, lh, interesting=METHOD)
        left, top = -window.xoffset, -window.yoffset  # smartcrop reports its origin as a negative offset
    x = min(max(0, round(left / sx)), master_w - cw)
    y = min(max(0, round(top / sy)), master_h - ch)
    return x, y


def _saliency(level: vips.Image) -> vips.Image:
    """Per-pixel interest: edges of the lightness plus chroma (both 0…~255 for ordinary images)."""
    lch = level.colourspace("lch")
    edges = lch[0].sobel().abs()
    return (edges + lch[1]).cast("float").copy_memory()


def _kept(saliency: vips.Image, total: float, level: vips.Image, master_w: int, master_h: int,
          rect: tuple[int, int, int, int]) -> float:
    x, y, cw, ch = rect
    sx, sy = level.width / master_w, level.height / master_h
    left, top = min(level.width - 1, int(x * sx)), min(level.height - 1, int(y * sy))
    width = max(1, min(level.width - left, round(cw * sx)))
    height = max(1, min(level.height - top, round(ch * sy)))
    inside = saliency.crop(left, top, width, height).avg() * width * height
    return round(min(1.0, inside / total), 3)
