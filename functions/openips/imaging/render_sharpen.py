"""op_sharpen and op_usm on the rendition's view image (after all scaling, as IS applies them).

The upload-time unsharp mask (``imaging/steps/unsharp_mask.py``) works on the master with an exact
pixel-area kernel and options of the upload job; here the image is small, the radius is given for
the full-resolution image and scaled with it (IS: "scaled down when processing a downsampled image"),
and libvips' own Gaussian is exact enough at view sizes. Same formula, per colour band::

    D   = I − G_σ ∗ I          (monochrome: D from luma Y = 0.2126 R + 0.7152 G + 0.0722 B, for all bands)
    out = I + amount · D       where |D| ≥ threshold (8-bit levels), else I

Alpha is never sharpened.
"""

from __future__ import annotations

from openips.imaging import vips
from openips.models.rendition import UnsharpMask

# op_sharpen=1: a fixed, light unsharp mask in view pixels, luma only. libvips' own ``sharpen`` leaves
# any change under its flat-area threshold alone, which made op_sharpen a no-op on soft images.
SHARPEN_AMOUNT, SHARPEN_SIGMA = 1.0, 0.5
# Below this σ the Gaussian's neighbour weights are under 0.1 %: the filter changes nothing.
MIN_SIGMA = 0.15
_LUMA = (0.2126, 0.7152, 0.0722)


def sharpen(image: vips.Image) -> vips.Image:
    """op_sharpen=1, for the softness resampling leaves: amount 1, σ 0.5 view pixels, on luma."""
    return _on_colour(image, lambda colour: _usm(colour, SHARPEN_AMOUNT, SHARPEN_SIGMA, 0, True))


def unsharp_mask(image: vips.Image, usm: UnsharpMask, scale: float) -> vips.Image:
    """op_usm on an 8-bit sRGB view image that is ``scale`` times the full-resolution one."""
    sigma = usm.radius * scale
    if usm.amount <= 0 or sigma < MIN_SIGMA:
        return image
    return _on_colour(image, lambda colour: _usm(colour, usm.amount, sigma, usm.threshold, usm.monochrome))


def _usm(image: vips.Image, amount: float, sigma: float, threshold: int, monochrome: bool) -> vips.Image:
    f = image.cast("float")
    if monochrome and image.bands >= 3:
        luma = f[0] * _LUMA[0] + f[1] * _LUMA[1] + f[2] * _LUMA[2]
        delta = luma - luma.gaussblur(sigma, precision="float", min_ampl=0.005)
    else:
        delta = f - f.gaussblur(sigma, precision="float", min_ampl=0.005)
    sharpened = f + delta * amount
    if threshold > 0:
        sharpened = (delta.abs() >= threshold).ifthenelse(sharpened, f)
    return sharpened.rint().cast("uchar")


def _on_colour(image: vips.Image, apply) -> vips.Image:  # noqa: ANN001 - a one-line callable
    if not image.hasalpha():
        return apply(image)
    colour, alpha = image.extract_band(0, n=image.bands - 1), image[image.bands - 1]
    return apply(colour).bandjoin(alpha)
