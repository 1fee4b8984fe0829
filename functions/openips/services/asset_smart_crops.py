"""Reading and adjusting an asset's smart crops (``GET``/``PUT /v1/assets/{assetHandle}/smart-crops…``).

No pixels are read: a rectangle is checked against the master size on the record, so this stays
on the API function without the imaging layer. An adjusted crop is marked ``adjusted`` (method
``manual``, no score), which ``preserveSmartCrop`` keeps on the next upload (docs/smart-crops.md).
"""

from __future__ import annotations

import re

from openips.adapters.cdn import rendition_paths
from openips.models import errors
from openips.models.domain import Asset, User
from openips.models.processing import SMART_CROP_NAME, NamedCrop, SmartCropRect, SmartCropsResponse
from openips.observability import logger
from openips.services import auth
from openips.services.delivery import invalidations
from openips.services.deps import Deps

_NAME = re.compile(SMART_CROP_NAME)


def get_smart_crops(deps: Deps, user: User, asset_handle: str) -> SmartCropsResponse:
    auth.require_role(user, auth.READ_ROLES, "getSmartCrops")
    return _view(_owned(deps, user, asset_handle))


def adjust_smart_crop(deps: Deps, user: User, asset_handle: str, name: str, rect: SmartCropRect) -> SmartCropsResponse:
    """Move or resize one named crop; the rectangle must lie inside the master. 404 for a name the asset lacks."""
    auth.require_role(user, auth.UPLOAD_ROLES, "setSmartCrop")
    asset = _owned(deps, user, asset_handle)
    if not _NAME.fullmatch(name) or all(c.name != name for c in asset.smart_crops):
        raise errors.invalid_parameter(f"asset {asset_handle} has no smart crop named {name[:64]!r}", 404)
    width, height = asset.displayed_size  # crops are in the image's pixels as displayed
    if not width or not height:
        raise errors.invalid_parameter(f"asset {asset_handle} has no image to crop")
    if rect.x + rect.width > width or rect.y + rect.height > height:
        raise errors.invalid_parameter(f"the rectangle {rect.x},{rect.y} {rect.width}×{rect.height} does not lie "
                                       f"inside the {width}×{height} image")
    asset.smart_crops = [c.model_copy(update={"x": rect.x, "y": rect.y, "width": rect.width, "height": rect.height,
                                              "method": "manual", "score": None, "adjusted": True})
                         if c.name == name else c for c in asset.smart_crops]
    if not deps.assets.set_smart_crops(asset):
        # A re-upload (or another edit) replaced the asset after it was read: its crops are not these.
        raise errors.IpsApiFault(errors.INVALID_REQUEST, f"asset {asset_handle} changed while the crop was "
                                 "adjusted; read its smart crops again", 409)
    _invalidate(deps, asset, name)
    return _view(asset)


def _owned(deps: Deps, user: User, asset_handle: str) -> Asset:
    asset = deps.assets.get(asset_handle)
    if asset is None:
        raise errors.unknown_handle("asset", asset_handle)
    auth.check_owner(user, asset.company_handle)  # another tenant's asset: 403, never its crops
    return asset


def _view(asset: Asset) -> SmartCropsResponse:
    width, height = asset.displayed_size
    return SmartCropsResponse(asset_handle=asset.asset_handle, width=width, height=height,
                              smart_crops=[NamedCrop.model_validate(c.model_dump()) for c in asset.smart_crops])


def _invalidate(deps: Deps, asset: Asset, name: str) -> None:
    """Drop the crop's cached renditions (``/is/image/<company>/<asset>:<name>*``) from the CDN; a failure is logged."""
    company = deps.companies.get(asset.company_handle)
    segments = (asset.company_handle, company.name if company else "")
    paths = [path.removesuffix("*") + f"%3A{name}*" for path in rendition_paths(segments, asset.name)]
    paths += [path.removesuffix("*") + f":{name}*" for path in rendition_paths(segments, asset.name)]
    try:  # FinalizeJobFunction carries it out: this function cannot reach the distribution
        invalidations.request(deps, paths, f"{asset.asset_handle}-{name}-{asset.last_claim}-{_rect_key(asset, name)}")
    except Exception as exc:  # noqa: BLE001 - the crop is stored; the edges expire with their max-age
        logger.warning("smart crop invalidation not queued", asset=asset.asset_handle, error=repr(exc))


def _rect_key(asset: Asset, name: str) -> str:
    crop = next(c for c in asset.smart_crops if c.name == name)
    return f"{crop.x}-{crop.y}-{crop.width}-{crop.height}"
