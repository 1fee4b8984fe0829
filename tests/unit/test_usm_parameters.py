"""usm_parameters: the Scene7 unsharpMaskOptions → filter mapping, pure (no pyvips)."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from openips.imaging.options import UnsharpMask
from openips.imaging.steps.unsharp_mask import (
    DEFAULT_RADIUS,
    EXACT_MAX_SIGMA,
    UsmParameters,
    describe,
    gaussian_kernel,
    usm_parameters,
)


def test_defaults() -> None:
    # When
    params = usm_parameters(UnsharpMask())

    # Then: amount 0 (IPS default) makes the whole filter a no-op
    assert (params.amount, params.radius, params.sigma) == (0.0, 1.0, 1.0)
    assert (params.threshold, params.monochrome) == (6, False)
    assert params.is_identity
    assert DEFAULT_RADIUS == 1.0


@pytest.mark.parametrize(
    "options, amount, radius, sigma, threshold, monochrome",
    [
        ({"amount": 1.75, "radius": 0.2, "threshold": 2, "monochrome": 0}, 1.75, 0.2, 0.2, 2, False),  # AEM preset
        ({"amount": 0.9, "radius": 1.5}, 0.9, 1.5, 1.5, 6, False),
        ({"amount": 5.0, "radius": 250.0, "threshold": 255, "monochrome": 1}, 5.0, 250.0, 250.0, 255, True),
        ({"amount": 2.0}, 2.0, 1.0, 1.0, 6, False),
    ],
)
def test_option_mapping(options: dict, amount: float, radius: float, sigma: float, threshold: int,
                        monochrome: bool) -> None:
    params = usm_parameters(UnsharpMask(**options))

    assert (params.amount, params.radius, params.sigma, params.threshold, params.monochrome) == (
        amount, radius, sigma, threshold, monochrome)


@pytest.mark.parametrize("threshold, max_value, expected", [(6, 255, 6.0), (6, 65535, 1542.0), (255, 65535, 65535.0),
                                                            (0, 65535, 0.0)])
def test_threshold_is_given_in_8_bit_levels(threshold: int, max_value: int, expected: float) -> None:
    params = usm_parameters(UnsharpMask(amount=1, threshold=threshold))

    assert params.threshold_for(max_value) == expected


@pytest.mark.parametrize("sigma", [0.2, 0.5, 1.0, 2.5, 4.0, 10.0, 60.0])
def test_kernel_is_a_normalised_symmetric_pixel_area_gaussian(sigma: float) -> None:
    # When
    kernel = gaussian_kernel(sigma)

    # Then
    reach = max(1, math.ceil(3 * sigma))
    assert len(kernel) == 2 * reach + 1
    assert math.fsum(kernel) == pytest.approx(1.0, abs=1e-12)
    assert kernel == tuple(reversed(kernel))
    assert list(kernel[: reach + 1]) == sorted(kernel[: reach + 1])
    centre = 0.5 * (math.erf(0.5 / (sigma * math.sqrt(2))) - math.erf(-0.5 / (sigma * math.sqrt(2))))
    assert kernel[reach] == pytest.approx(centre, rel=0.01)  # truncation at 3σ only renormalises by ≤ 0.3 %


def test_small_radius_still_reaches_the_neighbours() -> None:
    # AEM's radius 0.2: a sampled Gaussian would be the identity; the pixel-area one is not
    kernel = gaussian_kernel(0.2)

    assert kernel == pytest.approx((0.00621, 0.98758, 0.00621), abs=1e-5)
    assert not usm_parameters(UnsharpMask(amount=1.75, radius=0.2)).is_identity


@pytest.mark.parametrize("radius", [0.0, 0.01, 0.05])
def test_radius_too_small_to_matter_is_identity(radius: float) -> None:
    params = usm_parameters(UnsharpMask(amount=3, radius=radius))

    assert params.kernel == (1.0,)
    assert params.is_identity


@pytest.mark.parametrize("radius, precision", [(1.0, "float"), (EXACT_MAX_SIGMA, "float"), (4.01, "approximate"),
                                               (250.0, "approximate")])
def test_large_radii_use_the_approximate_blur(radius: float, precision: str) -> None:
    assert usm_parameters(UnsharpMask(amount=1, radius=radius)).precision == precision


@pytest.mark.parametrize(
    "options, kind, note",
    [
        ({"amount": 1.75, "radius": 0.2, "threshold": 2}, "RGB",
         "unsharpMaskOptions: amount 1.75 (175 %), radius 0.2 px (Gaussian σ 0.2 px), threshold 2 of 255 levels; "
         "sharpened each colour channel separately, alpha untouched."),
        ({"amount": 0.5, "monochrome": 1}, "RGB",
         "unsharpMaskOptions: amount 0.5 (50 %), radius 1 px (Gaussian σ 1 px), threshold 6 of 255 levels; "
         "sharpened luminance only (monochrome), alpha untouched."),
        ({"amount": 1, "monochrome": 1}, "CMYK",
         "unsharpMaskOptions: amount 1 (100 %), radius 1 px (Gaussian σ 1 px), threshold 6 of 255 levels; "
         "sharpened each ink channel separately (monochrome does not apply to CMYK), alpha untouched."),
        ({"amount": 0}, "RGB", "unsharpMaskOptions: no sharpening (amount 0)."),
    ],
)
def test_describe(options: dict, kind: str, note: str) -> None:
    assert describe(usm_parameters(UnsharpMask(**options)), kind) == note


def test_parameters_are_frozen() -> None:
    params = usm_parameters(UnsharpMask(amount=1))

    with pytest.raises(AttributeError):
        params.amount = 2  # type: ignore[misc]
    assert isinstance(params, UsmParameters)


def test_the_mapping_imports_without_pyvips() -> None:
    # Given: a fresh interpreter
    code = ("import sys; import openips.imaging.steps.unsharp_mask as m; "
            "m.usm_parameters(m.UnsharpMask(amount=1)); print('pyvips' in sys.modules)")

    # When
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={"PYTHONPATH": ":".join(sys.path)})

    # Then
    assert result.stdout.strip() == "False"
