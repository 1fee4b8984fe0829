"""From a job's ``UploadPostJob`` to what the imaging pipeline does with one file.

The one place where the job's pydantic options become ``openips.imaging.options``' dataclasses
(and the pipeline's crop rectangle becomes the API's ``CropRect`` again): imaging imports no
pydantic, so the ProcessFile function's image work does not pay for the job model.
"""

from __future__ import annotations

from openips.imaging.options import (
    AutoColorCrop,
    AutoTransparentCrop,
    ColorPlan,
    KnockoutBackground,
    ManualCrop,
    ProcessingOptions,
    SourceRect,
    UnsharpMask,
)
from openips.models.domain import Asset, Company
from openips.models.keywords import parse_xmp_keywords
from openips.models.processing import CropRect
from openips.models.upload_job import UploadPostJob
from openips.services.deps import Deps
from openips.services.profiles import profile_asset, profile_bytes


def has_crop_options(options: UploadPostJob) -> bool:
    """Spec §9.4: a manual crop of ``0,0,0,0`` counts as no crop options."""
    manual = options.manual_crop_options
    return bool(options.auto_color_crop_options or options.auto_transparent_crop_options
                or (manual and (manual.left, manual.right, manual.top, manual.bottom) != (0, 0, 0, 0)))


def processing_options(deps: Deps, company: Company, options: UploadPostJob,
                       replacing: Asset | None) -> ProcessingOptions:
    """The pipeline's options for one file; ``replacing`` is the asset it is expected to update."""
    preserved = None
    if replacing is not None and replacing.crop_rect and options.preserve_crop and not has_crop_options(options):
        preserved = to_rect(replacing.crop_rect)
    manual = options.manual_crop_options if has_crop_options(options) else None
    color_crop = options.auto_color_crop_options
    transparent_crop = options.auto_transparent_crop_options
    knockout = options.knockout_background_options
    usm = options.unsharp_mask_options
    return ProcessingOptions(
        color=color_plan(deps, company, options),
        manual_crop=ManualCrop(left=manual.left, right=manual.right, top=manual.top, bottom=manual.bottom)
        if manual else None,
        auto_color_crop=AutoColorCrop(corner=color_crop.corner, tolerance=color_crop.tolerance)
        if color_crop else None,
        auto_transparent_crop=AutoTransparentCrop(tolerance=transparent_crop.tolerance)
        if transparent_crop else None,
        preserved_crop=preserved,
        knockout_background=KnockoutBackground(corner=knockout.corner, tolerance=knockout.tolerance,
                                               fill_method=knockout.fill_method) if knockout else None,
        create_mask=options.create_mask,
        unsharp_mask=UnsharpMask(amount=usm.amount, radius=usm.radius, threshold=usm.threshold,
                                 monochrome=usm.monochrome) if usm else None,
        xmp_keywords=tuple(parse_xmp_keywords(options.xmp_keywords or "")),
    )


def color_plan(deps: Deps, company: Company, options: UploadPostJob) -> ColorPlan:
    """Colour management with its profiles fetched (they are small IccProfile masters)."""
    color = options.color_management_options
    default_cmyk = default_cmyk_name = None
    if company.default_source_profile_handle:
        asset = profile_asset(deps, company.company_handle, company.default_source_profile_handle,
                              "company default source profile")
        default_cmyk, default_cmyk_name = profile_bytes(deps, asset), asset.name
    if color is None or color.color_management == "Default":
        display = display_name = None
        if company.default_display_profile_handle:
            asset = profile_asset(deps, company.company_handle, company.default_display_profile_handle,
                                  "company default display profile")
            display, display_name = profile_bytes(deps, asset), asset.name
        return ColorPlan(mode="Default", default_cmyk_profile=default_cmyk, default_cmyk_profile_name=default_cmyk_name,
                         default_output_profile=display, default_output_profile_name=display_name)
    if color.color_management == "MaintainOriginal":
        return ColorPlan(mode="MaintainOriginal")
    source = profile_asset(deps, company.company_handle, color.source_profile_handle or "", "sourceProfileHandle")
    output = profile_asset(deps, company.company_handle, color.output_profile_handle or "", "outputProfileHandle")
    return ColorPlan(mode="Convert", source_profile=profile_bytes(deps, source), source_profile_name=source.name,
                     output_profile=profile_bytes(deps, output), output_profile_name=output.name)


def to_rect(crop: CropRect) -> SourceRect:
    """The API's crop rectangle (an asset's ``cropRect``) in the pipeline's terms."""
    return SourceRect(x_offset=crop.x_offset, y_offset=crop.y_offset, width=crop.width, height=crop.height)


def to_crop_rect(rect: SourceRect) -> CropRect:
    """A crop the pipeline found or applied, as the API and the asset store it."""
    return CropRect(x_offset=rect.x_offset, y_offset=rect.y_offset, width=rect.width, height=rect.height)
