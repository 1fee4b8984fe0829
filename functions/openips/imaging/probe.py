"""Header-only inspection of an uploaded file: format, geometry, sample type, pages."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from types import MappingProxyType

from openips.imaging import tiff_layout, vips
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
# libjpeg cannot stream a progressive (multi-scan) JPEG: it keeps every DCT coefficient of the
# whole image (2 bytes per coefficient, 64 per 8×8 block) until the last scan, whatever the
# output size. A 5 KB file claiming 31000×31000 (under MaxImagePixels) took 2.8 GiB and 8 s
# before failing. The function has 2 GiB; a baseline JPEG streams and has no such bound.
MAX_JPEG_COEFFICIENT_BYTES = 512 * 1024**2


def probe(path: str, *, max_pixels: int) -> ImageInfo:
    """Inspect ``path`` from its header only; raise a FileRejectedError subclass if it cannot be processed."""
    if os.path.getsize(path) == 0:
        raise EmptyFileError("the file is empty")
    fmt = detect_format(path)
    # A TIFF's directories are read first, from its bytes: a looping chain or a first page whose
    # pixels lie past the end of the file is refused before libtiff sees it.
    layout = tiff_layout.read_layout(path) if fmt == "tiff" else None
    image = vips.open_image(path, LOADERS[fmt])
    width, height = image.width, image.height
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"image is {width}x{height} = {width * height} pixels, more than the limit of {max_pixels}"
        )
    _check_samples(image, fmt)
    if fmt == "jpeg":
        _check_jpeg_decode_memory(image)
    pages, more_pages = _page_count(image, layout)
    return ImageInfo(
        format=fmt,
        width=width,
        height=height,
        bands=image.bands,
        has_alpha=bool(image.hasalpha()),
        interpretation=str(image.interpretation),
        bits_per_sample=BITS_PER_SAMPLE[str(image.format)],
        pages=pages,
        more_pages=more_pages,
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


def _check_jpeg_decode_memory(image: vips.Image) -> None:
    """Refuse a progressive (or other multi-scan) JPEG whose coefficient buffer would exceed
    ``MAX_JPEG_COEFFICIENT_BYTES``; the header libjpeg has read says which it is."""
    multiscan = any(vips.has_field(image, name) and image.get(name) for name in ("jpeg-multiscan", "interlaced"))
    if not multiscan:
        return
    needed = jpeg_coefficient_bytes(image.width, image.height, image.bands,
                                    subsampled=vips.has_field(image, "jpeg-chroma-subsample")
                                    and image.get("jpeg-chroma-subsample") != "4:4:4")
    if needed > MAX_JPEG_COEFFICIENT_BYTES:
        kind = "progressive" if vips.has_field(image, "interlaced") and image.get("interlaced") else "multi-scan"
        raise ImageTooLargeError(
            f"{kind} JPEG of {image.width}×{image.height} needs about {needed // 1024**2} MiB to decode (a "
            f"{kind} JPEG is held whole in memory); the limit is {MAX_JPEG_COEFFICIENT_BYTES // 1024**2} MiB; "
            "save it as a baseline (non-progressive) JPEG", "image.jpeg_decode_memory")


def jpeg_coefficient_bytes(width: int, height: int, components: int, *, subsampled: bool) -> int:
    """libjpeg's whole-image coefficient buffer: 8×8 blocks of 64 two-byte coefficients per component,
    the colour components at half size each way when subsampled (4:2:0, the usual case)."""
    def blocks(scale: int) -> int:
        return math.ceil(width / (8 * scale)) * math.ceil(height / (8 * scale))

    return 128 * (blocks(1) + (components - 1) * blocks(2 if subsampled else 1))


def _page_count(image: vips.Image, layout: tiff_layout.TiffLayout | None) -> tuple[int, bool]:
    """Pages, and whether there are more than that (a TIFF's chain is read up to a cap)."""
    if layout is None:
        return int(image.get_n_pages()), False
    # An uploaded pyramid TIFF lists its reduced levels as pages; they are not extra content.
    if layout.is_pyramid:
        return 1, False
    return len(layout.directories), layout.more
