"""Crop preservation (spec §9.4): re-apply the replaced asset's crop, clamped to the new image."""

from __future__ import annotations

from dataclasses import replace

from openips.imaging import vips
from openips.imaging.geometry import clamp_rect
from openips.imaging.options import SourceRect
from openips.imaging.step_context import StepContext


def preserved_crop(image: vips.Image, rect: SourceRect, ctx: StepContext) -> vips.Image:
    """Crop to ``rect`` (source pixels) intersected with the new image; skip with a warning if nothing overlaps."""
    size = f"{image.width}×{image.height}"
    here = rect
    if ctx.crop is not None:
        # An earlier step already cropped: move the source-pixel rect into this image's pixels.
        here = replace(rect, x_offset=rect.x_offset - ctx.crop.x_offset,
                       y_offset=rect.y_offset - ctx.crop.y_offset)
    box = clamp_rect(here, image.width, image.height)
    if box is None:
        ctx.warnings.append(f"preserveCrop: the existing crop {_describe(rect)} lies outside the new {size} image,"
                            " so it was not applied")
        return image
    image = ctx.crop_image(image, box.x_offset, box.y_offset, box.width, box.height)
    if box != here:
        applied = _describe(ctx.crop) if ctx.crop is not None else "the whole image"
        ctx.warnings.append(f"preserveCrop: the existing crop {_describe(rect)} does not fit the new {size} image;"
                            f" applied as {applied}")
    else:
        ctx.notes.append(f"preserveCrop: kept the existing crop {_describe(rect)}")
    return image


def _describe(rect: SourceRect) -> str:
    return f"{rect.width}×{rect.height} at ({rect.x_offset}, {rect.y_offset})"
