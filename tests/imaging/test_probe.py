"""probe(): header-only inspection, format allow-list and the decompression-bomb guard."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

pyvips = pytest.importorskip("pyvips")

from openips.imaging.probe import probe
from openips.imaging.types import ImageInfo
from openips.models.errors import (
    CorruptImageError,
    EmptyFileError,
    ImageTooLargeError,
    UnsupportedFormatError,
)

MAX_PIXELS = 100_000_000
FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"


def test_rgb_jpeg(rgb_jpeg: Path) -> None:
    # When
    info = probe(str(rgb_jpeg), max_pixels=MAX_PIXELS)

    # Then
    assert info == ImageInfo(
        format="jpeg",
        width=3000,
        height=2000,
        bands=3,
        has_alpha=False,
        interpretation="srgb",
        bits_per_sample=8,
        pages=1,
        has_icc_profile=False,
    )


def test_png_with_alpha(rgba_png: Path) -> None:
    info = probe(str(rgba_png), max_pixels=MAX_PIXELS)

    assert (info.format, info.bands, info.has_alpha, info.interpretation) == ("png", 4, True, "srgb")


def test_16_bit_png(rgb16_png: Path) -> None:
    info = probe(str(rgb16_png), max_pixels=MAX_PIXELS)

    assert (info.bits_per_sample, info.interpretation, info.has_alpha) == (16, "rgb16", False)


def test_greyscale_jpeg(grey_jpeg: Path) -> None:
    info = probe(str(grey_jpeg), max_pixels=MAX_PIXELS)

    assert (info.bands, info.interpretation, info.bits_per_sample) == (1, "b-w", 8)


def test_cmyk_jpeg_with_profile(cmyk_jpeg: Path) -> None:
    info = probe(str(cmyk_jpeg), max_pixels=MAX_PIXELS)

    assert (info.bands, info.interpretation, info.has_alpha, info.has_icc_profile) == (4, "cmyk", False, True)


def test_cmyk_jpeg_from_pillow(tmp_path: Path) -> None:
    # Given: Pillow writes Adobe-style CMYK JPEGs
    from PIL import Image

    path = tmp_path / "pillow-cmyk.jpg"
    Image.new("CMYK", (50, 40), (10, 20, 30, 40)).save(path)

    # When
    info = probe(str(path), max_pixels=MAX_PIXELS)

    # Then
    assert (info.bands, info.interpretation) == (4, "cmyk")


@pytest.mark.parametrize(("suffix", "fmt"), [(".webp", "webp"), (".tif", "tiff"), (".png", "png")])
def test_other_raster_formats(
    write: Callable[..., Path], gradient: Callable[..., object], suffix: str, fmt: str
) -> None:
    path = write(gradient(90, 60), f"image{suffix}")

    info = probe(str(path), max_pixels=MAX_PIXELS)

    assert (info.format, info.width, info.height, info.bands) == (fmt, 90, 60, 3)


def test_avif(write: Callable[..., Path], gradient: Callable[..., object], skip_if_no: Callable[[str], None]) -> None:
    skip_if_no("heifsave")
    path = write(gradient(90, 60), "image.avif")

    info = probe(str(path), max_pixels=MAX_PIXELS)

    assert (info.format, info.width, info.height) == ("heif", 90, 60)


def test_ultra_hdr_jpeg_is_a_jpeg(
    write: Callable[..., Path], gradient: Callable[..., object], skip_if_no: Callable[[str], None]
) -> None:
    # Given: libvips picks uhdrload, not jpegload, for a JPEG carrying a gain map
    skip_if_no("uhdrsave")
    hdr = (gradient(120, 80).cast("float") / 255).copy(interpretation="scrgb")
    path = write(hdr, "hdr.jpg")

    # When
    info = probe(str(path), max_pixels=MAX_PIXELS)

    # Then
    assert (info.format, info.bands, info.bits_per_sample) == ("jpeg", 3, 8)


def test_tiny_image(write: Callable[..., Path], gradient: Callable[..., object]) -> None:
    path = write(gradient(1, 1), "tiny.png")

    info = probe(str(path), max_pixels=MAX_PIXELS)

    assert (info.width, info.height, info.pixels) == (1, 1, 1)


def test_animated_gif_reports_pages(animated_gif: Path) -> None:
    info = probe(str(animated_gif), max_pixels=MAX_PIXELS)

    # libvips' GIF loader always returns RGBA, one page tall
    assert (info.format, info.pages, info.width, info.height, info.bands) == ("gif", 4, 40, 30, 4)


def test_multipage_tiff_reports_pages(multipage_tiff: Path) -> None:
    info = probe(str(multipage_tiff), max_pixels=MAX_PIXELS)

    assert (info.format, info.pages, info.width, info.height) == ("tiff", 3, 64, 48)


def test_uploaded_pyramid_tiff_counts_as_one_page(tmp_path: Path, gradient: Callable[..., object]) -> None:
    # Given: a pyramid's reduced levels are TIFF pages
    path = tmp_path / "pyramid.tif"
    gradient(600, 400).tiffsave(str(path), tile=True, pyramid=True, tile_width=128, tile_height=128)

    # When
    info = probe(str(path), max_pixels=MAX_PIXELS)

    # Then
    assert (info.width, info.height, info.pages) == (600, 400, 1)


def test_empty_file(write_bytes: Callable[[str, bytes], Path]) -> None:
    path = write_bytes("empty.jpg", b"")

    with pytest.raises(EmptyFileError):
        probe(str(path), max_pixels=MAX_PIXELS)


def test_random_bytes(write_bytes: Callable[[str, bytes], Path]) -> None:
    path = write_bytes("noise.jpg", os.urandom(4096))

    with pytest.raises(UnsupportedFormatError, match="not a recognised image format"):
        probe(str(path), max_pixels=MAX_PIXELS)


def test_text_file(write_bytes: Callable[[str, bytes], Path]) -> None:
    path = write_bytes("notes.txt", b"Dear IPS,\nthis is not an image.\n")

    with pytest.raises(UnsupportedFormatError):
        probe(str(path), max_pixels=MAX_PIXELS)


@pytest.mark.parametrize(
    ("name", "data", "detected"),
    [
        ("numbers.txt", b"1 2 3\n4 5 6\n", "matrix"),
        ("table.csv", b"1,2,3\n4,5,6\n", "csv"),
    ],
)
def test_text_that_libvips_can_load_is_refused(
    write_bytes: Callable[[str, bytes], Path], name: str, data: bytes, detected: str
) -> None:
    path = write_bytes(name, data)

    with pytest.raises(UnsupportedFormatError, match=f"^{detected} files are not processed"):
        probe(str(path), max_pixels=MAX_PIXELS)


def test_svg_is_refused_as_raster(svg_file: Path) -> None:
    with pytest.raises(UnsupportedFormatError, match=r"^svg files are not processed as raster images"):
        probe(str(svg_file), max_pixels=MAX_PIXELS)


def test_vips_native_file_is_refused(write: Callable[..., Path], gradient: Callable[..., object]) -> None:
    path = write(gradient(20, 10), "image.v")

    with pytest.raises(UnsupportedFormatError, match=r"^vips files"):
        probe(str(path), max_pixels=MAX_PIXELS)


def test_bmp_is_unsupported_in_this_build(tmp_path: Path) -> None:
    # pyvips-binary has no BMP loader (no ImageMagick); Pillow writes one easily.
    from PIL import Image

    path = tmp_path / "image.bmp"
    Image.new("RGB", (8, 8)).save(path)

    with pytest.raises(UnsupportedFormatError):
        probe(str(path), max_pixels=MAX_PIXELS)


def test_float_tiff_is_refused(float_tiff: Path) -> None:
    with pytest.raises(UnsupportedFormatError, match="float samples"):
        probe(str(float_tiff), max_pixels=MAX_PIXELS)


def test_lab_tiff_is_refused(write: Callable[..., Path], gradient: Callable[..., object]) -> None:
    path = write(gradient(20, 10).colourspace("lab"), "lab.tif")

    with pytest.raises(UnsupportedFormatError, match="lab colour"):
        probe(str(path), max_pixels=MAX_PIXELS)


def test_signed_16_bit_tiff_is_refused(write: Callable[..., Path], gradient: Callable[..., object]) -> None:
    path = write(gradient(20, 10, bands=1).cast("short"), "signed.tif")

    with pytest.raises(UnsupportedFormatError, match="short samples"):
        probe(str(path), max_pixels=MAX_PIXELS)


def test_header_claiming_10_gigapixels_is_refused_before_decoding(
    tmp_path: Path, png_claiming_size: Callable[[Path, int, int], Path]
) -> None:
    # Given: a 4x4 PNG whose IHDR says 100000 x 100000
    path = png_claiming_size(tmp_path / "bomb.png", 100_000, 100_000)

    # When
    started = time.monotonic()
    with pytest.raises(ImageTooLargeError) as raised:
        probe(str(path), max_pixels=MAX_PIXELS)

    # Then: both numbers are reported, and nothing was decoded
    assert "10000000000" in raised.value.message
    assert str(MAX_PIXELS) in raised.value.message
    assert raised.value.code == "image.too_many_pixels"
    assert time.monotonic() - started < 1.0


def test_pixel_limit_is_inclusive(write: Callable[..., Path], gradient: Callable[..., object]) -> None:
    path = write(gradient(40, 25), "limit.png")

    assert probe(str(path), max_pixels=1000).pixels == 1000
    with pytest.raises(ImageTooLargeError):
        probe(str(path), max_pixels=999)


def test_header_cut_short_is_corrupt(rgb_jpeg: Path, write_bytes: Callable[[str, bytes], Path]) -> None:
    # Given: the JPEG magic survives, the header does not
    path = write_bytes("cut.jpg", rgb_jpeg.read_bytes()[:40])

    with pytest.raises(CorruptImageError):
        probe(str(path), max_pixels=MAX_PIXELS)


def test_truncated_body_still_probes(rgb_jpeg: Path, truncated: Callable[..., Path]) -> None:
    # Probe reads the header only; the missing half is found when pixels are decoded.
    info = probe(str(truncated(rgb_jpeg)), max_pixels=MAX_PIXELS)

    assert (info.width, info.height) == (3000, 2000)


def test_image_info_is_frozen() -> None:
    info = ImageInfo(format="png", width=1, height=1, bands=1, has_alpha=False, interpretation="b-w", bits_per_sample=8)

    with pytest.raises(dataclasses.FrozenInstanceError):
        info.width = 2  # type: ignore[misc]


def test_types_module_does_not_import_pyvips() -> None:
    # Given: a fresh interpreter, as the API function would be
    code = (
        "import sys, openips.imaging.types; "
        "bad = sorted(m for m in ('pyvips', 'PIL', 'openips.imaging.vips') if m in sys.modules); "
        "print(','.join(bad))"
    )
    env = {**os.environ, "PYTHONPATH": str(FUNCTIONS_DIR)}

    # When
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)

    # Then
    assert result.stdout.strip() == ""
