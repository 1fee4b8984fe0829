"""Colour management (spec §5.11): ``color_in``, the first step of the option pipeline.

``color_in`` does every conversion, so crops, knockout and sharpening already work in the
colour space that is delivered, and writes one ``ctx.notes`` line (the file's job-log row)
saying which profile was found, what was converted from what to what, and what the output
embeds. Nothing is left for the end of the pipeline: no later step changes the colour
space, sample format or embedded profile (tests/imaging/test_optimize.py holds them to it).

* Default: an RGB or grey image keeps its pixels and its embedded profile; untagged it is
  taken as sRGB (sGrey) and stays untagged. A CMYK image becomes sRGB, from its embedded
  profile, else the company default CMYK profile, else libvips' ``cmyk``; the output embeds
  libvips' 480-byte sRGB profile. An embedded profile that is unreadable or for another colour
  space is not used (warning).
* MaintainOriginal: nothing changes; CMYK stays CMYK, the embedded profile stays.
* Convert: source_profile → output_profile, the embedded profile ignored, the output profile
  embedded. A file whose colour space the source profile does not fit (a CMYK file in a job
  with an RGB source profile) is converted from its own profile, as Default would read it,
  with a warning. Missing profiles: ``color.missing_profile``; unusable: ``color.bad_profile``.

All transforms: lcms relative colorimetric intent with black-point compensation (Photoshop's
default conversion settings), 8-bit in → 8-bit out, 16-bit in → 16-bit out, alpha passed through.
"""

from __future__ import annotations

import os
import struct
import tempfile
from dataclasses import dataclass, field
from typing import Literal

from openips.imaging import vips
from openips.imaging.options import ColorPlan
from openips.imaging.step_context import StepContext
from openips.models.errors import FileRejectedError

Space = Literal["RGB", "GRAY", "CMYK"]

INTENT = "relative"
BLACK_POINT_COMPENSATION = True
OUTPUT_PROFILE_NAME = "srgb"  # libvips' built-in sRGB: ICC v4.2, 480 bytes
_BUILTIN_SOURCE = {"RGB": "srgb", "GRAY": "sgrey", "CMYK": "cmyk"}
_BUILTIN_LABEL = {"srgb": "sRGB", "sgrey": "sGrey (sRGB-gamma grey)", "cmyk": "CMYK"}
_SPACES: dict[bytes, Space] = {b"RGB ": "RGB", b"GRAY": "GRAY", b"CMYK": "CMYK"}
_INTERPRETATION_SPACE: dict[str, Space] = {
    "srgb": "RGB", "rgb": "RGB", "rgb16": "RGB", "b-w": "GRAY", "grey16": "GRAY", "cmyk": "CMYK",
}
_SPACE_BANDS = {"RGB": 3, "GRAY": 1, "CMYK": 4}
_SPACE_WORD = {"RGB": "RGB", "GRAY": "greyscale", "CMYK": "CMYK"}
# Device links, abstract and named-colour profiles cannot convert an image from or to device values.
_UNUSABLE_CLASSES = {b"link": "a device link", b"abst": "an abstract", b"nmcl": "a named-colour"}
_ICC_FIELD = "icc-profile-data"


class IccError(ValueError):
    """The bytes are not a well-formed ICC profile."""


@dataclass(frozen=True, slots=True)
class IccProfile:
    """What an ICC profile's header and ``desc`` tag say."""

    data: bytes = field(repr=False)
    version: str
    device_class: str
    color_space: str  # "RGB", "GRAY", "CMYK", or the raw signature (e.g. "Lab")
    description: str | None

    @property
    def space(self) -> Space | None:
        """The colour space as an image space, or None (Lab, XYZ, n-colour…)."""
        return self.color_space if self.color_space in _SPACE_BANDS else None  # type: ignore[return-value]

    def summary(self, name: str | None = None) -> str:
        """E.g. ``"sRGB" (RGB, ICC v4.2, 480 bytes)``; an asset ``name`` goes first, the description after it."""
        facts = f"{self.color_space}, ICC v{self.version}, {len(self.data):,} bytes"
        if name and self.description and name != self.description:
            return f'"{name}" ("{self.description}", {facts})'
        if name or self.description:
            return f'"{name or self.description}" ({facts})'
        return f"without a description ({facts})"


@dataclass(frozen=True, slots=True)
class _Source:
    label: str  # how the notes name it, with its article: "the source profile …"
    profile: IccProfile
    embedded: bool = False  # use the image's own icc-profile-data
    builtin: str | None = None  # a libvips built-in profile name


def parse_icc(data: bytes) -> IccProfile:
    """Check an ICC profile's structure and read its header and description; IccError says what is wrong."""
    if len(data) < 132:
        raise IccError(f"too short for an ICC profile ({len(data)} bytes)")
    if data[36:40] != b"acsp":
        raise IccError("no 'acsp' signature: not an ICC profile")
    declared = struct.unpack_from(">I", data, 0)[0]
    if declared > len(data):
        raise IccError(f"truncated: the header says {declared:,} bytes, only {len(data):,} are present")
    if declared < 132:
        raise IccError(f"the header gives an impossible size ({declared} bytes)")
    count = struct.unpack_from(">I", data, 128)[0]
    if 132 + 12 * count > declared:
        raise IccError(f"the tag table ({count} tags) runs past the end of the profile")
    tags: dict[bytes, tuple[int, int]] = {}
    for index in range(count):
        signature, offset, size = struct.unpack_from(">4sII", data, 132 + 12 * index)
        if offset + size > declared:
            raise IccError(f"tag {signature.decode('latin-1')!r} runs past the end of the profile")
        tags[signature] = (offset, size)
    space = data[16:20]
    return IccProfile(
        data=data,
        version=f"{data[8]}.{data[9] >> 4}",
        device_class=data[12:16].decode("latin-1"),
        color_space=_SPACES.get(space, space.decode("latin-1").strip()),
        description=_description(data, tags.get(b"desc")),
    )


def _description(data: bytes, where: tuple[int, int] | None) -> str | None:
    if where is None:
        return None
    offset, size = where
    tag = data[offset : offset + size]
    try:
        if tag[:4] == b"desc":  # ICC v2 textDescriptionType: ASCII with a count that includes the NUL
            length = struct.unpack_from(">I", tag, 8)[0]
            text = tag[12 : 12 + length].split(b"\0", 1)[0].decode("latin-1")
        elif tag[:4] == b"mluc":  # ICC v4 multiLocalizedUnicodeType: prefer en-US, else the first record
            records, record_size = struct.unpack_from(">II", tag, 8)
            entries = [struct.unpack_from(">2s2sII", tag, 16 + i * record_size) for i in range(records)]
            if not entries:
                return None
            _, _, length, start = next((e for e in entries if e[:2] == (b"en", b"US")), entries[0])
            text = tag[start : start + length].decode("utf-16-be", errors="replace").split("\0", 1)[0]
        else:
            return None
    except (struct.error, UnicodeDecodeError):
        return None
    return " ".join(text.split()) or None


def image_space(image: vips.Image) -> Space | None:
    """RGB, GRAY or CMYK from the image's interpretation and bands, or None when it is none of them."""
    space = _INTERPRETATION_SPACE.get(str(image.interpretation))
    if space is None or image.bands < _SPACE_BANDS[space]:
        return None
    return space


def color_in(image: vips.Image, plan: ColorPlan, ctx: StepContext) -> vips.Image:
    """Apply the colorManagementOptions mode (spec §5.11) before any other step; notes say what happened."""
    space = image_space(image)
    embedded, problem = _embedded(image)
    if plan.mode == "MaintainOriginal":
        return _maintain(image, space, embedded, problem, ctx)
    if plan.mode == "Convert":
        return _convert(image, plan, space, embedded, problem, ctx)
    return _default(image, plan, space, embedded, problem, ctx)


def _maintain(image: vips.Image, space: Space | None, embedded: IccProfile | None, problem: str | None,
              ctx: StepContext) -> vips.Image:
    what = f"the image is {_SPACE_WORD[space]}" if space else f"the image is {image.interpretation}"
    if space == "CMYK":
        what += " and stays CMYK"
    if embedded is not None:
        kept = f"the output keeps its embedded profile {embedded.summary()}"
    elif problem is not None:
        kept = f"the output keeps its embedded profile although it is unreadable ({problem})"
        ctx.warnings.append(f"colorManagement MaintainOriginal: the embedded ICC profile is unreadable ({problem})")
    else:
        kept = "it has no embedded profile and the output gets none"
    ctx.notes.append(f"colorManagement MaintainOriginal: no colour conversion; {what}; {kept}.")
    return image


def _default(image: vips.Image, plan: ColorPlan, space: Space | None, embedded: IccProfile | None,
             problem: str | None, ctx: StepContext) -> vips.Image:
    prefix = "colorManagement Default"
    if space is None:
        ctx.notes.append(f"{prefix}: the image is neither RGB, greyscale nor CMYK ({image.interpretation}, "
                         f"{image.bands} bands); left unchanged.")
        return image
    if embedded is not None and embedded.space != space:
        problem = f"it is a profile for {embedded.color_space} pixels, the image is {_SPACE_WORD[space]}"
        embedded = None
    if problem is not None:
        ctx.warnings.append(f"{prefix}: the embedded ICC profile was not used: {problem}")
    if space != "CMYK":
        assumed = "sRGB" if space == "RGB" else "sGrey (sRGB-gamma grey)"
        if embedded is not None:
            ctx.notes.append(f"{prefix}: {_SPACE_WORD[space]} image with the embedded profile {embedded.summary()}; "
                             "colours not converted; the output keeps that profile.")
            return image
        untagged = f"colours not converted; the output embeds no profile (viewers assume {assumed})."
        if problem is not None:
            image = image.copy()
            image.remove(_ICC_FIELD)
            ctx.notes.append(f"{prefix}: the embedded profile was removed ({problem}); the {_SPACE_WORD[space]} "
                             f"image is treated as {assumed}; {untagged}")
            return image
        ctx.notes.append(f"{prefix}: {_SPACE_WORD[space]} image without an embedded profile, treated as {assumed}; "
                         f"{untagged}")
        return image
    source = None
    if embedded is not None:
        source = _Source(f"its embedded profile {embedded.summary()}", embedded, embedded=True)
        if not _accepts_embedded(image):
            ctx.warnings.append(f"{prefix}: lcms rejected the embedded CMYK profile {embedded.summary()}")
            problem, source = "lcms rejected it", None
    if source is None:
        source = _cmyk_fallback(image, plan)
        why = "it has no embedded profile" if problem is None else f"its embedded profile was not used ({problem})"
        source = _Source(f"{source.label}, because {why}", source.profile, builtin=source.builtin)
    if plan.default_output_profile:  # the company's display profile replaces sRGB
        output = _plan_profile(plan.default_output_profile, plan.default_output_profile_name, "company display")
        if output.profile.space != "RGB":
            raise FileRejectedError(f"{output.label} is for {output.profile.color_space} pixels; a display "
                                    "profile must be an RGB profile", code="color.bad_profile")
        out = _transform(image, source, None, output)
        ctx.notes.append(f"{prefix}: converted CMYK to RGB from {source.label} to {output.label}; {_how(image)}; "
                         "the output embeds the display profile.")
        return out
    out = _transform(image, source, OUTPUT_PROFILE_NAME, None)
    ctx.notes.append(f"{prefix}: converted CMYK to sRGB from {source.label}; {_how(image)}; "
                     f"the output embeds {_builtin(OUTPUT_PROFILE_NAME).label}.")
    return out


def _convert(image: vips.Image, plan: ColorPlan, space: Space | None, embedded: IccProfile | None,
             problem: str | None, ctx: StepContext) -> vips.Image:
    prefix = "colorManagement Convert"
    missing = [role for role, data in (("source", plan.source_profile), ("output", plan.output_profile)) if not data]
    if missing:
        raise FileRejectedError(f"colorManagement Convert needs a source and an output profile; the "
                                f"{' and '.join(missing)} profile {'is' if len(missing) == 1 else 'are'} missing",
                                code="color.missing_profile")
    source = _plan_profile(plan.source_profile, plan.source_profile_name, "source")
    output = _plan_profile(plan.output_profile, plan.output_profile_name, "output")
    if output.profile.space is None:
        raise FileRejectedError(f"{output.label} is for {output.profile.color_space} pixels; "
                                "only RGB, greyscale and CMYK output profiles are supported",
                                code="color.bad_profile")
    if space is None:
        ctx.warnings.append(f"{prefix}: the image is neither RGB, greyscale nor CMYK ({image.interpretation}); "
                            "it was not converted")
        ctx.notes.append(f"{prefix}: the image is neither RGB, greyscale nor CMYK ({image.interpretation}, "
                         f"{image.bands} bands); left unchanged.")
        return image
    ignored = f", ignoring the embedded profile {embedded.summary()}" if embedded is not None else ""
    if source.profile.space != space:
        # One job-wide source profile cannot fit every file of a mixed upload: convert such a
        # file from its own (or Default-assumed) profile so all outputs share the output profile.
        own = _own_source(image, plan, space, embedded)
        ctx.warnings.append(f"{prefix}: {source.label} is {source.profile.color_space} but the "
                            f"image is {_SPACE_WORD[space]}; converted from {own.label} instead")
        source, ignored = own, ""
    elif not _accepts_file(image, source.profile):
        raise FileRejectedError(f"lcms cannot use {source.label} to read {_SPACE_WORD[space]} pixels",
                                code="color.bad_profile")
    out = _transform(image, source, None, output)
    ctx.notes.append(f"{prefix}: converted from {source.label} to {output.label}{ignored}; "
                     f"{_how(image)}; the output embeds the output profile.")
    return out


def _own_source(image: vips.Image, plan: ColorPlan, space: Space, embedded: IccProfile | None) -> _Source:
    if embedded is not None and embedded.space == space and _accepts_embedded(image):
        return _Source(f"its embedded profile {embedded.summary()}", embedded, embedded=True)
    if space == "CMYK":
        return _cmyk_fallback(image, plan)
    return _builtin(_BUILTIN_SOURCE[space])


def _cmyk_fallback(image: vips.Image, plan: ColorPlan) -> _Source:
    if not plan.default_cmyk_profile:
        return _builtin("cmyk")
    source = _plan_profile(plan.default_cmyk_profile, plan.default_cmyk_profile_name, "company default CMYK")
    if source.profile.space != "CMYK":
        raise FileRejectedError(f"{source.label} is for {source.profile.color_space} pixels, "
                                "so it cannot convert CMYK images", code="color.bad_profile")
    if not _accepts_file(image, source.profile):
        raise FileRejectedError(f"lcms cannot use {source.label} to read CMYK pixels", code="color.bad_profile")
    return source


def _builtin(name: str) -> _Source:
    profile = parse_icc(vips.Image.profile_load(name))
    return _Source(f"libvips' built-in {_BUILTIN_LABEL[name]} profile {profile.summary()}", profile, builtin=name)


def _plan_profile(data: bytes | None, name: str | None, role: str) -> _Source:
    try:
        profile = parse_icc(data or b"")
    except IccError as exc:
        named = f' "{name}"' if name else ""
        raise FileRejectedError(f"the {role} profile{named} is not a usable ICC profile: {exc}",
                                code="color.bad_profile") from exc
    label = f"the {role} profile {profile.summary(name)}"
    kind = _UNUSABLE_CLASSES.get(profile.device_class.encode("latin-1"))
    if kind is not None:
        raise FileRejectedError(f"{label} is {kind} profile, which cannot convert images", code="color.bad_profile")
    return _Source(label, profile)


def _embedded(image: vips.Image) -> tuple[IccProfile | None, str | None]:
    if not vips.has_field(image, _ICC_FIELD):
        return None, None
    try:
        return parse_icc(image.get(_ICC_FIELD)), None
    except IccError as exc:
        return None, str(exc)


def _colour_bands(image: vips.Image) -> tuple[vips.Image, vips.Image | None]:
    space = image_space(image)
    count = _SPACE_BANDS[space] if space else image.bands
    if image.bands == count:
        return image, None
    return image.extract_band(0, n=count), image.extract_band(count, n=image.bands - count)


def _accepts_embedded(image: vips.Image) -> bool:
    # libvips silently falls back to a built-in profile when lcms rejects the input profile,
    # but icc_import attaches the profile it really used: compare. Builds the transform only.
    colour, _ = _colour_bands(image)
    try:
        used = colour.icc_import(embedded=True, intent=INTENT)
    except vips.VipsError:
        return False
    return vips.has_field(used, _ICC_FIELD) and used.get(_ICC_FIELD) == image.get(_ICC_FIELD)


def _accepts_file(image: vips.Image, profile: IccProfile) -> bool:
    colour, _ = _colour_bands(image)
    with tempfile.TemporaryDirectory(prefix="openips-icc-") as tmp:
        path = _write(tmp, "in.icc", profile.data)
        try:
            used = colour.icc_import(input_profile=path, embedded=False, intent=INTENT)
        except vips.VipsError:
            return False
    return vips.has_field(used, _ICC_FIELD) and used.get(_ICC_FIELD) == profile.data


def _transform(image: vips.Image, source: _Source, output_name: str | None, output: _Source | None) -> vips.Image:
    colour, alpha = _colour_bands(image)
    depth = 16 if str(image.format) == "ushort" else 8
    # Alpha goes around the transform: icc_transform rescales a 16-bit alpha as if it were 8-bit.
    with tempfile.TemporaryDirectory(prefix="openips-icc-") as tmp:
        options: dict[str, object] = {"embedded": source.embedded, "depth": depth, "intent": INTENT,
                                      "black_point_compensation": BLACK_POINT_COMPENSATION}
        if not source.embedded:
            options["input_profile"] = source.builtin or _write(tmp, "in.icc", source.profile.data)
        target = output_name or _write(tmp, "out.icc", output.profile.data)  # type: ignore[union-attr]
        try:
            # libvips reads both profiles while building the operation, so the files may go
            # before any pixel is computed.
            out = colour.icc_transform(target, **options)
        except vips.VipsError as exc:
            label = output.label if output is not None else source.label
            raise FileRejectedError(f"lcms rejected {label}: {vips.error_summary(exc)}",
                                    code="color.bad_profile") from exc
    return out if alpha is None else out.bandjoin(alpha)


def _how(image: vips.Image) -> str:
    depth = "16-bit" if str(image.format) == "ushort" else "8-bit"
    alpha = ", alpha kept" if image.hasalpha() else ""
    return f"relative colorimetric intent with black-point compensation, {depth}{alpha}"


def _write(directory: str, name: str, data: bytes) -> str:
    path = os.path.join(directory, name)
    with open(path, "wb") as handle:
        handle.write(data)
    return path
