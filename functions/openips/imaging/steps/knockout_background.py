"""knockoutBackgroundOptions (spec §5.1): make the colour of one corner, and what matches it, transparent."""

from __future__ import annotations

from openips.imaging import vips
from openips.imaging.options import Corner, KnockoutBackground
from openips.imaging.step_context import StepContext
from openips.models.errors import FileRejectedError

# A 1 px feather: at sigma 0.8 (libvips trims the kernel at 20 % amplitude) only the row of
# kept pixels touching the cleared area is softened, to about 76 % opacity.
FEATHER_SIGMA = 0.8
_MAX_VALUE = {"uchar": 255.0, "ushort": 65535.0, "float": 1.0, "double": 1.0}
_FLOODED = 128


def corner_xy(corner: Corner, width: int, height: int) -> tuple[int, int]:
    """Pixel coordinates of ``corner``."""
    right, bottom = corner in ("UpperRight", "BottomRight"), corner in ("BottomLeft", "BottomRight")
    return (width - 1 if right else 0, height - 1 if bottom else 0)


# About half of ProcessFileFunction's 2 GB: the decoded image plus its cleared-pixel mask.
KNOCKOUT_MAX_BYTES = 1024 * 2**20
_BYTES = {"uchar": 1, "char": 1, "ushort": 2, "short": 2, "uint": 4, "int": 4, "float": 4, "double": 8}


def match_threshold(tolerance: float, max_value: float) -> float:
    """The largest per-channel difference from the corner colour that still counts as background."""
    # Max channel difference (as Photoshop's Magic Wand/Eraser tolerance): it means the same
    # for grey, RGB and CMYK, spans 0..1 exactly (0 exact match, 1 everything), and needs no
    # colour conversion. 16-bit images scale with their range.
    return tolerance * max_value


def knockout_background(image: vips.Image, opt: KnockoutBackground, ctx: StepContext) -> vips.Image:
    """knockoutBackgroundOptions (spec §5.1): add alpha, 0 where the colour matches the chosen corner's."""
    # Memory trade-off: which pixels clear is known only after every pixel is read (flood fill,
    # bottom corners), and the sequential source can be read once, so the image is decoded
    # into libvips memory (width x height x bands x bytes per sample) and the cleared-pixel
    # mask is held too (1 byte per pixel). Past a budget that fits the processing function's
    # memory the file is refused with the numbers rather than killed mid-way.
    needed = image.width * image.height * (image.bands * _BYTES.get(str(image.format), 4) + 1)
    if needed > KNOCKOUT_MAX_BYTES:
        raise FileRejectedError(
            f"knockoutBackgroundOptions needs the whole {image.width}×{image.height} image in memory "
            f"({needed // 2**20} MiB); the limit is {KNOCKOUT_MAX_BYTES // 2**20} MiB", "knockout.too_large")
    image = image.copy_memory()
    max_value = _MAX_VALUE.get(str(image.format), 255.0)
    n_colour = image.bands - 1 if image.hasalpha() else image.bands
    colour = image.extract_band(0, n=n_colour) if n_colour < image.bands else image
    x, y = corner_xy(opt.corner, image.width, image.height)
    corner_value = image.getpoint(x, y)
    background = corner_value[:n_colour]
    # Alpha takes part in the match, so a transparent corner does not clear opaque pixels
    # that happen to share its (invisible) colour.
    distance = _max_difference(image, corner_value)
    threshold = match_threshold(opt.tolerance, max_value)
    matched = distance <= threshold
    # Made once, in memory: the count below and several operations after read it.
    if opt.fill_method == "FloodFill":
        cleared = matched.draw_flood(_FLOODED, x, y, equal=True) == _FLOODED
    else:
        cleared = matched.copy_memory()
    percent = cleared.avg() / 255 * 100

    # Colours were blended with the background only if it was opaque.
    opaque_corner = n_colour == image.bands or corner_value[n_colour] >= max_value
    alpha, colour = _soft_edge(colour, distance, cleared, background, threshold, decontaminate=opaque_corner)
    alpha = alpha * max_value
    if n_colour < image.bands:
        alpha = alpha.minpair(image[n_colour])
    ctx.notes.append(
        f"knockoutBackground: {percent:.1f}% of the pixels made transparent ({opt.fill_method} from the "
        f"{opt.corner} corner, colour {_colour_text(corner_value)}, tolerance {opt.tolerance:g})"
    )
    if percent >= 100:
        ctx.warnings.append("knockoutBackground made every pixel transparent; the tolerance may be too high")
    result = colour.clamp(min=0, max=max_value).bandjoin(alpha).rint().cast(image.format)
    return result.copy(interpretation=image.interpretation)


def _max_difference(image: vips.Image, value: list[float]) -> vips.Image:
    difference = (image - value).abs()
    distance = difference[0]
    for band in range(1, difference.bands):
        distance = distance.maxpair(difference[band])
    return distance


def _soft_edge(colour: vips.Image, distance: vips.Image, cleared: vips.Image, background: list[float],
               threshold: float, *, decontaminate: bool) -> tuple[vips.Image, vips.Image]:
    """Alpha in 0..1 and the colour, both softened and decontaminated on the kept pixels touching cleared ones."""
    kept = cleared.invert()
    edge = cleared.rank(3, 3, 8) & kept
    # An edge pixel is taken as a blend C = a·F + (1−a)·B of the background B and a solid
    # foreground F next to it; the max-channel distance scales with a, so a = d(C)/d(F), with
    # d(F) the largest distance in the 3x3 neighbourhood (measured from the threshold so
    # alpha is continuous where matching stops).
    reach = distance.rank(3, 3, 8) - threshold
    mix = ((distance - threshold) / (reach > 0).ifthenelse(reach, 1)).clamp(min=1 / 255, max=1)
    feather = kept.gaussblur(FEATHER_SIGMA, precision="float") / 255
    alpha = edge.ifthenelse(mix.minpair(feather), kept / 255)
    if not decontaminate:
        return alpha, colour
    # Decontaminate: C' = (C − (1−a)·B)/a = B + (C − B)/a takes the background's share back
    # out of the edge colour (a is the blend estimate, not the feathered alpha).
    clean = (colour - background) / mix + background
    return alpha, edge.ifthenelse(clean, colour)


def _colour_text(values: list[float]) -> str:
    return "(" + ", ".join(f"{v:g}" for v in values) + ")"
