"""The ordered option pipeline run between load and encode; one module per option under ``steps/``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from openips.imaging import vips
from openips.models.errors import TransientError


@dataclass(slots=True)
class StepContext:
    """What a step may need besides its option: the options record, a clock, and a warnings sink."""

    options: Any = None  # the job's processing options; each step reads the attribute named after it
    time_left_ms: Callable[[], int] | None = None  # e.g. the Lambda context's get_remaining_time_in_millis
    reserve_ms: int = 5_000
    warnings: list[str] = field(default_factory=list)

    def ensure_time_left(self) -> None:
        """Raise TransientError when less than ``reserve_ms`` is left, so the record is retried."""
        if self.time_left_ms is not None and self.time_left_ms() < self.reserve_ms:
            raise TransientError("not enough time left to finish the image")


Step = Callable[[vips.Image, Any, StepContext], vips.Image]

# Order matters and lives only here, e.g. ("icc", icc_import), ("manual_crop", manual_crop), ...
PIPELINE: tuple[tuple[str, Step], ...] = ()


def run(image: vips.Image, ctx: StepContext) -> vips.Image:
    """Apply every step whose option is set, in PIPELINE order; lazy until the image is saved."""
    for name, step in PIPELINE:
        option = getattr(ctx.options, name, None)
        if option is not None:
            image = step(image, option, ctx)
        ctx.ensure_time_left()
    return image
