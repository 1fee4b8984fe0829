"""smart_crops(): the crop of each aspect ratio keeps the salient part, read from a small pyramid level."""

from __future__ import annotations

from pathlib import Path

import pytest

pyvips = pytest.importorskip("pyvips")

from openips.imaging.encode import save_pyramid_tiff
from openips.imaging.smart_crop import MAX_SIDE, CropItem, crop_size, smart_crops


def scene(width: int, height: int, spot: tuple[int, int, int], alpha: bool = False) -> pyvips.Image:
    """A flat grey image with one saturated red disc (centre x, y and radius): the only thing of interest."""
    cx, cy, r = spot
    ground = (pyvips.Image.black(width, height, bands=3) + [128, 128, 128]).cast("uchar")
    disc = pyvips.Image.black(width, height).draw_circle(255, cx, cy, r, fill=True)
    image = (disc > 0).bandjoin([disc > 0, disc > 0]).ifthenelse([220, 20, 30], ground)
    image = image.cast("uchar").copy(interpretation="srgb")
    if alpha:
        image = image.bandjoin(255).copy(interpretation="srgb")
    return image


def contains(crop, spot: tuple[int, int, int]) -> bool:
    cx, cy, r = spot
    return crop.x <= cx - r and cx + r <= crop.x + crop.width and crop.y <= cy - r and cy + r <= crop.y + crop.height


@pytest.mark.parametrize(("size", "spot"), [
    ((4000, 3000), (3500, 500, 200)),  # top right of a landscape
    ((3000, 4000), (400, 3600, 250)),  # bottom left of a portrait
    ((2500, 2500), (1250, 300, 150)),  # top centre of a square
])
@pytest.mark.parametrize(("want_w", "want_h"), [(1, 1), (16, 9), (9, 16), (1200, 400), (300, 1000)])
def test_the_crop_keeps_the_salient_object_in_master_pixels(tmp_path: Path, size, spot, want_w, want_h):
    tiff = save_pyramid_tiff(scene(*size, spot), str(tmp_path / "p.tif"))

    (crop,) = smart_crops(tiff, [CropItem(name="c", width=want_w, height=want_h)])

    assert 0 <= crop.x and crop.x + crop.width <= size[0] and 0 <= crop.y and crop.y + crop.height <= size[1]
    assert contains(crop, spot), crop
    assert crop.method == "attention"
    assert 0.9 <= crop.score <= 1.0  # the disc is nearly all the saliency there is, and it is inside


def test_aspect_ratios_are_exact_when_the_master_holds_them_and_the_crop_is_the_largest():
    assert crop_size(4000, 3000, 16, 9) == (4000, 2250)
    assert crop_size(4000, 3000, 1600, 900) == (4000, 2250)
    assert crop_size(4000, 3000, 1, 1) == (3000, 3000)
    assert crop_size(4000, 3000, 4, 3) == (4000, 3000)  # the whole image
    assert crop_size(1000, 1000, 16, 9) == (992, 558)  # 62 × (16:9): exact, 8 px short of the edge
    w, h = crop_size(800, 800, 1001, 1000)  # no whole multiple fits: the nearest rectangle
    assert (w, h) == (800, 799)
    assert crop_size(10, 10, MAX_SIDE, 1) == (10, 1)  # never zero pixels


def test_the_score_is_low_when_the_crop_must_cut_the_object_away(tmp_path: Path):
    # Two discs at opposite ends: a narrow crop keeps one of them, about half the interest.
    left, right = (300, 1000, 200), (3700, 1000, 200)
    image = scene(4000, 2000, left)
    image = (scene(4000, 2000, right).extract_band(0) > 128).bandjoin([0, 0]).ifthenelse(
        scene(4000, 2000, right), image).copy(interpretation="srgb")
    tiff = save_pyramid_tiff(image, str(tmp_path / "two.tif"))

    (crop,) = smart_crops(tiff, [CropItem(name="narrow", width=1, height=2)])

    assert contains(crop, left) or contains(crop, right)
    assert 0.3 <= crop.score <= 0.7


def test_reads_a_small_level_not_the_master_and_handles_alpha_and_tiny_images(tmp_path: Path):
    tiff = save_pyramid_tiff(scene(6000, 4000, (5000, 3000, 300), alpha=True), str(tmp_path / "a.tif"))
    assert len(tiff.levels) > 2
    (crop,) = smart_crops(tiff, [CropItem(name="sq", width=5, height=5)])
    assert contains(crop, (5000, 3000, 300))

    tiny = save_pyramid_tiff(scene(3, 2, (1, 1, 0)), str(tmp_path / "t.tif"))
    (crop,) = smart_crops(tiny, [CropItem(name="wide", width=100, height=1)])
    assert (crop.width, crop.height) == (3, 1)
    assert smart_crops(tiny, []) == []


@pytest.mark.parametrize(("width", "height"), [(0, 1), (1, 0), (-5, 5), (MAX_SIDE + 1, 1)])
def test_an_item_of_no_size_or_too_large_is_refused_by_callers_building_them_by_hand(width, height):
    with pytest.raises(ValueError, match="1…65535"):
        CropItem(name="x", width=width, height=height)
