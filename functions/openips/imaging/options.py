"""What the imaging pipeline is asked to do with one file: frozen dataclasses, no pydantic, no pyvips.

``services/options.py`` builds ``ProcessingOptions`` from the job's ``UploadPostJob`` (already
validated there), the company's defaults and the asset being replaced (preserved crop). One
attribute per pipeline step, named after the step; each option keeps the attribute names of
its Scene7 option. The checks below guard callers that build options by hand (tests, bench).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

Corner = Literal["UpperLeft", "BottomLeft", "UpperRight", "BottomRight"]
FillMethod = Literal["FloodFill", "MatchPixel"]
ColorMode = Literal["Default", "MaintainOriginal", "Convert"]


def _check_tolerance(owner: str, tolerance: float) -> None:
    if not 0.0 <= tolerance <= 1.0:
        raise ValueError(f"{owner}: tolerance must be between 0 and 1, got {tolerance}")


def _check_corner(owner: str, corner: str) -> None:
    if corner not in get_args(Corner):
        raise ValueError(f"{owner}: unknown corner {corner!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceRect:
    """A rectangle in source-image pixels (the API's ``CropRect``: xOffset, yOffset, width, height)."""

    x_offset: int
    y_offset: int
    width: int
    height: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ManualCrop:
    """``manualCropOptions``: pixels trimmed from each edge (spec §5.2)."""

    left: int
    right: int
    top: int
    bottom: int

    def __post_init__(self) -> None:
        if min(self.left, self.right, self.top, self.bottom) < 0:
            raise ValueError(f"manual crop amounts must not be negative: {self}")


@dataclass(frozen=True, slots=True, kw_only=True)
class AutoColorCrop:
    """``autoColorCropOptions`` (spec §5.3)."""

    corner: Corner
    tolerance: float

    def __post_init__(self) -> None:
        _check_corner("autoColorCrop", self.corner)
        _check_tolerance("autoColorCrop", self.tolerance)


@dataclass(frozen=True, slots=True, kw_only=True)
class AutoTransparentCrop:
    """``autoTransparentCropOptions`` (spec §5.4)."""

    tolerance: float

    def __post_init__(self) -> None:
        _check_tolerance("autoTransparentCrop", self.tolerance)


@dataclass(frozen=True, slots=True, kw_only=True)
class KnockoutBackground:
    """``knockoutBackgroundOptions`` (spec §5.1)."""

    corner: Corner
    fill_method: FillMethod
    tolerance: float = 0.0

    def __post_init__(self) -> None:
        _check_corner("knockoutBackground", self.corner)
        _check_tolerance("knockoutBackground", self.tolerance)
        if self.fill_method not in get_args(FillMethod):
            raise ValueError(f"knockoutBackground: unknown fill method {self.fill_method!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class UnsharpMask:
    """``unsharpMaskOptions`` (spec §5.15); ``radius`` None means the step's default."""

    amount: float = 0.0
    radius: float | None = None
    threshold: int = 6
    monochrome: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.amount <= 5.0:
            raise ValueError(f"unsharpMask: amount must be between 0 and 5, got {self.amount}")
        if self.radius is not None and not 0.0 <= self.radius <= 250.0:
            raise ValueError(f"unsharpMask: radius must be between 0 and 250, got {self.radius}")
        if not 0 <= self.threshold <= 255:
            raise ValueError(f"unsharpMask: threshold must be between 0 and 255, got {self.threshold}")
        if self.monochrome not in (None, 0, 1):
            raise ValueError(f"unsharpMask: monochrome must be 0 or 1, got {self.monochrome!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ColorPlan:
    """Colour management for one file (spec §5.11), with the profiles already fetched."""

    mode: ColorMode = "Default"
    # Convert: ignore any embedded profile, convert from ``source_profile`` to ``output_profile``.
    source_profile: bytes | None = None
    source_profile_name: str | None = None
    output_profile: bytes | None = None
    output_profile_name: str | None = None
    # Default: the company's profile for CMYK files that carry none (None = libvips' built-in CMYK).
    default_cmyk_profile: bytes | None = None
    default_cmyk_profile_name: str | None = None
    # Default: the company's RGB display profile CMYK files are converted to (None = sRGB).
    default_output_profile: bytes | None = None
    default_output_profile_name: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in get_args(ColorMode):
            raise ValueError(f"unknown colour mode {self.mode!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessingOptions:
    """Everything the option pipeline applies, one attribute per step (see ``imaging.pipeline``)."""

    color: ColorPlan = field(default_factory=ColorPlan)
    manual_crop: ManualCrop | None = None
    auto_color_crop: AutoColorCrop | None = None
    auto_transparent_crop: AutoTransparentCrop | None = None
    # Re-applied (clamped) on overwrite when the job gives no crop and preserveCrop is true.
    preserved_crop: SourceRect | None = None
    knockout_background: KnockoutBackground | None = None
    create_mask: bool = False
    unsharp_mask: UnsharpMask | None = None
    # Parsed xmpKeywords (spec §5.19), merged into the TIFF's XMP dc:subject.
    xmp_keywords: tuple[str, ...] = ()
