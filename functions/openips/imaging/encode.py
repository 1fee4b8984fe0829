"""The IPS optimized image (spec §9.5): a tiled pyramid TIFF."""

from __future__ import annotations

import os

from openips.imaging import vips
from openips.imaging.pyramid import read_pyramid_levels
from openips.imaging.tiff_icc import embed_icc_in_first_ifd
from openips.imaging.types import EncodedTiff, TiffCompression

TILE_SIZE = 256
JPEG_QUALITY = 85
# Classic TIFF offsets are 32-bit; stay well clear of 4 GiB.
BIGTIFF_THRESHOLD_BYTES = int(3.5 * 1024**3)
# Larger EXIF/XMP/IPTC blobs (Photoshop's XMP history can run to megabytes) are dropped:
# libvips repeats metadata in every pyramid level. The ICC profile is always kept.
MAX_METADATA_BLOB_BYTES = 64 * 1024
_BLOB_FIELDS = ("exif-data", "xmp-data", "iptc-data")
ICC_ONCE_BYTES = 4096  # smaller profiles (libvips' sRGB is 480 B) are left in every level
_KEEP = vips.ForeignKeep.ICC | vips.ForeignKeep.EXIF | vips.ForeignKeep.XMP | vips.ForeignKeep.IPTC
_BYTES_PER_SAMPLE = {"uchar": 1, "char": 1, "ushort": 2, "short": 2}


def save_pyramid_tiff(image: vips.Image, path: str, *, lossless: bool = False) -> EncodedTiff:
    """Write ``image`` as a 256x256-tiled pyramid TIFF (JPEG Q85 or lossless deflate) and describe the result.

    ``lossless`` forces deflate (masks: JPEG would blur their edges by up to ~17 levels)."""
    compression = "deflate" if lossless else choose_compression(image)
    if compression == "jpeg":
        options: dict[str, object] = {"compression": "jpeg", "Q": JPEG_QUALITY}
    else:
        options = {"compression": "deflate", "predictor": "horizontal"}
    icc = image.get("icc-profile-data") if vips.has_field(image, "icc-profile-data") else None
    once = icc is not None and len(icc) > ICC_ONCE_BYTES
    _trim_metadata(image).tiffsave(
        path,
        tile=True,
        tile_width=TILE_SIZE,
        tile_height=TILE_SIZE,
        pyramid=True,
        bigtiff=needs_bigtiff(image),
        keep=_KEEP & ~vips.ForeignKeep.ICC if once else _KEEP,
        **options,
    )
    if once:
        # libvips would repeat a large profile in every level; level 0 carries it alone.
        embed_icc_in_first_ifd(path, icc)
    return EncodedTiff(
        path=path,
        compression=compression,
        width=image.width,
        height=image.height,
        levels=read_pyramid_levels(path),
        size_bytes=os.path.getsize(path),
        orientation=_orientation(image),
    )


def _orientation(image: vips.Image) -> int:
    value = image.get("orientation") if vips.has_field(image, "orientation") else 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def choose_compression(image: vips.Image) -> TiffCompression:
    """JPEG for opaque 8-bit grey, RGB and CMYK; lossless deflate for alpha, 16-bit and anything else."""
    # libtiff's JPEG codec takes CMYK (PHOTOMETRIC_SEPARATED) tiles fine, but tiffsave
    # silently drops alpha with compression=jpeg and casts 16-bit down to 8.
    if str(image.format) != "uchar" or image.hasalpha():
        return "deflate"
    if image.bands in (1, 3) or (image.bands == 4 and str(image.interpretation) == "cmyk"):
        return "jpeg"
    return "deflate"


def needs_bigtiff(image: vips.Image) -> bool:
    """Whether the uncompressed pyramid (about 4/3 of the base level) could pass the classic-TIFF limit."""
    bytes_per_pixel = image.bands * _BYTES_PER_SAMPLE.get(str(image.format), 8)
    return image.width * image.height * bytes_per_pixel * 4 // 3 > BIGTIFF_THRESHOLD_BYTES


def _trim_metadata(image: vips.Image) -> vips.Image:
    oversized = [
        name for name in _BLOB_FIELDS if vips.has_field(image, name) and len(image.get(name)) > MAX_METADATA_BLOB_BYTES
    ]
    if not oversized:
        return image
    image = image.copy()
    for name in oversized:
        image.remove(name)
    return image
