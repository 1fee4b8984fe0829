"""unsharpMaskOptions (spec §5.15): Photoshop-style unsharp mask, applied while the pyramid TIFF is made.

For each colour band ``I`` (the alpha band is never sharpened)::

    D   = I − G_σ ∗ I                                  (monochrome = 0: per band)
    D   = Y − G_σ ∗ Y,   Y = 0.2126 R + 0.7152 G + 0.0722 B   (monochrome = 1, RGB: one luma delta for all bands)
    out = clip(round(I + amount · D))   where |D| ≥ T
    out = I                             where |D| < T      (bit-identical)

* ``amount`` 0–5 is the Photoshop percentage / 100; 0 returns the image unchanged.
* ``σ = radius`` (default 1.0 px); ``G_σ`` is the pixel-area Gaussian (weights
  ``Φ((i+½)/σ) − Φ((i−½)/σ)``, |i| ≤ ⌈3σ⌉, normalised), applied horizontally then vertically.
* ``T = threshold × max / 255``: threshold is given in 8-bit levels (0–255, default 6) and
  scaled to 16-bit images (× 257).
* Greyscale images have one band, so ``monochrome`` changes nothing; CMYK images are
  sharpened per ink band whatever ``monochrome`` says (ink bands have no luma).

This module needs no pyvips import: ``usm_parameters`` is pure and the step only calls
methods of the image it is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from openips.imaging.options import UnsharpMask

if TYPE_CHECKING:
    from openips.imaging.step_context import StepContext
    from openips.imaging.vips import Image

# Photoshop's Unsharp Mask dialog opens at radius 1.0 px; IPS's own default is unconfirmed
# (spec §5.15) and AEM's 0.2 is a preset AEM always sends explicitly, so callers that omit
# radius think in Photoshop terms.
DEFAULT_RADIUS = 1.0
# Photoshop's radius behaves like the Gaussian's standard deviation (ImageMagick documents
# the same equivalence for its -unsharp sigma), so σ = radius, no scale factor.
RADIUS_TO_SIGMA = 1.0
KERNEL_REACH = 3.0  # taps up to ⌈3σ⌉ either side hold 99.7 % of the weight
# Above this σ an exact float convolution gets slow (σ = 50 takes minutes for 24 MP), so
# libvips' box-sum approximation is used; below it that approximation is inexact.
EXACT_MAX_SIGMA = 4.0
LUMA_WEIGHTS = (0.2126, 0.7152, 0.0722)  # Rec. 709 / sRGB luma
_MAX_VALUE = {"uchar": 255, "ushort": 65535}
_COLOUR_BANDS = {"cmyk": 4, "srgb": 3, "rgb": 3, "rgb16": 3, "b-w": 1, "grey16": 1}


@dataclass(frozen=True, slots=True)
class UsmParameters:
    """The unsharp mask as applied: the option values resolved and the Gaussian kernel computed."""

    amount: float
    radius: float
    sigma: float
    threshold: int  # in 8-bit levels, as given
    monochrome: bool
    kernel: tuple[float, ...]  # 1-D, normalised, odd length; applied separably
    precision: Literal["float", "approximate"]

    @property
    def is_identity(self) -> bool:
        """True when the filter cannot change a pixel (amount 0, or a one-tap kernel)."""
        return self.amount == 0 or len(self.kernel) == 1

    def threshold_for(self, max_value: int) -> float:
        """The threshold on an image whose full scale is ``max_value`` (255 or 65535)."""
        return self.threshold * max_value / 255


def usm_parameters(opt: UnsharpMask) -> UsmParameters:
    """Resolve Scene7 unsharpMaskOptions to the filter's parameters (defaults, σ, kernel)."""
    radius = DEFAULT_RADIUS if opt.radius is None else opt.radius
    sigma = radius * RADIUS_TO_SIGMA
    return UsmParameters(
        amount=opt.amount,
        radius=radius,
        sigma=sigma,
        threshold=opt.threshold,
        monochrome=opt.monochrome == 1,
        kernel=gaussian_kernel(sigma),
        precision="float" if sigma <= EXACT_MAX_SIGMA else "approximate",
    )


def gaussian_kernel(sigma: float) -> tuple[float, ...]:
    """The pixel-area Gaussian of standard deviation ``sigma``: normalised weights for offsets −r…r."""
    if sigma <= 0:
        return (1.0,)
    reach = max(1, math.ceil(KERNEL_REACH * sigma))
    scale = sigma * math.sqrt(2)
    # Integrating over each pixel's width (not sampling the centre) keeps small radii meaningful:
    # σ = 0.2 still gives the neighbours 0.6 % each, where a sampled kernel would give nothing.
    weights = [0.5 * (math.erf((i + 0.5) / scale) - math.erf((i - 0.5) / scale)) for i in range(-reach, reach + 1)]
    total = math.fsum(weights)
    weights = [w / total for w in weights]
    if weights[0] < 1e-9:
        return (1.0,)  # the neighbours would get no measurable weight: identity
    return tuple(weights)


def describe(params: UsmParameters, kind: str) -> str:
    """The job-log note for the sharpening applied to an image of ``kind`` ("RGB", "CMYK", "greyscale", "2-band")."""
    if params.is_identity:
        why = "amount 0" if params.amount == 0 else f"radius {params.radius:g} px is too small to reach a neighbour"
        return f"unsharpMaskOptions: no sharpening ({why})."
    if kind == "RGB":
        how = "luminance only (monochrome)" if params.monochrome else "each colour channel separately"
    elif kind == "CMYK":
        how = "each ink channel separately" + (" (monochrome does not apply to CMYK)" if params.monochrome else "")
    elif kind == "greyscale":
        how = "the grey channel"
    else:
        how = f"each band of the {kind} image separately"
    return (f"unsharpMaskOptions: amount {params.amount:g} ({params.amount * 100:g} %), radius {params.radius:g} px "
            f"(Gaussian σ {params.sigma:g} px), threshold {params.threshold} of 255 levels; sharpened {how}, "
            "alpha untouched.")


def unsharp_mask(image: Image, opt: UnsharpMask, ctx: StepContext) -> Image:
    """Sharpen with Scene7/Photoshop unsharp-mask semantics (spec §5.15); see the module docstring."""
    params = usm_parameters(opt)
    max_value = _MAX_VALUE.get(str(image.format))
    interpretation = str(image.interpretation)
    colour_count = min(_COLOUR_BANDS.get(interpretation, image.bands - int(image.hasalpha())), image.bands)
    kind = {4: "CMYK", 3: "RGB", 1: "greyscale"}.get(colour_count, f"{colour_count}-band")
    if max_value is None:
        ctx.warnings.append(f"unsharpMaskOptions: {image.format} samples are not sharpened")
        return image
    ctx.notes.append(describe(params, kind))
    if params.is_identity:
        return image
    colour = image if colour_count == image.bands else image.extract_band(0, n=colour_count)
    threshold = params.threshold_for(max_value)
    if params.monochrome and colour_count == 3:
        luma = colour.recomb([list(LUMA_WEIGHTS)])
        delta = luma - _blur(luma, params)
    else:
        source = colour.cast("float")
        delta = source - _blur(source, params)
    sharpened = (colour + delta * params.amount).rint().cast(str(image.format))  # cast clips to 0…max
    # Pixels whose difference is under the threshold keep their exact original value.
    out = (delta.abs() >= threshold).ifthenelse(sharpened, colour)
    if colour_count < image.bands:
        out = out.bandjoin(image.extract_band(colour_count, n=image.bands - colour_count))
    return out.copy(interpretation=interpretation)


def _blur(image: Image, params: UsmParameters) -> Image:
    if params.precision == "float":
        mask = image.new_from_list([list(params.kernel)], scale=1.0)
    else:
        # The box-sum approximation rounds coefficients to integers: scale the peak to 1000.
        peak = max(params.kernel)
        weights = [round(1000 * w / peak) for w in params.kernel]
        mask = image.new_from_list([weights], scale=sum(weights))
    return image.convsep(mask, precision=params.precision)
