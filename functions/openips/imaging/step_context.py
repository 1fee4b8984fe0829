"""What the option steps share while one image goes through the pipeline.

At the bottom of the imaging graph: ``pipeline`` and every module of ``steps/`` import it,
it imports neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from openips.imaging import vips
from openips.imaging.options import ProcessingOptions, SourceRect
from openips.imaging.probe import LOADERS
from openips.imaging.types import ImageInfo


@dataclass(slots=True)
class StepContext:
    """What a step may need besides its option, and where it reports what it decided."""

    options: ProcessingOptions = field(default_factory=ProcessingOptions)
    info: ImageInfo | None = None  # the source file's header
    source_path: str | None = None
    warnings: list[str] = field(default_factory=list)  # → UploadWarning rows
    notes: list[str] = field(default_factory=list)  # decisions worth telling the user (colour, crop)
    crop: SourceRect | None = None  # the crop applied so far, in source pixels
    mask: vips.Image | None = None  # the clipping-path mask, cropped along with the image

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
        base = self.crop or SourceRect(x_offset=0, y_offset=0, width=image.width, height=image.height)
        self.crop = SourceRect(x_offset=base.x_offset + left, y_offset=base.y_offset + top,
                             width=width, height=height)
        return image.crop(left, top, width, height)
