"""Plain results of the imaging package; importable without pyvips (API-side code uses them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from openips.imaging.options import SourceRect

TiffCompression = Literal["jpeg", "deflate"]


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the file header says, before any pixel is decoded."""

    format: str
    width: int
    height: int
    bands: int
    has_alpha: bool
    interpretation: str
    bits_per_sample: int
    pages: int = 1
    has_icc_profile: bool = False
    more_pages: bool = False  # the file has more than ``pages`` pages (a TIFF's directories are counted up to a cap)

    @property
    def pixels(self) -> int:
        """Pixel count of one page."""
        return self.width * self.height


@dataclass(frozen=True, slots=True)
class EncodedTiff:
    """The optimized pyramid TIFF as written; ``levels`` is in file order, full resolution first."""

    path: str
    compression: TiffCompression
    width: int
    height: int
    levels: list[tuple[int, int]]
    size_bytes: int
    # EXIF orientation (1-8) level 0 carries: pixels are stored as shot, viewers turn them.
    orientation: int = 1

    @property
    def displayed_size(self) -> tuple[int, int]:
        """Width and height as a viewer shows the image: 5-8 transpose it."""
        return (self.height, self.width) if self.orientation >= 5 else (self.width, self.height)


@dataclass(frozen=True, slots=True)
class OptimizedImage:
    """Outcome of one ``optimize`` call."""

    info: ImageInfo
    tiff: EncodedTiff
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # decisions for the job log (colour, crops)
    crop: SourceRect | None = None  # the crop applied, in source pixels
    mask: EncodedTiff | None = None  # the clipping-path mask, when createMask found one


ThumbnailFormat = Literal["jpeg", "webp"]


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """The small browser preview made from a pyramid TIFF (imaging/thumbnail.py)."""

    path: str
    format: ThumbnailFormat  # "jpeg" when opaque, "webp" when it keeps an alpha channel
    width: int
    height: int
    size_bytes: int
    level: tuple[int, int]  # the pyramid level it was made from (width, height)
