"""The same operations three ways: openips' ``optimize()``, a bare pyvips script, and Pillow.

Operations: sequential load → trim 2 % from each edge → colour mode Default (a CMYK file
without a profile becomes sRGB) → unsharp mask (amount 1.75, radius 2, threshold 2, per
channel) → 256×256 tiled pyramid TIFF, JPEG Q85 when opaque 8-bit, else deflate.

Each loader imports only its own library (the Pillow child never loads libvips) and returns
the callable that the child times, so imports count in the whole-process wall only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

# Scene7 unsharp mask (spec §5.15) as the realistic option set.
USM_AMOUNT = 1.75
USM_RADIUS = 2.0
USM_THRESHOLD = 2
USM_MONOCHROME = 0
# openips' default limit (Settings.max_image_pixels, 1 gigapixel), so the 30000×30000 input is
# processed rather than rejected; Pillow gets the same limit instead of its bomb check.
MAX_PIXELS = 1_000_000_000
TILE = 256
JPEG_Q = 85
COLOUR_BANDS = {"cmyk": 4, "srgb": 3, "rgb": 3, "rgb16": 3, "b-w": 1, "grey16": 1}


@dataclass(frozen=True, slots=True)
class Job:
    """One variant run: paths, the per-edge trim in pixels and, for Pillow, the CMYK profile file."""

    src: str
    dst: str
    left: int
    top: int
    right: int
    bottom: int
    cmyk_profile: str | None = None


Run = Callable[[Job], None]


def gaussian_kernel(sigma: float) -> list[float]:
    """The pixel-area Gaussian of openips' unsharp_mask step: Φ((i+½)/σ) − Φ((i−½)/σ), |i| ≤ ⌈3σ⌉."""
    reach = max(1, math.ceil(3 * sigma))
    weights = [0.5 * (math.erf((i + 0.5) / (sigma * math.sqrt(2))) - math.erf((i - 0.5) / (sigma * math.sqrt(2))))
               for i in range(-reach, reach + 1)]
    total = math.fsum(weights)
    return [w / total for w in weights]


def crop_margins(width: int, height: int) -> tuple[int, int, int, int]:
    """2 % of the width (left, right) and of the height (top, bottom), as (left, top, right, bottom)."""
    horizontal, vertical = round(width * 0.02), round(height * 0.02)
    return horizontal, vertical, horizontal, vertical


def load_openips() -> Run:
    """openips as the ProcessFile function calls it (concurrency from VIPS_CONCURRENCY): the imaging
    library with its own options, which services/options.py builds from the job."""
    import os

    from openips.imaging import vips
    from openips.imaging.optimize import optimize
    from openips.imaging.options import ColorPlan, ManualCrop, ProcessingOptions, UnsharpMask
    from openips.imaging.pipeline import StepContext

    concurrency = os.environ.get("VIPS_CONCURRENCY")
    vips.configure(int(concurrency) if concurrency else None)

    def run(job: Job) -> None:
        options = ProcessingOptions(
            manual_crop=ManualCrop(left=job.left, right=job.right, top=job.top, bottom=job.bottom),
            color=ColorPlan(mode="Default"),
            unsharp_mask=UnsharpMask(
                amount=USM_AMOUNT, radius=USM_RADIUS, threshold=USM_THRESHOLD, monochrome=USM_MONOCHROME
            ),
        )
        optimize(job.src, job.dst, max_pixels=MAX_PIXELS, ctx=StepContext(options=options))

    return run


def load_libvips() -> Run:
    """The libvips operations openips performs, written directly; libvips' default settings."""
    import pyvips

    keep = (
        pyvips.enums.ForeignKeep.ICC
        | pyvips.enums.ForeignKeep.EXIF
        | pyvips.enums.ForeignKeep.XMP
        | pyvips.enums.ForeignKeep.IPTC
    )

    kernel = pyvips.Image.new_from_list([list(gaussian_kernel(USM_RADIUS))], scale=1.0)

    def unsharp_mask(image: pyvips.Image) -> pyvips.Image:
        # Mirrors functions/openips/imaging/steps/unsharp_mask.py operation for operation
        # (monochrome 0: per band; σ = radius ≤ 4, so an exact float convolution).
        interpretation, sample_format = image.interpretation, image.format
        colour_count = min(COLOUR_BANDS.get(interpretation, image.bands - int(image.hasalpha())), image.bands)
        colour = image if colour_count == image.bands else image.extract_band(0, n=colour_count)
        source = colour.cast("float")
        delta = source - source.convsep(kernel, precision="float")
        sharpened = (colour + delta * USM_AMOUNT).rint().cast(sample_format)
        threshold = USM_THRESHOLD * (65535 if sample_format == "ushort" else 255) / 255
        out = (delta.abs() >= threshold).ifthenelse(sharpened, colour)
        if colour_count < image.bands:
            out = out.bandjoin(image.extract_band(colour_count, n=image.bands - colour_count))
        return out.copy(interpretation=interpretation)

    def run(job: Job) -> None:
        image = pyvips.Image.new_from_file(job.src, access="sequential", fail_on="truncated")
        image = image.crop(
            job.left, job.top, image.width - job.left - job.right, image.height - job.top - job.bottom
        )
        if image.interpretation == "cmyk":
            # steps/color.py, mode Default: CMYK → sRGB from the embedded profile, else libvips' cmyk.
            embedded = image.get_typeof("icc-profile-data") != 0
            image = image.icc_transform(
                "srgb", embedded=embedded, depth=16 if image.format == "ushort" else 8, intent="relative",
                black_point_compensation=True, **({} if embedded else {"input_profile": "cmyk"}),
            )
        image = unsharp_mask(image)
        opaque_8bit = image.format == "uchar" and not image.hasalpha()
        if opaque_8bit and (image.bands in (1, 3) or (image.bands == 4 and image.interpretation == "cmyk")):
            compression: dict[str, object] = {"compression": "jpeg", "Q": JPEG_Q}
        else:
            compression = {"compression": "deflate", "predictor": "horizontal"}
        sample_bytes = {"uchar": 1, "char": 1, "ushort": 2, "short": 2}.get(image.format, 8)
        bigtiff = image.width * image.height * image.bands * sample_bytes * 4 // 3 > int(3.5 * 1024**3)
        image.tiffsave(
            job.dst, tile=True, tile_width=TILE, tile_height=TILE, pyramid=True, bigtiff=bigtiff, keep=keep,
            **compression,
        )

    return run


def load_pillow() -> Run:
    """An honest Pillow version: whole-image decode, ImageCms, UnsharpMask, a TIFF page per level."""
    # Pillow cannot write tiled TIFF (TiffImagePlugin refuses the tile tags), so the pyramid is a
    # multi-page TIFF of strips. It has no 16-bit RGB mode: a 16-bit RGB file decodes to 8 bits.
    from PIL import Image, ImageCms, ImageFilter

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    srgb = ImageCms.createProfile("sRGB")

    def run(job: Job) -> None:
        image = Image.open(job.src)
        image = image.crop((job.left, job.top, image.width - job.right, image.height - job.bottom))
        if image.mode == "CMYK" and "icc_profile" not in image.info:
            if job.cmyk_profile is None:
                raise ValueError("a CMYK input needs --cmyk-profile")
            image = ImageCms.profileToProfile(
                image, job.cmyk_profile, srgb, renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
                outputMode="RGB", flags=ImageCms.Flags.BLACKPOINTCOMPENSATION,
            )
        usm = ImageFilter.UnsharpMask(radius=USM_RADIUS, percent=round(USM_AMOUNT * 100), threshold=USM_THRESHOLD)
        if image.mode in ("RGBA", "LA"):
            # Alpha is carried over, not sharpened.
            alpha = image.getchannel("A")
            image = image.convert(image.mode[:-1]).filter(usm)
            image.putalpha(alpha)
            del alpha
        else:
            image = image.filter(usm)
        levels = [image]
        while levels[-1].width >= TILE or levels[-1].height >= TILE:
            levels.append(levels[-1].reduce(2))
        if image.mode in ("RGB", "L", "CMYK"):
            # Pillow's 64 KiB strip target gives 0 → 1 row per strip past 21845 RGB pixels of width,
            # which libtiff's JPEG codec refuses (it needs multiples of 8): ask for at least 8 rows.
            strip_size = max(65536, 8 * image.width * len(image.getbands()))
            options: dict[str, object] = {"compression": "jpeg", "quality": JPEG_Q, "strip_size": strip_size}
        else:
            options = {"compression": "tiff_adobe_deflate"}
        image.save(job.dst, format="TIFF", save_all=True, append_images=levels[1:], **options)

    return run


VARIANTS: dict[str, Callable[[], Run]] = {
    "openips": load_openips,
    "libvips": load_libvips,
    "pillow": load_pillow,
}
