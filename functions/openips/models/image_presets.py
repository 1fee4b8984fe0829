"""Image presets: a company's named modifier strings, which delivery URLs name as ``$name$``.

IS calls them command macros (docs/delivery.md, "Image presets"): ``/is/image/acme/shoe?$thumb$``
expands the company's preset ``thumb`` in place. Names are case-insensitive, as IS's macro names,
so one company has at most one preset per name in any case; the name is stored as given.
"""

from datetime import datetime

from pydantic import Field

from openips.models.upload_job import IpsModel

# IS macro names: ASCII letters, digits, '-', '_' and '.' (nothing a URL would have to encode).
PRESET_NAME_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
# The longest modifier string any deployment stores; the setting max_image_preset_length is lower.
MAX_MODIFIERS_CHARS = 8192


class ImagePresetFields(IpsModel):
    name: str = Field(pattern=PRESET_NAME_PATTERN, description="Referred to as $name$ (case-insensitive)")
    modifiers: str = Field(min_length=1, max_length=MAX_MODIFIERS_CHARS,
                           description="Image Serving modifiers, e.g. wid=200&hei=200&fit=crop&qlt=85")


class CreateImagePresetRequest(ImagePresetFields):
    """``POST /v1/image-presets``: ``companyHandle`` is for IpsAdmin (others: their own company)."""

    company_handle: str | None = None


class ImagePreset(ImagePresetFields):
    """A stored preset (and the API's answer for one)."""

    company_handle: str
    created: datetime
    created_by: str  # user handle


class ImagePresetListResponse(IpsModel):
    image_preset_array: list[ImagePreset]
