"""What the imaging pipeline is asked to do with one file: pure data, no pyvips.

The processing service builds ``ProcessingOptions`` from the job's ``UploadPostJob``, the
company's defaults and the asset being replaced (preserved crop); ``openips.imaging``
reads it. One attribute per pipeline step, named after the step.
"""

from typing import Literal

from pydantic import ConfigDict, Field

from openips.models.base import Model
from openips.models.upload_job import (
    AutoColorCropOptions,
    AutoTransparentCropOptions,
    IpsModel,
    KnockoutBackgroundOptions,
    ManualCropOptions,
    UnsharpMaskOptions,
)


class CropRect(IpsModel):
    """A rectangle in source-image pixels (IPS ``getAutoCropRect``: xOffset, yOffset, width, height)."""

    x_offset: int
    y_offset: int
    width: int
    height: int


class ColorPlan(Model):
    """Colour management for one file (spec §5.11), with the profiles already fetched."""

    model_config = ConfigDict(frozen=True)

    mode: Literal["Default", "MaintainOriginal", "Convert"] = "Default"
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


class ProcessingOptions(Model):
    """Everything the option pipeline applies, one attribute per step (see ``imaging.pipeline``)."""

    model_config = ConfigDict(frozen=True)

    color: ColorPlan = Field(default_factory=ColorPlan)
    manual_crop: ManualCropOptions | None = None
    auto_color_crop: AutoColorCropOptions | None = None
    auto_transparent_crop: AutoTransparentCropOptions | None = None
    # Re-applied (clamped) on overwrite when the job gives no crop and preserveCrop is true.
    preserved_crop: CropRect | None = None
    knockout_background: KnockoutBackgroundOptions | None = None
    create_mask: bool = False
    unsharp_mask: UnsharpMaskOptions | None = None
    # Parsed xmpKeywords (spec §5.19), merged into the TIFF's XMP dc:subject.
    xmp_keywords: tuple[str, ...] = ()


AutoCropType = Literal["Color", "Transparent"]
