"""What the API and assets say about processing: the crop rectangle (``getAutoCropRect``, ``Asset.cropRect``)
and the named smart crops (``Asset.smartCrops``).

The imaging pipeline's own options are ``openips.imaging.options`` (frozen dataclasses, no
pydantic); ``services/options.py`` converts between the two.
"""

from typing import Literal

from pydantic import Field

from openips.models.upload_job import IpsModel


class CropRect(IpsModel):
    """A rectangle in source-image pixels (IPS ``getAutoCropRect``: xOffset, yOffset, width, height)."""

    x_offset: int
    y_offset: int
    width: int
    height: int


AutoCropType = Literal["Color", "Transparent"]


# A smart crop's name is the part after ':' in a delivery URL (docs/smart-crops.md): what a path
# segment carries unencoded and an IS macro name allows (letters, digits, '-', '_', '.').
SMART_CROP_NAME = r"^[A-Za-z0-9._-]{1,64}$"
MAX_SMART_CROPS = 100  # per image: Dynamic Media's hard limit (spec §3.5, "Smart crops")


class NamedCrop(IpsModel):
    """A smart crop stored on an asset: a rectangle of the master (the pyramid's level 0) in pixels."""

    name: str = Field(pattern=SMART_CROP_NAME)
    x: int = Field(ge=0)
    y: int = Field(ge=0)
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    # The rendition size the job asked for (autoSmartCropOptions width/height) and its type, as given.
    requested_width: int | None = None
    requested_height: int | None = None
    type: str | None = None
    method: Literal["attention", "manual"] = "attention"
    score: float | None = None  # attention: share of the image's saliency inside the crop, 0…1
    adjusted: bool = False  # set by a person (PUT …/smart-crops/{name}); kept by preserveSmartCrop


class SmartCropRect(IpsModel):
    """``PUT /v1/assets/{assetHandle}/smart-crops/{name}``: the crop's new rectangle, in master pixels."""

    x: int = Field(ge=0, le=2**31)
    y: int = Field(ge=0, le=2**31)
    width: int = Field(gt=0, le=2**31)
    height: int = Field(gt=0, le=2**31)


class SmartCropsResponse(IpsModel):
    """An asset's smart crops, with the master size their rectangles lie in."""

    asset_handle: str
    width: int | None
    height: int | None
    smart_crops: list[NamedCrop]
