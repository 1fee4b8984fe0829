"""Photoshop documents (``photoshopOptions``, spec §5.6, §3.5), recognised by their ``8BPS`` header.

``process: None`` (or no block): an ``Image`` asset whose master is the PSD and whose pyramid TIFF
is its flattened image (the composite stored in the file, or one composed from the layers).
What IPS refuses (PSB, Indexed/Lab/Duotone/Multichannel, > 16 bits) is refused from the header
before anything is parsed (``imaging.photoshop``).

``MaintainLayers``: the PSD's asset becomes the parent of an asset per layer (``members``,
bottom to top). The design is in docs/formats.md#photoshop-layers:

* every layer with an image of its own (pixel, type, shape, smart object and fill layers; not
  adjustment layers, not groups), hidden ones too, becomes an ``Image`` asset through the job's
  option pipeline, cut to the canvas, or the size of the canvas with ``extendLayers``;
* names follow ``layerNaming`` (default ``AppendName``); ``Folders`` also files the layers of
  each document in a folder named after it, with a sub-folder per layer group;
* ``extractText``: a type layer's text is stored on its asset and in the template, and its
  words are search words of the layer and of the document (``GET /v1/assets?text=``);
* ``createTemplate``: a ``PsdTemplate`` asset ``<name>_template`` listing the layer assets, where
  each sits on the canvas, their visibility, opacity and blend mode, and the ``anchor``.

psd-tools is only touched through ``openips.imaging.photoshop``.
"""

from __future__ import annotations

import contextlib
import os
import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime

from openips.imaging import photoshop
from openips.models import errors
from openips.models.domain import Asset, Job, LogAux, LogEntry, LogType, PsdLayer, PsdTemplate
from openips.models.log_file_types import LogFileType, LogFileTypes
from openips.models.messages import details
from openips.models.outcomes import FileOutcome
from openips.models.words import WordSet, tokenize
from openips.services import naming
from openips.services.ingest import derived
from openips.services.ingest.context import Upload
from openips.services.ingest.format import Format
from openips.services.ingest.outcome import Additions, Content, FileResult, finish_file
from openips.services.ingest.raster import image_content
from openips.services.ingest.sniff import Sniff

DEFAULT_NAMING = "AppendName"
DEFAULT_ANCHOR = "Center"  # spec §5.6 (UI)
MAX_LAYERS = 100  # as many as a PDF has pages rasterised; the template record stays well under 400 KB
MAX_GROUP_LEVELS = 5  # spec §5.6: the IPS UI supports five levels of layer groups
MAX_NAME_CHARS = 100
MAX_TEXT_CHARS = 2000  # of a type layer's text stored on its asset and in the template

# The names Photoshop gives new layers (English, German, French, Spanish, Italian, Japanese), and
# their copies: such a layer is named by its number, as IPS does (spec §5.6).
_DEFAULT_LAYER_NAME = re.compile(
    r"^(Background|Layer \d+|Hintergrund|Ebene \d+|Arrière-plan|Calque \d+|Fondo|Capa \d+|Sfondo|Livello \d+"
    r"|背景|レイヤー ?\d+)( (copy|Kopie|copie|copia|のコピー)( \d+)?)?$")


def maintain_layers(job: Job) -> bool:
    options = job.options.photoshop_options
    return options is not None and options.process == "MaintainLayers"


@dataclass(frozen=True)
class LayerPlan:
    """``layerOptions`` with the defaults filled in."""

    naming: str
    anchor: str
    template: bool
    text: bool
    extend: bool


def plan_for(job: Job) -> LayerPlan:
    options = job.options.photoshop_options
    layer = options.layer_options if options is not None else None
    if layer is None:
        return LayerPlan(DEFAULT_NAMING, DEFAULT_ANCHOR, template=False, text=False, extend=False)
    return LayerPlan(layer.layer_naming or DEFAULT_NAMING, layer.anchor or DEFAULT_ANCHOR,
                     template=bool(layer.create_template), text=bool(layer.extract_text),
                     extend=bool(layer.extend_layers))


@dataclass(kw_only=True)
class _Run(derived.Derivation):
    """One PSD being split; ``handles`` are its layer assets, ``placements`` where they sit."""

    plan: LayerPlan
    placements: list[PsdLayer]


def recognises(sniff: Sniff) -> bool:
    return sniff.psd


def ingest(upload: Upload) -> FileResult:
    if maintain_layers(upload.job):
        return _ingest_with_layers(upload)
    flat = photoshop.flatten(upload.source, os.path.join(upload.tmp, "flattened.tif"),
                             max_pixels=upload.deps.settings.max_image_pixels)
    return finish_file(upload, flattened_content(upload, flat))


def flattened_content(upload: Upload, flat: photoshop.Flattened) -> Content:
    """A PSD is an ``Image`` asset: the master is the PSD, the pyramid TIFF its flattened image."""
    raster = image_content(upload.deps, upload.job, upload.company, upload.target, flat.path, upload.tmp,
                           upload.replacing)
    header = flat.header
    how = "composed from its layers (the file holds no composite)" if flat.from_layers else "its stored composite"
    note = (f"Photoshop {header.mode} {header.depth}-bit document, {header.width}×{header.height}; "
            f"flattened image: {how}")
    return replace(raster, summary=f"Photoshop document, {raster.summary}", notes=(note, *raster.notes))


def _ingest_with_layers(upload: Upload) -> FileResult:
    """The PSD's own asset (its flattened image), its layer assets and template, and every log row."""
    with photoshop.open_document(upload.source, max_pixels=upload.deps.settings.max_image_pixels) as document:
        content = flattened_content(upload, document.flatten(os.path.join(upload.tmp, "flattened.tif")))
        return finish_file(upload, content, lambda asset, content: _add_layers(upload, document, asset, content))


def _add_layers(upload: Upload, document: photoshop.PhotoshopDocument, asset: Asset, content: Content) -> Additions:
    """Once the PSD's own asset is stored: its layer assets, its template, its words."""
    target, now, plan = upload.target, upload.now, plan_for(upload.job)
    run = _Run(upload=upload, plan=plan, parent=asset, placements=[])
    chosen, aux = _choose_layers(document.layers, target, now)
    names = layer_names(plan.naming, asset.name, chosen)
    too_deep = 0
    for layer in chosen:
        folder = _folder(plan.naming, target.folder, asset.name, layer.groups)
        too_deep += len(layer.groups) > MAX_GROUP_LEVELS and plan.naming == "Folders"
        _extract(run, document, layer, names[layer.number], folder)
    if too_deep:
        aux.append(LogAux.warning("psd.groups_too_deep", {"path": target.path, "count": too_deep,
                                                          "limit": MAX_GROUP_LEVELS}, now))
    summary = (f"{content.summary}, {len(run.handles)} of {len(chosen)} layers extracted "
               f"(layerNaming {plan.naming}{', extended to the canvas' if plan.extend else ''})")
    words = WordSet()
    if plan.text:
        for placement in run.placements:
            words.add(tokenize(placement.text or ""))
        summary += f", {len(words.words)} search words from text layers"
    if plan.template and run.handles:
        summary += _template(run, document.header)
    detached = derived.detach_stale(run, asset.members)
    if detached:
        summary += f", layer assets of an earlier upload detached (kept): {detached}"
    final = asset.model_copy(update={"members": list(run.handles), "search_words": words.words})
    return Additions(final, summary, tuple(aux), tuple(run.rows), run.warned)


def _choose_layers(layers: list[photoshop.LayerInfo], target: naming.TargetPath,
                   now: datetime) -> tuple[list[photoshop.LayerInfo], list[LogAux]]:
    """The layers that become assets (bottom first, at most ``MAX_LAYERS``), and the warnings about the rest."""
    own = [layer for layer in layers if layer.has_own_pixels]
    aux = []
    if len(own) < len(layers):
        aux.append(LogAux.warning("psd.no_pixels", {"path": target.path, "count": len(layers) - len(own)}, now))
    if len(own) > MAX_LAYERS:
        aux.append(LogAux.warning("psd.layer_limit", {"path": target.path, "count": len(own),
                                                      "limit": MAX_LAYERS}, now))
    return own[:MAX_LAYERS], aux


def layer_names(layer_naming: str, document: str, layers: list[photoshop.LayerInfo]) -> dict[int, str]:
    """Each layer's asset name by its number (spec §5.6 ``layerNaming``); unique within the document.

    ``LayerName`` is the layer's own name, ``AppendNumber`` ``<document>_<number>``, ``AppendName``
    and ``Folders`` ``<document>_<layer name>``. A layer with a name Photoshop made up (Background,
    Layer 1, their copies) or one that leaves no asset ID is named by its number. A name already
    used by a layer below gets ``_<number>`` appended.
    """
    names: dict[int, str] = {}
    used: set[str] = set()
    for layer in layers:
        own = _clean(layer.name)
        numbered = f"{document}_{layer.number}"
        if layer_naming == "AppendNumber" or not own or _DEFAULT_LAYER_NAME.match(layer.name.strip()):
            name = numbered
        elif layer_naming == "LayerName":
            name = own
        else:
            name = f"{document}_{own}"
        if name in used:
            name = f"{name}_{layer.number}"
        used.add(name)
        names[layer.number] = name
    return names


def _clean(text: str) -> str:
    """A layer or group name as an asset ID or folder name: no control or forbidden characters, bounded."""
    visible = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in text)
    cleaned = naming.asset_id(" ".join(visible.split()))[:MAX_NAME_CHARS].strip()
    return "" if cleaned in {".", ".."} else cleaned


def _folder(layer_naming: str, base: str, document: str, groups: tuple[str, ...]) -> str:
    """``Folders``: ``<folder>/<document>/<group>/…/`` (at most five group levels); else the PSD's folder."""
    if layer_naming != "Folders":
        return base
    segments = [document, *(_clean(g) or "_" for g in groups[:MAX_GROUP_LEVELS])]
    return base + "".join(f"{segment}/" for segment in segments)


def _extract(run: _Run, document: photoshop.PhotoshopDocument, layer: photoshop.LayerInfo, name: str,
             folder: str) -> None:
    """One layer: rendered, through the option pipeline, stored as a derived asset, with its row."""
    deps, plan, parent = run.deps, run.plan, run.parent
    assert parent is not None
    layer_target = naming.TargetPath(folder=folder, file_name=f"{name}.tif", asset_name=name, extension="tif")
    existing, replacing, skipped = derived.blocked_by(run, layer_target)
    if skipped:
        run.rows.append(_row(run, "psd.layer_duplicate", layer, LogType.DUPLICATE_SKIPPED, asset=name,
                             asset_name=name))
        return
    path = os.path.join(run.tmp, f"layer-{layer.number}.tif")
    try:
        rendered = document.render_layer(layer, path, extend=plan.extend)
        content = image_content(deps, run.job, run.company, layer_target, rendered.path, run.tmp, replacing)
    except errors.FileRejectedError as exc:
        run.warned = True
        run.rows.append(_row(run, "psd.layer_refused", layer, LogType.UPLOAD_ERROR, reason=exc.message,
                             code=exc.code))
        return
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
    crop = content.crop
    text = (layer.text or "")[:MAX_TEXT_CHARS] if plan.text and layer.text is not None else None
    placement = PsdLayer(number=layer.number, name=layer.name, kind=layer.kind, groups=list(layer.groups),
                         visible=layer.visible, opacity=round(layer.opacity * 100 / 255),
                         blend_mode=layer.blend_mode, x=rendered.left + (crop.x_offset if crop else 0),
                         y=rendered.top + (crop.y_offset if crop else 0), width=content.width or rendered.width,
                         height=content.height or rendered.height, text=text)
    content = replace(content, notes=(*_notes(layer, placement, rendered, document.header), *content.notes))
    words = WordSet()
    words.add(tokenize(text or ""))

    def finish(asset: Asset) -> Asset:
        return asset.model_copy(update={"parent_handle": parent.asset_handle, "master_key": "",
                                        "psd_layer": placement, "search_words": words.words})

    assert content.optimized_path is not None
    outcome, asset, exists = derived.decide(run, layer_target, content, os.path.getsize(content.optimized_path),
                                            finish)
    if asset is None:
        run.rows.append(_row(run, "psd.layer_duplicate", layer, LogType.DUPLICATE_SKIPPED, asset=name,
                             asset_name=name))
        return
    derived.store_image(run, content, asset, exists, existing)
    run.placements.append(placement.model_copy(update={"asset_handle": asset.asset_handle}))
    created = outcome == FileOutcome.UPLOAD_SUCCESS
    aux = [LogAux.warning("file.warning", {"path": f"{run.target.path} layer {layer.number}", "warning": w}, run.now)
           for w in content.warnings]
    run.rows.append(_row(run, "psd.layer_created" if created else "psd.layer_updated", layer,
                         LogType.UPLOAD_SUCCESS if created else LogType.FILE_UPDATED, asset=asset.name,
                         summary=content.summary, details=details(content.notes), aux=aux, asset_name=asset.name,
                         asset_handle=asset.asset_handle, asset_type=LogFileType.MASTER_IMAGE))


def _notes(layer: photoshop.LayerInfo, placement: PsdLayer, rendered: photoshop.RenderedLayer,
           header: photoshop.Header) -> list[str]:
    where = f"{layer.kind} layer at ({placement.x}, {placement.y}) on the {header.width}×{header.height} canvas"
    if layer.groups:
        where += f", in group {' / '.join(layer.groups)}"
    notes = [where]
    if not layer.visible:
        notes.append("hidden in the document")
    if rendered.clipped:
        notes.append("the parts outside the canvas were cut off")
    if layer.text is not None and len(layer.text) > MAX_TEXT_CHARS:
        notes.append(f"its text was cut to {MAX_TEXT_CHARS} characters")
    return notes


def _template(run: _Run, header: photoshop.Header) -> str:
    """``createTemplate``: a PsdTemplate asset over the layer assets, bottom to top; the summary's addition."""
    assert run.parent is not None
    template = PsdTemplate(width=header.width, height=header.height, anchor=run.plan.anchor, layers=run.placements)
    content = Content(type="PsdTemplate", summary=f"template of {len(run.handles)} layers",
                      width=header.width, height=header.height)
    asset = derived.store_container(run, f"{run.parent.name}_template", content, {"template": template},
                                    messages="psd.template", params={"count": len(run.handles),
                                                                     "anchor": run.plan.anchor},
                                    asset_type=LogFileType.PSD_TEMPLATE)
    return f", template {asset.name}" if asset else ", no template (name taken)"


def _row(run: _Run, message_id: str, layer: photoshop.LayerInfo, log_type: LogType, *, code: str | None = None,
         aux: list[LogAux] | None = None, asset_name: str | None = None, asset_handle: str | None = None,
         asset_type: LogFileType | None = None, **params: object) -> LogEntry:
    params = {"path": run.target.path, "number": layer.number, "layer": layer.name, **params}
    return LogEntry.localised(log_type, message_id, params, run.now, file_path=run.target.path, code=code,
                              aux=aux or [], asset_name=asset_name, asset_handle=asset_handle, asset_type=asset_type)


FORMAT = Format(name="Photoshop document", option="photoshop_options", recognises=recognises,
                log_file_types=LogFileTypes(LogFileType.MASTER_IMAGE), ingest=ingest)
