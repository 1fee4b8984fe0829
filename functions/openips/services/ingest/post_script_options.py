"""EPS and PostScript uploads (``postScriptOptions``, spec §5.7, §9.6). No pyvips here.

Recognised by content (DOS EPS signature ``C5 D0 D3 C6`` or ``%!PS``); a ``.eps``/``.epsf``/``.epsi``/
``.ps`` file that is not PostScript is claimed too, and refused. Illustrator's ``.ai`` is never
ours (``illustrator_options``). docs/formats-postscript.md:

* ``Rasterize`` (the default) with Ghostscript available (``imaging.ghostscript``: an opt-in
  Lambda layer, or ``gs`` on PATH locally): an ``Image`` asset whose master is the EPS byte for
  byte and whose pyramid TIFF is the PostScript's first page rendered at ``resolution`` in
  ``colorspace`` (``alpha``: transparent background), through the ordinary raster pipeline.
  Ghostscript runs as an isolated subprocess with ``-dSAFER`` and time, memory and size limits.
* Ghostscript missing, refusing the page (over the pixel limit) or failing (an error, a limit
  reached): the DOS EPS's embedded TIFF preview is rendered instead (``imaging.eps``:
  ``colorspace``, ``alpha``, a lower ``resolution``), with a warning when Ghostscript failed;
  without a usable preview, a ``PostScript`` asset, master only, with a warning saying why.
* ``process: None``: a ``PostScript`` asset, master only.
* ``extractSearchWords``: the text every page draws (Ghostscript's ``txtwrite``) becomes the
  asset's search words (``GET /v1/assets?text=``), as for PDFs.

Damaged or hostile files (header sections outside the file or overlapping, a preview that is
corrupt, not a TIFF, or over the pixel limit) are refused with an ``UploadError``; their bytes
are kept under ``quarantine/`` like any refused upload. Hostile *PostScript* is Ghostscript's
to refuse, within its limits; that is a failure of the rendering, so the chain above applies.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from openips.imaging import eps, ghostscript
from openips.models import errors
from openips.models.domain import Asset
from openips.models.errors import UnsupportedFormatError
from openips.models.log_file_types import LogFileType, LogFileTypes
from openips.models.messages import message
from openips.models.upload_job import PostScriptOptions
from openips.models.words import WordSet, tokenize
from openips.services.ingest.context import Upload
from openips.services.ingest.format import Format
from openips.services.ingest.outcome import Additions, Content, FileResult, finish_file
from openips.services.ingest.raster import image_content
from openips.services.ingest.sniff import Sniff
from openips.settings import Settings

# Extensions that promise PostScript; content decides, but a file with one of them that is
# not PostScript is refused rather than decoded as something else.
POSTSCRIPT_EXTENSIONS = frozenset({"eps", "epsf", "epsi", "ps"})
# Illustrator files (PostScript-based .ai too) are illustratorOptions' (documents), not ours.
NOT_OURS = frozenset({"ai", "ait"})
TEXT_RESOLUTION = 72.0  # txtwrite draws nothing: the page only has to exist


@dataclass(frozen=True)
class Ghostscript:
    """A ``gs`` to run and the limits of each run (from the settings)."""

    path: str
    limits: ghostscript.Limits


@dataclass(frozen=True)
class Prepared:
    """What the PostScript step decided; ``raster_path`` (if any) goes through the raster pipeline."""

    type: str  # "Image" (rendered by Ghostscript or from the preview) or "PostScript" (stored only)
    kind: str  # "DOS EPS (TIFF preview)", "PostScript", …
    summary: Any  # a message reference (localised); None when the raster pipeline makes it
    raster_path: str | None = None
    notes: tuple[str, ...] = ()
    warnings: tuple[Any, ...] = ()
    rendered_by: str | None = None  # "Ghostscript 10.07.0" when the PostScript itself was rendered
    search_words: tuple[str, ...] | None = None  # None: extractSearchWords not asked, or not possible


def recognises(sniff: Sniff) -> bool:
    """EPS/PS content, or an extension that promises it (``ingest`` then refuses the file)."""
    if sniff.extension in NOT_OURS:
        return False
    return sniff.postscript is not None or sniff.extension in POSTSCRIPT_EXTENSIONS


def find_ghostscript(settings: Settings) -> Ghostscript | None:
    """The configured gs (GHOSTSCRIPT_PATH), else the layer's /opt/bin/gs, else ``gs`` on PATH; None: none."""
    path = ghostscript.locate(settings.ghostscript_path or None)
    if path is None:
        return None
    return Ghostscript(path, ghostscript.Limits(timeout_seconds=settings.ghostscript_timeout_seconds,
                                                memory_bytes=settings.ghostscript_memory_mb * ghostscript.MiB))


def ingest(upload: Upload) -> FileResult:
    """The EPS/PS file's one asset (``Image`` or ``PostScript``), its words, and its row."""
    extension = upload.target.extension
    if upload.sniff.postscript is None:  # claimed for its extension alone
        raise UnsupportedFormatError(f"the file has a .{extension} extension but is not PostScript (it starts "
                                     "neither with %!PS nor with the DOS EPS signature C5 D0 D3 C6)")
    deps, tmp = upload.deps, upload.tmp
    prepared = prepare(upload.source, tmp, upload.job.options.post_script_options,
                       max_pixels=deps.settings.max_image_pixels, gs=find_ghostscript(deps.settings))
    if prepared.raster_path is None:
        content = Content(type=prepared.type, summary=prepared.summary, notes=prepared.notes,
                          warnings=prepared.warnings)
    else:
        raster = image_content(deps, upload.job, upload.company, upload.target, prepared.raster_path, tmp,
                               upload.replacing)
        content = replace(raster, summary=rasterised_summary(prepared, raster.summary),
                          notes=prepared.notes + raster.notes, warnings=prepared.warnings + raster.warnings)
    words = list(prepared.search_words or ())
    return finish_file(upload, content, lambda asset, content: _with_words(asset, content, words))


def _with_words(asset: Asset, content: Content, words: list[str]) -> Additions:
    """``extractSearchWords``: the file's words, or none (an update clears the replaced asset's)."""
    if words != asset.search_words:
        asset = asset.model_copy(update={"search_words": words})
    return Additions(asset, content.summary)


def prepare(source: str, tmp: str, options: PostScriptOptions | None, *, max_pixels: int,
            gs: Ghostscript | None = None) -> Prepared:
    """Render the PostScript with ``gs`` if there is one, else (or when it fails) fall back to the preview."""
    info = eps.read_eps(source)
    options = options or PostScriptOptions()
    warnings: list[Any] = []
    notes: list[str] = []
    words: tuple[str, ...] | None = None
    if options.process == "None":
        if options.extract_search_words:
            words = _words(info, source, tmp, gs, max_pixels, notes, warnings)
        return Prepared("PostScript", info.label, message("postscript.stored", kind=info.label),
                        notes=tuple(notes), warnings=tuple(warnings), search_words=words)

    failure: str | None = None  # why Ghostscript did not render the file, when it was there to try
    if gs is not None:
        try:
            rendered = _render(info, source, tmp, options, gs, max_pixels)
        except errors.FileRejectedError as exc:  # GhostscriptError, or its output unreadable
            failure = exc.message
        else:
            if options.extract_search_words:
                words = _words(info, source, tmp, gs, max_pixels, notes, warnings)
            return replace(rendered, notes=rendered.notes + tuple(notes), warnings=tuple(warnings),
                           search_words=words)
    if options.extract_search_words:
        warnings.append(message("postscript.words_not_extracted", reason=message(
            "postscript.reason.ghostscript_failed" if failure else "postscript.reason.no_ghostscript")))

    if info.tiff is None:
        if failure:
            warnings.insert(0, message("postscript.ghostscript_failed_stored", kind=info.label, reason=failure))
        else:
            reason = "postscript.reason.wmf_only" if info.wmf else "postscript.reason.no_preview"
            warnings.insert(0, message("postscript.not_rasterised", kind=info.label, reason=message(reason)))
        return Prepared("PostScript", info.label, message("postscript.unrasterised", kind=info.label),
                        warnings=tuple(warnings))
    if failure:
        warnings.insert(0, message("postscript.ghostscript_failed_preview", reason=failure))
    extracted = os.path.join(tmp, "eps-preview.tif")
    eps.extract_tiff_preview(source, info, extracted)
    preview = eps.prepare_preview(extracted, os.path.join(tmp, "eps-preview-prepared.tif"), max_pixels=max_pixels,
                                  colorspace=options.colorspace or "Auto", alpha=bool(options.alpha),
                                  resolution=options.resolution, bounding_box=info.bounding_box)
    why = "Ghostscript failed" if failure else "Ghostscript is not available in this deployment"
    note = f"postScriptOptions: rendered from the embedded TIFF preview, not from the PostScript ({why}; " + \
        ", ".join(preview.notes) + ")"
    return Prepared("Image", info.label, None, raster_path=preview.path, notes=(note,),
                    warnings=tuple(preview.warnings) + tuple(warnings))


def rasterised_summary(prepared: Prepared, raster_summary: str) -> Any:
    """The row's summary, e.g. ``DOS EPS (TIFF preview), rendered by Ghostscript 10.07.0: 300×200, …``."""
    if prepared.rendered_by:
        return message("postscript.rendered", kind=prepared.kind, by=prepared.rendered_by, raster=raster_summary)
    return message("postscript.rasterised", kind=prepared.kind, raster=raster_summary)


def _render(info: eps.EpsFile, source: str, tmp: str, options: PostScriptOptions, gs: Ghostscript,
            max_pixels: int) -> Prepared:
    """The first page rendered by Ghostscript, ready for the pipeline (GhostscriptError when it cannot be)."""
    version = ghostscript.version(gs.path)
    resolution = options.resolution or eps.DEFAULT_RESOLUTION
    spec = eps.ghostscript_page(info)
    page = ghostscript.page_for(spec.width_pt, spec.height_pt, resolution, eps_crop=spec.eps_crop,
                                max_pixels=max_pixels)
    plan = eps.render_plan(info, options.colorspace or "Auto", bool(options.alpha))
    rendering = ghostscript.render(gs.path, _postscript_file(source, info, tmp), tempfile.mkdtemp(dir=tmp),
                                   page, plan.device, gs.limits)
    path = eps.finish_rendering(rendering.path, plan, page.width, page.height, os.path.join(tmp, "rendered.tif"))
    asked = f"{resolution:g} ppi" + ("" if options.resolution else " (the default)")
    note = (f"postScriptOptions: the PostScript rendered by Ghostscript {version} (-dSAFER, "
            f"{rendering.seconds:.2f} s): {page.width}×{page.height} at {asked} for {spec.source}, {plan.note}")
    if not info.dsc.epsf:
        pages = info.dsc.pages
        note += (f"; page 1 of {pages} (%%Pages), the others are not rendered" if pages and pages > 1
                 else "; its first page only")
    return Prepared("Image", info.label, None, raster_path=path, notes=(note,), rendered_by=f"Ghostscript {version}")


def _words(info: eps.EpsFile, source: str, tmp: str, gs: Ghostscript | None, max_pixels: int,
           notes: list[str], warnings: list[Any]) -> tuple[str, ...] | None:
    """``extractSearchWords``: every page's text (``txtwrite``), tokenised as PDF words are."""
    if gs is None:
        warnings.append(message("postscript.words_not_extracted",
                                reason=message("postscript.reason.no_ghostscript")))
        return None
    spec = eps.ghostscript_page(info)
    try:
        page = ghostscript.page_for(spec.width_pt, spec.height_pt, TEXT_RESOLUTION, eps_crop=spec.eps_crop,
                                    max_pixels=max_pixels)
        text = ghostscript.extract_text(gs.path, _postscript_file(source, info, tmp), tempfile.mkdtemp(dir=tmp),
                                        page, gs.limits)
    except ghostscript.GhostscriptError as exc:
        warnings.append(message("postscript.words_not_extracted", reason=exc.message))
        return None
    found = WordSet()
    found.add(tokenize(text.text))
    if text.truncated:
        warnings.append(message("postscript.text_truncated", limit=gs.limits.max_text_bytes // ghostscript.MiB))
    if found.full:
        warnings.append(message("postscript.words_truncated", count=len(found.words)))
    notes.append(f"postScriptOptions.extractSearchWords: {len(found.words)} search words (Ghostscript txtwrite, "
                 f"{text.seconds:.2f} s)")
    return tuple(found.words)


def _postscript_file(source: str, info: eps.EpsFile, tmp: str) -> str:
    """The PostScript alone: a DOS EPS's PostScript section is copied out, so gs never sees its header or previews."""
    if info.kind == "postscript":
        return source
    path = os.path.join(tmp, "postscript-section.ps")
    if not os.path.exists(path):
        eps.extract_section(source, info.postscript, path)
    return path


# Job Log File Types have no PostScript value: a rendered EPS is a MasterImage, a stored one NoType.
FORMAT = Format(name="EPS or PostScript", option="post_script_options", recognises=recognises,
                log_file_types=LogFileTypes(LogFileType.NO_TYPE, MappingProxyType({"Image": LogFileType.MASTER_IMAGE})),
                ingest=ingest)
