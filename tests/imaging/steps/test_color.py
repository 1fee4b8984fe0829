"""colorManagementOptions: Default, MaintainOriginal and Convert, checked against lcms through Pillow's ImageCms.

Accuracy: every conversion is compared with Pillow's ImageCms (its own lcms build) run on the
same pixels with the same profiles, relative colorimetric intent and black-point compensation.
Both results are read back to Lab through the output profile; the tests require ΔE76 mean < 1
and max < 3. Measured: 0.0 / 0.0 for every 8-bit case (the same lcms transform); 16-bit output
against the 8-bit reference 0.12–0.27 mean, ≤ 0.74 max.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

pyvips = pytest.importorskip("pyvips")
ImageCms = pytest.importorskip("PIL.ImageCms")
from PIL import Image  # noqa: E402

from openips.imaging.optimize import optimize  # noqa: E402
from openips.imaging.options import ColorPlan, ProcessingOptions  # noqa: E402
from openips.imaging.step_context import StepContext  # noqa: E402
from openips.imaging.steps.color import IccError, color_in, parse_icc  # noqa: E402
from openips.models.errors import FileRejectedError  # noqa: E402

MAX_PIXELS = 100_000_000
MEAN_DE, MAX_DE = 1.0, 3.0
BLOB = pyvips.GValue.blob_type
SRGB = pyvips.Image.profile_load("srgb")
P3 = pyvips.Image.profile_load("p3")
SGREY = pyvips.Image.profile_load("sgrey")
BUILTIN_CMYK = pyvips.Image.profile_load("cmyk")


# ---------------------------------------------------------------- synthetic profiles and images


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _lab_d50_from_srgb(r: float, g: float, b: float) -> tuple[float, float, float]:
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = linear(r), linear(g), linear(b)
    x = (0.4360747 * r + 0.3850649 * g + 0.1430804 * b) / 0.9642
    y = 0.2225045 * r + 0.7168786 * g + 0.0606169 * b
    z = (0.0139322 * r + 0.0971045 * g + 0.7141733 * b) / 0.8249

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def _srgb_from_lab_d50(lab: tuple[float, float, float]) -> tuple[float, float, float]:
    fy = (lab[0] + 16) / 116
    fx, fz = fy + lab[1] / 500, fy - lab[2] / 200

    def finv(t: float) -> float:
        return t**3 if t**3 > 216 / 24389 else (116 * t - 16) / (24389 / 27)

    x, y, z = 0.9642 * finv(fx), finv(fy), 0.8249 * finv(fz)
    rgb = (3.1338561 * x - 1.6168667 * y - 0.4906146 * z, -0.9787684 * x + 1.9161415 * y + 0.0334540 * z,
           0.0719453 * x - 0.2289914 * y + 1.4052427 * z)

    def encode(c: float) -> float:
        c = min(1.0, max(0.0, c))
        return 12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055

    return encode(rgb[0]), encode(rgb[1]), encode(rgb[2])


def _lut16(inputs: int, outputs: int, grid: int, fn: Callable[[list[float]], tuple[int, ...]]) -> bytes:
    head = b"mft2" + bytes(4) + bytes([inputs, outputs, grid, 0])
    head += b"".join(_s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1)) + struct.pack(">HH", 2, 2)
    curve = struct.pack(">HH", 0, 0xFFFF)
    clut = bytearray()
    for index in range(grid**inputs):
        coords = []
        for _ in range(inputs):
            coords.append((index % grid) / (grid - 1))
            index //= grid
        clut += struct.pack(f">{outputs}H", *fn(coords[::-1]))
    return head + curve * inputs + bytes(clut) + curve * outputs


def cmyk_profile(description: str = "Synthetic CMYK", dot_gain: float = 0.15) -> bytes:
    """A ~16 KB ICC v2 CMYK printer profile (naive subtractive model plus dot gain), made here."""

    def to_lab(cmyk: list[float]) -> tuple[int, ...]:
        c, m, y, k = (min(1.0, v + dot_gain * 4 * v * (1 - v)) for v in cmyk)
        lab = _lab_d50_from_srgb((1 - c) * (1 - k), (1 - m) * (1 - k), (1 - y) * (1 - k))
        return (round(min(100, max(0, lab[0])) / 100 * 0xFF00),
                *(round((min(127.99, max(-128, v)) + 128) * 256) for v in lab[1:]))

    def to_cmyk(lab: list[float]) -> tuple[int, ...]:
        r, g, b = _srgb_from_lab_d50((lab[0] * 100, lab[1] * 255.99 - 128, lab[2] * 255.99 - 128))
        k = 1 - max(r, g, b)
        if k >= 1:
            return 0, 0, 0, 0xFFFF
        return (*(round(min(1, max(0, (1 - v - k) / (1 - k))) * 0xFFFF) for v in (r, g, b)), round(k * 0xFFFF))

    text = description.encode("ascii") + b"\0"
    desc = b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(4 + 4 + 2 + 1 + 67)
    a2b, b2a = _lut16(4, 3, 5, to_lab), _lut16(3, 4, 9, to_cmyk)
    tags = [(b"desc", desc), (b"cprt", b"text" + bytes(4) + b"test data\0"),
            (b"wtpt", b"XYZ " + bytes(4) + _s15(0.9642) + _s15(1.0) + _s15(0.8249)),
            (b"A2B0", a2b), (b"A2B1", a2b), (b"B2A0", b2a), (b"B2A1", b2a)]
    table, body = struct.pack(">I", len(tags)), b""
    start = 132 + 12 * len(tags)
    for signature, data in tags:
        data += bytes(-len(data) % 4)
        table += struct.pack(">4sII", signature, start + len(body), len(data))
        body += data
    header = struct.pack(">I4sI4s4s4s", start + len(body), b"lcms", 0x02100000, b"prtr", b"CMYK", b"Lab ")
    header += bytes(12) + b"acsp" + bytes(28) + _s15(0.9642) + _s15(1.0) + _s15(0.8249)
    return header + bytes(128 - len(header)) + table + body


def _corrupt_tag(profile: bytes, *signatures: bytes) -> bytes:
    """The profile with these tags' type signatures overwritten: the header still parses, lcms cannot use them."""
    data = bytearray(profile)
    count = struct.unpack_from(">I", profile, 128)[0]
    found = set()
    for index in range(count):
        tag, offset, _ = struct.unpack_from(">4sII", profile, 132 + 12 * index)
        if tag in signatures:
            data[offset : offset + 4] = b"zzzz"
            found.add(tag)
    assert found == set(signatures), f"missing tags: {set(signatures) - found}"
    return bytes(data)


def _tagged(image: pyvips.Image, profile: bytes | None) -> pyvips.Image:
    image = image.copy()
    if profile is None:
        if image.get_typeof("icc-profile-data"):
            image.remove("icc-profile-data")
    else:
        image.set_type(BLOB, "icc-profile-data", profile)
    return image


def _rgb(width: int = 96, height: int = 64) -> pyvips.Image:
    """Smooth ramps across the whole RGB cube (every channel 0…255)."""
    xy = pyvips.Image.xyz(width, height)
    x, y = xy[0] * (255 / (width - 1)), xy[1] * (255 / (height - 1))
    return x.bandjoin([y, 255 - (x + y) / 2]).cast("uchar").copy(interpretation="srgb")


def _cmyk(width: int = 96, height: int = 64) -> pyvips.Image:
    """CMYK ramps: cyan along x, magenta along y, yellow diagonal, black in a band; untagged."""
    xy = pyvips.Image.xyz(width, height)
    x, y = xy[0] * (255 / (width - 1)), xy[1] * (255 / (height - 1))
    return x.bandjoin([y, (x + y) / 2, (y > height / 2) * 0.3 * x]).cast("uchar").copy(interpretation="cmyk")


def _grey(width: int = 96, height: int = 64) -> pyvips.Image:
    return (pyvips.Image.xyz(width, height)[0] * (255 / (width - 1))).cast("uchar").copy(interpretation="b-w")


def _pillow(image: pyvips.Image, source: bytes, output: bytes, in_mode: str, out_mode: str) -> pyvips.Image:
    """The same conversion done by Pillow's lcms: relative colorimetric with black-point compensation."""
    pil = Image.frombytes(in_mode, (image.width, image.height), image.write_to_memory())
    transform = ImageCms.buildTransform(
        ImageCms.ImageCmsProfile(io.BytesIO(source)), ImageCms.ImageCmsProfile(io.BytesIO(output)), in_mode, out_mode,
        renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC, flags=ImageCms.Flags.BLACKPOINTCOMPENSATION,
    )
    out = ImageCms.applyTransform(pil, transform)
    bands = len(out.getbands())
    interpretation = {1: "b-w", 3: "srgb", 4: "cmyk"}[bands]
    return pyvips.Image.new_from_memory(out.tobytes(), image.width, image.height, bands, "uchar").copy(
        interpretation=interpretation
    )


def _delta_e(ours: pyvips.Image, reference: pyvips.Image, profile: bytes, tmp_path: Path) -> tuple[float, float]:
    """(mean, max) ΔE76 between two device images, both read to Lab through ``profile``."""
    path = tmp_path / "lab-via.icc"
    path.write_bytes(profile)
    a = ours.icc_import(input_profile=str(path), embedded=False)
    b = reference.icc_import(input_profile=str(path), embedded=False)
    difference = a.dE76(b)
    return difference.avg(), difference.max()


def _icc(image: pyvips.Image) -> bytes | None:
    return image.get("icc-profile-data") if image.get_typeof("icc-profile-data") else None


# ---------------------------------------------------------------- parse_icc


@pytest.mark.parametrize(
    "name, data",
    [("srgb", SRGB), ("p3", P3), ("sgrey", SGREY), ("cmyk", BUILTIN_CMYK), ("synthetic", cmyk_profile()),
     ("pillow sRGB", ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())],
)
def test_parse_icc_agrees_with_lcms(name: str, data: bytes) -> None:
    # Given
    lcms = ImageCms.ImageCmsProfile(io.BytesIO(data))

    # When
    profile = parse_icc(data)

    # Then
    assert profile.description == ImageCms.getProfileDescription(lcms).strip()
    assert profile.color_space == {"GRAY": "GRAY"}.get(lcms.profile.xcolor_space.strip(),
                                                       lcms.profile.xcolor_space.strip())
    assert float(profile.version) == pytest.approx(lcms.profile.version, abs=0.05)
    assert profile.summary().endswith(f"ICC v{profile.version}, {len(data):,} bytes)")


@pytest.mark.parametrize(
    "data, reason",
    [(b"not a profile" * 20, "no 'acsp' signature"), (SRGB[:100], "too short"),
     (SRGB[:300], "truncated: the header says 480 bytes"),
     (SRGB[:128] + struct.pack(">I", 500) + SRGB[132:], "tag table")],
)
def test_parse_icc_refuses_malformed_bytes(data: bytes, reason: str) -> None:
    with pytest.raises(IccError, match=reason):
        parse_icc(data)


# ---------------------------------------------------------------- Default


def test_default_keeps_untagged_rgb_untouched_and_says_it_is_treated_as_srgb() -> None:
    # Given
    image, ctx = _rgb(), StepContext()

    # When
    out = color_in(image, ColorPlan(), ctx)

    # Then: not even a copy was made, so nothing was added to the pipeline
    assert out is image
    assert ctx.notes == [
        "colorManagement Default: RGB image without an embedded profile, treated as sRGB; colours not converted; "
        "the output embeds no profile (viewers assume sRGB)."
    ]
    assert ctx.warnings == []


def test_default_keeps_tagged_rgb_and_its_profile() -> None:
    # Given: a Display P3 image
    image, ctx = _tagged(_rgb(), P3), StepContext()

    # When
    out = color_in(image, ColorPlan(), ctx)

    # Then
    assert out is image
    assert _icc(out) == P3
    assert ctx.notes == ['colorManagement Default: RGB image with the embedded profile "sP3C" (RGB, ICC v4.2, '
                         "480 bytes); colours not converted; the output keeps that profile."]


def test_default_keeps_untagged_grey_as_sgrey() -> None:
    image, ctx = _grey(), StepContext()

    out = color_in(image, ColorPlan(), ctx)

    assert out is image
    assert "greyscale image without an embedded profile, treated as sGrey" in ctx.notes[0]


def test_default_drops_a_profile_that_does_not_fit_the_image(tmp_path: Path) -> None:
    # Given: an RGB image that carries a CMYK profile
    image, ctx = _tagged(_rgb(), BUILTIN_CMYK), StepContext()

    # When
    out = color_in(image, ColorPlan(), ctx)

    # Then: pixels unchanged, profile gone, and both the job log and a warning say why
    assert _icc(out) is None
    assert out.write_to_memory() == image.write_to_memory()
    assert ctx.warnings == ["colorManagement Default: the embedded ICC profile was not used: "
                            "it is a profile for CMYK pixels, the image is RGB"]
    assert ctx.notes == ["colorManagement Default: the embedded profile was removed (it is a profile for CMYK pixels, "
                         "the image is RGB); the RGB image is treated as sRGB; colours not converted; the output "
                         "embeds no profile (viewers assume sRGB)."]


def test_default_converts_tagged_cmyk_with_its_own_profile(tmp_path: Path) -> None:
    # Given: the built-in CMYK profile is embedded; a company default exists but must not be used
    image, ctx = _tagged(_cmyk(), BUILTIN_CMYK), StepContext()
    plan = ColorPlan(default_cmyk_profile=cmyk_profile(), default_cmyk_profile_name="Company CMYK")

    # When
    out = color_in(image, plan, ctx)

    # Then
    mean, worst = _delta_e(out, _pillow(image, BUILTIN_CMYK, SRGB, "CMYK", "RGB"), SRGB, tmp_path)
    assert (mean, worst) < (MEAN_DE, MAX_DE)
    assert (out.bands, out.interpretation, out.format) == (3, "srgb", "uchar")
    assert _icc(out) == SRGB
    assert ctx.notes == [
        'colorManagement Default: converted CMYK to sRGB from its embedded profile "Chemical proof" (CMYK, ICC v2.2, '
        "961,644 bytes); relative colorimetric intent with black-point compensation, 8-bit; the output embeds "
        "libvips' built-in sRGB profile \"sRGB\" (RGB, ICC v4.2, 480 bytes)."
    ]


def test_default_converts_untagged_cmyk_with_the_company_default(tmp_path: Path) -> None:
    # Given
    company = cmyk_profile("Company CMYK")
    image, ctx = _cmyk(), StepContext()
    plan = ColorPlan(default_cmyk_profile=company, default_cmyk_profile_name="house-cmyk.icc")

    # When
    out = color_in(image, plan, ctx)

    # Then: it matches lcms with the company profile, and visibly differs from the built-in one
    assert _delta_e(out, _pillow(image, company, SRGB, "CMYK", "RGB"), SRGB, tmp_path) < (MEAN_DE, MAX_DE)
    builtin_mean, _ = _delta_e(out, _pillow(image, BUILTIN_CMYK, SRGB, "CMYK", "RGB"), SRGB, tmp_path)
    assert builtin_mean > 5
    assert ctx.notes[0].startswith(
        'colorManagement Default: converted CMYK to sRGB from the company default CMYK profile "house-cmyk.icc" '
        '("Company CMYK", CMYK, ICC v2.1, '
    )
    assert "because it has no embedded profile" in ctx.notes[0]


def test_default_converts_untagged_cmyk_with_the_builtin_profile_when_there_is_no_company_default(
    tmp_path: Path,
) -> None:
    image, ctx = _cmyk(), StepContext()

    out = color_in(image, ColorPlan(), ctx)

    assert _delta_e(out, _pillow(image, BUILTIN_CMYK, SRGB, "CMYK", "RGB"), SRGB, tmp_path) < (MEAN_DE, MAX_DE)
    assert "from libvips' built-in CMYK profile \"Chemical proof\" (CMYK, ICC v2.2, 961,644 bytes), because it has " \
        "no embedded profile" in ctx.notes[0]
    assert len(_icc(out) or b"") == 480


def test_default_falls_back_with_a_warning_when_the_embedded_cmyk_profile_is_unusable(tmp_path: Path) -> None:
    # Given: an embedded profile lcms cannot read (its A2B0 table is damaged)
    company = cmyk_profile("Company CMYK")
    image, ctx = _tagged(_cmyk(), _corrupt_tag(BUILTIN_CMYK, b"A2B0")), StepContext()

    # When
    out = color_in(image, ColorPlan(default_cmyk_profile=company), ctx)

    # Then
    assert _delta_e(out, _pillow(_cmyk(), company, SRGB, "CMYK", "RGB"), SRGB, tmp_path) < (MEAN_DE, MAX_DE)
    assert ctx.warnings == ['colorManagement Default: lcms rejected the embedded CMYK profile "Chemical proof" '
                            "(CMYK, ICC v2.2, 961,644 bytes)"]
    assert "because its embedded profile was not used (lcms rejected it)" in ctx.notes[0]


@pytest.mark.parametrize(
    "company, reason",
    [(b"garbage" * 40, "is not a usable ICC profile: no 'acsp' signature"),
     (SRGB, "is for RGB pixels, so it cannot convert CMYK images"),
     (_corrupt_tag(cmyk_profile(), b"A2B0", b"A2B1"), "lcms cannot use the company default CMYK profile")],
)
def test_default_rejects_the_file_when_the_company_default_profile_is_unusable(company: bytes, reason: str) -> None:
    with pytest.raises(FileRejectedError, match=reason) as raised:
        color_in(_cmyk(), ColorPlan(default_cmyk_profile=company, default_cmyk_profile_name="house"), StepContext())

    assert raised.value.code == "color.bad_profile"


def test_default_cmyk_16_bit_with_alpha_stays_16_bit_and_keeps_alpha(tmp_path: Path) -> None:
    # Given: 16-bit CMYK with a 16-bit alpha ramp
    alpha = (pyvips.Image.xyz(96, 64)[1] * 1000).cast("ushort")
    image = (_cmyk().cast("ushort") * 257).bandjoin(alpha).cast("ushort").copy(interpretation="cmyk")
    ctx = StepContext()

    # When
    out = color_in(image, ColorPlan(), ctx)

    # Then: libvips alone would rescale that alpha as if it were 8-bit; it must come through bit for bit
    assert (out.bands, out.interpretation, out.format) == (4, "rgb16", "ushort")
    assert out[3].write_to_memory() == alpha.write_to_memory()
    reference = _pillow(_cmyk(), BUILTIN_CMYK, SRGB, "CMYK", "RGB")
    assert _delta_e(out[0:3], reference, SRGB, tmp_path) < (MEAN_DE, MAX_DE)
    assert "16-bit, alpha kept" in ctx.notes[0]


def test_default_cmyk_8_bit_alpha_is_kept() -> None:
    alpha = (pyvips.Image.xyz(96, 64)[0] * 2).cast("uchar")
    image = _tagged(_cmyk().bandjoin(alpha), BUILTIN_CMYK)

    out = color_in(image, ColorPlan(), StepContext())

    assert (out.bands, out.interpretation) == (4, "srgb")
    assert out[3].write_to_memory() == alpha.write_to_memory()


# ---------------------------------------------------------------- MaintainOriginal


def test_maintain_original_leaves_cmyk_bands_and_profile_untouched() -> None:
    # Given
    image, ctx = _tagged(_cmyk(), BUILTIN_CMYK), StepContext()
    plan = ColorPlan(mode="MaintainOriginal")

    # When
    out = color_in(image, plan, ctx)

    # Then
    assert out is image
    assert (out.bands, out.interpretation) == (4, "cmyk")
    assert out.write_to_memory() == _cmyk().write_to_memory()
    assert _icc(out) == BUILTIN_CMYK
    assert ctx.notes == [
        "colorManagement MaintainOriginal: no colour conversion; the image is CMYK and stays CMYK; the output keeps "
        'its embedded profile "Chemical proof" (CMYK, ICC v2.2, 961,644 bytes).'
    ]


def test_maintain_original_on_untagged_rgb_adds_nothing() -> None:
    image, ctx = _rgb(), StepContext()

    out = color_in(image, ColorPlan(mode="MaintainOriginal"), ctx)

    assert out is image
    assert ctx.notes == ["colorManagement MaintainOriginal: no colour conversion; the image is RGB; it has no "
                         "embedded profile and the output gets none."]


# ---------------------------------------------------------------- Convert


def test_convert_ignores_the_embedded_profile_and_embeds_the_output_profile(tmp_path: Path) -> None:
    # Given: an image tagged P3, converted "from sRGB to P3" (so the embedded profile must be ignored)
    image, ctx = _tagged(_rgb(), P3), StepContext()
    plan = ColorPlan(mode="Convert", source_profile=SRGB, source_profile_name="sRGB web",
                     output_profile=P3, output_profile_name="Display P3")

    # When
    out = color_in(image, plan, ctx)

    # Then
    assert _delta_e(out, _pillow(_rgb(), SRGB, P3, "RGB", "RGB"), P3, tmp_path) < (MEAN_DE, MAX_DE)
    assert out.write_to_memory() != image.write_to_memory()
    assert _icc(out) == P3
    assert ctx.notes == [
        'colorManagement Convert: converted from the source profile "sRGB web" ("sRGB", RGB, ICC v4.2, 480 bytes) '
        'to the output profile "Display P3" ("sP3C", RGB, ICC v4.2, 480 bytes), ignoring the embedded profile '
        '"sP3C" (RGB, ICC v4.2, 480 bytes); relative colorimetric intent with black-point compensation, 8-bit; '
        "the output embeds the output profile."
    ]


def test_convert_cmyk_to_rgb_with_two_given_profiles(tmp_path: Path) -> None:
    source = cmyk_profile("Press CMYK", dot_gain=0.25)
    plan = ColorPlan(mode="Convert", source_profile=source, output_profile=P3)
    image = _tagged(_cmyk(), BUILTIN_CMYK)

    out = color_in(image, plan, StepContext())

    assert _delta_e(out, _pillow(_cmyk(), source, P3, "CMYK", "RGB"), P3, tmp_path) < (MEAN_DE, MAX_DE)
    assert (out.bands, _icc(out)) == (3, P3)


def test_convert_rgb_to_cmyk(tmp_path: Path) -> None:
    output = cmyk_profile("Press CMYK")
    plan = ColorPlan(mode="Convert", source_profile=SRGB, output_profile=output)

    out = color_in(_rgb(), plan, StepContext())

    assert (out.bands, out.interpretation, _icc(out)) == (4, "cmyk", output)
    assert _delta_e(out, _pillow(_rgb(), SRGB, output, "RGB", "CMYK"), output, tmp_path) < (MEAN_DE, MAX_DE)


def test_convert_greyscale_with_a_gray_profile(tmp_path: Path) -> None:
    plan = ColorPlan(mode="Convert", source_profile=SGREY, output_profile=SRGB)

    out = color_in(_grey(), plan, StepContext())

    assert (out.bands, out.interpretation) == (3, "srgb")
    assert _delta_e(out, _pillow(_grey(), SGREY, SRGB, "L", "RGB"), SRGB, tmp_path) < (MEAN_DE, MAX_DE)


def test_convert_16_bit_rgb_with_alpha_stays_16_bit(tmp_path: Path) -> None:
    # Given
    alpha = (pyvips.Image.xyz(96, 64)[0] * 600).cast("ushort")
    image = (_rgb().cast("ushort") * 257).bandjoin(alpha).cast("ushort").copy(interpretation="rgb16")
    ctx = StepContext()

    # When
    out = color_in(image, ColorPlan(mode="Convert", source_profile=SRGB, output_profile=P3), ctx)

    # Then
    assert (out.bands, out.interpretation, out.format) == (4, "rgb16", "ushort")
    assert out[3].write_to_memory() == alpha.write_to_memory()
    assert _delta_e(out[0:3], _pillow(_rgb(), SRGB, P3, "RGB", "RGB"), P3, tmp_path) < (MEAN_DE, MAX_DE)
    assert "16-bit, alpha kept" in ctx.notes[0]


def test_convert_uses_the_images_own_profile_when_the_source_profile_does_not_fit(tmp_path: Path) -> None:
    # Given: a job-wide RGB source profile meets a CMYK file
    image, ctx = _tagged(_cmyk(), BUILTIN_CMYK), StepContext()

    # When
    out = color_in(image, ColorPlan(mode="Convert", source_profile=SRGB, output_profile=P3), ctx)

    # Then
    assert _delta_e(out, _pillow(_cmyk(), BUILTIN_CMYK, P3, "CMYK", "RGB"), P3, tmp_path) < (MEAN_DE, MAX_DE)
    assert ctx.warnings == [
        'colorManagement Convert: the source profile "sRGB" (RGB, ICC v4.2, 480 bytes) is RGB but the image is CMYK; '
        'converted from its embedded profile "Chemical proof" (CMYK, ICC v2.2, 961,644 bytes) instead'
    ]


@pytest.mark.parametrize(
    "source, output, missing",
    [(None, P3, "the source profile is missing"), (SRGB, None, "the output profile is missing"),
     (None, None, "the source and output profile are missing")],
)
def test_convert_without_both_profiles_is_rejected(source: bytes | None, output: bytes | None, missing: str) -> None:
    with pytest.raises(FileRejectedError, match=missing) as raised:
        color_in(_rgb(), ColorPlan(mode="Convert", source_profile=source, output_profile=output), StepContext())

    assert raised.value.code == "color.missing_profile"


@pytest.mark.parametrize(
    "source, output, reason",
    [
        (b"\0\0\1\0garbage" * 30, P3, 'the source profile "src" is not a usable ICC profile: no \'acsp\' signature'),
        (SRGB, P3[:400], 'the output profile "out" is not a usable ICC profile: truncated'),
        (SRGB, ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes(),
         r'the output profile "out" \("Lab identity built-in", Lab, ICC v2.1, 572 bytes\) is an abstract profile, '
         "which cannot convert images"),
        (_corrupt_tag(SRGB, b"rTRC"), P3, 'lcms cannot use the source profile "src"'),
        (SRGB, _corrupt_tag(P3, b"rTRC"), 'lcms rejected the output profile "out"'),
    ],
)
def test_convert_with_a_profile_lcms_cannot_use_is_rejected(source: bytes, output: bytes, reason: str) -> None:
    plan = ColorPlan(mode="Convert", source_profile=source, source_profile_name="src",
                     output_profile=output, output_profile_name="out")

    with pytest.raises(FileRejectedError, match=reason) as raised:
        color_in(_rgb(), plan, StepContext())

    assert raised.value.code == "color.bad_profile"


# ---------------------------------------------------------------- end to end


def test_optimize_turns_a_cmyk_jpeg_into_srgb_with_a_small_profile_in_every_level(
    cmyk_jpeg: Path, tmp_path: Path
) -> None:
    # Given: a 600x400 CMYK JPEG carrying the ~1 MB built-in profile
    out = tmp_path / "optimized.tif"
    ctx = StepContext(options=ProcessingOptions(color=ColorPlan()))

    # When
    result = optimize(str(cmyk_jpeg), str(out), max_pixels=MAX_PIXELS, ctx=ctx)

    # Then
    levels = [pyvips.Image.tiffload(str(out), page=page) for page in range(len(result.tiff.levels))]
    assert [(level.bands, level.interpretation, len(_icc(level) or b"")) for level in levels] == \
        [(3, "srgb", 480)] * len(levels)
    assert result.tiff.size_bytes < 200_000
    assert result.notes == [
        'colorManagement Default: converted CMYK to sRGB from its embedded profile "Chemical proof" (CMYK, ICC v2.2, '
        "961,644 bytes); relative colorimetric intent with black-point compensation, 8-bit; the output embeds "
        "libvips' built-in sRGB profile \"sRGB\" (RGB, ICC v4.2, 480 bytes)."
    ]
