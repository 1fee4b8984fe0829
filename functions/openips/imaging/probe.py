"""Header-only inspection of an uploaded file: format, geometry, sample type, pages."""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import MappingProxyType

from openips.imaging import vips
from openips.imaging.types import ImageInfo
from openips.models.errors import EmptyFileError, ImageTooLargeError, UnsupportedFormatError

# Detected loader -> our format name. Everything else libvips can open (svg, csv, matrix,
# vips, raw) is not a raster upload: SVG is stored as static `Svg` content (spec §9.6).
RASTER_FORMATS: Mapping[str, str] = MappingProxyType(
    {
        "jpegload": "jpeg",
        "uhdrload": "jpeg",  # Ultra HDR JPEG: jpegload reads its SDR base image
        "pngload": "png",
        "tiffload": "tiff",
        "webpload": "webp",
        "gifload": "gif",
        "heifload": "heif",
    }
)
LOADERS: Mapping[str, str] = MappingProxyType(
    {"jpeg": "jpegload", "png": "pngload", "tiff": "tiffload", "webp": "webpload", "gif": "gifload", "heif": "heifload"}
)
BITS_PER_SAMPLE: Mapping[str, int] = MappingProxyType({"uchar": 8, "ushort": 16})
# Spec §3.5 refuses TIFFs in Lab colour; the other CIE spaces are refused with them.
_REFUSED_INTERPRETATIONS = frozenset({"lab", "labq", "labs", "lch", "cmc", "xyz", "yxy"})


def probe(path: str, *, max_pixels: int) -> ImageInfo:
    """Inspect ``path`` from its header only; raise a FileRejectedError subclass if it cannot be processed."""
    if os.path.getsize(path) == 0:
        raise EmptyFileError("the file is empty")
    fmt = detect_format(path)
    image = vips.open_image(path, LOADERS[fmt])
    width, height = image.width, image.height
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"image is {width}x{height} = {width * height} pixels, more than the limit of {max_pixels}"
        )
    _check_samples(image, fmt)
    return ImageInfo(
        format=fmt,
        width=width,
        height=height,
        bands=image.bands,
        has_alpha=bool(image.hasalpha()),
        interpretation=str(image.interpretation),
        bits_per_sample=BITS_PER_SAMPLE[str(image.format)],
        pages=_page_count(path, image, fmt),
        has_icc_profile=vips.has_field(image, "icc-profile-data"),
    )


def detect_format(path: str) -> str:
    """Our format name for ``path`` (a key of LOADERS); UnsupportedFormatError naming what was detected otherwise."""
    loader = vips.find_loader(path)
    if loader is None:
        raise UnsupportedFormatError("not a recognised image format")
    if loader not in RASTER_FORMATS:
        raise UnsupportedFormatError(f"{loader.removesuffix('load')} files are not processed as raster images")
    return RASTER_FORMATS[loader]


def _check_samples(image: vips.Image, fmt: str) -> None:
    interpretation = str(image.interpretation)
    if str(image.coding) != "none" or interpretation in _REFUSED_INTERPRETATIONS:
        raise UnsupportedFormatError(f"{fmt} in {interpretation} colour is not supported")
    if str(image.format) not in BITS_PER_SAMPLE:
        raise UnsupportedFormatError(
            f"{fmt} with {image.format} samples is not supported (only 8- and 16-bit unsigned integers)"
        )
    if fmt == "heif" and vips.has_field(image, "heif-compression") and image.get("heif-compression") != "av1":
        # pyvips-binary decodes AVIF only; HEIC (HEVC) headers read fine but pixels never do.
        raise UnsupportedFormatError(f"heif with {image.get('heif-compression')} compression is not supported")


def _page_count(path: str, image: vips.Image, fmt: str) -> int:
    pages = int(image.get_n_pages())
    if pages > 1 and fmt == "tiff" and _is_pyramid(path, image, pages):
        return 1
    return pages


def _is_pyramid(path: str, image: vips.Image, pages: int) -> bool:
    # An uploaded pyramid TIFF lists its reduced levels as pages; they are not extra content.
    width, height = image.width, image.height
    for page in range(1, pages):
        level = vips.open_image(path, "tiffload", page=page)
        if level.width not in (width // 2, (width + 1) // 2) or level.height not in (height // 2, (height + 1) // 2):
            return False
        width, height = level.width, level.height
    return True
