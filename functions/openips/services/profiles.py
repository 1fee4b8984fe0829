"""ICC profile assets as colour management reads them: limits, recognition, the job-creation check.

Apart from ``services/options.py`` (which feeds the imaging pipeline) so that job creation and
company settings need no imaging import (the API function never loads ``openips.imaging``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from openips.models import errors
from openips.models.domain import Asset, Company
from openips.models.upload_job import UploadPostJob
from openips.services.deps import Deps

if TYPE_CHECKING:
    from openips.adapters.storage import Storage

ICC_EXTENSIONS = frozenset({"icc", "icm"})
MAX_PROFILE_BYTES = 4 * 1024 * 1024


def check_profiles(deps: Deps, company: Company, options: UploadPostJob) -> None:
    """``Convert`` needs both profile handles, each an IccProfile asset of the company (30001)."""
    color = options.color_management_options
    if color is None or color.color_management != "Convert":
        return
    for field, handle in (("sourceProfileHandle", color.source_profile_handle),
                          ("outputProfileHandle", color.output_profile_handle)):
        if not handle:
            raise errors.missing_parameter(f"colorManagementOptions.{field} is required with Convert")
        profile_asset(deps, company.company_handle, handle, f"colorManagementOptions.{field}")


def profile_asset(deps: Deps, company_handle: str, handle: str, where: str) -> Asset:
    """The IccProfile asset ``handle`` of the company, else InvalidParameter naming ``where``."""
    asset = deps.assets.get(handle)
    if asset is None or asset.company_handle != company_handle:
        raise errors.invalid_parameter(f"{where}: no asset {handle} in this company")
    if asset.type != "IccProfile":
        raise errors.invalid_parameter(f"{where}: asset {handle} is a {asset.type}, not an IccProfile")
    return asset


def profile_bytes(deps: Deps, asset: Asset) -> bytes:
    # Every file of a job reads the same few profiles: one GET per profile version and process.
    return _read_profile(deps.storage, deps.settings.assets_bucket, asset.master_key, asset.updated.isoformat())


@lru_cache(maxsize=32)
def _read_profile(storage: Storage, bucket: str, key: str, version: str) -> bytes:
    """``version`` (the asset's update time) is only part of the cache key: a re-upload is read anew."""
    return storage.read(bucket, key, MAX_PROFILE_BYTES)


def is_icc_profile(data: bytes) -> bool:
    """An ICC profile starts with its size and carries the ``acsp`` signature at byte 36."""
    return len(data) >= 132 and data[36:40] == b"acsp" and int.from_bytes(data[:4], "big") <= len(data)
