"""``autoTransparentCropOptions`` (spec §5.4): trim transparent (or nearly transparent) edges."""

from __future__ import annotations

from openips.imaging import vips
from openips.imaging.autocrop import crop_view, find_transparent_box
from openips.imaging.options import AutoTransparentCrop
from openips.imaging.step_context import StepContext


def auto_transparent_crop(image: vips.Image, opt: AutoTransparentCrop, ctx: StepContext) -> vips.Image:
    """Crop away edges whose alpha is within ``opt.tolerance`` of fully transparent."""
    # The pipeline image is sequential and must stay unread, so the search reads the source again.
    view = crop_view(ctx.open_source(), ctx.crop, (image.width, image.height))
    if not view.hasalpha():
        ctx.warnings.append("autoTransparentCropOptions: the image has no alpha channel, so it was not cropped")
        return image
    box = find_transparent_box(view, opt.tolerance)
    if box is None:
        ctx.warnings.append(
            f"autoTransparentCropOptions: every pixel is transparent within tolerance {opt.tolerance:g},"
            " so the image was not cropped"
        )
        return image
    if (box.width, box.height) == (image.width, image.height):
        ctx.notes.append(
            f"autoTransparentCropOptions: no transparent edge within tolerance {opt.tolerance:g}, not cropped"
        )
        return image
    ctx.notes.append(
        f"autoTransparentCropOptions: trimmed transparent edges (tolerance {opt.tolerance:g})"
        f" → {box.width}×{box.height} at ({box.x_offset}, {box.y_offset})"
    )
    return ctx.crop_image(image, box.x_offset, box.y_offset, box.width, box.height)
