"""Photoshop files: the header checks IPS's refusals (§3.5) need, and the flattened image."""

from __future__ import annotations

import io
import struct

import pytest

from openips.imaging.photoshop import PhotoshopRefusedError, flatten, is_psd_file, read_header

psd_tools = pytest.importorskip("psd_tools")
PIL = pytest.importorskip("PIL.Image")


def psd_bytes(mode: str = "RGB", color=(200, 10, 10), size=(40, 30)) -> bytes:
    image = PIL.new(mode, size, color)
    if mode == "CMYK":  # Photoshop stores CMYK inverted (0 = full ink); psd-tools' writer does not invert
        from PIL import ImageChops
        image = ImageChops.invert(image)
    out = io.BytesIO()
    psd_tools.PSDImage.frompil(image).save(out)
    return out.getvalue()


def patched(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + struct.pack(">H", value) + data[offset + 2:]


@pytest.mark.parametrize(("mode", "color", "header_mode", "out_mode"), [
    ("RGB", (200, 10, 10), "RGB", "RGB"), ("RGBA", (200, 100, 50, 255), "RGB", "RGBA"),
    ("CMYK", (10, 20, 30, 40), "CMYK", "CMYK"), ("L", (90,), "Grayscale", "L"),
])
def test_flatten_keeps_the_document_mode(tmp_path, mode, color, header_mode, out_mode):
    path = tmp_path / "doc.psd"
    path.write_bytes(psd_bytes(mode, color))
    assert is_psd_file(str(path))
    flat = flatten(str(path), str(tmp_path / "flat.tif"), max_pixels=10**6)
    assert (flat.header.mode, flat.header.width, flat.header.height, flat.header.depth) == (header_mode, 40, 30, 8)
    image = PIL.open(flat.path)
    assert (image.mode, image.size) == (out_mode, (40, 30))
    assert image.getpixel((5, 5)) == (color if len(color) > 1 else color[0])


def test_transparency_is_kept(tmp_path):
    path = tmp_path / "t.psd"
    path.write_bytes(psd_bytes("RGBA", (200, 100, 50, 128)))
    image = PIL.open(flatten(str(path), str(tmp_path / "t.tif"), max_pixels=10**6).path)
    assert image.mode == "RGBA" and image.getpixel((3, 3))[3] == 128


@pytest.mark.parametrize(("offset", "value", "reason"), [
    (4, 2, r"large document \(PSB\)"), (4, 3, "unknown Photoshop file version"),
    (24, 9, "colour mode is Lab"), (24, 8, "colour mode is Duotone"), (24, 2, "colour mode is Indexed"),
    (24, 7, "colour mode is Multichannel"), (22, 32, "32 bits per channel"),
])
def test_what_ips_refuses_is_refused_from_the_header(tmp_path, offset, value, reason):
    path = tmp_path / "bad.psd"
    path.write_bytes(patched(psd_bytes(), offset, value))
    with pytest.raises(PhotoshopRefusedError, match=reason):
        flatten(str(path), str(tmp_path / "out.tif"), max_pixels=10**6)


def test_pixel_bombs_truncation_and_damage_are_refused(tmp_path):
    data = psd_bytes()
    bomb = tmp_path / "bomb.psd"
    bomb.write_bytes(data[:14] + struct.pack(">II", 300_000, 300_000) + data[22:])  # 9e10 pixels claimed
    with pytest.raises(PhotoshopRefusedError, match="more than the limit"):
        flatten(str(bomb), str(tmp_path / "o.tif"), max_pixels=10**9)
    header_only = tmp_path / "cut.psd"
    header_only.write_bytes(data[:20])
    with pytest.raises(PhotoshopRefusedError, match="truncated"):
        read_header(str(header_only))
    damaged = tmp_path / "damaged.psd"
    damaged.write_bytes(data[:60])
    with pytest.raises(PhotoshopRefusedError, match="damaged"):
        flatten(str(damaged), str(tmp_path / "o2.tif"), max_pixels=10**6)
    assert is_psd_file(str(header_only))  # the magic is there; the rest is not
