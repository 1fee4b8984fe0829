"""One raster through the job's option pipeline into a pyramid TIFF and its browser preview: an
uploaded image, a PDF page, a Photoshop layer or flattened image, an EPS rendering, a video's poster frame."""

from __future__ import annotations

import os
from typing import Any

from openips.imaging.optimize import optimize
from openips.imaging.step_context import StepContext
from openips.imaging.thumbnail import make_thumbnail
from openips.imaging.types import EncodedTiff, Thumbnail
from openips.models import errors
from openips.models.domain import Asset, Company, Job
from openips.models.messages import message
from openips.observability import logger
from openips.services.deps import Deps
from openips.services.ingest.outcome import Content
from openips.services.naming import TargetPath
from openips.services.options import processing_options, to_crop_rect
from openips.services.smart_crops import image_smart_crops


def image_content(deps: Deps, job: Job, company: Company, target: TargetPath, source: str, tmp: str,
                  replacing: Asset | None) -> Content:
    """``source`` optimized under ``tmp``; ``replacing`` is the asset it is expected to update (preserveCrop)."""
    try:
        options = processing_options(deps, company, job.options, replacing)
    except errors.Fault as exc:  # e.g. a profile asset deleted since the job was opened
        raise errors.FileRejectedError(exc.reason, "options.invalid") from exc
    ctx = StepContext(options=options)
    try:
        optimized = optimize(source, os.path.join(tmp, "optimized.tif"), max_pixels=deps.settings.max_image_pixels,
                             ctx=ctx, mask_path=os.path.join(tmp, "mask.tif"))
    except errors.FileRejectedError as exc:
        exc.message = exc.message.replace(source, target.file_name)  # no temp paths in logs
        raise
    tiff = optimized.tiff
    warnings: list[Any] = list(optimized.warnings)  # texts, and message references (localised)
    thumbnail = preview(tiff, os.path.join(tmp, "thumbnail"), warnings)
    crops = image_smart_crops(job.options, replacing, tiff)  # read from the pyramid just written
    warnings += crops.warnings
    return Content(type="Image", summary=f"{tiff.width}×{tiff.height}, pyramid TIFF, {tiff.compression}",
                   width=tiff.width, height=tiff.height, orientation=tiff.orientation, optimized_path=tiff.path,
                   mask_path=optimized.mask.path if optimized.mask else None,
                   crop=to_crop_rect(optimized.crop) if optimized.crop else None,
                   thumbnail_path=thumbnail.path if thumbnail else None,
                   thumbnail_format=thumbnail.format if thumbnail else None,
                   smart_crops=tuple(crops.crops), notes=(*optimized.notes, *crops.notes), warnings=tuple(warnings))


def preview(tiff: EncodedTiff, dst_stem: str, warnings: list[Any]) -> Thumbnail | None:
    """The asset's browser preview, or None and a warning: a preview never costs the file its asset."""
    try:
        return make_thumbnail(tiff, dst_stem)
    except Exception as exc:  # noqa: BLE001 - whatever fails here, the pyramid TIFF is already made
        logger.warning("no thumbnail made", error=repr(exc))
        warnings.append(message("thumbnail.failed", reason=str(exc) or type(exc).__name__))
        return None
