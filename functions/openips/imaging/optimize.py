"""One uploaded raster file -> the IPS optimized pyramid TIFF (spec §9.5), options applied."""

from __future__ import annotations

import contextlib
import os

from openips.imaging import pipeline, vips
from openips.imaging.encode import save_pyramid_tiff
from openips.imaging.probe import LOADERS, probe
from openips.imaging.types import OptimizedImage
from openips.models.errors import CorruptImageError


def optimize(
    src_path: str, dst_path: str, *, max_pixels: int, ctx: pipeline.StepContext | None = None,
    mask_path: str | None = None,
) -> OptimizedImage:
    """Probe, load page 1 sequentially, run the option pipeline and write the pyramid TIFF to
    ``dst_path`` (and the clipping-path mask to ``mask_path`` when ``createMask`` found one)."""
    ctx = ctx if ctx is not None else pipeline.StepContext()
    info = probe(src_path, max_pixels=max_pixels)
    ctx.info, ctx.source_path = info, src_path
    if info.pages > 1:
        count = f"more than {info.pages}" if info.more_pages else str(info.pages)
        ctx.warnings.append(f"multi-page file ({count} pages): only page 1 was processed")
    image = vips.open_image(src_path, LOADERS[info.format])
    if ctx.options.create_mask:
        # Imported here: only createMask reads Photoshop paths, and its parser costs every other cold start ~2 ms.
        from openips.imaging.clipping_path import clipping_mask

        problems: list[str] = []
        ctx.mask = clipping_mask(image, problems)
        if ctx.mask is None:
            ctx.warnings.append(f"createMask: {problems[0]}" if problems
                                else "createMask: the file has no clipping path, so no mask was made")
    written = [p for p in (dst_path, mask_path) if p]
    try:
        # Pixels are decoded only now, as tiffsave pulls them through the pipeline, so a
        # truncated or corrupt body surfaces here rather than at open.
        tiff = save_pyramid_tiff(pipeline.run(image, ctx), dst_path)
        mask = (save_pyramid_tiff(ctx.mask, mask_path, lossless=True)
                if ctx.mask is not None and mask_path else None)
    except vips.VipsError as exc:
        for path in written:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
        raise CorruptImageError(f"cannot decode the {info.format} image: {vips.error_summary(exc)}") from exc
    return OptimizedImage(info=info, tiff=tiff, warnings=list(ctx.warnings), notes=list(ctx.notes),
                          crop=ctx.crop, mask=mask)
