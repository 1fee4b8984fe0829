"""``/is/image/<company>/<asset>:<cropName>``: a smart crop served as Dynamic Media addresses it (docs/smart-crops.md).

The name after the last ``:`` is one of the asset's smart crops; its rectangle becomes a ``crop=``
put before the query, so the grammar and the renderer run as for any image: the query's own
modifiers size the crop (``?wid=400``), and a ``crop=`` of the query, coming later, overrides it.
With no modifiers at all the answer is the crop at the size its job asked for (``wid``×``hei`` of
the item, ``fit=crop,1``). An asset whose own name holds a ``:`` is found first by that whole name.
"""

from __future__ import annotations

from openips.models.domain import Asset
from openips.models.processing import NamedCrop
from openips.services.deps import Deps


def find_asset(deps: Deps, company_handle: str, name: str, raw_query: str) -> tuple[Asset | None, str]:
    """The asset ``name`` names, and the query to render it with (the crop's ``crop=`` first when it names one)."""
    asset = deps.assets.find_by_name(company_handle, name)
    if asset is not None or ":" not in name:
        return asset, raw_query
    asset_name, _, crop_name = name.rpartition(":")
    asset = deps.assets.find_by_name(company_handle, asset_name) if asset_name and crop_name else None
    crop = next((c for c in asset.smart_crops if c.name == crop_name), None) if asset else None
    if asset is None or crop is None:
        return None, raw_query  # an unknown crop is an unknown image: the same 404
    return asset, crop_query(crop, raw_query, deps.settings.delivery_max_pixels)


def crop_query(crop: NamedCrop, raw_query: str, max_pixels: int) -> str:
    cropped = f"crop={crop.x},{crop.y},{crop.width},{crop.height}"
    query = raw_query.removeprefix("?")
    if query:
        return f"{cropped}&{query}"
    if crop.requested_width and crop.requested_height:
        width, height = crop.requested_width, crop.requested_height
        # A bare URL must render: a size over the reply limit is scaled down to it, keeping the ratio.
        factor = min(1.0, (max_pixels / (width * height)) ** 0.5)
        width, height = max(1, int(width * factor)), max(1, int(height * factor))
        return f"{cropped}&wid={width}&hei={height}&fit=crop,1"
    return cropped
