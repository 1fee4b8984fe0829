"""IPS ``getAutoCropRect``: the rectangle an auto crop would keep, for a stored image."""

from __future__ import annotations

import os
import tempfile

from openips.imaging.autocrop import auto_crop_rect
from openips.models import errors
from openips.models.domain import User
from openips.models.processing import AutoCropType, CropRect
from openips.services import auth
from openips.services.deps import Deps
from openips.services.options import to_crop_rect

CORNERS = ("UpperLeft", "BottomLeft", "UpperRight", "BottomRight")


def get_auto_crop_rect(deps: Deps, user: User, asset_handle: str, kind: str | None, corner: str | None,
                       tolerance: str | None) -> CropRect:
    auth.require_role(user, auth.READ_ROLES, "getAutoCropRect")
    crop_type: AutoCropType
    if kind == "Color":
        crop_type = "Color"
        corner = corner or "UpperLeft"  # the query has no way to make it required only with Color
        if corner not in CORNERS:
            raise errors.invalid_parameter(f"corner must be one of {', '.join(CORNERS)} with type=Color")
    elif kind == "Transparent":
        crop_type = "Transparent"
    else:
        raise errors.invalid_parameter("type must be Color or Transparent")
    try:
        level = float(tolerance) if tolerance is not None else 0.0
    except ValueError as exc:
        raise errors.invalid_parameter("tolerance must be a number from 0 to 1") from exc
    if not 0.0 <= level <= 1.0:
        raise errors.invalid_parameter("tolerance must be a number from 0 to 1")
    asset = deps.assets.get(asset_handle)
    if asset is None:
        raise errors.unknown_handle("asset", asset_handle)
    auth.check_owner(user, asset.company_handle)
    if asset.type != "Image":
        raise errors.invalid_parameter(f"asset {asset_handle} is a {asset.type}, not an Image")
    bucket = deps.settings.assets_bucket
    # A rasterised PDF page has no master of its own: its pyramid TIFF is its image.
    key = asset.master_key or asset.optimized_key or ""
    size = deps.storage.head_size(bucket, key) if key else None
    if size is None:
        raise errors.invalid_parameter(f"asset {asset_handle} has no stored image to read", 404)
    # Any reader may call this, so what one call downloads is bounded, before the download.
    _check_size(asset_handle, size, deps.settings.auto_crop_rect_max_bytes)
    with tempfile.TemporaryDirectory(prefix="openips-") as tmp:
        path = os.path.join(tmp, "master")
        deps.storage.download(bucket, key, path)
        # The master may have been replaced by a larger upload since it was measured.
        _check_size(asset_handle, os.path.getsize(path), deps.settings.auto_crop_rect_max_bytes)
        try:
            rect = auto_crop_rect(path, crop_type, corner, level, max_pixels=deps.settings.max_image_pixels)
        except errors.FileRejectedError as exc:
            raise errors.invalid_parameter(exc.message.replace(path, asset.file_name)) from exc
    return to_crop_rect(rect)


def _check_size(asset_handle: str, size: int, limit: int) -> None:
    if size > limit:
        raise errors.invalid_parameter(
            f"the master of asset {asset_handle} is {size} bytes ({size / 1024**2:.1f} MiB); getAutoCropRect "
            f"reads masters of at most {limit} bytes ({limit / 1024**2:.1f} MiB, AutoCropRectMaxBytes)", 413)
