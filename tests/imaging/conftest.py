"""Synthetic inputs for the imaging tests, generated into tmp_path (no binary fixtures)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

pyvips = pytest.importorskip("pyvips")
Image = pytest.importorskip("PIL.Image")


def _skip_if_no(operation: str) -> None:
    try:
        pyvips.Operation.new_from_name(operation)
    except pyvips.Error:
        pytest.skip(f"libvips has no {operation}")


@pytest.fixture
def skip_if_no() -> Callable[[str], None]:
    """Call with an operation name (e.g. "heifsave") to skip the test when this libvips build lacks it."""
    return _skip_if_no


def _gradient(width: int, height: int, bands: int = 3, fmt: str = "uchar") -> pyvips.Image:
    """A smooth, non-constant test image: x, y and x+y ramps, plus a little noise."""
    xy = pyvips.Image.xyz(width, height)
    x = xy[0] * (255 / max(width - 1, 1))
    y = xy[1] * (255 / max(height - 1, 1))
    ramps = [x, y, (x + y) / 2, 255 - x]
    noise = pyvips.Image.gaussnoise(width, height, sigma=4)
    first, *rest = [ramp + noise for ramp in ramps[:bands]]
    image = first.bandjoin(rest).cast("uchar") if rest else first.cast("uchar")
    if fmt == "ushort":
        image = (image.cast("ushort") * 257).cast("ushort")
    interpretation = {
        (1, "uchar"): "b-w",
        (2, "uchar"): "b-w",
        (1, "ushort"): "grey16",
        (2, "ushort"): "grey16",
        (3, "ushort"): "rgb16",
        (4, "ushort"): "rgb16",
    }.get((bands, fmt), "srgb")
    return image.copy(interpretation=interpretation)


@pytest.fixture
def gradient() -> Callable[..., pyvips.Image]:
    """gradient(width, height, bands=3, fmt="uchar"): a smooth synthetic image."""
    return _gradient


@pytest.fixture
def write(tmp_path: Path) -> Callable[[pyvips.Image, str], Path]:
    """Save a pyvips image to tmp_path/name with the saver the suffix selects; keyword options pass through."""

    def _write(image: pyvips.Image, name: str, **options: object) -> Path:
        path = tmp_path / name
        image.write_to_file(str(path), **options)
        return path

    return _write


@pytest.fixture
def write_bytes(tmp_path: Path) -> Callable[[str, bytes], Path]:
    """Write raw bytes to tmp_path/name."""

    def _write(name: str, data: bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return _write


@pytest.fixture
def rgb_jpeg(write: Callable[..., Path]) -> Path:
    """A 3000x2000 sRGB JPEG."""
    return write(_gradient(3000, 2000), "rgb.jpg", Q=90)


@pytest.fixture
def rgba_png(write: Callable[..., Path]) -> Path:
    """A 600x400 RGBA PNG with a half-transparent alpha ramp."""
    return write(_gradient(600, 400, bands=4), "rgba.png")


@pytest.fixture
def rgb16_png(write: Callable[..., Path]) -> Path:
    """A 600x400 16-bit RGB PNG."""
    return write(_gradient(600, 400, fmt="ushort"), "rgb16.png")


@pytest.fixture
def grey_jpeg(write: Callable[..., Path]) -> Path:
    """A 500x300 greyscale JPEG."""
    return write(_gradient(500, 300, bands=1), "grey.jpg")


@pytest.fixture
def cmyk_jpeg(write: Callable[..., Path]) -> Path:
    """A 600x400 CMYK JPEG with the built-in (about 1 MB) CMYK profile embedded."""
    cmyk = _gradient(600, 400).icc_transform("cmyk", input_profile="srgb")
    return write(cmyk, "cmyk.jpg", Q=90)


@pytest.fixture
def animated_gif(tmp_path: Path) -> Path:
    """A 4-frame 40x30 animated GIF written by Pillow."""
    frames = [Image.new("RGB", (40, 30), (60 * i, 100, 200 - 40 * i)) for i in range(4)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return path


@pytest.fixture
def multipage_tiff(tmp_path: Path) -> Path:
    """A 3-page TIFF whose pages all have the same size (not a pyramid)."""
    pages = [Image.new("RGB", (64, 48), (80 * i, 0, 0)) for i in range(3)]
    path = tmp_path / "pages.tif"
    pages[0].save(path, save_all=True, append_images=pages[1:])
    return path


@pytest.fixture
def float_tiff(write: Callable[..., Path]) -> Path:
    """A 3-band 32-bit float TIFF."""
    return write(_gradient(64, 48).cast("float").copy(interpretation="scrgb"), "float.tif")


@pytest.fixture
def svg_file(write_bytes: Callable[[str, bytes], Path]) -> Path:
    """A small, valid SVG document."""
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30"><rect width="40" height="30"/></svg>'
    return write_bytes("drawing.svg", svg)


def _truncated(path: Path, fraction: float = 0.5) -> Path:
    data = path.read_bytes()
    out = path.with_name(f"truncated-{path.name}")
    out.write_bytes(data[: int(len(data) * fraction)])
    return out


def _png_claiming_size(path: Path, width: int, height: int) -> Path:
    Image.new("RGB", (4, 4), (255, 0, 0)).save(path)
    data = bytearray(path.read_bytes())
    assert data[12:16] == b"IHDR"
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    path.write_bytes(bytes(data))
    return path


@pytest.fixture
def truncated() -> Callable[..., Path]:
    """truncated(path, fraction=0.5): a copy of ``path`` cut to ``fraction`` of its bytes."""
    return _truncated


@pytest.fixture
def png_claiming_size() -> Callable[[Path, int, int], Path]:
    """png_claiming_size(path, w, h): a tiny real PNG whose IHDR (valid CRC) claims w x h."""
    return _png_claiming_size
