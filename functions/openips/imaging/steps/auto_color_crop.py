"""``autoColorCropOptions`` (spec §5.3): trim the border that has the chosen corner's colour."""

from __future__ import annotations

from openips.imaging import vips
from openips.imaging.autocrop import crop_view, find_color_box
from openips.imaging.options import AutoColorCrop
from openips.imaging.step_context import StepContext


def auto_color_crop(image: vips.Image, opt: AutoColorCrop, ctx: StepContext) -> vips.Image:
    """Crop to the area inside the border matching ``opt.corner``'s colour within ``opt.tolerance``."""

    def open_view() -> vips.Image:
        # The pipeline image is sequential and must stay unread, so the search reads the source again.
        return crop_view(ctx.open_source(), ctx.crop, (image.width, image.height))

    box = find_color_box(open_view, opt.corner, opt.tolerance)
    if box is None:
        ctx.warnings.append(
            f"autoColorCropOptions: the whole image matches the {opt.corner} corner's colour within tolerance "
            f"{opt.tolerance:g}, so it was not cropped"
        )
        return image
    if (box.width, box.height) == (image.width, image.height):
        ctx.notes.append(
            f"autoColorCropOptions: no {opt.corner} border within tolerance {opt.tolerance:g}, not cropped"
        )
        return image
    ctx.notes.append(
        f"autoColorCropOptions: trimmed the {opt.corner} colour border (tolerance {opt.tolerance:g})"
        f" → {box.width}×{box.height} at ({box.x_offset}, {box.y_offset})"
    )
    return ctx.crop_image(image, box.x_offset, box.y_offset, box.width, box.height)

