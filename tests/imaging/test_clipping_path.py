"""createMask: clipping paths read from real JPEG and TIFF files and rasterised by libvips."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

pyvips = pytest.importorskip("pyvips")
TiffImagePlugin = pytest.importorskip("PIL.TiffImagePlugin")
PILImage = pytest.importorskip("PIL.Image")

from openips.imaging import pipeline
from openips.imaging.clipping_path import OR, SUBTRACT, clipping_mask, decode_path, rasterise
from openips.imaging.optimize import optimize
from openips.imaging.options import ManualCrop, ProcessingOptions
from tests.imaging.clipping_fixtures import build_irb_with_path, circle, jpeg_with_irb, path_data, rectangle

W, H = 400, 300
RECT = path_data([rectangle(0.25, 0.25, 0.75, 0.75)])  # x 100..300, y 75..225


@pytest.fixture(autouse=True)
def _needs_svgload(skip_if_no: Callable[[str], None]) -> None:
    skip_if_no("svgload_buffer")


def _image(width: int = W, height: int = H) -> pyvips.Image:
    return (pyvips.Image.black(width, height, bands=3) + [90, 140, 200]).cast("uchar").copy(interpretation="srgb")


def _jpeg(tmp_path: Path, irb: bytes, name: str = "clip.jpg", **options: int) -> Path:
    path = tmp_path / name
    path.write_bytes(jpeg_with_irb(_image().jpegsave_buffer(Q=90), irb, **options))
    return path


def _tiff(tmp_path: Path, irb: bytes) -> Path:
    image = _image().copy()
    image.set_type(pyvips.GValue.blob_type, "photoshop-data", irb)
    path = tmp_path / "clip.tif"
    image.tiffsave(str(path))
    return path


def _open(path: Path) -> pyvips.Image:
    return pyvips.Image.new_from_file(str(path), access="sequential")


def _assert_rectangle_mask(mask: pyvips.Image, left: int, top: int, right: int, bottom: int) -> None:
    assert (mask.bands, mask.format) == (1, "uchar")
    assert mask.crop(left, top, right - left, bottom - top).min() == 255
    outside = mask.copy_memory().draw_rect(0, left, top, right - left, bottom - top, fill=True)
    assert outside.max() == 0


def test_rectangular_path_in_a_jpeg_gives_a_mask_sharp_to_the_pixel(tmp_path: Path) -> None:
    # Given
    path = _jpeg(tmp_path, build_irb_with_path({"Path 1": RECT}, "Path 1"))

    # When
    problems: list[str] = []
    mask = clipping_mask(_open(path), problems)

    # Then
    assert problems == [] and (mask.width, mask.height) == (W, H)
    _assert_rectangle_mask(mask, 100, 75, 300, 225)


def test_rectangular_path_in_a_tiff_photoshop_data_tag(tmp_path: Path) -> None:
    mask = clipping_mask(_open(_tiff(tmp_path, build_irb_with_path({"Path 1": RECT}, "Path 1"))))

    _assert_rectangle_mask(mask, 100, 75, 300, 225)


def test_tiff_tag_34377_written_by_pillow(tmp_path: Path) -> None:
    # Given: the same IRB written by another TIFF writer
    ifd = TiffImagePlugin.ImageFileDirectory_v2()
    ifd[34377] = build_irb_with_path({"Path 1": RECT}, "Path 1")
    ifd.tagtype[34377] = 7  # UNDEFINED, as Photoshop writes it
    path = tmp_path / "pillow.tif"
    PILImage.new("RGB", (W, H), (10, 20, 30)).save(path, tiffinfo=ifd)

    # When
    mask = clipping_mask(_open(path))

    # Then
    _assert_rectangle_mask(mask, 100, 75, 300, 225)


def test_edges_between_pixels_are_anti_aliased(tmp_path: Path) -> None:
    # Given: a rectangle whose left edge falls half-way through pixel column 100
    data = path_data([rectangle(100.5 / W, 0.25, 0.75, 0.75)])
    path = _jpeg(tmp_path, build_irb_with_path({"Half": data}, "Half"))

    # When
    mask = clipping_mask(_open(path))

    # Then
    assert mask(99, 150)[0] == 0 and 100 <= mask(100, 150)[0] <= 155 and mask(101, 150)[0] == 255


def test_bezier_circle_area_is_within_one_percent_of_pi_r_squared(tmp_path: Path) -> None:
    # Given
    radius = 100
    path = _jpeg(tmp_path, build_irb_with_path({"Circle": path_data([circle(200, 150, radius, W, H)])}, "Circle"))

    # When
    mask = clipping_mask(_open(path))

    # Then
    area = mask.avg() / 255 * W * H
    assert area == pytest.approx(math.pi * radius**2, rel=0.01)
    assert mask(200, 150)[0] == 255 and mask(200, 45)[0] == 0 and mask(200, 55)[0] == 255


def test_the_path_named_by_resource_2999_is_used(tmp_path: Path) -> None:
    # Given: two saved paths; the second is the clipping path
    other = path_data([rectangle(0, 0, 0.1, 0.1)])
    path = _jpeg(tmp_path, build_irb_with_path({"Path 1": other, "Clip": RECT}, "Clip"))

    # When / Then
    _assert_rectangle_mask(clipping_mask(_open(path)), 100, 75, 300, 225)


def test_an_irb_split_over_several_app13_segments_is_joined(tmp_path: Path) -> None:
    # Given: jpegload keeps only the first APP13 segment, which here ends mid-resource
    path = _jpeg(tmp_path, build_irb_with_path({"Path 1": RECT}, "Path 1"), segment_size=64)
    assert len(_open(path).get("iptc-data")) < 100

    # When
    problems: list[str] = []
    mask = clipping_mask(_open(path), problems)

    # Then
    assert problems == []
    _assert_rectangle_mask(mask, 100, 75, 300, 225)


def test_no_irb_gives_no_mask_and_no_problem(tmp_path: Path) -> None:
    # Given
    png, plain_jpeg = tmp_path / "plain.png", tmp_path / "plain.jpg"
    _image().write_to_file(str(png))
    _image().write_to_file(str(plain_jpeg))

    # When
    problems: list[str] = []
    masks = [clipping_mask(_open(png), problems), clipping_mask(_open(plain_jpeg), problems)]

    # Then
    assert masks == [None, None] and problems == []


def test_saved_paths_without_a_clipping_path_give_no_mask_and_say_so(tmp_path: Path) -> None:
    path = _jpeg(tmp_path, build_irb_with_path({"Path 1": RECT, "Path 2": RECT}))

    problems: list[str] = []
    assert clipping_mask(_open(path), problems) is None
    assert problems == ["createMask: the file has 2 saved path(s) but none is set as the clipping path, "
                        "so no mask was made"]


def test_a_malformed_path_gives_no_mask_and_a_reason(tmp_path: Path) -> None:
    # Given: the clipping path's last knot record is cut off
    path = _jpeg(tmp_path, build_irb_with_path({"Path 1": RECT[:-26]}, "Path 1"))

    # When
    problems: list[str] = []
    mask = clipping_mask(_open(path), problems)

    # Then
    assert mask is None
    assert problems == ["createMask: the clipping path cannot be used (the path ends 1 knot(s) short of its "
                        "last subpath), so no mask was made"]


def test_union_of_overlapping_subpaths_keeps_the_overlap_where_legacy_even_odd_does_not() -> None:
    # Given: two overlapping squares, drawn once as a modern union and once without operations
    squares = [rectangle(0.1, 0.1, 0.6, 0.6), list(reversed(rectangle(0.4, 0.4, 0.9, 0.9)))]
    union = decode_path(path_data(squares, operations=[OR, OR]), 100, 100)
    legacy = decode_path(path_data(squares), 100, 100)

    # When
    union_mask, legacy_mask = rasterise(union, 100, 100), rasterise(legacy, 100, 100)

    # Then
    assert union_mask(50, 50)[0] == 255 and legacy_mask(50, 50)[0] == 0
    assert union_mask(20, 20)[0] == legacy_mask(20, 20)[0] == 255


def test_subtracted_subpath_and_initial_fill() -> None:
    # Given
    subtract = decode_path(path_data([rectangle(0, 0, 1, 1), rectangle(0.25, 0.25, 0.75, 0.75)],
                                     operations=[OR, SUBTRACT]), 100, 100)
    inverted = decode_path(path_data([rectangle(0.25, 0.25, 0.75, 0.75)]), 100, 100)

    # When
    holed, outside = rasterise(subtract, 100, 100), rasterise(inverted, 100, 100, filled=True)

    # Then
    assert (holed(50, 50)[0], holed(10, 10)[0]) == (0, 255)
    assert (outside(50, 50)[0], outside(10, 10)[0]) == (0, 255)


def test_optimize_writes_the_mask_cropped_with_the_image(tmp_path: Path) -> None:
    # Given: a clipping path round 100..300 x 75..225 and a crop of 50 px left, 20 px top
    src = _jpeg(tmp_path, build_irb_with_path({"Path 1": RECT}, "Path 1"))
    crop = ManualCrop(left=50, right=30, top=20, bottom=10)
    ctx = pipeline.StepContext(options=ProcessingOptions(create_mask=True, manual_crop=crop))
    mask_path = tmp_path / "mask.tif"

    # When
    result = optimize(str(src), str(tmp_path / "out.tif"), max_pixels=10_000_000, ctx=ctx, mask_path=str(mask_path))

    # Then
    assert mask_path.exists() and result.mask is not None
    mask = pyvips.Image.new_from_file(str(mask_path))
    assert (mask.width, mask.height) == (result.tiff.width, result.tiff.height) == (W - 80, H - 30)
    expected = clipping_mask(_open(src)).crop(50, 20, W - 80, H - 30)
    # encode.py saves a 1-band uchar mask as JPEG: compare closely on average, exactly once thresholded
    assert (mask - expected).abs().avg() < 1
    assert ((mask > 127) ^ (expected > 127)).max() == 0
    assert expected(49, 100)[0] == 0 and expected(50, 100)[0] == 255  # the path edge moved with the crop
    assert result.warnings == []


def test_optimize_warns_when_create_mask_finds_no_path(rgb_jpeg: Path, tmp_path: Path) -> None:
    ctx = pipeline.StepContext(options=ProcessingOptions(create_mask=True))

    result = optimize(str(rgb_jpeg), str(tmp_path / "out.tif"), max_pixels=100_000_000, ctx=ctx,
                      mask_path=str(tmp_path / "mask.tif"))

    assert result.mask is None and not (tmp_path / "mask.tif").exists()
    assert any("no clipping path" in w for w in result.warnings)
