"""What the API and assets say about processing: the crop rectangle (``getAutoCropRect``, ``Asset.cropRect``).

The imaging pipeline's own options are ``openips.imaging.options`` (frozen dataclasses, no
pydantic); ``services/options.py`` converts between the two.
"""

from typing import Literal

from openips.models.upload_job import IpsModel


class CropRect(IpsModel):
    """A rectangle in source-image pixels (IPS ``getAutoCropRect``: xOffset, yOffset, width, height)."""

    x_offset: int
    y_offset: int
    width: int
    height: int


AutoCropType = Literal["Color", "Transparent"]
