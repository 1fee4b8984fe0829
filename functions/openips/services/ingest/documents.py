"""PDF and Illustrator uploads (``pdfOptions`` §5.8, ``illustratorOptions`` §5.9): one file, many assets.

Recognised by content by the formats that call ``ingest`` (``pdf_options``,
``illustrator_options``, ``in_design_options``), never by extension: ``%PDF-`` in
the first 1024 bytes is a PDF — an ``Illustrator`` asset when the name ends in ``.ai``
(PDF-compatible AI), else a ``Pdf`` asset; an ``.ai`` starting ``%!PS-Adobe`` is a PostScript-based
Illustrator file, stored with an ``UploadWarning`` and not rendered. The design is in docs/formats.md:

* the uploaded file becomes one asset (master only, no pyramid TIFF) with its page count and,
  with ``extractSearchWords``, its words — it is the job's file (counted once);
* ``Rasterize`` (the default) and ``Thumbnail`` render the first ``MAX_PAGES`` pages one at a
  time (render, optimize, upload, forget) through the same pipeline as an uploaded image; each
  page is an ``Image`` asset ``<name>_<page>`` in the file's folder whose parent is the file's
  asset, with its own log row (rows, not file counts);
* ``pdfCatalog`` (PDF, Rasterize, several pages): a ``Catalog`` asset ``<name>_catalog`` whose
  members are the page assets in order.

pdfium is only touched through ``openips.imaging.pdf``; this module handles names, assets,
storage and log rows.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from openips.imaging import indesign, pdf
from openips.models import errors
from openips.models.domain import Asset, ImageMapArea, Job, LogAux, LogEntry, LogType
from openips.models.log_file_types import LogFileType
from openips.models.messages import details
from openips.models.outcomes import FileOutcome
from openips.models.upload_job import IllustratorOptions, PdfOptions
from openips.models.words import WordSet
from openips.services import naming
from openips.services.ingest import derived
from openips.services.ingest.context import Upload
from openips.services.ingest.outcome import Additions, Content, FileResult, finish_file
from openips.services.ingest.raster import image_content
from openips.services.options import processing_options

DocumentKind = Literal["pdf", "illustrator", "illustrator-ps", "indesign"]

DEFAULT_PPI = 150.0  # spec §5.8 (UI)
THUMBNAIL_LONG_SIDE = 256  # pdfOptions.process Thumbnail: each page's long side, in pixels
MAX_PAGES = pdf.MAX_PAGES
ASSET_TYPES = {"pdf": "Pdf", "indesign": "InDesign"}  # else Illustrator


@dataclass(frozen=True)
class Plan:
    """The job's options for one document, defaults filled in."""

    process: Literal["None", "Rasterize", "Thumbnail"]
    ppi: float
    long_side: int | None
    colorspace: Literal["Auto", "Rgb", "Cmyk", "Gray"]
    alpha: bool
    catalog: bool
    words: bool
    links: bool


def plan_for(job: Job, kind: DocumentKind) -> Plan:
    if kind == "pdf":
        p = job.options.pdf_options or PdfOptions()
        process = p.process or "Rasterize"
        return Plan(process=process, ppi=p.resolution or DEFAULT_PPI,
                    long_side=THUMBNAIL_LONG_SIDE if process == "Thumbnail" else None,
                    colorspace=p.colorspace or "Auto", alpha=False, catalog=p.pdf_catalog is not False,
                    words=bool(p.extract_search_words), links=bool(p.extract_links))
    if kind == "indesign":
        # inDesignOptions.process has no published values: "None" stores the file only, and
        # anything else (or nothing) extracts the page previews (docs/formats.md).
        skip = job.options.in_design_options is not None and job.options.in_design_options.process == "None"
        return Plan(process="None" if skip else "Rasterize", ppi=DEFAULT_PPI, long_side=None, colorspace="Auto",
                    alpha=False, catalog=False, words=False, links=False)
    a = job.options.illustrator_options or IllustratorOptions()
    return Plan(process=a.process or "Rasterize", ppi=a.resolution or DEFAULT_PPI, long_side=None,
                colorspace=a.colorspace or "Auto", alpha=bool(a.alpha), catalog=False, words=False, links=False)


@dataclass(kw_only=True)
class _Run(derived.Derivation):
    """One document being ingested; ``handles`` are its page assets."""

    plan: Plan


@dataclass(frozen=True)
class _Opened:
    """A document that opened: what its pages need once its own asset is stored."""

    document: pdf.PdfDocument
    considered: int  # pages looked at: the first MAX_PAGES
    page_words: list[list[str]]
    all_words: WordSet


def ingest(upload: Upload, kind: DocumentKind) -> FileResult:
    """The whole document: its asset, its pages, its catalog, and every log row."""
    target, now = upload.target, upload.now
    asset_type = ASSET_TYPES.get(kind, "Illustrator")
    plan = plan_for(upload.job, kind)
    run = _Run(upload=upload, plan=plan)
    aux: list[LogAux] = []
    if kind == "illustrator-ps":
        aux.append(_aux(now, "illustrator.not_rasterised", path=target.path))
        content = Content(type=asset_type, summary="Illustrator file (PostScript-based), master stored")
        return _finish(run, content, aux, None)
    opener = indesign.open_document if kind == "indesign" else pdf.open_document
    try:
        with opener(upload.source) as document:
            return _ingest_document(run, document, asset_type, aux)
    except errors.FileRejectedError as exc:
        if plan.process != "None" or not exc.code.startswith("pdf."):
            raise
        reason = exc.message
    # process None keeps any file as a managed file: an unreadable one is stored, and said so.
    aux.append(_aux(now, "pdf.unreadable_stored", path=target.path, reason=reason))
    return _finish(run, Content(type=asset_type, summary="PDF, stored as it is"), aux, None)


def _ingest_document(run: _Run, document: pdf.PdfDocument, asset_type: str, aux: list[LogAux]) -> FileResult:
    target, plan, now = run.target, run.plan, run.now
    considered = min(document.page_count, MAX_PAGES)
    if document.active_content:
        aux.append(_aux(now, "pdf.active_content", path=target.path, found=", ".join(document.active_content)))
    if document.page_count > MAX_PAGES and plan.process != "None":
        aux.append(_aux(now, "pdf.page_limit", path=target.path, count=document.page_count, limit=MAX_PAGES))
    notes = ["encrypted with permissions only: it opens without a password"] if document.encrypted else []
    if asset_type == "InDesign":
        previews = document.previews
        aux += [_aux(now, "indesign.preview_problem", path=target.path, problem=p) for p in previews.problems]
        if not previews.pages and plan.process != "None":
            aux.append(_aux(now, "indesign.no_previews", path=target.path))
        if previews.more_pages:
            aux.append(_aux(now, "pdf.page_limit", path=target.path, count=len(previews.pages) + previews.more_pages,
                            limit=MAX_PAGES))

    page_words: list[list[str]] = []
    all_words = WordSet()
    if plan.words:
        for index in range(considered):
            words = WordSet()
            try:
                words.add(document.words(index))
            except errors.FileRejectedError:
                pass  # an unreadable page is refused (with its row) when it is rendered
            page_words.append(words.words)
            all_words.add(words.words)
        if all_words.full:
            aux.append(_aux(now, "pdf.words_truncated", path=target.path, count=len(all_words.words)))

    label = {"Pdf": "PDF", "InDesign": "InDesign document"}.get(asset_type, "Illustrator (PDF-compatible)")
    content = Content(type=asset_type, summary=f"{label}, {_pages(document.page_count)}", notes=tuple(notes))
    return _finish(run, content, aux, _Opened(document, considered, page_words, all_words))


def _finish(run: _Run, content: Content, aux: list[LogAux], opened: _Opened | None) -> FileResult:
    """The document's own asset (decided and stored by ``finish_file``), then its pages and catalog."""
    return finish_file(run.upload, content, lambda asset, content: _add_pages(run, asset, content, aux, opened))


def _add_pages(run: _Run, asset: Asset, content: Content, aux: list[LogAux], opened: _Opened | None) -> Additions:
    run.parent = asset
    update: dict = {"members": [], "search_words": [], "page_count": None}
    summary = content.summary
    if opened is not None:
        considered, all_words = opened.considered, opened.all_words
        update |= {"page_count": opened.document.page_count, "search_words": all_words.words}
        if run.plan.process != "None":
            summary += _render_pages(run, opened.document, considered, opened.page_words)
            update["members"] = list(run.handles)
            if run.plan.process == "Rasterize" and run.plan.catalog and asset.type == "Pdf" and considered > 1 \
                    and run.handles:
                summary += _catalog(run)
        else:
            summary += ", not rendered (process None)"
        if run.plan.words:
            summary += f", {len(all_words.words)} search words"
    detached = derived.detach_stale(run, asset.members)
    if detached:
        summary += f", page images of an earlier upload detached (kept): {detached}"
    # The file counts as warned for its own warnings, or a page refused or warned (run.warned).
    return Additions(asset.model_copy(update=update), summary, tuple(aux), tuple(run.rows), run.warned)


def _render_pages(run: _Run, document: pdf.PdfDocument, considered: int, page_words: list[list[str]]) -> str:
    """Every considered page, one at a time; the summary's addition."""
    plan = run.plan
    cmyk_profile = _cmyk_profile(run) if plan.colorspace == "Cmyk" else None
    for index in range(considered):
        _render_page(run, document, index, page_words[index] if plan.words else [], cmyk_profile)
    if run.parent is not None and run.parent.type == "InDesign":
        return f", {len(run.handles)} of {considered} page previews extracted"
    how = (f"long side {THUMBNAIL_LONG_SIDE} px (Thumbnail)" if plan.long_side else f"{plan.ppi:g} ppi")
    return f", {len(run.handles)} of {considered} pages rendered at {how}"


def _render_page(run: _Run, document: pdf.PdfDocument, index: int, words: list[str],
                 cmyk_profile: str | None) -> None:
    deps, job, company, target, now, plan = run.deps, run.job, run.company, run.target, run.now, run.plan
    parent = run.parent
    assert parent is not None
    page_no = index + 1
    name = f"{parent.name}_{page_no}"
    page_target = naming.TargetPath(folder=target.folder, file_name=f"{name}.tif", asset_name=name, extension="tif")
    existing, replacing, skipped = derived.blocked_by(run, page_target)
    if skipped:
        run.rows.append(_page_row(run, "pdf.page_duplicate", page_no, LogType.DUPLICATE_SKIPPED,
                                  asset=name, asset_name=name))
        return
    rendered_path = os.path.join(run.tmp, f"page-{page_no}.tif")
    try:
        rendered = document.render(index, rendered_path, ppi=plan.ppi, long_side=plan.long_side,
                                   colorspace=plan.colorspace, alpha=plan.alpha,
                                   max_pixels=deps.settings.max_image_pixels, links=plan.links,
                                   cmyk_profile=cmyk_profile)
        content = image_content(deps, job, company, page_target, rendered.path, run.tmp, replacing)
    except errors.FileRejectedError as exc:
        run.warned = True
        run.rows.append(_page_row(run, "pdf.page_refused", page_no, LogType.PDF_RIP_ERROR,
                                  reason=exc.message, code=exc.code))
        return
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(rendered_path)
    content = replace(content, notes=(*rendered.notes, *content.notes),
                      warnings=(*rendered.warnings, *content.warnings))
    image_map = _image_map(rendered.links, content)

    def finish(asset: Asset) -> Asset:
        return asset.model_copy(update={"parent_handle": parent.asset_handle, "master_key": "",
                                        "image_map": image_map, "search_words": words})

    assert content.optimized_path is not None
    size = os.path.getsize(content.optimized_path)
    outcome, page, exists = derived.decide(run, page_target, content, size, finish)
    if page is None:
        run.rows.append(_page_row(run, "pdf.page_duplicate", page_no, LogType.DUPLICATE_SKIPPED,
                                  asset=name, asset_name=name))
        return
    derived.store_image(run, content, page, exists, existing)
    created = outcome == FileOutcome.UPLOAD_SUCCESS
    aux = [_aux(now, "file.warning", path=f"{target.path} page {page_no}", warning=w) for w in content.warnings]
    run.rows.append(_page_row(run, "pdf.page_created" if created else "pdf.page_updated", page_no,
                              LogType.UPLOAD_SUCCESS if created else LogType.FILE_UPDATED,
                              asset=page.name, summary=content.summary, details=details(content.notes), aux=aux,
                              asset_name=page.name, asset_handle=page.asset_handle,
                              asset_type=LogFileType.THUMBNAIL if plan.process == "Thumbnail"
                              else LogFileType.MASTER_IMAGE))


def _catalog(run: _Run) -> str:
    """``pdfCatalog``: a Catalog asset over the page assets, in page order."""
    assert run.parent is not None
    content = Content(type="Catalog", summary=f"catalog of {len(run.handles)} pages")
    catalog = derived.store_container(run, f"{run.parent.name}_catalog", content, {}, messages="pdf.catalog",
                                      params={"count": len(run.handles)}, asset_type=LogFileType.CATALOG)
    return f", catalog {catalog.name}" if catalog else ", no catalog (name taken)"


def _image_map(links: list[pdf.LinkArea], content: Content) -> list[ImageMapArea]:
    """Links in the stored image's pixels: shifted by the crop the pipeline applied, clipped to it."""
    crop = content.crop
    dx, dy = (crop.x_offset, crop.y_offset) if crop else (0, 0)
    width, height = content.width or 0, content.height or 0
    areas = []
    for link in links:
        left, top = max(0, link.x - dx), max(0, link.y - dy)
        right, bottom = min(width, link.x + link.width - dx), min(height, link.y + link.height - dy)
        if right > left and bottom > top:
            areas.append(ImageMapArea(x=left, y=top, width=right - left, height=bottom - top, href=link.href))
    return areas


def _cmyk_profile(run: _Run) -> str | None:
    """The company's CMYK profile (``defaultSourceProfileHandle``) as a file, for colorspace Cmyk."""
    try:
        options = processing_options(run.deps, run.company, run.job.options, None)
    except errors.Fault:
        return None
    profile = options.color.default_cmyk_profile
    if not profile:
        return None
    path = os.path.join(run.tmp, "cmyk.icc")
    with open(path, "wb") as fh:
        fh.write(profile)
    return path


def _page_row(run: _Run, message_id: str, page_no: int, log_type: LogType, *, code: str | None = None,
              aux: list[LogAux] | None = None, asset_name: str | None = None, asset_handle: str | None = None,
              asset_type: LogFileType | None = None, **params: object) -> LogEntry:
    params = {"path": run.target.path, "page": page_no, **params}
    return LogEntry.localised(log_type, message_id, params, run.now, file_path=run.target.path, code=code,
                              aux=aux or [], asset_name=asset_name, asset_handle=asset_handle, asset_type=asset_type)


def _aux(now: datetime, message_id: str, **params: object) -> LogAux:
    return LogAux.warning(message_id, params, now)


def _pages(count: int) -> str:
    return "1 page" if count == 1 else f"{count} pages"
