"""One uploaded raster file -> the IPS optimized pyramid TIFF (spec §9.5)."""

from __future__ import annotations

import contextlib
import os

from openips.imaging import pipeline, vips
from openips.imaging.encode import save_pyramid_tiff
from openips.imaging.probe import LOADERS, probe
from openips.imaging.types import OptimizedImage
from openips.models.errors import CorruptImageError


def optimize(
    src_path: str, dst_path: str, *, max_pixels: int, ctx: pipeline.StepContext | None = None
) -> OptimizedImage:
    """Probe, load page 1 sequentially, run the option pipeline and write the pyramid TIFF to ``dst_path``."""
    ctx = ctx if ctx is not None else pipeline.StepContext()
    info = probe(src_path, max_pixels=max_pixels)
    warnings: list[str] = []
    if info.pages > 1:
        warnings.append(f"multi-page file ({info.pages} pages): only page 1 was processed")
    image = vips.open_image(src_path, LOADERS[info.format])
    try:
        # Pixels are decoded only now, as tiffsave pulls them through the pipeline, so a
        # truncated or corrupt body surfaces here rather than at open.
        tiff = save_pyramid_tiff(pipeline.run(image, ctx), dst_path)
    except vips.VipsError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.remove(dst_path)
        raise CorruptImageError(f"cannot decode the {info.format} image: {vips.error_summary(exc)}") from exc
    return OptimizedImage(info=info, tiff=tiff, warnings=[*warnings, *ctx.warnings])
