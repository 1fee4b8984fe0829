"""optimize(): probe -> sequential load -> pipeline -> pyramid TIFF, with domain errors."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

pyvips = pytest.importorskip("pyvips")

from openips.imaging import pipeline
from openips.imaging.optimize import optimize
from openips.imaging.options import (
    AutoColorCrop,
    AutoTransparentCrop,
    ColorPlan,
    KnockoutBackground,
    ManualCrop,
    ProcessingOptions,
    SourceRect,
    UnsharpMask,
)
from openips.imaging.pyramid import is_tiled
from openips.imaging.steps.color import color_in
from openips.models.errors import (
    CorruptImageError,
    EmptyFileError,
    ImageTooLargeError,
    UnsupportedFormatError,
)

MAX_PIXELS = 100_000_000


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "optimized.tif"


def test_rgb_jpeg(rgb_jpeg: Path, out: Path) -> None:
    # When
    result = optimize(str(rgb_jpeg), str(out), max_pixels=MAX_PIXELS)

    # Then
    assert (result.info.format, result.info.width, result.info.height) == ("jpeg", 3000, 2000)
    assert result.tiff.compression == "jpeg"
    assert result.tiff.levels == [(3000, 2000), (1500, 1000), (750, 500), (375, 250), (187, 125)]
    assert result.tiff.path == str(out)
    assert result.warnings == []
    assert is_tiled(str(out)) == (256, 256)


def test_png_with_alpha_keeps_four_bands(rgba_png: Path, out: Path) -> None:
    result = optimize(str(rgba_png), str(out), max_pixels=MAX_PIXELS)

    back = pyvips.Image.tiffload(str(out))
    assert (result.tiff.compression, back.bands, back.hasalpha()) == ("deflate", 4, True)


def test_16_bit_png_stays_16_bit(rgb16_png: Path, out: Path) -> None:
    result = optimize(str(rgb16_png), str(out), max_pixels=MAX_PIXELS)

    back = pyvips.Image.tiffload(str(out))
    assert (result.info.bits_per_sample, result.tiff.compression, back.format) == (16, "deflate", "ushort")


def test_cmyk_jpeg_stays_cmyk_when_colour_is_maintained(cmyk_jpeg: Path, out: Path) -> None:
    ctx = pipeline.StepContext(options=ProcessingOptions(color=ColorPlan(mode="MaintainOriginal")))
    result = optimize(str(cmyk_jpeg), str(out), max_pixels=MAX_PIXELS, ctx=ctx)

    back = pyvips.Image.tiffload(str(out))
    assert (back.bands, back.interpretation, result.tiff.compression) == (4, "cmyk", "jpeg")
    assert back.get_typeof("icc-profile-data") != 0


def test_cmyk_jpeg_becomes_srgb_by_default(cmyk_jpeg: Path, out: Path) -> None:
    result = optimize(str(cmyk_jpeg), str(out), max_pixels=MAX_PIXELS)

    back = pyvips.Image.tiffload(str(out))
    assert (back.bands, back.interpretation, result.tiff.compression) == (3, "srgb", "jpeg")


def test_greyscale_jpeg(grey_jpeg: Path, out: Path) -> None:
    result = optimize(str(grey_jpeg), str(out), max_pixels=MAX_PIXELS)

    back = pyvips.Image.tiffload(str(out))
    assert (back.bands, back.interpretation, result.tiff.levels) == (1, "b-w", [(500, 300), (250, 150)])


def test_one_pixel_png(write: Callable[..., Path], gradient: Callable[..., Any], out: Path) -> None:
    src = write(gradient(1, 1), "tiny.png")

    result = optimize(str(src), str(out), max_pixels=MAX_PIXELS)

    assert result.tiff.levels == [(1, 1)]


def test_animated_gif_processes_page_one_and_warns(animated_gif: Path, out: Path) -> None:
    result = optimize(str(animated_gif), str(out), max_pixels=MAX_PIXELS)

    assert result.info.pages == 4
    assert result.tiff.levels == [(40, 30)]
    assert result.warnings == ["multi-page file (4 pages): only page 1 was processed"]


def test_multipage_tiff_warns(multipage_tiff: Path, out: Path) -> None:
    result = optimize(str(multipage_tiff), str(out), max_pixels=MAX_PIXELS)

    assert (result.info.pages, result.tiff.levels) == (3, [(64, 48)])
    assert len(result.warnings) == 1


def test_libvips_pads_a_truncated_jpeg_unless_told_to_fail(
    rgb_jpeg: Path, truncated: Callable[..., Path], out: Path
) -> None:
    # Documents why vips.FAIL_ON exists: the default (fail_on="none") saves a grey-padded image.
    pyvips.Image.new_from_file(str(truncated(rgb_jpeg)), access="sequential").tiffsave(str(out))

    assert out.exists()


def test_truncated_jpeg_is_corrupt(rgb_jpeg: Path, truncated: Callable[..., Path], out: Path) -> None:
    # Given: half the bytes; the header still reads, so this fails only at save
    src = truncated(rgb_jpeg)

    # When
    with pytest.raises(CorruptImageError, match="premature end of JPEG") as raised:
        optimize(str(src), str(out), max_pixels=MAX_PIXELS)

    # Then: the error is the domain one, chained, and no partial output is left behind
    assert raised.value.code == "image.corrupt"
    assert isinstance(raised.value.__cause__, pyvips.Error)
    assert not out.exists()


def test_truncated_png_is_corrupt(
    write: Callable[..., Path], gradient: Callable[..., Any], truncated: Callable[..., Path], out: Path
) -> None:
    src = truncated(write(gradient(600, 400), "rgb.png"))

    with pytest.raises(CorruptImageError):
        optimize(str(src), str(out), max_pixels=MAX_PIXELS)
    assert not out.exists()


def test_empty_file(write_bytes: Callable[[str, bytes], Path], out: Path) -> None:
    with pytest.raises(EmptyFileError):
        optimize(str(write_bytes("empty.png", b"")), str(out), max_pixels=MAX_PIXELS)


def test_random_bytes(write_bytes: Callable[[str, bytes], Path], out: Path) -> None:
    with pytest.raises(UnsupportedFormatError):
        optimize(str(write_bytes("noise.png", os.urandom(2048))), str(out), max_pixels=MAX_PIXELS)


def test_svg(svg_file: Path, out: Path) -> None:
    with pytest.raises(UnsupportedFormatError, match="svg"):
        optimize(str(svg_file), str(out), max_pixels=MAX_PIXELS)


def test_float_tiff(float_tiff: Path, out: Path) -> None:
    with pytest.raises(UnsupportedFormatError, match="float"):
        optimize(str(float_tiff), str(out), max_pixels=MAX_PIXELS)


def test_decompression_bomb(tmp_path: Path, png_claiming_size: Callable[[Path, int, int], Path], out: Path) -> None:
    src = png_claiming_size(tmp_path / "bomb.png", 100_000, 100_000)

    started = time.monotonic()
    with pytest.raises(ImageTooLargeError):
        optimize(str(src), str(out), max_pixels=MAX_PIXELS)
    assert time.monotonic() - started < 1.0
    assert not out.exists()


def test_reusing_an_output_path_reads_the_new_file(
    write: Callable[..., Path], gradient: Callable[..., Any], out: Path
) -> None:
    # Given: a warm container writes the same /tmp path twice (the libvips cache is keyed on names)
    first = optimize(str(write(gradient(600, 400), "a.png")), str(out), max_pixels=MAX_PIXELS)

    # When
    second = optimize(str(write(gradient(300, 200), "b.png")), str(out), max_pixels=MAX_PIXELS)

    # Then
    assert first.tiff.levels[0] == (600, 400)
    assert second.tiff.levels == [(300, 200), (150, 100)]


def test_every_processing_option_has_a_step() -> None:
    # A new option cannot ship without its step (colour is the bracket around the steps).
    steps = {name for name, _ in pipeline.PIPELINE}
    assert {f.name for f in fields(ProcessingOptions)} - {"color", "create_mask"} == steps


def test_pipeline_runs_set_options_in_order_and_skips_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given
    calls: list[str] = []

    def step(name: str) -> pipeline.Step:
        def apply(image: pyvips.Image, option: Any, ctx: pipeline.StepContext) -> pyvips.Image:
            calls.append(f"{name}={option}")
            return image + 1

        return apply

    monkeypatch.setattr(pipeline, "PIPELINE", tuple((n, step(n)) for n in ("manual_crop", "knockout_background",
                                                                          "unsharp_mask")))
    options = ProcessingOptions(manual_crop=ManualCrop(left=1, right=0, top=0, bottom=0),
                                unsharp_mask=UnsharpMask(amount=1))

    # When
    result = pipeline.run(pyvips.Image.black(2, 2), pipeline.StepContext(options=options))

    # Then
    assert [c.split("=")[0] for c in calls] == ["manual_crop", "unsharp_mask"]
    assert result.max() == 2


# Every step with an option that makes it act; a step added to PIPELINE must be added here too.
EVERY_STEP = {
    "manual_crop": ManualCrop(left=3, right=2, top=1, bottom=4),
    "auto_color_crop": AutoColorCrop(corner="BottomRight", tolerance=0.2),
    "auto_transparent_crop": AutoTransparentCrop(tolerance=0.2),
    "preserved_crop": SourceRect(x_offset=2, y_offset=2, width=150, height=100),
    "knockout_background": KnockoutBackground(corner="UpperLeft", tolerance=0.2, fill_method="FloodFill"),
    "unsharp_mask": UnsharpMask(amount=2.0, radius=1.5, threshold=0),
    "xmp_keywords": ("shoes", "red"),
}


def _colour_of(image: pyvips.Image) -> tuple[str, str, int, bytes | None]:
    """Interpretation, sample format, colour bands and embedded profile."""
    profile = image.get("icc-profile-data") if image.get_typeof("icc-profile-data") else None
    return str(image.interpretation), str(image.format), image.bands - int(image.hasalpha()), profile


@pytest.mark.parametrize(("source", "plan"), [
    ("rgb.tif", ColorPlan()),
    ("rgb16-p3.tif", ColorPlan()),
    ("cmyk.tif", ColorPlan()),
    ("cmyk.tif", ColorPlan(mode="MaintainOriginal")),
    ("rgb.tif", ColorPlan(mode="Convert", source_profile=pyvips.Image.profile_load("srgb"),
                          output_profile=pyvips.Image.profile_load("p3"))),
], ids=["default-rgb", "default-rgb16-p3", "default-cmyk", "maintain-cmyk", "convert-to-p3"])
def test_no_step_undoes_what_colour_management_decided(
    source: str, plan: ColorPlan, gradient: Callable[..., pyvips.Image], write: Callable[..., Path], out: Path
) -> None:
    # Given: colour management is the pipeline's only colour step, so every later step must keep
    # the colour space, sample format and profile it chose
    assert set(EVERY_STEP) == {name for name, _ in pipeline.PIPELINE}
    images = {"rgb.tif": gradient(200, 150), "cmyk.tif": gradient(200, 150).icc_transform("cmyk", input_profile="srgb"),
              "rgb16-p3.tif": gradient(200, 150, fmt="ushort").copy()}
    images["rgb16-p3.tif"].set_type(pyvips.GValue.blob_type, "icc-profile-data", pyvips.Image.profile_load("p3"))
    path = write(images[source], source)
    decided = _colour_of(color_in(pyvips.Image.new_from_file(str(path)), plan, pipeline.StepContext()))

    # When
    optimize(str(path), str(out), max_pixels=MAX_PIXELS,
             ctx=pipeline.StepContext(options=ProcessingOptions(color=plan, **EVERY_STEP)))

    # Then: the steps did act (crops, knockout's alpha), and the colour is still what colour management made
    written = pyvips.Image.tiffload(str(out))
    assert (written.width, written.height) != (200, 150) and written.hasalpha()
    assert _colour_of(written) == decided


def test_step_warnings_reach_the_result(monkeypatch: pytest.MonkeyPatch, grey_jpeg: Path, out: Path) -> None:
    def crop(image: pyvips.Image, option: Any, ctx: pipeline.StepContext) -> pyvips.Image:
        ctx.warnings.append("crop clamped to the image")
        return image.crop(0, 0, 100, 50)

    monkeypatch.setattr(pipeline, "PIPELINE", (("manual_crop", crop),))
    ctx = pipeline.StepContext(options=ProcessingOptions(manual_crop=ManualCrop(left=0, right=0, top=0, bottom=0)))

    result = optimize(str(grey_jpeg), str(out), max_pixels=MAX_PIXELS, ctx=ctx)

    assert "crop clamped to the image" in result.warnings
    assert (result.tiff.width, result.tiff.height) == (100, 50)
