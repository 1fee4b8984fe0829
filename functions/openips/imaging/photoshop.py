"""Photoshop files (spec §5.6, §3.5): recognise them, check what IPS refuses, flatten them.

The header is read by hand first (26 bytes), so a file IPS refuses — PSB, a colour mode other
than Bitmap, Grayscale, RGB or CMYK, more than 16 bits per channel — or one over the pixel limit
is refused before psd-tools parses anything. The flattened image is the composite Photoshop
stored in the file ("Maximize Compatibility"), or one psd-tools composes from the layers when
the file has none; it keeps the file's ICC profile so colour management reads it as Photoshop
would.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

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
    layer_count: int


def is_psd_file(path: str) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == MAGIC


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
    header = read_header(path)
    check(header, max_pixels)
    from psd_tools import PSDImage  # numpy and psd-tools load only for Photoshop files

    try:
        psd = PSDImage.open(path)
        has_composite = psd.has_preview()
        image = psd.composite(apply_icc=False)  # the colour step converts, and says how
        icc = psd.image_resources.get_data(ICC_PROFILE_RESOURCE)
        layers = sum(1 for _ in psd.descendants())
    except (ValueError, OSError, EOFError, IndexError, KeyError, AssertionError, struct.error) as exc:
        raise PhotoshopRefusedError(f"the Photoshop file is damaged ({type(exc).__name__}: {exc})") from exc
    if image is None:
        raise PhotoshopRefusedError("the Photoshop file has neither a composite image nor visible layers")
    if image.mode == "1":
        image = image.convert("L")  # Bitmap documents: 1-bit becomes 8-bit grey
    save = {"compression": "tiff_deflate"}
    if isinstance(icc, bytes) and icc:
        save["icc_profile"] = icc
    image.save(out_path, format="TIFF", **save)
    return Flattened(out_path, header, from_layers=not has_composite, layer_count=layers)
