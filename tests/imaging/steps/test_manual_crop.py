"""manualCropOptions: per-edge trim amounts in pixels, the mask following the crop."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pyvips = pytest.importorskip("pyvips")

from openips.imaging.optimize import optimize
from openips.imaging.options import ManualCrop, ProcessingOptions, SourceRect
from openips.imaging.step_context import StepContext
from openips.imaging.steps.manual_crop import manual_crop
from openips.models.errors import FileRejectedError

MAX_PIXELS = 100_000_000


def _xy(width: int, height: int) -> pyvips.Image:
    """A 3-band image whose pixel (x, y) is (x % 256, y % 256, 0): every position is recognisable."""
    xy = pyvips.Image.xyz(width, height)
    return (xy % 256).bandjoin(0).cast("uchar").copy(interpretation="srgb")


def test_trims_each_edge_by_its_amount() -> None:
    # Given
    ctx = StepContext()

    # When
    out = manual_crop(_xy(1000, 1000), ManualCrop(left=10, right=5, top=3, bottom=2), ctx)

    # Then
    assert (out.width, out.height) == (985, 995)
    assert ctx.crop == SourceRect(x_offset=10, y_offset=3, width=985, height=995)
    assert out.getpoint(0, 0) == [10.0, 3.0, 0.0]
    assert out.getpoint(984, 994) == [(994 % 256), (997 % 256), 0.0]
    assert ctx.notes == ["manualCropOptions: trimmed left 10, right 5, top 3, bottom 2 → 985×995"]


def test_zero_on_every_edge_is_no_crop() -> None:
    # Given
    image, ctx = _xy(64, 48), StepContext()

    # When
    out = manual_crop(image, ManualCrop(left=0, right=0, top=0, bottom=0), ctx)

    # Then
    assert out is image
    assert (ctx.crop, ctx.notes, ctx.warnings) == (None, [], [])


def test_mask_is_cropped_identically() -> None:
    # Given
    ctx = StepContext()
    ctx.mask = (pyvips.Image.xyz(300, 200)[1] % 256).cast("uchar")  # mask value = row number

    # When
    out = manual_crop(_xy(300, 200), ManualCrop(left=20, right=30, top=40, bottom=50), ctx)

    # Then
    assert ctx.mask is not None
    assert (ctx.mask.width, ctx.mask.height) == (out.width, out.height) == (250, 110)
    assert ctx.mask.getpoint(0, 0) == [40.0]
    assert ctx.mask.getpoint(249, 109) == [149.0]


@pytest.mark.parametrize(
    ("opt", "numbers"),
    [
        (ManualCrop(left=150, right=150, top=0, bottom=0),
         "left 150 + right 150 = 300 px from an image 300 px wide"),
        (ManualCrop(left=0, right=0, top=0, bottom=201),
         "top 0 + bottom 201 = 201 px from an image 200 px high"),
    ],
)
def test_trim_that_leaves_nothing_is_rejected_with_the_numbers(opt: ManualCrop, numbers: str) -> None:
    # Given
    ctx = StepContext()

    # When
    with pytest.raises(FileRejectedError) as raised:
        manual_crop(_xy(300, 200), opt, ctx)

    # Then
    assert raised.value.code == "manual_crop.nothing_left"
    assert numbers in raised.value.message
    assert ctx.crop is None


def test_one_pixel_left_is_allowed() -> None:
    # Given
    ctx = StepContext()

    # When
    out = manual_crop(_xy(300, 200), ManualCrop(left=299, right=0, top=100, bottom=99), ctx)

    # Then
    assert (out.width, out.height, out.getpoint(0, 0)) == (1, 1, [299 % 256, 100.0, 0.0])


def test_end_to_end_pyramid_is_the_cropped_size(write: Callable[..., Path], tmp_path: Path) -> None:
    # Given
    src = write(_xy(1000, 600), "xy.png")
    options = ProcessingOptions(manual_crop=ManualCrop(left=100, right=50, top=20, bottom=30))

    # When
    result = optimize(str(src), str(tmp_path / "out.tif"), max_pixels=MAX_PIXELS, ctx=StepContext(options=options))

    # Then
    assert result.crop == SourceRect(x_offset=100, y_offset=20, width=850, height=550)
    assert (result.tiff.width, result.tiff.height) == (850, 550)
    assert result.tiff.levels[0] == (850, 550)
    first = pyvips.Image.new_from_file(str(tmp_path / "out.tif")).getpoint(0, 0)
    assert first == pytest.approx([100, 20, 0], abs=3)  # JPEG-compressed tiles


def test_end_to_end_nothing_left_fails_the_file(
    write: Callable[..., Path], gradient: Callable[..., Any], tmp_path: Path
) -> None:
    # Given
    src = write(gradient(100, 80), "small.png")
    options = ProcessingOptions(manual_crop=ManualCrop(left=0, right=0, top=500, bottom=500))

    # When
    with pytest.raises(FileRejectedError) as raised:
        optimize(str(src), str(tmp_path / "out.tif"), max_pixels=MAX_PIXELS, ctx=StepContext(options=options))

    # Then
    assert raised.value.code == "manual_crop.nothing_left"
    assert "1000 px from an image 80 px high" in raised.value.message
