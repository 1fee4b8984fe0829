"""``manualCropOptions`` (spec §5.2): trim a fixed number of pixels from each edge."""

from __future__ import annotations

from openips.imaging import vips
from openips.imaging.geometry import trim_box
from openips.imaging.options import ManualCrop
from openips.imaging.step_context import StepContext


def manual_crop(image: vips.Image, opt: ManualCrop, ctx: StepContext) -> vips.Image:
    """Trim ``opt.left/right/top/bottom`` pixels from the edges; 0,0,0,0 leaves the image as it is."""
    left, top, width, height = trim_box(opt, image.width, image.height)
    if (width, height) == (image.width, image.height):
        return image
    ctx.notes.append(
        f"manualCropOptions: trimmed left {opt.left}, right {opt.right}, top {opt.top}, bottom {opt.bottom}"
        f" → {width}×{height}"
    )
    return ctx.crop_image(image, left, top, width, height)
