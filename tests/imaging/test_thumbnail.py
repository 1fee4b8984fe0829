"""make_thumbnail(): the browser preview read from the pyramid TIFF's smallest fitting level."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

pyvips = pytest.importorskip("pyvips")
from PIL import Image

from openips.imaging.encode import ICC_ONCE_BYTES, save_pyramid_tiff
from openips.imaging.thumbnail import MAX_SIDE, ThumbnailError, fitting_level, make_thumbnail
from openips.imaging.types import EncodedTiff

ROOT = Path(__file__).resolve().parents[2]


def pyramid(image: pyvips.Image, tmp_path: Path, name: str = "optimized.tif") -> EncodedTiff:
    return save_pyramid_tiff(image, str(tmp_path / name))


def solid(width: int, height: int, colour: list[int], interpretation: str = "srgb") -> pyvips.Image:
    return (pyvips.Image.black(width, height, bands=len(colour)) + colour).cast("uchar").copy(
        interpretation=interpretation)


def opened(path: str) -> Image.Image:
    image = Image.open(path)
    image.load()  # decodes every pixel: a broken file fails here
    return image


def close_to(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


@pytest.mark.parametrize(("levels", "expected"), [
    ([(6000, 4000), (3000, 2000), (1500, 1000), (750, 500), (375, 250), (187, 125)], 4),
    ([(256, 100)], 0),
    ([(512, 512), (256, 256)], 1),
    ([(200, 100)], 0),  # smaller than the preview: the full image, never upscaled
    ([(10000, 10), (5000, 5), (2500, 2), (1250, 1), (625, 1), (312, 1), (156, 1)], 5),
    ([(10, 10000), (5, 5000), (2, 2500), (1, 1250), (1, 625), (1, 312), (1, 156)], 5),
])
def test_the_smallest_level_that_still_covers_256_px_is_chosen(levels: list[tuple[int, int]], expected: int) -> None:
    assert fitting_level(levels) == expected


def test_a_24_mp_pyramid_gives_a_256_px_jpeg_from_its_375_px_level(
        tmp_path: Path, gradient: Callable[..., pyvips.Image]) -> None:
    source = gradient(6000, 4000)
    tiff = pyramid(source, tmp_path)

    thumb = make_thumbnail(tiff, str(tmp_path / "thumbnail"))

    assert thumb.level == (375, 250)
    assert (thumb.format, thumb.path, thumb.width, thumb.height) == ("jpeg", str(tmp_path / "thumbnail.jpg"), 256, 171)
    decoded = opened(thumb.path)
    assert (decoded.format, decoded.mode, decoded.size) == ("JPEG", "RGB", (256, 171))
    assert thumb.size_bytes == Path(thumb.path).stat().st_size < 30_000
    # The same picture as the source, shrunk: the ramps survive (mean difference of a few levels).
    expected = source.thumbnail_image(256, height=256)
    got = pyvips.Image.new_from_file(thumb.path)
    assert float((got.cast("float") - expected.cast("float")).abs().avg()) < 6


def test_no_metadata_is_kept(tmp_path: Path, gradient: Callable[..., pyvips.Image]) -> None:
    source = gradient(800, 600).icc_transform("srgb", input_profile="srgb")  # tagged with libvips' sRGB
    source.set_type(pyvips.GValue.blob_type, "xmp-data", b"<x:xmpmeta>secret-xmp</x:xmpmeta>")
    tiff = pyramid(source, tmp_path)
    assert pyvips.Image.tiffload(tiff.path).get_typeof("icc-profile-data") != 0
    thumb = make_thumbnail(tiff, str(tmp_path / "thumbnail"))

    data = Path(thumb.path).read_bytes()
    assert b"secret-xmp" not in data and b"Exif" not in data and b"ICC_PROFILE" not in data
    assert not opened(thumb.path).info.get("icc_profile")


def test_transparency_is_kept_as_webp_alpha(tmp_path: Path, gradient: Callable[..., pyvips.Image]) -> None:
    ramp = (pyvips.Image.xyz(600, 400)[0] * (255 / 599)).cast("uchar")  # transparent on the left, opaque right
    rgba = gradient(600, 400).bandjoin(ramp)
    thumb = make_thumbnail(pyramid(rgba, tmp_path), str(tmp_path / "thumbnail"))

    assert (thumb.format, thumb.path[-5:], thumb.width, thumb.height) == ("webp", ".webp", 256, 171)
    decoded = opened(thumb.path)
    assert (decoded.format, decoded.mode) == ("WEBP", "RGBA")
    low, high = decoded.getchannel("A").getextrema()
    assert low < 10 and high > 245  # the ramp, not flattened


def test_an_alpha_channel_that_is_opaque_everywhere_gives_a_jpeg(tmp_path: Path) -> None:
    thumb = make_thumbnail(pyramid(solid(300, 300, [10, 120, 200, 255]), tmp_path), str(tmp_path / "thumbnail"))

    assert thumb.format == "jpeg"
    decoded = opened(thumb.path)
    assert (decoded.mode, decoded.size) == ("RGB", (256, 256))
    assert close_to(decoded.getpixel((128, 128)), (10, 120, 200), 4)


def test_cmyk_with_a_large_profile_in_level_0_only_becomes_srgb(tmp_path: Path) -> None:
    # The built-in CMYK profile (about 1 MB) is over ICC_ONCE_BYTES: encode.py writes it in level 0 only.
    cmyk = solid(1200, 800, [200, 50, 30]).icc_transform("cmyk", input_profile="srgb")
    assert len(cmyk.get("icc-profile-data")) > ICC_ONCE_BYTES
    tiff = pyramid(cmyk, tmp_path)
    level = pyvips.Image.tiffload(tiff.path, page=fitting_level(tiff.levels))
    assert level.get_typeof("icc-profile-data") == 0  # the level read has no profile of its own

    thumb = make_thumbnail(tiff, str(tmp_path / "thumbnail"))

    decoded = opened(thumb.path)
    assert (thumb.format, decoded.mode) == ("jpeg", "RGB")
    as_srgb = cmyk.icc_transform("srgb", embedded=True, intent="relative")(0, 0)  # (203, 52, 43): CMYK's gamut
    assert close_to(decoded.getpixel((100, 60)), tuple(int(v) for v in as_srgb), 4)


def test_16_bit_and_grey_become_8_bit_srgb(tmp_path: Path) -> None:
    rgb16 = (solid(500, 300, [200, 50, 30]).cast("ushort") * 257).cast("ushort").copy(interpretation="rgb16")
    grey = solid(500, 300, [90], interpretation="b-w")
    for name, image, expected in (("rgb16", rgb16, (200, 50, 30)), ("grey", grey, (90, 90, 90))):
        thumb = make_thumbnail(pyramid(image, tmp_path, f"{name}.tif"), str(tmp_path / name))
        decoded = opened(thumb.path)
        assert (decoded.mode, decoded.size[0]) == ("RGB", 256) and decoded.size[1] in (153, 154), name
        assert close_to(decoded.getpixel((100, 60)), expected, 4), (name, decoded.getpixel((100, 60)))


def test_a_1x1_image_is_a_1x1_preview(tmp_path: Path) -> None:
    thumb = make_thumbnail(pyramid(solid(1, 1, [250, 0, 0]), tmp_path), str(tmp_path / "thumbnail"))

    assert (thumb.width, thumb.height, thumb.level) == (1, 1, (1, 1))
    assert opened(thumb.path).size == (1, 1)


@pytest.mark.parametrize(("width", "height"), [(10000, 10), (10, 10000), (3000, 1)])
def test_a_very_long_image_keeps_at_least_one_pixel_across(tmp_path: Path, width: int, height: int) -> None:
    tiff = pyramid(solid(width, height, [0, 90, 0]), tmp_path)
    thumb = make_thumbnail(tiff, str(tmp_path / "thumbnail"))

    decoded = opened(thumb.path)
    assert max(decoded.size) == MAX_SIDE and min(decoded.size) >= 1
    # libvips stops halving when the short side reaches one pixel, so the level read may be long.
    assert thumb.level == tiff.levels[-1]


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    image = solid(400, 200, [200, 50, 30]).copy()
    image.set_type(pyvips.GValue.gint_type, "orientation", 6)  # shown turned 90° clockwise
    thumb = make_thumbnail(pyramid(image, tmp_path), str(tmp_path / "thumbnail"))

    assert opened(thumb.path).size == (128, 256)


def test_what_cannot_become_srgb_is_a_thumbnail_error(tmp_path: Path) -> None:
    five = solid(300, 200, [1, 2, 3, 4, 5], interpretation="multiband")
    with pytest.raises(ThumbnailError):
        make_thumbnail(pyramid(five, tmp_path), str(tmp_path / "thumbnail"))
    with pytest.raises(ThumbnailError):
        make_thumbnail(EncodedTiff(path=str(tmp_path / "gone.tif"), compression="jpeg", width=300, height=200,
                                   levels=[(300, 200)], size_bytes=0), str(tmp_path / "thumbnail"))


_MEASURE = """
import json, resource, sys, time
sys.path[:0] = [sys.argv[1] + "/functions"]
from openips.imaging.thumbnail import make_thumbnail
from openips.imaging.types import EncodedTiff
levels = json.loads(sys.argv[3])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
thumb = make_thumbnail(EncodedTiff(sys.argv[2], "jpeg", *levels[0], [tuple(l) for l in levels], 0), sys.argv[2] + "-t")
print(json.dumps({"kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before, "level": thumb.level,
                  "seconds": time.perf_counter() - start, "size": [thumb.width, thumb.height]}))
"""


def test_a_256_megapixel_pyramid_costs_the_preview_one_small_level(tmp_path: Path) -> None:
    """The largest images the pipeline accepts make previews as cheaply as small ones: level 0 (768 MB of
    pixels here) is never decoded, so the step's memory stays that of one 500×500 level."""
    tiff = pyramid(solid(16000, 16000, [10, 200, 30]), tmp_path)

    run = subprocess.run([sys.executable, "-c", _MEASURE, str(ROOT), tiff.path, json.dumps(tiff.levels)],
                         capture_output=True, text=True, check=True, timeout=120)
    measured = json.loads(run.stdout)

    assert measured["level"] == [500, 500] and measured["size"] == [256, 256]
    assert measured["kib"] < 48 * 1024, measured  # peak growth of the process while it ran
