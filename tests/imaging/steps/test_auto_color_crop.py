"""autoColorCropOptions: trim the border that has the chosen corner's colour, within tolerance."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

pyvips = pytest.importorskip("pyvips")

from openips.imaging import vips
from openips.imaging.optimize import optimize
from openips.imaging.options import AutoColorCrop, ManualCrop, ProcessingOptions, SourceRect
from openips.imaging.probe import LOADERS, probe
from openips.imaging.step_context import StepContext
from openips.imaging.steps.auto_color_crop import auto_color_crop

MAX_PIXELS = 100_000_000
WHITE, RED, BLUE = [255, 255, 255], [255, 0, 0], [0, 0, 255]
RED_RECT = SourceRect(x_offset=70, y_offset=40, width=100, height=50)
Write = Callable[..., Path]


def _canvas(width: int, height: int, colour: list[float], fmt: str = "uchar") -> pyvips.Image:
    interpretation = {(1, "uchar"): "b-w", (3, "ushort"): "rgb16", (4, "ushort"): "rgb16"}
    image = pyvips.Image.black(width, height).cast(fmt).new_from_image(colour)
    return image.copy(interpretation=interpretation.get((len(colour), fmt), "srgb"))


def _red_on_white() -> pyvips.Image:
    """400×300 white with a red 100×50 rectangle at (70, 40)."""
    return _canvas(400, 300, WHITE).draw_rect(RED, 70, 40, 100, 50, fill=True)


def _step(path: Path, corner: str, tolerance: float) -> tuple[pyvips.Image, StepContext]:
    info = probe(str(path), max_pixels=MAX_PIXELS)
    ctx = StepContext(info=info, source_path=str(path))
    image = vips.open_image(str(path), LOADERS[info.format])
    out = auto_color_crop(image, AutoColorCrop(corner=corner, tolerance=tolerance), ctx)
    return out, ctx


def _close(rect: SourceRect | None, expected: SourceRect, px: int = 1) -> bool:
    assert rect is not None
    got = (rect.x_offset, rect.y_offset, rect.x_offset + rect.width, rect.y_offset + rect.height)
    want = (expected.x_offset, expected.y_offset, expected.x_offset + expected.width,
            expected.y_offset + expected.height)
    return all(abs(a - b) <= px for a, b in zip(got, want, strict=True))


def test_exact_border_at_tolerance_0(write: Write) -> None:
    # Given
    src = write(_red_on_white(), "red.png")

    # When
    out, ctx = _step(src, "UpperLeft", 0.0)

    # Then
    assert ctx.crop == RED_RECT
    assert (out.width, out.height) == (100, 50)
    pixels = out.copy_memory()  # the result is a sequential read: decode it once
    assert [pixels[b].min() for b in range(3)] == [pixels[b].max() for b in range(3)] == RED
    assert ctx.warnings == []
    assert ctx.notes == [
        "autoColorCropOptions: trimmed the UpperLeft colour border (tolerance 0) → 100×50 at (70, 40)"
    ]


def _two_strips(corner: str) -> pyvips.Image:
    """White canvas, red rectangle, and 10-px blue strips along the two edges that meet at ``corner``."""
    image = _red_on_white()
    y = 0 if corner.startswith("Upper") else 290
    x = 0 if corner.endswith("Left") else 390
    return image.draw_rect(BLUE, 0, y, 400, 10, fill=True).draw_rect(BLUE, x, 0, 10, 300, fill=True)


@pytest.mark.parametrize(
    ("corner", "expected"),
    [
        ("UpperLeft", SourceRect(x_offset=10, y_offset=10, width=390, height=290)),
        ("UpperRight", SourceRect(x_offset=0, y_offset=10, width=390, height=290)),
        ("BottomLeft", SourceRect(x_offset=10, y_offset=0, width=390, height=290)),
        ("BottomRight", SourceRect(x_offset=0, y_offset=0, width=390, height=290)),
    ],
)
def test_each_corner_picks_its_own_colour(write: Write, corner: str, expected: SourceRect) -> None:
    # Given: only the chosen corner is blue; the other three are white
    src = write(_two_strips(corner), f"{corner}.png")

    # When
    out, ctx = _step(src, corner, 0.0)

    # Then
    assert ctx.crop == expected
    assert (out.width, out.height) == (390, 290)


def test_noise_at_tolerance_0_1_lands_within_one_pixel(write: Write) -> None:
    # Given: sigma-6 noise on every pixel (so tolerance 0 finds no border at all)
    noise = pyvips.Image.gaussnoise(400, 300, sigma=6, mean=0, seed=42)
    noisy = (_red_on_white().cast("float") + noise).cast("uchar").copy(interpretation="srgb")
    src = write(noisy, "noisy.png")

    # When
    _, exact = _step(src, "UpperLeft", 0.0)
    _, tolerant = _step(src, "UpperLeft", 0.1)

    # Then
    assert exact.crop is None
    assert _close(tolerant.crop, RED_RECT)


def test_jpeg_at_tolerance_0_1_lands_within_one_pixel(write: Write) -> None:
    # Given
    src = write(_red_on_white(), "red.jpg", Q=90)

    # When
    _, ctx = _step(src, "BottomRight", 0.1)

    # Then
    assert _close(ctx.crop, RED_RECT)


def _gradient_border() -> pyvips.Image:
    """400×300: white at the upper-left corner fading by up to 40 levels towards the lower right, red rectangle."""
    xy = pyvips.Image.xyz(400, 300)
    fade = 255 - (xy[0] + xy[1]) * (40 / 698)
    border = fade.bandjoin([fade, fade]).cast("uchar").copy(interpretation="srgb")
    return border.draw_rect(RED, 70, 40, 100, 50, fill=True)


def test_gradient_border_is_trimmed_at_tolerance_0_2_but_not_at_0(write: Write) -> None:
    # Given
    src = write(_gradient_border(), "fade.png")

    # When
    wide, wide_ctx = _step(src, "UpperLeft", 0.2)
    exact, exact_ctx = _step(src, "UpperLeft", 0.0)

    # Then
    assert wide_ctx.crop == RED_RECT
    assert (exact.width, exact.height, exact_ctx.crop) == (400, 300, None)
    assert exact_ctx.notes == ["autoColorCropOptions: no UpperLeft border within tolerance 0, not cropped"]


def test_tolerance_is_inclusive_in_levels(write: Write) -> None:
    # Given: a 10-px frame 25 levels off white, white corner
    image = _canvas(200, 100, WHITE).draw_rect([230, 230, 230], 0, 10, 200, 80, fill=True)
    image = image.draw_rect(RED, 10, 20, 180, 60, fill=True)
    src = write(image, "frame.png")

    # When
    _, within = _step(src, "UpperLeft", 25 / 255)
    _, outside = _step(src, "UpperLeft", 24 / 255)

    # Then
    assert within.crop == SourceRect(x_offset=10, y_offset=20, width=180, height=60)
    assert outside.crop == SourceRect(x_offset=0, y_offset=10, width=200, height=80)


def test_one_colour_image_is_kept_with_a_warning(write: Write) -> None:
    # Given
    src = write(_canvas(64, 48, BLUE), "blue.png")

    # When
    out, ctx = _step(src, "BottomLeft", 0.0)

    # Then
    assert (out.width, out.height, ctx.crop) == (64, 48, None)
    assert ctx.warnings == [
        "autoColorCropOptions: the whole image matches the BottomLeft corner's colour within tolerance 0, "
        "so it was not cropped"
    ]


def test_tolerance_1_matches_everything_and_keeps_the_image(write: Write) -> None:
    # Given
    src = write(_red_on_white(), "red.png")

    # When
    out, ctx = _step(src, "UpperLeft", 1.0)

    # Then
    assert (out.width, out.height, ctx.crop) == (400, 300, None)
    assert len(ctx.warnings) == 1


def test_16_bit_tolerance_scales_to_65535(write: Write) -> None:
    # Given: a 16-bit white canvas with a frame 1000 levels (1.5 %) off white around a red rectangle
    image = _canvas(200, 100, [65535] * 3, "ushort").draw_rect([64535] * 3, 0, 10, 200, 80, fill=True)
    image = image.draw_rect([65535, 0, 0], 10, 20, 180, 60, fill=True)
    src = write(image, "frame16.png")

    # When
    _, wide = _step(src, "UpperRight", 0.02)
    _, narrow = _step(src, "UpperRight", 0.01)

    # Then
    assert probe(str(src), max_pixels=MAX_PIXELS).bits_per_sample == 16
    assert wide.crop == SourceRect(x_offset=10, y_offset=20, width=180, height=60)
    assert narrow.crop == SourceRect(x_offset=0, y_offset=10, width=200, height=80)


def test_alpha_is_ignored_only_colour_counts(write: Write) -> None:
    # Given: white border whose alpha varies (half transparent on the left), red opaque rectangle
    colour = _red_on_white()
    alpha = _canvas(400, 300, [255]).draw_rect([0], 0, 0, 200, 300, fill=True).draw_rect([255], 70, 40, 100, 50,
                                                                                        fill=True)
    src = write(colour.bandjoin(alpha).copy(interpretation="srgb"), "rgba.png")

    # When
    out, ctx = _step(src, "UpperLeft", 0.0)

    # Then
    assert ctx.crop == RED_RECT
    assert out.bands == 4


def test_greyscale(write: Write) -> None:
    # Given
    image = _canvas(120, 80, [0]).draw_rect([200], 30, 20, 40, 10, fill=True)
    src = write(image, "grey.png")

    # When
    _, ctx = _step(src, "BottomRight", 0.0)

    # Then
    assert ctx.crop == SourceRect(x_offset=30, y_offset=20, width=40, height=10)


def test_mask_is_cropped_with_the_image(write: Write) -> None:
    # Given
    src = write(_red_on_white(), "red.png")
    info = probe(str(src), max_pixels=MAX_PIXELS)
    ctx = StepContext(info=info, source_path=str(src))
    ctx.mask = pyvips.Image.xyz(400, 300)[0].cast("uchar")

    # When
    auto_color_crop(vips.open_image(str(src), "pngload"), AutoColorCrop(corner="UpperLeft", tolerance=0), ctx)

    # Then
    assert ctx.mask is not None
    assert (ctx.mask.width, ctx.mask.height, ctx.mask.getpoint(0, 0)) == (100, 50, [70.0])


def test_end_to_end_pyramid_is_the_cropped_size(write: Write, tmp_path: Path) -> None:
    # Given
    src = write(_red_on_white(), "red.png")
    options = ProcessingOptions(auto_color_crop=AutoColorCrop(corner="UpperLeft", tolerance=0))

    # When
    result = optimize(str(src), str(tmp_path / "out.tif"), max_pixels=MAX_PIXELS, ctx=StepContext(options=options))

    # Then
    assert result.crop == RED_RECT
    assert (result.tiff.width, result.tiff.height) == (100, 50)
    back = pyvips.Image.new_from_file(str(tmp_path / "out.tif"))
    assert (back.width, back.height) == (100, 50)
    assert back.getpoint(50, 25) == pytest.approx(RED, abs=2)  # JPEG-compressed tiles
    assert result.notes[-1].startswith("autoColorCropOptions: trimmed")


def test_end_to_end_after_a_manual_crop_searches_only_what_is_left(write: Write, tmp_path: Path) -> None:
    # Given: the manual crop cuts 80 px off the left, into the red rectangle (70..170)
    src = write(_red_on_white(), "red.png")
    options = ProcessingOptions(
        manual_crop=ManualCrop(left=80, right=0, top=0, bottom=0),
        auto_color_crop=AutoColorCrop(corner="BottomRight", tolerance=0),
    )

    # When
    result = optimize(str(src), str(tmp_path / "out.tif"), max_pixels=MAX_PIXELS, ctx=StepContext(options=options))

    # Then
    assert result.crop == SourceRect(x_offset=80, y_offset=40, width=90, height=50)
    assert (result.tiff.width, result.tiff.height) == (90, 50)
