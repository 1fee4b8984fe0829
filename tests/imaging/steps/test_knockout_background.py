"""knockout_background: corner colour → transparent, by flood fill or everywhere, with a soft, clean edge."""

from __future__ import annotations

from pathlib import Path

import pytest

pyvips = pytest.importorskip("pyvips")

from openips.imaging.optimize import optimize
from openips.imaging.options import KnockoutBackground, ProcessingOptions
from openips.imaging.step_context import StepContext
from openips.imaging.steps.knockout_background import corner_xy, knockout_background, match_threshold

RED, WHITE = [220, 30, 30], [255, 255, 255]


def _options(corner: str = "UpperLeft", tolerance: float = 0.0, method: str = "FloodFill") -> KnockoutBackground:
    return KnockoutBackground(corner=corner, tolerance=tolerance, fill_method=method)


def _radius(size: int = 200) -> pyvips.Image:
    xy = pyvips.Image.xyz(size, size) - size // 2
    return (xy[0] * xy[0] + xy[1] * xy[1]) ** 0.5


def _sequential(image: pyvips.Image, tmp_path: Path, name: str = "in.png") -> pyvips.Image:
    """The image as the pipeline sees it: a file opened for one top-to-bottom read."""
    path = tmp_path / name
    image.write_to_file(str(path))
    return pyvips.Image.new_from_file(str(path), access="sequential")


def _rgb(mask: pyvips.Image, inside: list[int], outside: list[int]) -> pyvips.Image:
    return mask.ifthenelse(inside, outside).cast("uchar").copy(interpretation="srgb")


@pytest.fixture
def island() -> dict[str, pyvips.Image]:
    """White canvas; red disc r<30; white island 30<=r<50 inside a red ring 50<=r<70 (hard edges)."""
    r = _radius()
    red = (r < 30) | ((r >= 50) & (r < 70))
    return {"image": _rgb(red, RED, WHITE), "outside": r >= 70, "island": (r >= 30) & (r < 50), "red": red}


@pytest.mark.parametrize(("method", "clears_island"), [("MatchPixel", True), ("FloodFill", False)])
def test_match_pixel_clears_the_island_too_flood_fill_does_not(
    island: dict[str, pyvips.Image], tmp_path: Path, method: str, clears_island: bool
) -> None:
    # Given
    ctx = StepContext()

    # When
    out = knockout_background(_sequential(island["image"], tmp_path), _options(method=method), ctx)

    # Then
    assert (out.bands, out.format, out.interpretation) == (4, "uchar", "srgb")
    alpha = out[3]
    should_clear = island["outside"] | island["island"] if clears_island else island["outside"]
    assert ((alpha == 0) ^ should_clear).max() == 0
    kept = should_clear.invert()
    well_inside = kept.rank(3, 3, 0)  # kept pixels with no cleared neighbour
    assert (well_inside.ifthenelse(alpha, 255)).min() == 255
    edge = kept & well_inside.invert()
    assert edge.ifthenelse(alpha, 128).max() < 255 and edge.ifthenelse(alpha, 128).min() > 0
    assert (out.extract_band(0, n=3) - island["image"]).abs().max() == 0  # hard edges: colour untouched
    assert alpha(100, 60)[0] == (0 if clears_island else 255)


def test_notes_say_what_was_knocked_out(island: dict[str, pyvips.Image], tmp_path: Path) -> None:
    ctx = StepContext()

    knockout_background(_sequential(island["image"], tmp_path), _options(tolerance=0.25), ctx)

    percent = island["outside"].avg() / 255 * 100
    assert ctx.notes == [f"knockoutBackground: {percent:.1f}% of the pixels made transparent (FloodFill from the "
                         "UpperLeft corner, colour (255, 255, 255), tolerance 0.25)"]
    assert ctx.warnings == []


@pytest.mark.parametrize("method", ["FloodFill", "MatchPixel"])
def test_tolerance_widens_the_match_on_a_slightly_noisy_background(tmp_path: Path, method: str) -> None:
    # Given: background 235..255 (at most 20 levels, 0.08, from the corner's 255), a navy square
    xy = pyvips.Image.xyz(120, 120)
    noisy = 255 - (xy[0] * 7 + xy[1] * 13) % 21
    square = pyvips.Image.black(120, 120).draw_rect(255, 40, 40, 40, 40, fill=True)
    image = square.ifthenelse([20, 30, 110], noisy.bandjoin([noisy, noisy])).cast("uchar").copy(interpretation="srgb")
    background_pixels = 120 * 120 - 40 * 40

    # When
    exact = knockout_background(_sequential(image, tmp_path, "a.png"), _options(method=method), StepContext())
    wide = knockout_background(_sequential(image, tmp_path, "b.png"), _options(tolerance=0.2, method=method),
                               StepContext())

    # Then
    cleared_exact = (exact[3] == 0).avg() / 255 * 120 * 120
    assert 0 < cleared_exact < 0.1 * background_pixels
    assert ((wide[3] == 0) ^ square.invert()).max() == 0


@pytest.mark.parametrize(("corner", "quadrant"), [
    ("UpperLeft", (0, 0)), ("UpperRight", (60, 0)), ("BottomLeft", (0, 60)), ("BottomRight", (60, 60)),
])
def test_each_corner_clears_its_own_colour(tmp_path: Path, corner: str, quadrant: tuple[int, int]) -> None:
    # Given: four 60x60 quadrants in four colours
    image = pyvips.Image.black(120, 120, bands=3)
    for (x, y), colour in zip([(0, 0), (60, 0), (0, 60), (60, 60)],
                              [WHITE, [0, 160, 0], [0, 0, 200], [240, 220, 0]], strict=True):
        image = image.draw_rect(colour, x, y, 60, 60, fill=True)
    image = image.cast("uchar").copy(interpretation="srgb")
    ctx = StepContext()

    # When
    alpha = knockout_background(_sequential(image, tmp_path), _options(corner=corner), ctx)[3]

    # Then
    x, y = quadrant
    assert alpha.crop(x, y, 60, 60).max() == 0
    assert (alpha == 0).avg() / 255 * 120 * 120 == 3600
    assert f"from the {corner} corner" in ctx.notes[0]


def test_existing_alpha_is_combined_by_minimum(island: dict[str, pyvips.Image], tmp_path: Path) -> None:
    # Given: the island image with alpha 128 on the disc and 200 on the background
    alpha_in = (_radius() < 30).ifthenelse(128, 200).cast("uchar")
    rgba = island["image"].bandjoin(alpha_in).copy(interpretation="srgb")

    # When
    out = knockout_background(_sequential(rgba, tmp_path), _options(), StepContext())

    # Then
    assert out.bands == 4
    assert (out[3](100, 100)[0], out[3](5, 5)[0], out[3](100, 60)[0]) == (128, 0, 200)


def test_a_transparent_corner_does_not_clear_opaque_pixels_of_its_colour(tmp_path: Path) -> None:
    # Given: transparent black background, an opaque black square
    square = pyvips.Image.black(60, 60).draw_rect(255, 20, 20, 20, 20, fill=True)
    rgba = square.ifthenelse([0, 0, 0, 255], [0, 0, 0, 0]).cast("uchar").copy(interpretation="srgb")
    ctx = StepContext()

    # When
    out = knockout_background(_sequential(rgba, tmp_path), _options(method="MatchPixel"), ctx)

    # Then
    assert ((out[3] == 0) ^ square.invert()).max() == 0
    assert out[3](30, 30)[0] == 255 and 128 < out[3](20, 30)[0] < 255  # the square's edge: feathered only
    assert out.extract_band(0, n=3).max() == 0
    assert "colour (0, 0, 0, 0)" in ctx.notes[0]


def test_16_bit_images_scale_the_tolerance_and_the_alpha(tmp_path: Path) -> None:
    # Given: a 16-bit background wobbling by up to 3000 (0.046) around white, a red square
    xy = pyvips.Image.xyz(80, 80)
    background = 65535 - (xy[0] * 97 + xy[1] * 31) % 3001
    square = pyvips.Image.black(80, 80).draw_rect(255, 20, 20, 40, 40, fill=True)
    image = (square.ifthenelse([50000, 4000, 4000], background.bandjoin([background, background]))
             .cast("ushort").copy(interpretation="rgb16"))

    # When
    out = knockout_background(_sequential(image, tmp_path), _options(tolerance=0.05), StepContext())

    # Then
    assert (out.bands, out.format, out.interpretation) == (4, "ushort", "rgb16")
    assert ((out[3] == 0) ^ square.invert()).max() == 0
    assert out[3](40, 40)[0] == 65535


def test_greyscale_gets_a_second_band() -> None:
    grey = pyvips.Image.black(50, 50).draw_rect(90, 10, 10, 30, 30, fill=True).cast("uchar").copy(interpretation="b-w")

    out = knockout_background(grey, _options(corner="BottomRight"), StepContext())

    assert (out.bands, out.interpretation) == (2, "b-w")
    assert (out[1](0, 0)[0], out[1](25, 25)[0]) == (0, 255)


def test_an_anti_aliased_edge_pixel_loses_its_background_tint(tmp_path: Path) -> None:
    # Given: a red disc on white, anti-aliased by drawing at 4x and shrinking
    big = _rgb(_radius(800) < 240, RED, WHITE)
    image = big.shrink(4, 4).cast("uchar").copy(interpretation="srgb")
    x = next(x for x in range(100) if image(x, 100)[1] < 250)  # first blended pixel on the middle row
    before = image(x, 100)
    assert 40 < before[1] < 220

    # When
    out = knockout_background(_sequential(image, tmp_path), _options(tolerance=0.02), StepContext())

    # Then
    after = out(x, 100)
    assert _distance(after[:3], RED) < _distance(before, RED) / 2
    assert 0 < after[3] < 255
    assert out(x - 1, 100)[3] == 0 and out(x + 3, 100)[3] == 255


def test_a_hard_edge_is_feathered_by_one_pixel_only(tmp_path: Path) -> None:
    # Given: red from column 10 on
    image = _rgb(pyvips.Image.black(40, 40).draw_rect(255, 10, 0, 30, 40, fill=True), RED, WHITE)

    # When
    alpha = knockout_background(_sequential(image, tmp_path), _options(), StepContext())[3]

    # Then
    assert alpha(8, 20)[0] == alpha(9, 20)[0] == 0
    assert 128 < alpha(10, 20)[0] < 255 and alpha(11, 20)[0] == 255


def test_clearing_every_pixel_is_warned(tmp_path: Path) -> None:
    ctx = StepContext()

    out = knockout_background(_sequential(_rgb(_radius(20) < 5, RED, WHITE), tmp_path), _options(tolerance=1), ctx)

    assert out[3].max() == 0
    assert ctx.notes[0].startswith("knockoutBackground: 100.0% of the pixels")
    assert ctx.warnings == ["knockoutBackground made every pixel transparent; the tolerance may be too high"]


def test_optimize_writes_the_knocked_out_image_with_alpha(island: dict[str, pyvips.Image], tmp_path: Path) -> None:
    # Given
    src = tmp_path / "island.png"
    island["image"].write_to_file(str(src))
    ctx = StepContext(options=ProcessingOptions(knockout_background=_options(method="MatchPixel")))

    # When
    result = optimize(str(src), str(tmp_path / "out.tif"), max_pixels=10_000_000, ctx=ctx)

    # Then
    back = pyvips.Image.new_from_file(str(tmp_path / "out.tif"))
    assert (back.bands, result.tiff.compression) == (4, "deflate")
    assert (back[3](5, 5)[0], back[3](100, 60)[0], back[3](100, 100)[0]) == (0, 0, 255)
    assert any(note.startswith("knockoutBackground:") for note in result.notes)


@pytest.mark.parametrize(("corner", "xy"), [
    ("UpperLeft", (0, 0)), ("UpperRight", (9, 0)), ("BottomLeft", (0, 4)), ("BottomRight", (9, 4)),
])
def test_corner_xy(corner: str, xy: tuple[int, int]) -> None:
    assert corner_xy(corner, 10, 5) == xy


def test_match_threshold_scales_with_the_sample_range() -> None:
    assert (match_threshold(0, 255), match_threshold(0.2, 255), match_threshold(1, 65535)) == (0, 51, 65535)


def _distance(colour: list[float], target: list[int]) -> float:
    return max(abs(c - t) for c, t in zip(colour, target, strict=True))
