"""Layered Photoshop documents for the tests, written with psd-tools (no Photoshop files checked in)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from PIL import Image, ImageChops
from psd_tools import PSDImage
from psd_tools.api.layers import Group, PixelLayer
from psd_tools.constants import Tag
from psd_tools.psd.descriptor import DescriptorBlock, String
from psd_tools.psd.tagged_blocks import TaggedBlock, TypeToolObjectSetting


@dataclass
class Layer:
    name: str
    color: tuple  # in the image mode of the layer (RGBA for RGB documents, CMYK for CMYK ones)
    left: int = 0
    top: int = 0
    size: tuple[int, int] = (10, 10)
    visible: bool = True
    text: str | None = None  # makes it a type layer


@dataclass
class Folder:
    name: str
    layers: list = field(default_factory=list)  # Layer or Folder, bottom to top


def layered_psd(stack: list, mode: str = "RGB", size: tuple[int, int] = (200, 100)) -> bytes:
    """A document whose layers are ``stack`` (bottom to top)."""
    psd = PSDImage.new(mode, size, color=(255, 255, 255) if mode == "RGB" else 0)
    _fill(psd, psd, stack, mode)
    out = io.BytesIO()
    psd.save(out)
    return out.getvalue()


def _fill(psd: PSDImage, parent, stack: list, mode: str) -> None:
    for item in stack:
        if isinstance(item, Folder):
            group = Group.new(psd, item.name)
            _fill(psd, group, item.layers, mode)
            parent.append(group)
            continue
        image = Image.new("RGBA" if mode == "RGB" else mode, item.size, item.color)
        if mode == "CMYK":  # Photoshop stores CMYK inverted (0 = full ink); psd-tools' writer does not invert
            image = ImageChops.invert(image)
        layer = PixelLayer.frompil(image, psd, item.name, top=item.top, left=item.left)
        layer.visible = item.visible
        if item.text is not None:
            _make_type_layer(layer, item)
        parent.append(layer)


def _make_type_layer(layer: PixelLayer, item: Layer) -> None:
    """The type tool block psd-tools reads a type layer's text from (its pixels stay the rendered text)."""
    text = DescriptorBlock(classID=b"TxLr")
    text[b"Txt "] = String(item.text.replace("\n", "\r") + "\x00")
    setting = TypeToolObjectSetting(version=1, text_version=50, warp_version=1, text_data=text,
                                    warp=DescriptorBlock(classID=b"warp"), left=item.left, top=item.top,
                                    right=item.left + item.size[0], bottom=item.top + item.size[1])
    layer._record.tagged_blocks[Tag.TYPE_TOOL_OBJECT_SETTING] = TaggedBlock(key=Tag.TYPE_TOOL_OBJECT_SETTING,
                                                                            data=setting)


def spring_ad(mode: str = "RGB") -> bytes:
    """The document the layer tests share: background, a box, a group with two layers, a headline."""
    red, blue, green, black = ((255, 0, 0, 255), (0, 0, 255, 200), (0, 255, 0, 255), (0, 0, 0, 255)) \
        if mode == "RGB" else ((0, 255, 255, 0), (255, 255, 0, 0), (255, 0, 255, 0), (0, 0, 0, 255))
    return layered_psd([
        Layer("Background", (255, 255, 255, 255) if mode == "RGB" else (0, 0, 0, 0), size=(200, 100)),
        Layer("Red box", red, left=20, top=10, size=(50, 40)),
        Folder("Logos", [Layer("Layer 3", blue, left=150, top=60, size=(30, 30)),
                         Layer("Hidden", green, size=(10, 10), visible=False)]),
        Layer("Headline", black, left=80, top=5, size=(60, 20), text="Spring Sale\n50% off"),
    ], mode=mode)
