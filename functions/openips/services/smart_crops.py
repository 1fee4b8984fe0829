"""The smart crops of one uploaded image (``autoSmartCropOptionsArray``, ``preserveSmartCrop``,
``ignoreSmartCropGeneration``): which to make, which to keep, and what the file's row says (docs/smart-crops.md).

The pixels are ``imaging/smart_crop.py``'s; this module holds the rules:

* at most ``MAX_SMART_CROPS`` (100, Dynamic Media's hard limit) per image: the first 100 items are
  made, the rest named in a warning;
* an item with a name no URL can carry, a side outside 1…65535, or a name already used is skipped
  with a warning: a bad item never costs the file its asset or its other crops;
* ``preserveSmartCrop: true`` keeps, on an update, every crop a person adjusted (``adjusted``), with its
  name and rectangle, instead of making it again (dropped with a warning when it no longer fits the new master);
* ``ignoreSmartCropGeneration: true`` makes none; an updated asset keeps the crops it had (those that
  still fit), since the flag skips generation and says nothing about removing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from openips.imaging.smart_crop import MAX_SIDE, CropItem, SmartCropError, smart_crops
from openips.imaging.types import EncodedTiff
from openips.models.domain import Asset
from openips.models.processing import MAX_SMART_CROPS, SMART_CROP_NAME, NamedCrop
from openips.models.upload_job import AutoSmartCropOptions, UploadPostJob

_NAME = re.compile(SMART_CROP_NAME)
_LISTED = 10  # crops named one by one in the row; the rest are counted


@dataclass
class SmartCropOutcome:
    crops: list[NamedCrop] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def valid_items(items: list[AutoSmartCropOptions], warnings: list[str]) -> list[tuple[CropItem, str]]:
    """The items to make, in order, each with its ``type``; what is skipped is a warning."""
    if len(items) > MAX_SMART_CROPS:
        warnings.append(f"autoSmartCropOptionsArray: {len(items)} items, at most {MAX_SMART_CROPS} smart crops "
                        f"per image; the {len(items) - MAX_SMART_CROPS} after the {MAX_SMART_CROPS}th were not made")
        items = items[:MAX_SMART_CROPS]
    chosen: list[tuple[CropItem, str]] = []
    seen: set[str] = set()
    for n, item in enumerate(items, 1):
        shown = repr(item.name[:40])
        if not _NAME.fullmatch(item.name):
            warnings.append(f"autoSmartCropOptionsArray: item {n} ({shown}) not made: a name is 1 to 64 letters, "
                            "digits, '-', '_' or '.'")
        elif not (0 < item.width <= MAX_SIDE and 0 < item.height <= MAX_SIDE):
            warnings.append(f"autoSmartCropOptionsArray: item {n} ({shown}) not made: {item.width}×{item.height}, "
                            f"a side is 1 to {MAX_SIDE}")
        elif item.name in seen:
            warnings.append(f"autoSmartCropOptionsArray: item {n} ({shown}) not made: the name is already used "
                            "by an earlier item")
        else:
            seen.add(item.name)
            chosen.append((CropItem(name=item.name, width=item.width, height=item.height), item.type))
    return chosen


def fits(crop: NamedCrop, width: int, height: int) -> bool:
    return crop.x + crop.width <= width and crop.y + crop.height <= height


def image_smart_crops(options: UploadPostJob, replacing: Asset | None, tiff: EncodedTiff) -> SmartCropOutcome:
    """The crops the asset will hold once this file is stored, and the row's notes and warnings about them."""
    out = SmartCropOutcome()
    previous = list(replacing.smart_crops) if replacing is not None else []
    if options.ignore_smart_crop_generation:
        out.crops = _kept(previous, tiff, out.warnings, "ignoreSmartCropGeneration")
        asked = len(options.auto_smart_crop_options_array or [])
        out.notes.append("ignoreSmartCropGeneration: no smart crops made"
                         + (f" (the {asked} asked for were skipped)" if asked else "")
                         + (f"; {len(out.crops)} existing kept ({_names(out.crops)})" if out.crops else ""))
        return out
    kept = _kept([c for c in previous if c.adjusted], tiff, out.warnings, "preserveSmartCrop") \
        if options.preserve_smart_crop else []
    kept_names = {c.name for c in kept}
    items = valid_items(list(options.auto_smart_crop_options_array or []), out.warnings)
    todo = [(item, kind) for item, kind in items if item.name not in kept_names]
    try:
        found = {c.name: c for c in smart_crops(tiff, [item for item, _ in todo])}
    except SmartCropError as exc:
        out.warnings.append(f"autoSmartCropOptionsArray: no smart crops made, the image could not be analysed ({exc})")
        found = {}
    made = [NamedCrop(name=item.name, x=c.x, y=c.y, width=c.width, height=c.height, requested_width=item.width,
                      requested_height=item.height, type=kind, method="attention", score=c.score)
            for item, kind in todo if (c := found.get(item.name))]
    out.crops = made + kept
    if made:
        out.notes.append(f"autoSmartCropOptionsArray: {len(made)} smart crop(s) made by attention "
                         f"(name x,y w×h score): {_described(made)}")
    if kept:
        out.notes.append(f"preserveSmartCrop: {len(kept)} adjusted smart crop(s) kept ({_names(kept)})")
    dropped = [c.name for c in previous if c.name not in {k.name for k in out.crops}]
    if dropped and previous:
        out.notes.append(f"{len(dropped)} smart crop(s) of the previous version removed "
                         f"({', '.join(dropped[:_LISTED])}{', …' if len(dropped) > _LISTED else ''})")
    return out


def _kept(crops: list[NamedCrop], tiff: EncodedTiff, warnings: list[str], option: str) -> list[NamedCrop]:
    width, height = tiff.displayed_size
    kept = [c for c in crops if fits(c, width, height)]
    for crop in crops:
        if crop not in kept:
            warnings.append(f"{option}: smart crop {crop.name} ({crop.x},{crop.y} {crop.width}×{crop.height}) lies "
                            f"outside the new {width}×{height} image and was removed")
    return kept


def _names(crops: list[NamedCrop]) -> str:
    names = [c.name for c in crops]
    return ", ".join(names[:_LISTED]) + (", …" if len(names) > _LISTED else "")


def _described(crops: list[NamedCrop]) -> str:
    shown = [f"{c.name} {c.x},{c.y} {c.width}×{c.height} {c.score:.2f}" for c in crops[:_LISTED]]
    return "; ".join(shown) + (f"; … and {len(crops) - _LISTED} more" if len(crops) > _LISTED else "")
