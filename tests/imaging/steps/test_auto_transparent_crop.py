"""autoTransparentCropOptions: trim edges whose alpha is within tolerance of fully transparent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

pyvips = pytest.importorskip("pyvips")

from openips.imaging import vips
from openips.imaging.optimize import optimize
from openips.imaging.options import AutoTransparentCrop, ProcessingOptions, SourceRect
from openips.imaging.probe import LOADERS, probe
from openips.imaging.step_context import StepContext
from openips.imaging.steps.auto_transparent_crop import auto_transparent_crop

MAX_PIXELS = 100_000_000
Write = Callable[..., Path]
# The soft edge: nested rings around an opaque core, alpha falling outwards (8-bit levels).
RINGS = [(230, SourceRect(x_offset=90, y_offset=70, width=220, height=160)),
         (128, SourceRect(x_offset=80, y_offset=60, width=240, height=180)),
         (20, SourceRect(x_offset=70, y_offset=50, width=260, height=200))]
CORE = SourceRect(x_offset=100, y_offset=80, width=200, height=140)


def _soft_edge_alpha(scale: int = 1) -> pyvips.Image:
    """400×300 alpha: 0 outside, rings of alpha 20, 128 and 230 (×``scale``), opaque 200×140 core."""
    alpha = pyvips.Image.black(400, 300).cast("ushort" if scale > 1 else "uchar")
    for level, r in reversed(RINGS):
        alpha = alpha.draw_rect([level * scale], r.x_offset, r.y_offset, r.width, r.height, fill=True)
    return alpha.draw_rect([255 * scale], CORE.x_offset, CORE.y_offset, CORE.width, CORE.height, fill=True)


def _rgba(scale: int = 1) -> pyvips.Image:
    """Noisy colour everywhere (also under the transparent pixels) and the soft-edged alpha."""
    colour = pyvips.Image.gaussnoise(400, 300, sigma=60, mean=128, seed=7).bandjoin([0, 0]) * scale
    fmt, interpretation = ("ushort", "rgb16") if scale > 1 else ("uchar", "srgb")
    return colour.cast(fmt).bandjoin(_soft_edge_alpha(scale)).copy(interpretation=interpretation)


def _step(path: Path, tolerance: float) -> tuple[pyvips.Image, StepContext]:
    info = probe(str(path), max_pixels=MAX_PIXELS)
    ctx = StepContext(info=info, source_path=str(path))
    image = vips.open_image(str(path), LOADERS[info.format])
    return auto_transparent_crop(image, AutoTransparentCrop(tolerance=tolerance), ctx), ctx


@pytest.mark.parametrize(
    ("tolerance", "expected"),
    [
        (0.0, RINGS[2][1]),  # only alpha == 0 trims
        (19 / 255, RINGS[2][1]),
        (20 / 255, RINGS[1][1]),  # within tolerance is inclusive: alpha 20 <= 20
        (0.5, RINGS[1][1]),  # 127.5 < 128
        (128 / 255, RINGS[0][1]),
        (0.9, RINGS[0][1]),  # 229.5 < 230
        (0.95, CORE),
        (1.0, CORE),  # every partly transparent edge goes, opaque pixels never do
    ],
)
def test_soft_alpha_edge_at_various_tolerances(write: Write, tolerance: float, expected: SourceRect) -> None:
    # Given
    src = write(_rgba(), "soft.png")

    # When
    out, ctx = _step(src, tolerance)

    # Then
    assert ctx.crop == expected
    assert (out.width, out.height, out.bands) == (expected.width, expected.height, 4)
    assert ctx.warnings == []
    assert ctx.notes[0].startswith("autoTransparentCropOptions: trimmed transparent edges")


def test_16_bit_alpha_tolerance_scales_to_65535(write: Write) -> None:
    # Given: the same rings in 16-bit (alpha 20×257 = 5140, 128×257, 230×257)
    src = write(_rgba(scale=257), "soft16.png")

    # When
    _, below = _step(src, 5139 / 65535)
    _, at = _step(src, 5140 / 65535)

    # Then
    assert probe(str(src), max_pixels=MAX_PIXELS).bits_per_sample == 16
    assert (below.crop, at.crop) == (RINGS[2][1], RINGS[1][1])


def test_grey_with_alpha(write: Write) -> None:
    # Given
    grey = pyvips.Image.black(400, 300).new_from_image([90]).cast("uchar")
    src = write(grey.bandjoin(_soft_edge_alpha()).copy(interpretation="b-w"), "ga.png")

    # When
    out, ctx = _step(src, 0.0)

    # Then
    assert (ctx.crop, out.bands) == (RINGS[2][1], 2)


def test_image_without_alpha_is_kept_with_a_warning(write: Write, gradient: Callable[..., pyvips.Image]) -> None:
    # Given
    src = write(gradient(64, 48), "rgb.png")

    # When
    out, ctx = _step(src, 0.0)

    # Then
    assert (out.width, out.height, ctx.crop) == (64, 48, None)
    assert ctx.warnings == ["autoTransparentCropOptions: the image has no alpha channel, so it was not cropped"]


def test_fully_transparent_image_is_kept_with_a_warning(write: Write) -> None:
    # Given
    src = write(pyvips.Image.black(64, 48, bands=4).cast("uchar").copy(interpretation="srgb"), "clear.png")

    # When
    out, ctx = _step(src, 0.0)

    # Then
    assert (out.width, out.height, ctx.crop) == (64, 48, None)
    assert ctx.warnings == [
        "autoTransparentCropOptions: every pixel is transparent within tolerance 0, so the image was not cropped"
    ]


def test_opaque_image_with_alpha_is_not_cropped(write: Write, gradient: Callable[..., pyvips.Image]) -> None:
    # Given
    opaque = gradient(64, 48).bandjoin(255).copy(interpretation="srgb")
    src = write(opaque, "opaque.png")

    # When
    out, ctx = _step(src, 1.0)

    # Then
    assert (out.width, out.height, ctx.crop, ctx.warnings) == (64, 48, None, [])
    assert ctx.notes == ["autoTransparentCropOptions: no transparent edge within tolerance 1, not cropped"]


def test_end_to_end_pyramid_is_the_cropped_size(write: Write, tmp_path: Path) -> None:
    # Given
    src = write(_rgba(), "soft.png")
    options = ProcessingOptions(auto_transparent_crop=AutoTransparentCrop(tolerance=0.5))

    # When
    result = optimize(str(src), str(tmp_path / "out.tif"), max_pixels=MAX_PIXELS, ctx=StepContext(options=options))

    # Then
    assert result.crop == RINGS[1][1]
    assert (result.tiff.width, result.tiff.height) == (240, 180)
    back = pyvips.Image.new_from_file(str(tmp_path / "out.tif"))
    assert (back.bands, back[3].getpoint(0, 0), back[3].getpoint(120, 90)) == (4, [128.0], [255.0])
