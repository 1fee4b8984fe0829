"""The ordered option pipeline run between load and encode; one module per option under ``steps/``.

Order (fixed here and nowhere else): colour in → crops → knockout → sharpen → XMP keywords
→ colour out; encoding follows in ``encode``. The clipping-path mask (``createMask``) is made at load
and follows every crop the image gets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from openips.imaging import vips
from openips.imaging.steps.auto_color_crop import auto_color_crop
from openips.imaging.steps.auto_transparent_crop import auto_transparent_crop
from openips.imaging.steps.color import color_in, color_out
from openips.imaging.steps.knockout_background import knockout_background
from openips.imaging.steps.manual_crop import manual_crop
from openips.imaging.steps.preserved_crop import preserved_crop
from openips.imaging.steps.unsharp_mask import unsharp_mask
from openips.imaging.steps.xmp_keywords import xmp_keywords
from openips.imaging.probe import LOADERS
from openips.imaging.types import ImageInfo
from openips.models.errors import TransientError
from openips.models.processing import CropRect, ProcessingOptions


@dataclass(slots=True)
class StepContext:
    """What a step may need besides its option, and where it reports what it decided."""

    options: ProcessingOptions = field(default_factory=ProcessingOptions)
    info: ImageInfo | None = None  # the source file's header
    source_path: str | None = None
    time_left_ms: Callable[[], int] | None = None  # e.g. the Lambda context's get_remaining_time_in_millis
    reserve_ms: int = 5_000
    warnings: list[str] = field(default_factory=list)  # → UploadWarning rows
    notes: list[str] = field(default_factory=list)  # decisions worth telling the user (colour, crop)
    crop: CropRect | None = None  # the crop applied so far, in source pixels
    mask: vips.Image | None = None  # the clipping-path mask, cropped along with the image

    def ensure_time_left(self) -> None:
        """Raise TransientError when less than ``reserve_ms`` is left, so the record is retried."""
        if self.time_left_ms is not None and self.time_left_ms() < self.reserve_ms:
            raise TransientError("not enough time left to finish the image")

    def open_source(self) -> vips.Image:
        """A fresh sequential read of the source (page 1), for steps that must look at every
        pixel before the image itself is read (auto crops): a sequential image is read once."""
        if self.source_path is None or self.info is None:
            raise ValueError("the context has no source file")
        return vips.open_image(self.source_path, LOADERS[self.info.format])

    def crop_image(self, image: vips.Image, left: int, top: int, width: int, height: int) -> vips.Image:
        """Crop ``image`` (and the mask) to a box given in the current image's pixels."""
        if (left, top, width, height) == (0, 0, image.width, image.height):
            return image
        if self.mask is not None:
            self.mask = self.mask.crop(left, top, width, height)
        base = self.crop or CropRect(x_offset=0, y_offset=0, width=image.width, height=image.height)
        self.crop = CropRect(x_offset=base.x_offset + left, y_offset=base.y_offset + top,
                             width=width, height=height)
        return image.crop(left, top, width, height)


Step = Callable[[vips.Image, Any, StepContext], vips.Image]

PIPELINE: tuple[tuple[str, Step], ...] = (
    ("manual_crop", manual_crop),
    ("auto_color_crop", auto_color_crop),
    ("auto_transparent_crop", auto_transparent_crop),
    ("preserved_crop", preserved_crop),
    ("knockout_background", knockout_background),
    ("unsharp_mask", unsharp_mask),
    ("xmp_keywords", xmp_keywords),  # metadata only: last, after every pixel step
)


def run(image: vips.Image, ctx: StepContext) -> vips.Image:
    """Colour in, every step whose option is set (in PIPELINE order), colour out; lazy until saved."""
    image = color_in(image, ctx.options.color, ctx)
    for name, step in PIPELINE:
        option = getattr(ctx.options, name)
        if option is not None:
            image = step(image, option, ctx)
        ctx.ensure_time_left()
    return color_out(image, ctx.options.color, ctx)
