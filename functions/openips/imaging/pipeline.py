"""The ordered option pipeline run between load and encode; one module per option under ``steps/``.

Order (fixed here and nowhere else): colour management → crops → knockout → sharpen → XMP
keywords; encoding follows in ``encode``. Colour comes first and is done in one step: every
later step works in, and keeps, the colour space and profile that are delivered. The
clipping-path mask (``createMask``) is made at load and follows every crop the image gets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openips.imaging import vips
from openips.imaging.step_context import StepContext
from openips.imaging.steps.auto_color_crop import auto_color_crop
from openips.imaging.steps.auto_transparent_crop import auto_transparent_crop
from openips.imaging.steps.color import color_in
from openips.imaging.steps.knockout_background import knockout_background
from openips.imaging.steps.manual_crop import manual_crop
from openips.imaging.steps.preserved_crop import preserved_crop
from openips.imaging.steps.unsharp_mask import unsharp_mask
from openips.imaging.steps.xmp_keywords import xmp_keywords

# StepContext too: whoever starts the pipeline builds one (services.processing imports it from here).
__all__ = ["PIPELINE", "Step", "StepContext", "run"]

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
    """Colour management, then every step whose option is set (in PIPELINE order); lazy until saved."""
    image = color_in(image, ctx.options.color, ctx)
    for name, step in PIPELINE:
        option = getattr(ctx.options, name)
        if option is not None:
            image = step(image, option, ctx)
    return image
