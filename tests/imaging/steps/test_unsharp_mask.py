"""unsharpMaskOptions: out = clip(round(I + amount·D)) where |D| ≥ threshold, D = I − G_σ∗I, alpha untouched."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

pyvips = pytest.importorskip("pyvips")

from openips.imaging.optimize import optimize  # noqa: E402
from openips.imaging.options import ColorPlan, ProcessingOptions, UnsharpMask  # noqa: E402
from openips.imaging.step_context import StepContext  # noqa: E402
from openips.imaging.steps.unsharp_mask import LUMA_WEIGHTS, unsharp_mask, usm_parameters  # noqa: E402

MAX_PIXELS = 100_000_000
WIDTH, HEIGHT = 32, 6
LOW, HIGH = 100, 150  # a step edge between x = 15 and x = 16


def _rows(row: list[int], fmt: str = "uchar", interpretation: str = "b-w") -> pyvips.Image:
    return pyvips.Image.new_from_list([row] * HEIGHT).cast(fmt).copy(interpretation=interpretation)


def _step(low: int = LOW, high: int = HIGH) -> list[int]:
    return [low] * (WIDTH // 2) + [high] * (WIDTH // 2)


def _expected(row: list[int], opt: UnsharpMask, max_value: int = 255) -> list[int]:
    """The module-docstring formula evaluated in plain Python, edges extended by copying (as libvips does)."""
    params = usm_parameters(opt)
    reach = len(params.kernel) // 2
    out = []
    for x, value in enumerate(row):
        blurred = sum(w * row[min(len(row) - 1, max(0, x + i - reach))] for i, w in enumerate(params.kernel))
        delta = value - blurred
        sharpened = min(max_value, max(0, round(value + params.amount * delta)))
        out.append(sharpened if abs(delta) >= params.threshold_for(max_value) else value)
    return out


def _row(image: pyvips.Image, band: int = 0, y: int = HEIGHT // 2) -> list[int]:
    return [int(v) for v in image[band].crop(0, y, image.width, 1).tolist()[0]]


def test_amount_zero_returns_the_image_itself() -> None:
    # Given
    image, ctx = _rows(_step()), StepContext()

    # When
    out = unsharp_mask(image, UnsharpMask(amount=0, radius=2, threshold=0), ctx)

    # Then
    assert out is image
    assert ctx.notes == ["unsharpMaskOptions: no sharpening (amount 0)."]


def test_radius_zero_is_no_sharpening() -> None:
    image, ctx = _rows(_step()), StepContext()

    out = unsharp_mask(image, UnsharpMask(amount=3, radius=0), ctx)

    assert out is image
    assert ctx.notes == ["unsharpMaskOptions: no sharpening (radius 0 px is too small to reach a neighbour)."]


@pytest.mark.parametrize("amount", [0.5, 1.0, 2.0, 5.0])
def test_step_edge_matches_the_formula(amount: float) -> None:
    # Given
    opt = UnsharpMask(amount=amount, radius=1.0, threshold=0)

    # When
    out = unsharp_mask(_rows(_step()), opt, StepContext())

    # Then: every pixel of the row is the formula's value
    assert _row(out) == _expected(_step(), opt)


def test_overshoot_grows_with_amount_as_predicted() -> None:
    # Given: D at the first bright pixel is (HIGH − LOW) × (weight of the kernel's left half) ≈ 15.4 levels
    kernel = usm_parameters(UnsharpMask(amount=1, radius=1.0)).kernel
    edge_delta = (HIGH - LOW) * sum(kernel[: len(kernel) // 2])
    amounts = [0.5, 1.0, 2.0, 3.0, 5.0]

    # When
    overshoots = [
        max(_row(unsharp_mask(_rows(_step()), UnsharpMask(amount=a, radius=1.0, threshold=0), StepContext())))
        - HIGH
        for a in amounts
    ]
    undershoots = [
        LOW - min(_row(unsharp_mask(_rows(_step()), UnsharpMask(amount=a, radius=1.0, threshold=0),
                                    StepContext())))
        for a in amounts
    ]

    # Then: contrast across the edge grows linearly, amount × D, rounded
    assert overshoots == [round(a * edge_delta) for a in amounts] == [8, 15, 31, 46, 77]
    assert undershoots == overshoots


def test_flat_regions_and_differences_under_the_threshold_stay_bit_identical() -> None:
    # Given: a strong edge, plus a 3-level ripple column whose D (~1.9) is under the threshold 6
    row = _step()
    row[5] += 3
    image = _rows(row)
    opt = UnsharpMask(amount=2.0, radius=1.0, threshold=6)

    # When
    got = _row(unsharp_mask(image, opt, StepContext()))

    # Then
    assert got == _expected(row, opt)
    assert got[:13] == row[:13]  # flat area and ripple: untouched
    assert got[19:] == row[19:]
    assert got[15] < row[15] and got[16] > row[16]  # the edge is sharpened


def test_threshold_is_scaled_to_16_bit() -> None:
    # Given: a 16-bit step whose edge D (~1234) is over 6 but under 6 × 257 = 1542
    small = _rows(_step(20_000, 24_000), fmt="ushort", interpretation="grey16")
    big = _rows(_step(LOW * 257, HIGH * 257), fmt="ushort", interpretation="grey16")
    opt = UnsharpMask(amount=2.0, radius=1.0, threshold=6)

    # When
    small_out = unsharp_mask(small, opt, StepContext())
    big_out = unsharp_mask(big, opt, StepContext())

    # Then
    assert small_out.write_to_memory() == small.write_to_memory()
    assert (big_out.format, big_out.interpretation) == ("ushort", "grey16")
    assert _row(big_out) == _expected(_step(LOW * 257, HIGH * 257), opt, max_value=65535)
    kernel = usm_parameters(opt).kernel
    assert max(_row(big_out)) - HIGH * 257 == round(2.0 * (HIGH - LOW) * 257 * sum(kernel[: len(kernel) // 2]))


def test_clipping_at_white_and_black() -> None:
    opt = UnsharpMask(amount=5.0, radius=2.0, threshold=0)

    got = _row(unsharp_mask(_rows(_step(20, 235)), opt, StepContext()))

    assert (min(got), max(got)) == (0, 255)
    assert got == _expected(_step(20, 235), opt)


def _colour_edge() -> pyvips.Image:
    left, right = (150, 90, 70), (90, 120, 160)
    bands = [_rows([left[b]] * (WIDTH // 2) + [right[b]] * (WIDTH // 2)) for b in range(3)]
    return bands[0].bandjoin(bands[1:]).copy(interpretation="srgb")


def _chroma(image: pyvips.Image) -> list[tuple[float, float]]:
    """(R − Y, B − Y) per pixel of the middle row: the colour-difference part, which luma sharpening must keep."""
    r, g, b = (_row(image, band) for band in range(3))
    luma = [LUMA_WEIGHTS[0] * r[x] + LUMA_WEIGHTS[1] * g[x] + LUMA_WEIGHTS[2] * b[x] for x in range(len(r))]
    return [(r[x] - luma[x], b[x] - luma[x]) for x in range(len(r))]


def test_monochrome_sharpens_luminance_only_and_keeps_the_chroma() -> None:
    # Given
    image, ctx = _colour_edge(), StepContext()

    # When
    out = unsharp_mask(image, UnsharpMask(amount=1.5, radius=1.0, threshold=0, monochrome=1), ctx)

    # Then: every band moved by the same luma delta, so colour differences stay (to rounding)
    before, after = _chroma(image), _chroma(out)
    assert max(max(abs(a[0] - b[0]), abs(a[1] - b[1])) for a, b in zip(before, after)) <= 1.0
    changes = [[o - i for o, i in zip(_row(out, band), _row(image, band))] for band in range(3)]
    assert max(abs(change) for change in changes[0]) >= 5
    assert all(max(c) - min(c) <= 1 for c in zip(*changes))
    assert "sharpened luminance only (monochrome)" in ctx.notes[0]


def test_per_channel_sharpening_changes_each_band_by_its_own_edge() -> None:
    # Given
    image = _colour_edge()
    opt = UnsharpMask(amount=1.5, radius=1.0, threshold=0, monochrome=0)

    # When
    out = unsharp_mask(image, opt, StepContext())

    # Then: each band follows the formula on its own, so the chroma at the edge moves
    for band in range(3):
        assert _row(out, band) == _expected(_row(image, band), opt)
    before, after = _chroma(image), _chroma(out)
    assert max(max(abs(a[0] - b[0]), abs(a[1] - b[1])) for a, b in zip(before, after)) > 10


def test_alpha_is_never_sharpened() -> None:
    # Given: the alpha band has a hard edge of its own
    alpha = _rows([255] * 10 + [0] * 12 + [255] * 10)
    image = _colour_edge().bandjoin(alpha).copy(interpretation="srgb")

    # When
    out = unsharp_mask(image, UnsharpMask(amount=3.0, radius=1.5, threshold=0), StepContext())

    # Then
    assert (out.bands, out.interpretation) == (4, "srgb")
    assert out[3].write_to_memory() == alpha.write_to_memory()
    assert out[0].write_to_memory() != image[0].write_to_memory()


def test_monochrome_is_ignored_for_greyscale() -> None:
    image = _rows(_step()).bandjoin(_rows([200] * WIDTH)).copy(interpretation="b-w")
    mono, ctx = UnsharpMask(amount=2.0, radius=1.0, threshold=0, monochrome=1), StepContext()

    out = unsharp_mask(image, mono, ctx)

    assert out.write_to_memory() == unsharp_mask(image, replace(mono, monochrome=0),
                                                 StepContext()).write_to_memory()
    assert out[1].write_to_memory() == image[1].write_to_memory()
    assert "sharpened the grey channel" in ctx.notes[0]


def test_cmyk_is_sharpened_per_ink_channel_even_with_monochrome() -> None:
    # Given
    bands = [_rows(_step(20 + 40 * b, 200 - 30 * b)) for b in range(4)]
    image = bands[0].bandjoin(bands[1:]).copy(interpretation="cmyk")
    opt, ctx = UnsharpMask(amount=1.0, radius=1.0, threshold=0, monochrome=1), StepContext()

    # When
    out = unsharp_mask(image, opt, ctx)

    # Then
    assert (out.bands, out.interpretation) == (4, "cmyk")
    for band in range(4):
        assert _row(out, band) == _expected(_row(image, band), opt)
    assert "each ink channel separately (monochrome does not apply to CMYK)" in ctx.notes[0]


def test_radius_defaults_to_one_pixel_and_the_note_says_everything() -> None:
    image, ctx = _rows(_step()), StepContext()

    out = unsharp_mask(image, UnsharpMask(amount=1.75), ctx)

    assert _row(out) == _expected(_step(), UnsharpMask(amount=1.75, radius=1.0))
    assert ctx.notes == ["unsharpMaskOptions: amount 1.75 (175 %), radius 1 px (Gaussian σ 1 px), threshold 6 of 255 "
                         "levels; sharpened the grey channel, alpha untouched."]


def test_metadata_and_profile_are_kept() -> None:
    image = _colour_edge().copy()
    image.set_type(pyvips.GValue.blob_type, "icc-profile-data", pyvips.Image.profile_load("srgb"))

    out = unsharp_mask(image, UnsharpMask(amount=1.0, radius=1.0), StepContext())

    assert out.get("icc-profile-data") == pyvips.Image.profile_load("srgb")


def test_large_radius_uses_the_fast_blur_and_keeps_flat_areas() -> None:
    # Given: σ = 30 goes through libvips' box-sum approximation
    image = (pyvips.Image.black(300, 40) + 120).cast("uchar").copy(interpretation="b-w")

    # When
    out = unsharp_mask(image, UnsharpMask(amount=5.0, radius=30.0, threshold=0), StepContext())

    # Then
    assert usm_parameters(UnsharpMask(amount=5.0, radius=30.0)).precision == "approximate"
    assert out.write_to_memory() == image.write_to_memory()


def test_optimize_applies_colour_then_sharpening(tmp_path: Path) -> None:
    # Given: an RGBA PNG (so the TIFF tiles are lossless) with a vertical step edge
    width = 64
    bands = [pyvips.Image.new_from_list([[LOW] * (width // 2) + [HIGH] * (width // 2)] * 48) for _ in range(3)]
    image = bands[0].bandjoin([*bands[1:], 255]).cast("uchar").copy(interpretation="srgb")
    src, dst = tmp_path / "edge.png", tmp_path / "edge.tif"
    image.pngsave(str(src))
    usm = UnsharpMask(amount=2.0, radius=1.0, threshold=0, monochrome=1)
    ctx = StepContext(options=ProcessingOptions(unsharp_mask=usm, color=ColorPlan(mode="Default")))

    # When
    result = optimize(str(src), str(dst), max_pixels=MAX_PIXELS, ctx=ctx)

    # Then
    back = pyvips.Image.tiffload(str(dst))
    expected = _expected([LOW] * (width // 2) + [HIGH] * (width // 2), usm)
    assert [_row(back, band, y=20) for band in range(3)] == [expected] * 3
    assert _row(back, 3, y=20) == [255] * width
    assert result.notes == [
        "colorManagement Default: RGB image without an embedded profile, treated as sRGB; colours not converted; "
        "the output embeds no profile (viewers assume sRGB).",
        "unsharpMaskOptions: amount 2 (200 %), radius 1 px (Gaussian σ 1 px), threshold 0 of 255 levels; "
        "sharpened luminance only (monochrome), alpha untouched.",
    ]
