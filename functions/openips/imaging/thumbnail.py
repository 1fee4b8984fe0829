"""The browser preview of an asset: at most 256 px, made from the smallest fitting pyramid level.

The optimized pyramid TIFF is already on local disk when this runs, and its levels halve down
to one tile, so the preview reads one level of a few hundred pixels (a tile or four) instead of
decoding the master again: about 15 ms and 5 MiB for a 24 MP JPEG, against 115 ms from the master
and 340 ms for the pyramid itself (docs/formats.md#thumbnails).

* **Size.** The long side is at most 256 px and never upscaled: a 1×1 image gives a 1×1 preview,
  a 10000×10 one a 256×1 preview (never zero pixels).
* **Colour.** 8-bit sRGB through libvips' thumbnail: from the profile level 0 carries (encode.py
  leaves a large profile in level 0 only, so the level is tagged with it), else libvips' built-in
  sRGB/sGrey/CMYK; relative colorimetric, as imaging/steps/color.py converts (without its black-point
  compensation, which libvips' thumbnail does not offer).
* **Orientation.** The preview is turned as the EXIF orientation says (the pyramid keeps the tag and
  its pixels as uploaded), since the preview itself carries no EXIF to tell a browser.
* **Format and alpha.** JPEG (Q80) when the image is opaque, an alpha channel that is 255
  everywhere included; WebP (Q80) with its alpha when some pixel is transparent, so a knocked-out
  product shows on the page's background rather than on a colour chosen here.
* **Metadata.** None: no EXIF, XMP, IPTC or ICC (browsers take untagged pixels as sRGB).
"""

from __future__ import annotations

import os

from openips.imaging import vips
from openips.imaging.types import EncodedTiff, Thumbnail, ThumbnailFormat

MAX_SIDE = 256
QUALITY = 80
_ICC = "icc-profile-data"
_ORIENTATION = "orientation"  # EXIF's, which libvips keeps in every level it writes
_STRIP = vips.ForeignKeep.NONE


class ThumbnailError(Exception):
    """No preview could be made; the file itself is unaffected."""


def fitting_level(levels: list[tuple[int, int]], side: int = MAX_SIDE) -> int:
    """Index of the smallest level whose long side still reaches ``side`` (or the full image's, when smaller)."""
    if not levels:
        raise ThumbnailError("the pyramid has no levels")
    wanted = min(side, max(levels[0]))
    fitting = [i for i, (w, h) in enumerate(levels) if max(w, h) >= wanted]
    return min(fitting, key=lambda i: levels[i][0] * levels[i][1])


def make_thumbnail(tiff: EncodedTiff, dst_stem: str) -> Thumbnail:
    """Write the preview of ``tiff`` to ``dst_stem`` + ``.jpg`` or ``.webp``; ThumbnailError says why not."""
    index = fitting_level(tiff.levels)
    try:
        base = vips.Image.tiffload(tiff.path)  # header only: the profile and orientation live here
        level = _open_level(tiff.path, base, index)
        level = _with_level0_tags(level, base)
        # libvips' thumbnail turns the image by its orientation and converts it to sRGB from its
        # profile (an unusable one: as untagged; CMYK without one: libvips' CMYK profile), 16-bit
        # to 8, alpha premultiplied while it shrinks.
        small = level.thumbnail_image(MAX_SIDE, height=MAX_SIDE, size="down", export_profile="srgb",
                                      intent="relative").copy_memory()
        image, fmt = _opaque_or_alpha(_checked(small))
        path = f"{dst_stem}.{'jpg' if fmt == 'jpeg' else 'webp'}"
        if fmt == "jpeg":
            image.jpegsave(path, Q=QUALITY, optimize_coding=True, keep=_STRIP)
        else:
            image.webpsave(path, Q=QUALITY, keep=_STRIP)
    except vips.VipsError as exc:
        raise ThumbnailError(vips.error_summary(exc)) from exc
    return Thumbnail(path=path, format=fmt, width=image.width, height=image.height,
                     size_bytes=os.path.getsize(path), level=tiff.levels[index])


def _open_level(path: str, base: vips.Image, index: int) -> vips.Image:
    if index == 0:
        return vips.Image.tiffload(path, access="sequential")
    # encode.py writes levels as pages; a pyramid written with SubIFDs keeps them there.
    if vips.has_field(base, "n-subifds") and base.get("n-subifds") > 0:
        return vips.Image.tiffload(path, subifd=index - 1, access="sequential")
    return vips.Image.tiffload(path, page=index, access="sequential")


def _checked(image: vips.Image) -> vips.Image:
    if str(image.format) != "uchar" or image.bands not in (3, 4) or str(image.interpretation) != "srgb":
        raise ThumbnailError(f"cannot make sRGB from {image.bands} bands of {image.format} {image.interpretation}")
    return image


def _with_level0_tags(level: vips.Image, base: vips.Image) -> vips.Image:
    """The level with level 0's profile and orientation when it lacks them (encode.py writes a large profile once)."""
    if vips.has_field(base, _ICC) and not vips.has_field(level, _ICC):
        level = vips.with_blob(level, _ICC, base.get(_ICC))
    if vips.has_field(base, _ORIENTATION) and not vips.has_field(level, _ORIENTATION):
        level = vips.with_int(level, _ORIENTATION, base.get(_ORIENTATION))
    return level


def _opaque_or_alpha(image: vips.Image) -> tuple[vips.Image, ThumbnailFormat]:
    if image.bands == 4 and image[3].min() < 255:
        return image, "webp"
    return (image.extract_band(0, n=3) if image.bands == 4 else image), "jpeg"
