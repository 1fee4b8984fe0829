"""From a job's ``UploadPostJob`` to what the imaging pipeline does with one file.

Also the job-creation checks that need the store (profile handles must be IccProfile
assets of the job's company).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING
from openips.models import errors
from openips.models.domain import Asset, Company
from openips.models.keywords import parse_xmp_keywords
from openips.models.processing import ColorPlan, ProcessingOptions
from openips.models.upload_job import ManualCropOptions, UploadPostJob
from openips.services.deps import Deps

if TYPE_CHECKING:
    from openips.adapters.storage import Storage

ICC_EXTENSIONS = frozenset({"icc", "icm"})
MAX_PROFILE_BYTES = 4 * 1024 * 1024


def has_crop_options(options: UploadPostJob) -> bool:
    """Spec §9.4: a manual crop of ``0,0,0,0`` counts as no crop options."""
    manual = options.manual_crop_options
    return bool(options.auto_color_crop_options or options.auto_transparent_crop_options
                or (manual and manual != ManualCropOptions(left=0, right=0, top=0, bottom=0)))


def check_profiles(deps: Deps, company: Company, options: UploadPostJob) -> None:
    """``Convert`` needs both profile handles, each an IccProfile asset of the company (30001)."""
    color = options.color_management_options
    if color is None or color.color_management != "Convert":
        return
    for field, handle in (("sourceProfileHandle", color.source_profile_handle),
                          ("outputProfileHandle", color.output_profile_handle)):
        if not handle:
            raise errors.missing_parameter(f"colorManagementOptions.{field} is required with Convert")
        _profile_asset(deps, company.company_handle, handle, f"colorManagementOptions.{field}")


def _profile_asset(deps: Deps, company_handle: str, handle: str, where: str) -> Asset:
    asset = deps.assets.get(handle)
    if asset is None or asset.company_handle != company_handle:
        raise errors.invalid_parameter(f"{where}: no asset {handle} in this company")
    if asset.type != "IccProfile":
        raise errors.invalid_parameter(f"{where}: asset {handle} is a {asset.type}, not an IccProfile")
    return asset


def _profile_bytes(deps: Deps, asset: Asset) -> bytes:
    # Every file of a job reads the same few profiles: one GET per profile version and process.
    return _read_profile(deps.storage, deps.settings.assets_bucket, asset.master_key, asset.updated.isoformat())


@lru_cache(maxsize=32)
def _read_profile(storage: Storage, bucket: str, key: str, version: str) -> bytes:
    """``version`` (the asset's update time) is only part of the cache key: a re-upload is read anew."""
    return storage.read(bucket, key, MAX_PROFILE_BYTES)


def processing_options(deps: Deps, company: Company, options: UploadPostJob,
                       replacing: Asset | None) -> ProcessingOptions:
    """The pipeline's options for one file; ``replacing`` is the asset it is expected to update."""
    preserved = None
    if replacing is not None and replacing.crop_rect and options.preserve_crop and not has_crop_options(options):
        preserved = replacing.crop_rect
    manual = options.manual_crop_options if has_crop_options(options) else None
    return ProcessingOptions(
        color=color_plan(deps, company, options),
        manual_crop=manual,
        auto_color_crop=options.auto_color_crop_options,
        auto_transparent_crop=options.auto_transparent_crop_options,
        preserved_crop=preserved,
        knockout_background=options.knockout_background_options,
        create_mask=options.create_mask,
        unsharp_mask=options.unsharp_mask_options,
        xmp_keywords=tuple(parse_xmp_keywords(options.xmp_keywords or "")),
    )


def color_plan(deps: Deps, company: Company, options: UploadPostJob) -> ColorPlan:
    """Colour management with its profiles fetched (they are small IccProfile masters)."""
    color = options.color_management_options
    default_cmyk = default_cmyk_name = None
    if company.default_source_profile_handle:
        asset = _profile_asset(deps, company.company_handle, company.default_source_profile_handle,
                               "company default source profile")
        default_cmyk, default_cmyk_name = _profile_bytes(deps, asset), asset.name
    if color is None or color.color_management == "Default":
        display = display_name = None
        if company.default_display_profile_handle:
            asset = _profile_asset(deps, company.company_handle, company.default_display_profile_handle,
                                   "company default display profile")
            display, display_name = _profile_bytes(deps, asset), asset.name
        return ColorPlan(mode="Default", default_cmyk_profile=default_cmyk, default_cmyk_profile_name=default_cmyk_name,
                         default_output_profile=display, default_output_profile_name=display_name)
    if color.color_management == "MaintainOriginal":
        return ColorPlan(mode="MaintainOriginal")
    source = _profile_asset(deps, company.company_handle, color.source_profile_handle or "", "sourceProfileHandle")
    output = _profile_asset(deps, company.company_handle, color.output_profile_handle or "", "outputProfileHandle")
    return ColorPlan(mode="Convert", source_profile=_profile_bytes(deps, source), source_profile_name=source.name,
                     output_profile=_profile_bytes(deps, output), output_profile_name=output.name)


def is_icc_profile(data: bytes) -> bool:
    """An ICC profile starts with its size and carries the ``acsp`` signature at byte 36."""
    return len(data) >= 132 and data[36:40] == b"acsp" and int.from_bytes(data[:4], "big") <= len(data)
