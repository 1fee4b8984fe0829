"""preserveCrop (spec §9.4): the replaced asset's crop re-applied, clamped to the new image."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

pyvips = pytest.importorskip("pyvips")

from openips.imaging.optimize import optimize
from openips.imaging.options import ProcessingOptions, SourceRect
from openips.imaging.step_context import StepContext
from openips.imaging.steps.preserved_crop import preserved_crop

MAX_PIXELS = 100_000_000


def _rect(x: int, y: int, w: int, h: int) -> SourceRect:
    return SourceRect(x_offset=x, y_offset=y, width=w, height=h)


def _xy(width: int, height: int) -> pyvips.Image:
    """A 3-band image whose pixel (x, y) is (x % 256, y % 256, 0)."""
    return (pyvips.Image.xyz(width, height) % 256).bandjoin(0).cast("uchar").copy(interpretation="srgb")


def test_a_crop_that_fits_is_applied_as_stored() -> None:
    # Given
    ctx = StepContext()

    # When
    out = preserved_crop(_xy(400, 300), _rect(50, 60, 200, 100), ctx)

    # Then
    assert ctx.crop == _rect(50, 60, 200, 100)
    assert (out.width, out.height, out.getpoint(0, 0)) == (200, 100, [50.0, 60.0, 0.0])
    assert ctx.notes == ["preserveCrop: kept the existing crop 200×100 at (50, 60)"]
    assert ctx.warnings == []


def test_a_crop_larger_than_the_new_image_is_clamped_with_a_warning() -> None:
    # Given: the old asset was larger than the new upload
    ctx = StepContext()

    # When
    out = preserved_crop(_xy(400, 300), _rect(300, 250, 500, 500), ctx)

    # Then
    assert ctx.crop == _rect(300, 250, 100, 50)
    assert (out.width, out.height) == (100, 50)
    assert ctx.warnings == [
        "preserveCrop: the existing crop 500×500 at (300, 250) does not fit the new 400×300 image;"
        " applied as 100×50 at (300, 250)"
    ]


def test_a_crop_outside_the_new_image_is_skipped_with_a_warning() -> None:
    # Given
    ctx = StepContext()
    image = _xy(400, 300)

    # When
    out = preserved_crop(image, _rect(500, 10, 100, 100), ctx)

    # Then
    assert out is image
    assert ctx.crop is None
    assert ctx.warnings == [
        "preserveCrop: the existing crop 100×100 at (500, 10) lies outside the new 400×300 image,"
        " so it was not applied"
    ]


def test_the_whole_image_as_stored_crop_changes_nothing() -> None:
    # Given
    ctx = StepContext()
    image = _xy(400, 300)

    # When
    out = preserved_crop(image, _rect(0, 0, 400, 300), ctx)

    # Then
    assert (out is image, ctx.crop) == (True, None)


def test_source_pixels_after_an_earlier_crop() -> None:
    # Given: an earlier step kept 300×200 at (100, 50) of the source
    ctx = StepContext()
    image = ctx.crop_image(_xy(400, 300), 100, 50, 300, 200)

    # When
    out = preserved_crop(image, _rect(150, 100, 50, 40), ctx)

    # Then
    assert ctx.crop == _rect(150, 100, 50, 40)
    assert out.getpoint(0, 0) == [150.0, 100.0, 0.0]


def test_mask_is_cropped_with_the_image() -> None:
    # Given
    ctx = StepContext()
    ctx.mask = (pyvips.Image.xyz(400, 300)[0] % 256).cast("uchar")

    # When
    preserved_crop(_xy(400, 300), _rect(30, 20, 10, 10), ctx)

    # Then
    assert ctx.mask is not None
    assert (ctx.mask.width, ctx.mask.height, ctx.mask.getpoint(0, 0)) == (10, 10, [30.0])


def test_end_to_end_pyramid_is_the_clamped_size(write: Callable[..., Path], tmp_path: Path) -> None:
    # Given
    src = write(_xy(600, 400), "new.png")
    options = ProcessingOptions(preserved_crop=_rect(100, 100, 1000, 200))

    # When
    result = optimize(str(src), str(tmp_path / "out.tif"), max_pixels=MAX_PIXELS, ctx=StepContext(options=options))

    # Then
    assert result.crop == _rect(100, 100, 500, 200)
    assert (result.tiff.width, result.tiff.height) == (500, 200)
    assert len(result.warnings) == 1 and result.warnings[0].startswith("preserveCrop:")
