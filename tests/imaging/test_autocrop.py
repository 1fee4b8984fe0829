"""getAutoCropRect: the rect either auto crop would keep, computed on a stored master file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

pyvips = pytest.importorskip("pyvips")

from openips.imaging.autocrop import auto_crop_rect
from openips.imaging.optimize import optimize
from openips.imaging.options import AutoColorCrop, AutoTransparentCrop, ProcessingOptions, SourceRect
from openips.imaging.step_context import StepContext
from openips.models.errors import CorruptImageError, FileRejectedError, ImageTooLargeError

MAX_PIXELS = 100_000_000
RED_RECT = SourceRect(x_offset=70, y_offset=40, width=100, height=50)
Write = Callable[..., Path]


def _red_on_white(fmt: str = "uchar", full: int = 255) -> pyvips.Image:
    """400×300 white with a red 100×50 rectangle at (70, 40)."""
    white = pyvips.Image.black(400, 300).cast(fmt).new_from_image([full] * 3)
    image = white.draw_rect([full, 0, 0], 70, 40, 100, 50, fill=True)
    return image.copy(interpretation="rgb16" if fmt == "ushort" else "srgb")


def _red_on_clear() -> pyvips.Image:
    """The red rectangle opaque, everything else fully transparent white."""
    alpha = pyvips.Image.black(400, 300).cast("uchar").draw_rect([255], 70, 40, 100, 50, fill=True)
    return _red_on_white().bandjoin(alpha).copy(interpretation="srgb")


@pytest.mark.parametrize("corner", ["UpperLeft", "UpperRight", "BottomLeft", "BottomRight"])
def test_color_rect(write: Write, corner: str) -> None:
    # Given
    src = write(_red_on_white(), "red.png")

    # When
    rect = auto_crop_rect(str(src), "Color", corner, 0.0, max_pixels=MAX_PIXELS)

    # Then
    assert rect == RED_RECT


def test_color_rect_16_bit(write: Write) -> None:
    # Given
    src = write(_red_on_white("ushort", 65535), "red16.png")

    # When
    rect = auto_crop_rect(str(src), "Color", "UpperLeft", 0.0, max_pixels=MAX_PIXELS)

    # Then
    assert rect == RED_RECT


def test_transparent_rect(write: Write) -> None:
    # Given
    src = write(_red_on_clear(), "clear.png")

    # When
    rect = auto_crop_rect(str(src), "Transparent", None, 0.0, max_pixels=MAX_PIXELS)

    # Then
    assert rect == RED_RECT


def test_transparent_on_an_image_without_alpha_is_refused(write: Write) -> None:
    # Given
    src = write(_red_on_white(), "red.jpg")

    # When
    with pytest.raises(FileRejectedError) as raised:
        auto_crop_rect(str(src), "Transparent", None, 0.0, max_pixels=MAX_PIXELS)

    # Then
    assert raised.value.code == "auto_crop.no_alpha"
    assert raised.value.message == "the image has no alpha channel, so it has no transparent edges to crop"


@pytest.mark.parametrize(
    ("kind", "image"),
    [("Color", lambda: pyvips.Image.gaussnoise(400, 300, seed=3).cast("uchar")),  # no border
     ("Color", lambda: _red_on_white().new_from_image([9, 9, 9])),  # one colour
     ("Transparent", lambda: _red_on_white().bandjoin(255).copy(interpretation="srgb")),  # opaque
     ("Transparent", lambda: _red_on_white().bandjoin(0).copy(interpretation="srgb"))],  # all transparent
)
def test_no_crop_found_is_the_full_image(write: Write, kind: str, image: Callable[[], pyvips.Image]) -> None:
    # Given
    src = write(image(), "plain.png")

    # When
    rect = auto_crop_rect(str(src), kind, "UpperLeft", 0.0, max_pixels=MAX_PIXELS)  # type: ignore[arg-type]

    # Then
    assert rect == SourceRect(x_offset=0, y_offset=0, width=400, height=300)


@pytest.mark.parametrize(("corner", "tolerance", "code"), [(None, 0.0, "auto_crop.corner"),
                                                           ("Middle", 0.0, "auto_crop.corner"),
                                                           ("UpperLeft", 1.5, "auto_crop.tolerance")])
def test_bad_parameters_are_refused(write: Write, corner: str | None, tolerance: float, code: str) -> None:
    # Given
    src = write(_red_on_white(), "red.png")

    # When
    with pytest.raises(FileRejectedError) as raised:
        auto_crop_rect(str(src), "Color", corner, tolerance, max_pixels=MAX_PIXELS)

    # Then
    assert raised.value.code == code


def test_too_many_pixels_is_refused(write: Write) -> None:
    # Given
    src = write(_red_on_white(), "red.png")

    # When / Then
    with pytest.raises(ImageTooLargeError):
        auto_crop_rect(str(src), "Color", "UpperLeft", 0.0, max_pixels=1000)


def test_truncated_master_is_a_corrupt_image(write: Write, truncated: Callable[..., Path]) -> None:
    # Given
    noisy = pyvips.Image.gaussnoise(400, 300, seed=1).cast("uchar")
    src = truncated(write(noisy, "noisy.png"))

    # When / Then
    with pytest.raises(CorruptImageError):
        auto_crop_rect(str(src), "Color", "UpperLeft", 0.0, max_pixels=MAX_PIXELS)


@pytest.mark.parametrize("tolerance", [0.0, 0.05, 0.1, 0.3])
def test_agrees_with_the_upload_step(write: Write, tmp_path: Path, tolerance: float) -> None:
    # Given: a JPEG whose compression noise makes the answer depend on the tolerance
    src = write(_red_on_white(), "red.jpg", Q=75)
    options = ProcessingOptions(auto_color_crop=AutoColorCrop(corner="UpperRight", tolerance=tolerance))

    # When
    rect = auto_crop_rect(str(src), "Color", "UpperRight", tolerance, max_pixels=MAX_PIXELS)
    result = optimize(str(src), str(tmp_path / "out.tif"), max_pixels=MAX_PIXELS, ctx=StepContext(options=options))

    # Then
    assert rect == (result.crop or SourceRect(x_offset=0, y_offset=0, width=400, height=300))
    assert (result.tiff.width, result.tiff.height) == (rect.width, rect.height)


def test_transparent_agrees_with_the_upload_step(write: Write, tmp_path: Path) -> None:
    # Given
    src = write(_red_on_clear(), "clear.png")
    options = ProcessingOptions(auto_transparent_crop=AutoTransparentCrop(tolerance=0.0))

    # When
    rect = auto_crop_rect(str(src), "Transparent", None, 0.0, max_pixels=MAX_PIXELS)
    result = optimize(str(src), str(tmp_path / "out.tif"), max_pixels=MAX_PIXELS, ctx=StepContext(options=options))

    # Then
    assert result.crop == rect == RED_RECT
