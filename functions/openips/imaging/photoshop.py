"""Photoshop files (spec §5.6, §3.5): recognise them, check what IPS refuses, flatten them.

The header is read by hand first (26 bytes), so a file IPS refuses — PSB, a colour mode other
than Bitmap, Grayscale, RGB or CMYK, more than 16 bits per channel — or one over the pixel limit
is refused before psd-tools parses anything. The flattened image is the composite Photoshop
stored in the file ("Maximize Compatibility"), or one psd-tools composes from the layers when
the file has none; it keeps the file's ICC profile so colour management reads it as Photoshop
would. For ``MaintainLayers`` each layer is rendered alone, cut to the canvas, into an 8-bit
image with alpha in the document's colour mode (``PhotoshopDocument.render_layer``).
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from openips.imaging import vips
from openips.models.errors import FileRejectedError

MAGIC = b"8BPS"
# Colour modes of the PSD header (Adobe's file format specification).
MODES = {0: "Bitmap", 1: "Grayscale", 2: "Indexed", 3: "RGB", 4: "CMYK", 7: "Multichannel", 8: "Duotone", 9: "Lab"}
ACCEPTED_MODES = frozenset({"Bitmap", "Grayscale", "RGB", "CMYK"})  # spec §3.5
ICC_PROFILE_RESOURCE = 1039


class PhotoshopRefusedError(FileRejectedError):
    code = "psd.refused"


@dataclass(frozen=True)
class Header:
    version: int  # 1 PSD, 2 PSB
    channels: int
    height: int
    width: int
    depth: int
    mode: str


@dataclass(frozen=True)
class Flattened:
    path: str
    header: Header
    from_layers: bool  # composed by psd-tools: the file held no composite image


def is_psd_file(path: str) -> bool:
    with open(path, "rb") as fh:
        return is_psd(fh.read(4))


def is_psd(head: bytes) -> bool:
    """Whether a file's first bytes are a Photoshop header's signature (PSB files share it)."""
    return head[:4] == MAGIC


def read_header(path: str) -> Header:
    with open(path, "rb") as fh:
        data = fh.read(26)
    if len(data) < 26 or data[:4] != MAGIC:
        raise PhotoshopRefusedError("the Photoshop header is truncated")
    version, channels, height, width, depth, mode = struct.unpack(">H6xHIIHH", data[4:26])
    return Header(version, channels, height, width, depth, MODES.get(mode, f"mode {mode}"))


def check(header: Header, max_pixels: int) -> None:
    """IPS's refusals (spec §3.5), and the pixel limit, from the header alone."""
    if header.version == 2:
        raise PhotoshopRefusedError("it is a large document (PSB), which IPS does not accept")
    if header.version != 1:
        raise PhotoshopRefusedError(f"unknown Photoshop file version {header.version}")
    if header.mode not in ACCEPTED_MODES:
        raise PhotoshopRefusedError(f"its colour mode is {header.mode}; only Bitmap, Grayscale, RGB and CMYK "
                                    "documents are accepted")
    if header.depth > 16:
        raise PhotoshopRefusedError(f"it has {header.depth} bits per channel; at most 16 are accepted")
    if header.width < 1 or header.height < 1:
        raise PhotoshopRefusedError(f"its canvas is {header.width}×{header.height}")
    if header.width * header.height > max_pixels:
        raise PhotoshopRefusedError(f"its canvas is {header.width}×{header.height} = {header.width * header.height} "
                                    f"pixels, more than the limit of {max_pixels}")


def flatten(path: str, out_path: str, *, max_pixels: int) -> Flattened:
    """The document's flattened image as a TIFF (its ICC profile kept) for the raster pipeline."""
    with open_document(path, max_pixels=max_pixels) as document:
        return document.flatten(out_path)


@dataclass(frozen=True)
class LayerInfo:
    """One layer of the stack, as ``MaintainLayers`` sees it (docs/formats.md#photoshop-layers)."""

    index: int  # position in psd-tools' depth-first walk, bottom to top
    number: int  # Photoshop's layer number: 1-based over the non-group layers, bottom to top
    name: str
    kind: str  # psd-tools' kind: pixel, type, shape, smartobject, adjustment, solidcolorfill, …
    groups: tuple[str, ...]  # enclosing layer groups, outermost first
    visible: bool  # its own eye, and every enclosing group's
    opacity: int  # 0–255
    blend_mode: str
    left: int
    top: int
    right: int
    bottom: int
    text: str | None  # type layers: the text, lines separated by "\n"

    @property
    def has_own_pixels(self) -> bool:
        """Adjustment layers change what lies below them and have no image of their own."""
        return self.kind not in ADJUSTMENT_KINDS and self.right > self.left and self.bottom > self.top


@dataclass(frozen=True)
class RenderedLayer:
    path: str
    left: int  # where the image's top-left corner sits on the canvas
    top: int
    width: int
    height: int
    clipped: bool  # part of the layer lay outside the canvas and was cut off


ADJUSTMENT_KINDS = frozenset({"adjustment", "brightnesscontrast", "levels", "curves", "exposure", "vibrance",
                              "huesaturation", "colorbalance", "blackandwhite", "photofilter", "channelmixer",
                              "colorlookup", "invert", "posterize", "threshold", "selectivecolor",
                              "gradientmap"})


class PhotoshopDocument:
    """An open PSD: its header, flattened image and layers. Only psd-tools and pyvips touch pixels here."""

    def __init__(self, path: str, header: Header, max_pixels: int) -> None:
        from psd_tools import PSDImage  # numpy and psd-tools load only for Photoshop files

        self.header = header
        self._max_pixels = max_pixels
        with _damage_as_refusal():
            self._psd = PSDImage.open(path)
            self._icc = self._psd.image_resources.get_data(ICC_PROFILE_RESOURCE)
            self._walk = list(self._psd.descendants())
            self.layers = self._layer_infos()

    def flatten(self, out_path: str) -> Flattened:
        with _damage_as_refusal():
            has_composite = self._psd.has_preview()
            image = self._psd.composite(apply_icc=False)  # the colour step converts, and says how
        if image is None:
            raise PhotoshopRefusedError("the Photoshop file has neither a composite image nor visible layers")
        if image.mode == "1":
            image = image.convert("L")  # Bitmap documents: 1-bit becomes 8-bit grey
        save = {"compression": "tiff_deflate"}
        if isinstance(self._icc, bytes) and self._icc:
            save["icc_profile"] = self._icc
        image.save(out_path, format="TIFF", **save)
        return Flattened(out_path, self.header, from_layers=not has_composite)

    def render_layer(self, layer: LayerInfo, out_path: str, *, extend: bool) -> RenderedLayer:
        """One layer alone — its mask and effects applied, hidden or not — as an 8-bit TIFF with alpha.

        The layer is cut to the canvas; with ``extend`` it is placed on a transparent canvas of the
        document's size instead, so every layer image lines up with the background.
        """
        from psd_tools.composite import composite

        width, height = self.header.width, self.header.height
        left, top = max(0, layer.left), max(0, layer.top)
        right, bottom = min(width, layer.right), min(height, layer.bottom)
        if right <= left or bottom <= top:
            raise PhotoshopRefusedError(f"layer {layer.number} lies outside the canvas")
        clipped = (layer.left, layer.top, layer.right, layer.bottom) != (left, top, right, bottom)
        claimed = (layer.right - layer.left) * (layer.bottom - layer.top)
        if claimed > self._max_pixels:  # psd-tools decodes a layer's whole box before cutting it
            raise PhotoshopRefusedError(f"layer {layer.number} claims {layer.right - layer.left}×"
                                        f"{layer.bottom - layer.top} = {claimed} pixels, more than the limit of "
                                        f"{self._max_pixels}")
        with _damage_as_refusal():
            color, _shape, alpha = composite(self._walk[layer.index], color=1.0, alpha=0.0,
                                             viewport=(left, top, right, bottom), force=True,
                                             layer_filter=_every_layer)
        image = self._to_vips(color, alpha)
        if extend:
            image = image.embed(left, top, width, height, extend="background", background=[0] * image.bands)
            left, top = 0, 0
        if isinstance(self._icc, bytes) and self._icc:
            image = vips.with_blob(image, "icc-profile-data", self._icc)
        image.tiffsave(out_path, compression="deflate")
        return RenderedLayer(out_path, left, top, image.width, image.height, clipped)

    def _to_vips(self, color, alpha):  # numpy float arrays in 0–1 → an 8-bit pyvips image with alpha
        import numpy as np

        # CMYK comes out of psd-tools as ink (it undoes Photoshop's inverted storage when reading channels).
        planes = np.concatenate([color[:, :, :CHANNELS[self.header.mode]], alpha], axis=2)
        data = np.ascontiguousarray(np.clip(np.rint(planes * 255.0), 0, 255).astype(np.uint8))
        image = vips.Image.new_from_array(data)
        interpretation = {"CMYK": "cmyk", "RGB": "srgb"}.get(self.header.mode, "b-w")
        return image.copy(interpretation=interpretation)

    def _layer_infos(self) -> list[LayerInfo]:
        infos, number = [], 0
        for index, layer in enumerate(self._walk):
            if layer.is_group():
                continue
            number += 1
            groups, visible, parent = [], layer.visible, layer.parent
            while parent is not None and parent is not self._psd:
                groups.insert(0, parent.name)
                visible = visible and parent.visible
                parent = parent.parent
            left, top, right, bottom = layer.bbox
            text = layer.text.replace("\r", "\n") if layer.kind == "type" else None
            infos.append(LayerInfo(index=index, number=number, name=layer.name, kind=layer.kind,
                                   groups=tuple(groups), visible=visible, opacity=int(layer.opacity),
                                   blend_mode=_blend_name(layer.blend_mode), left=left, top=top, right=right,
                                   bottom=bottom, text=text))
        return infos


def _every_layer(_layer: object) -> bool:
    return True  # hidden layers too: a template can switch them on


CHANNELS = {"RGB": 3, "CMYK": 4, "Grayscale": 1, "Bitmap": 1}


def _blend_name(mode: object) -> str:
    return getattr(mode, "name", str(mode)).lower().replace("_", " ")


@contextlib.contextmanager
def _damage_as_refusal() -> Iterator[None]:
    try:
        yield
    except (ValueError, OSError, EOFError, IndexError, KeyError, AssertionError, struct.error) as exc:
        raise PhotoshopRefusedError(f"the Photoshop file is damaged ({type(exc).__name__}: {exc})") from exc


@contextlib.contextmanager
def open_document(path: str, *, max_pixels: int) -> Iterator[PhotoshopDocument]:
    """The PSD, once IPS's refusals have been checked from its header."""
    header = read_header(path)
    check(header, max_pixels)
    yield PhotoshopDocument(path, header, max_pixels)
