"""The auto-crop box search shared by the two auto-crop steps and IPS ``getAutoCropRect`` (spec §5.3–5.4)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, cast, get_args

from openips.imaging import vips
from openips.imaging.geometry import corner_xy, tolerance_to_threshold
from openips.imaging.options import Corner, SourceRect
from openips.imaging.probe import LOADERS, probe
from openips.models.errors import CorruptImageError, FileRejectedError

# probe() admits only these sample formats.
_FULL_SCALE = {"uchar": 255.0, "ushort": 65535.0}


def auto_crop_rect(
    path: str, kind: Literal["Color", "Transparent"], corner: str | None, tolerance: float, *, max_pixels: int
) -> SourceRect:
    """IPS ``getAutoCropRect`` on a stored master: the rect either auto crop would keep (the full image if none)."""
    if kind not in ("Color", "Transparent"):
        raise ValueError(f"unknown auto-crop kind {kind!r}")
    if kind == "Color" and corner not in get_args(Corner):
        raise FileRejectedError(
            f"getAutoCropRect of type Color needs a corner ({', '.join(get_args(Corner))}), got {corner!r}",
            code="auto_crop.corner",
        )
    if not 0.0 <= tolerance <= 1.0:
        raise FileRejectedError(f"tolerance must be between 0 and 1, got {tolerance}", code="auto_crop.tolerance")
    info = probe(path, max_pixels=max_pixels)

    def open_view() -> vips.Image:
        return vips.open_image(path, LOADERS[info.format])

    try:
        if kind == "Color":
            box = find_color_box(open_view, cast(Corner, corner), tolerance)
        else:
            box = find_transparent_box(open_view(), tolerance)
    except vips.VipsError as exc:
        raise CorruptImageError(f"cannot decode the {info.format} image: {vips.error_summary(exc)}") from exc
    return box or SourceRect(x_offset=0, y_offset=0, width=info.width, height=info.height)


def find_color_box(open_view: Callable[[], vips.Image], corner: Corner, tolerance: float) -> SourceRect | None:
    """Box inside the border matching ``corner``'s colour within ``tolerance``; None if every pixel matches."""
    # Two passes (corner pixel, then the search) over a sequential image: ``open_view``
    # must hand out a fresh read of the same image each time.
    background = corner_color(open_view(), corner)
    image = colour_bands(open_view())
    threshold = tolerance_to_threshold(tolerance, full_scale(image))
    # line_art=True switches off find_trim's 3×3 median: with it, a lone differing pixel
    # or a 1-px line at the content edge counts as border, which breaks IPS "tolerance 0
    # = exact match" (and it needs ≥ 3×3 images). Noise is what tolerance is for.
    return _box(image.find_trim(threshold=threshold, background=background, line_art=True))


def find_transparent_box(image: vips.Image, tolerance: float) -> SourceRect | None:
    """Box inside the edges whose alpha is within ``tolerance`` of fully transparent; None if all of it is."""
    if not image.hasalpha():
        raise FileRejectedError(
            "the image has no alpha channel, so it has no transparent edges to crop", code="auto_crop.no_alpha"
        )
    alpha = image[image.bands - 1]
    scale = full_scale(image)
    # Content = alpha above the threshold. Capping it one level below opaque keeps fully
    # opaque pixels as content, so tolerance 1 trims every partly transparent edge, not the image.
    threshold = min(tolerance_to_threshold(tolerance, scale), scale - 1)
    return _box(alpha.find_trim(threshold=threshold, background=[0.0], line_art=True))


def corner_color(image: vips.Image, corner: Corner) -> list[float]:
    """Colour-band values (alpha left out) of ``corner``'s pixel; one (partial) read of ``image``."""
    bands = colour_bands(image)
    x, y = corner_xy(corner, bands.width, bands.height)
    return [float(v) for v in bands.getpoint(x, y)]


def colour_bands(image: vips.Image) -> vips.Image:
    """``image`` without its alpha band: colour crops compare colour only."""
    return image.extract_band(0, n=image.bands - 1) if image.hasalpha() else image


def full_scale(image: vips.Image) -> float:
    """The largest sample value of ``image``'s format (255 for 8-bit, 65535 for 16-bit)."""
    fmt = str(image.format)
    if fmt not in _FULL_SCALE:
        raise ValueError(f"auto crop works on 8- and 16-bit images, not {fmt}")
    return _FULL_SCALE[fmt]


def crop_view(source: vips.Image, crop: SourceRect | None, size: tuple[int, int]) -> vips.Image:
    """``source`` cut to ``crop`` (what earlier pipeline steps cropped, in source pixels), checked to be ``size``."""
    view = source if crop is None else source.crop(crop.x_offset, crop.y_offset, crop.width, crop.height)
    if (view.width, view.height) != size:
        raise RuntimeError(f"the re-read source is {view.width}×{view.height}, the image {size[0]}×{size[1]}")
    return view


def _box(found: list[int]) -> SourceRect | None:
    left, top, width, height = found
    # find_trim answers width == height == 0 when every pixel is background.
    if width <= 0 or height <= 0:
        return None
    return SourceRect(x_offset=left, y_offset=top, width=width, height=height)
