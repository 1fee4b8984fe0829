"""EPS and PostScript uploads (``postScriptOptions``, spec §5.7, §9.6). No pyvips here.

openips does not run Ghostscript (docs/formats-postscript.md says why), so it never renders
PostScript. What it does, by content (DOS EPS signature ``C5 D0 D3 C6`` or ``%!PS``):

* ``process: None``: a ``PostScript`` asset, master only.
* ``Rasterize`` (the default) and a DOS EPS with a TIFF preview: an ``Image`` asset whose
  master is the EPS byte for byte and whose pyramid TIFF is made from the preview by the
  ordinary raster pipeline (crops, knockout, colour, sharpening, keywords), after
  ``imaging.eps`` applied ``colorspace``, ``alpha`` and a lower ``resolution``.
* ``Rasterize`` without a usable preview (plain PS/EPS, WMF-only DOS EPS): a ``PostScript``
  asset, master only, with an ``UploadWarning`` saying it was not rasterised and why.

Damaged or hostile files (header sections outside the file or overlapping, a preview that
is corrupt, not a TIFF, or over the pixel limit) are refused with an ``UploadError``; their
bytes are kept under ``quarantine/`` like any refused upload.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from openips.imaging import eps
from openips.models.errors import UnsupportedFormatError
from openips.models.messages import message
from openips.models.upload_job import PostScriptOptions

# Extensions that promise PostScript; content decides, but a file with one of them that is
# not PostScript is refused rather than decoded as something else.
POSTSCRIPT_EXTENSIONS = frozenset({"eps", "epsf", "epsi", "ps"})
# Illustrator files (PostScript-based .ai too) are illustratorOptions' (documents), not ours.
NOT_OURS = frozenset({"ai", "ait"})


@dataclass(frozen=True)
class Prepared:
    """What the PostScript step decided; ``raster_path`` (if any) goes through the raster pipeline."""

    type: str  # "Image" (rendered from the preview) or "PostScript" (stored only)
    kind: str  # "DOS EPS (TIFF preview)", "PostScript", …
    summary: Any  # a message reference (localised)
    raster_path: str | None = None
    notes: tuple[str, ...] = ()
    warnings: tuple[Any, ...] = ()


def is_postscript(source: str, extension: str) -> bool:
    """True for EPS/PS content; UnsupportedFormatError for a ``.eps``/``.ps`` file that is not PostScript."""
    if extension in NOT_OURS:
        return False
    if eps.postscript_kind(source) is not None:
        return True
    if extension in POSTSCRIPT_EXTENSIONS:
        raise UnsupportedFormatError(f"the file has a .{extension} extension but is not PostScript (it starts "
                                     "neither with %!PS nor with the DOS EPS signature C5 D0 D3 C6)")
    return False


def prepare(source: str, tmp: str, options: PostScriptOptions | None, *, max_pixels: int) -> Prepared:
    """Read the file's structure (never its PostScript) and prepare the preview to rasterise, if any."""
    info = eps.read_eps(source)
    options = options or PostScriptOptions()
    warnings: list[Any] = []
    if options.extract_search_words:
        warnings.append("postScriptOptions.extractSearchWords: not applied; openips extracts no words "
                        "from PostScript")
    if options.process == "None":
        return Prepared("PostScript", info.label, message("postscript.stored", kind=info.label),
                        warnings=tuple(warnings))
    if info.tiff is None:
        reason = "postscript.reason.wmf_only" if info.wmf else "postscript.reason.no_preview"
        warnings.insert(0, message("postscript.not_rasterised", kind=info.label, reason=message(reason)))
        return Prepared("PostScript", info.label, message("postscript.unrasterised", kind=info.label),
                        warnings=tuple(warnings))
    extracted = os.path.join(tmp, "eps-preview.tif")
    eps.extract_tiff_preview(source, info, extracted)
    preview = eps.prepare_preview(extracted, os.path.join(tmp, "eps-preview-prepared.tif"), max_pixels=max_pixels,
                                  colorspace=options.colorspace or "Auto", alpha=bool(options.alpha),
                                  resolution=options.resolution, bounding_box=info.bounding_box)
    note = "postScriptOptions: rendered from the embedded TIFF preview, not from the PostScript (" + \
        ", ".join(preview.notes) + ")"
    return Prepared("Image", info.label, None, raster_path=preview.path, notes=(note,),
                    warnings=tuple(preview.warnings) + tuple(warnings))


def rasterised_summary(prepared: Prepared, raster_summary: str) -> Any:
    """The row's summary for an EPS rendered from its preview, e.g. ``DOS EPS (TIFF preview) → 300×200, …``."""
    return message("postscript.rasterised", kind=prepared.kind, raster=raster_summary)
