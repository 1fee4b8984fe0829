"""save_pyramid_tiff(): tiling, pyramid levels, compression choice and metadata."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

pyvips = pytest.importorskip("pyvips")
from openips.imaging.encode import MAX_METADATA_BLOB_BYTES, choose_compression, needs_bigtiff, save_pyramid_tiff
from openips.imaging.pyramid import is_tiled, read_pyramid_levels
from PIL import Image, TiffImagePlugin

TIFF_COMPRESSION = 259
TIFF_PREDICTOR = 317
COMPRESSION_JPEG = 7
COMPRESSION_DEFLATE = 8
PREDICTOR_HORIZONTAL = 2


def tiff_tags(path: Path) -> TiffImagePlugin.ImageFileDirectory_v2:
    with Image.open(path) as image:
        return image.tag_v2


def mean_abs_difference(a: pyvips.Image, b: pyvips.Image) -> float:
    return float((a.cast("float") - b.cast("float")).abs().avg())


def test_rgb_pyramid_levels_halve_down_to_one_tile(tmp_path: Path, gradient: Callable[..., pyvips.Image]) -> None:
    # Given
    image = gradient(3000, 2000)
    out = tmp_path / "out.tif"

    # When
    tiff = save_pyramid_tiff(image, str(out))

    # Then: libvips floors each halving and stops once a level fits in one 256x256 tile
    assert tiff.levels == [(3000, 2000), (1500, 1000), (750, 500), (375, 250), (187, 125)]
    assert tiff.levels == read_pyramid_levels(str(out))
    assert max(tiff.levels[-1]) <= 256 < max(tiff.levels[-2])
    assert (tiff.compression, tiff.width, tiff.height) == ("jpeg", 3000, 2000)
    assert tiff.size_bytes == os.path.getsize(out)
    assert is_tiled(str(out)) == (256, 256)
    assert tiff_tags(out)[TIFF_COMPRESSION] == COMPRESSION_JPEG


def test_odd_sizes_are_floored(tmp_path: Path, gradient: Callable[..., pyvips.Image]) -> None:
    tiff = save_pyramid_tiff(gradient(1025, 513), str(tmp_path / "odd.tif"))

    assert tiff.levels == [(1025, 513), (512, 256), (256, 128)]


def test_rgb_pixels_survive_jpeg_q85(tmp_path: Path, gradient: Callable[..., pyvips.Image]) -> None:
    image = gradient(600, 400)
    out = tmp_path / "out.tif"

    save_pyramid_tiff(image, str(out))

    assert mean_abs_difference(image, pyvips.Image.tiffload(str(out))) < 3


def test_alpha_is_kept_with_lossless_deflate(tmp_path: Path, gradient: Callable[..., pyvips.Image]) -> None:
    # Given: tiffsave would silently drop alpha with compression=jpeg
    image = gradient(600, 400, bands=4)
    out = tmp_path / "rgba.tif"

    # When
    tiff = save_pyramid_tiff(image, str(out))

    # Then
    back = pyvips.Image.tiffload(str(out))
    assert tiff.compression == "deflate"
    assert (back.bands, back.hasalpha()) == (4, True)
    assert mean_abs_difference(image, back) == 0
    assert tiff_tags(out)[TIFF_COMPRESSION] == COMPRESSION_DEFLATE
    assert tiff_tags(out)[TIFF_PREDICTOR] == PREDICTOR_HORIZONTAL


def test_grey_with_alpha_uses_deflate(tmp_path: Path, gradient: Callable[..., pyvips.Image]) -> None:
    tiff = save_pyramid_tiff(gradient(300, 200, bands=2), str(tmp_path / "ga.tif"))

    back = pyvips.Image.tiffload(tiff.path)
    assert (tiff.compression, back.bands, back.hasalpha()) == ("deflate", 2, True)


def test_16_bit_is_kept_with_lossless_deflate(tmp_path: Path, gradient: Callable[..., pyvips.Image]) -> None:
    image = gradient(600, 400, fmt="ushort")

    tiff = save_pyramid_tiff(image, str(tmp_path / "rgb16.tif"))

    back = pyvips.Image.tiffload(tiff.path)
    assert (tiff.compression, back.format, back.interpretation) == ("deflate", "ushort", "rgb16")
    assert mean_abs_difference(image, back) == 0


def test_cmyk_uses_jpeg_tiles_and_keeps_the_profile(tmp_path: Path, gradient: Callable[..., pyvips.Image]) -> None:
    # Given: a CMYK image carrying the ~1 MB built-in profile
    image = gradient(600, 400).icc_transform("cmyk", input_profile="srgb")

    # When
    tiff = save_pyramid_tiff(image, str(tmp_path / "cmyk.tif"))

    # Then
    back = pyvips.Image.tiffload(tiff.path)
    assert tiff.compression == "jpeg"
    assert (back.bands, back.interpretation) == (4, "cmyk")
    assert back.get("icc-profile-data") == image.get("icc-profile-data")
    assert mean_abs_difference(image, back) < 3


def test_greyscale_uses_jpeg(tmp_path: Path, gradient: Callable[..., pyvips.Image]) -> None:
    tiff = save_pyramid_tiff(gradient(500, 300, bands=1), str(tmp_path / "grey.tif"))

    back = pyvips.Image.tiffload(tiff.path)
    assert (tiff.compression, back.bands, back.interpretation) == ("jpeg", 1, "b-w")


def test_one_pixel_image_is_a_single_tiled_level(tmp_path: Path, gradient: Callable[..., pyvips.Image]) -> None:
    tiff = save_pyramid_tiff(gradient(1, 1), str(tmp_path / "tiny.tif"))

    assert tiff.levels == [(1, 1)]
    assert is_tiled(tiff.path) == (256, 256)


def test_oversized_xmp_is_dropped_and_icc_kept(tmp_path: Path, gradient: Callable[..., pyvips.Image]) -> None:
    # Given
    image = gradient(300, 200).icc_transform("srgb", input_profile="srgb").copy()
    image.set_type(pyvips.GValue.blob_type, "xmp-data", b"<x:xmpmeta/>" + b" " * MAX_METADATA_BLOB_BYTES)

    # When
    tiff = save_pyramid_tiff(image, str(tmp_path / "meta.tif"))

    # Then
    back = pyvips.Image.tiffload(tiff.path)
    assert back.get_typeof("xmp-data") == 0
    assert back.get_typeof("icc-profile-data") != 0


def test_small_xmp_is_kept(tmp_path: Path, gradient: Callable[..., pyvips.Image]) -> None:
    image = gradient(300, 200).copy()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"/>'
    image.set_type(pyvips.GValue.blob_type, "xmp-data", xmp)

    tiff = save_pyramid_tiff(image, str(tmp_path / "meta.tif"))

    assert pyvips.Image.tiffload(tiff.path).get("xmp-data").rstrip(b"\0") == xmp


@pytest.mark.parametrize(
    ("bands", "fmt", "interpretation", "expected"),
    [
        (3, "uchar", "srgb", "jpeg"),
        (1, "uchar", "b-w", "jpeg"),
        (4, "uchar", "cmyk", "jpeg"),
        (5, "uchar", "cmyk", "deflate"),
        (4, "uchar", "srgb", "deflate"),
        (2, "uchar", "b-w", "deflate"),
        (3, "ushort", "rgb16", "deflate"),
        (1, "ushort", "grey16", "deflate"),
    ],
)
def test_choose_compression(bands: int, fmt: str, interpretation: str, expected: str) -> None:
    image = pyvips.Image.black(8, 8, bands=bands).cast(fmt).copy(interpretation=interpretation)

    assert choose_compression(image) == expected


def test_bigtiff_only_for_very_large_images() -> None:
    # Image.black is lazy: no pixels are allocated for these
    assert not needs_bigtiff(pyvips.Image.black(30_000, 30_000, bands=3))
    assert needs_bigtiff(pyvips.Image.black(40_000, 30_000, bands=3))
    assert needs_bigtiff(pyvips.Image.black(30_000, 20_000, bands=4).cast("ushort"))


def test_a_large_icc_profile_is_written_once_in_level_0(tmp_path) -> None:
    # Given a CMYK image carrying libvips' ~1 MB CMYK profile
    import pyvips as _pyvips
    from PIL import Image as PilImage

    from openips.imaging.encode import save_pyramid_tiff as _save

    rgb = (_pyvips.Image.xyz(1500, 1000)[0] / 6).cast("uchar").bandjoin([120, 60]).copy(interpretation="srgb")
    cmyk = rgb.icc_transform("cmyk", input_profile="srgb", embedded=False)
    profile = cmyk.get("icc-profile-data")
    assert len(profile) > 500_000
    path = str(tmp_path / "cmyk.tif")

    # When
    encoded = _save(cmyk, path)

    # Then the file holds the profile once, level 0 reports it, other levels do not
    assert encoded.size_bytes < len(profile) * 2
    assert _pyvips.Image.tiffload(path, page=0).get("icc-profile-data") == profile
    assert _pyvips.Image.tiffload(path, page=1).get_typeof("icc-profile-data") == 0
    with PilImage.open(path) as pil:
        assert pil.info.get("icc_profile") == profile
    assert len(encoded.levels) > 1
