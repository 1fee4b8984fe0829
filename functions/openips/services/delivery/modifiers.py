"""Image Serving modifiers → one resolved ``RenditionRequest`` (docs/delivery.md, "Modifiers").

The grammar is the IS HTTP protocol's: the query is split on ``&`` first; each piece is a comment
(``.`` first, skipped), a preset ``$name$`` (expanded in place from the company's image presets),
a custom variable ``$var=value`` (not supported: ignored) or a command ``name[=value]``. Names are
case-insensitive and never decoded; values are percent-decoded once, after the split, so an encoded
``&`` or ``=`` stays inside its value and a double encoding stays encoded. Commands apply in order:
a later one overrides an earlier one (IS: a macro's commands override the same commands before it),
and ``scl=`` cancels an earlier ``wid=``/``hei=`` and the reverse.

The request is *resolved* here against the master's size, so the renderer only executes it: crop
in source pixels, clamped (``cropN=`` fractions become pixels); sizes as the final view box with an
explicit fit (``scl=``, one-sided ``wid=``/``hei=`` and ``fit=constrain`` become the box they
produce, with ``fit=stretch``); defaults and no-ops dropped. The operations run in IS's order:
crop (source) → flip, rotate (the image layer) → scale into the view → ``rect`` (view pixels) →
sharpening → encoding. ``normalised`` is written from the resolved request alone, so two queries
with one meaning share it (the cache key and the ETag's input).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import get_args
from urllib.parse import quote, unquote

from openips.models.rendition import Fit, Format, Rect, RenditionRequest, ResMode, UnsharpMask

MAX_SIDE = 65_535  # JPEG's and GIF's largest side; no rendition is wider or taller
FORMAT_MAX_SIDE: dict[str, int] = {"webp": 16_383}
MAX_PRESET_DEPTH = 4  # a preset may name presets, four levels deep at most
PRESET_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")  # IS macro names: ASCII letters, digits, - _ .
DEFAULT_QUALITY = 80
DEFAULT_RES_MODE: ResMode = "sharp2"
LOSSY_FORMATS = frozenset({"jpeg", "webp", "avif"})  # qlt applies to these only

# Numbers as IS writes them, and nothing else: ASCII digits (``\d`` would take "５"), no sign but
# "-", no exponent, no nan/inf, at most nine digits either side of the point.
_INT = re.compile(r"-?[0-9]{1,9}")
_REAL = re.compile(r"-?(?:[0-9]{1,9}(?:\.[0-9]{0,9})?|\.[0-9]{1,9})")
_HEX = re.compile(r"[0-9a-f]+")
_IGNORED_NAME_CHARS = 40

_FORMATS: dict[str, Format] = {"jpeg": "jpeg", "jpg": "jpeg", "pjpeg": "jpeg", "png": "png", "png-alpha": "png-alpha",
                               "webp": "webp", "avif": "avif", "tif": "tif", "gif": "gif"}
_IS_FORMATS_LEFT_OUT = frozenset({"avif-alpha", "eps", "f4m", "gif-alpha", "jpeg2000-alpha", "jpeg2000",
                                  "jpegxr-alpha", "jpegxr", "m3u8", "pdf", "png8-alpha", "png8", "swf-alpha", "swf",
                                  "swf3-alpha", "swf3", "tif-alpha", "webp-alpha", "web-alpha"})
_COMPRESSIONS = frozenset({"none", "lzw", "zip", "jpeg", "lossy", "lossless"})  # accepted, not applied
_RES_MODES: dict[str, ResMode] = {mode: mode for mode in get_args(ResMode)} | {"sharp": "sharp2"}
_FIT_MODES: frozenset[str] = frozenset(get_args(Fit))
_CACHE_BOTH = frozenset({"on", "off", "validate", "update"})


class ModifierError(ValueError):
    """A modifier the service will not render: the message says which and why (IS-style error text)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Limits:
    max_pixels: int  # output width × height (IS's attribute::MaxPix)
    max_modifiers: int  # commands, comments and preset references, presets expanded
    max_length: int  # characters of the query, and of its commands once presets are expanded


@dataclass
class _State:
    """The commands seen so far, last one winning, before resolution against the master."""

    crop: tuple[str, tuple[float, float, float, float]] | None = None  # ("px" | "n", x, y, w, h)
    width: int | None = None
    height: int | None = None
    scale: float | None = None
    fit: str | None = None
    upscale: bool = False
    rect: Rect | None = None
    fmt: Format = "jpeg"
    quality: int = DEFAULT_QUALITY
    background: tuple[int, int, int] | None = None
    res_mode: ResMode = DEFAULT_RES_MODE
    sharpen: int = 0
    usm: UnsharpMask | None = None
    rotate: int = 0
    flip: str | None = None
    cache: str | None = None


# ---- the pieces of a query ------------------------------------------------------------------------


def _commands(query: str, presets: Mapping[str, str], limits: Limits) -> tuple[list[tuple[str, str | None]],
                                                                                 list[str]]:
    """The query's commands in order, presets expanded: (name lower-cased, decoded value or None),
    and the names of the pieces that are no command of ours (custom variables)."""
    query = query.removeprefix("?")
    if len(query) > limits.max_length:
        raise ModifierError(f"the query is {len(query)} characters long; at most {limits.max_length}")
    table = {name.casefold(): value for name, value in presets.items()}  # IS: macro names are case-insensitive
    commands: list[tuple[str, str | None]] = []
    variables: list[str] = []
    budget = {"pieces": 0, "length": 0}

    def expand(text: str, chain: tuple[str, ...]) -> None:
        for piece in text.split("&"):
            if not piece:
                continue
            budget["pieces"] += 1  # comments and preset references count too: they cost work
            if budget["pieces"] > limits.max_modifiers:
                raise ModifierError(f"more than {limits.max_modifiers} modifiers (presets expanded)")
            if piece.startswith("."):
                continue  # an IS comment
            if piece.startswith("$") and piece.endswith("$") and len(piece) > 1 and "=" not in piece:
                expand(_preset(piece[1:-1], table, chain), chain + (piece[1:-1].casefold(),))
                continue
            budget["length"] += len(piece) + 1
            if budget["length"] > limits.max_length + 1:
                raise ModifierError(f"the modifiers are longer than {limits.max_length} characters once "
                                    "presets are expanded")
            name, equals, raw = piece.partition("=")
            if name.startswith("$"):
                variables.append(name)  # an IS custom variable: not supported
                continue
            commands.append((name.lower() if name.isascii() else name, _decode(name, raw) if equals else None))

    expand(query, ())
    return commands, variables


def _preset(name: str, table: Mapping[str, str], chain: tuple[str, ...]) -> str:
    if not PRESET_NAME.fullmatch(name):
        raise ModifierError(f"${_shown(name)}$ is not a preset name (letters, digits, '-', '_', '.')")
    key = name.casefold()
    if key in chain:
        raise ModifierError("presets refer to each other in a loop: " + " → ".join(f"${n}$" for n in chain + (key,)))
    if len(chain) >= MAX_PRESET_DEPTH:
        raise ModifierError(f"presets nest deeper than {MAX_PRESET_DEPTH} levels at ${name}$")
    if key not in table:
        raise ModifierError(f"there is no image preset ${name}$")
    return table[key]


def _decode(name: str, raw: str) -> str:
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError as exc:
        raise ModifierError(f"{_shown(name)}: the value is not UTF-8 once decoded") from exc


def _shown(text: str) -> str:
    """Text of a request, safe to echo in an error: ASCII, printable, short."""
    return quote(text[:_IGNORED_NAME_CHARS], safe="$,.-_~!*'()=:;/ ")


# ---- values ---------------------------------------------------------------------------------------


def _parts(name: str, value: str | None, least: int, most: int) -> list[str]:
    if value is None or value == "":
        raise ModifierError(f"{name}= needs a value")
    parts = value.split(",")
    if not least <= len(parts) <= most:
        count = str(least) if least == most else f"{least} to {most}"
        raise ModifierError(f"{name}={_shown(value)}: {count} comma-separated values expected")
    return parts


def _int(name: str, text: str, low: int, high: int) -> int:
    if not _INT.fullmatch(text):
        raise ModifierError(f"{name}: {_shown(text)} is not an integer")
    number = int(text)
    if not low <= number <= high:
        raise ModifierError(f"{name}: {number} is out of range ({low} to {high})")
    return number


def _real(name: str, text: str, low: float, high: float) -> float:
    if not _REAL.fullmatch(text):
        raise ModifierError(f"{name}: {_shown(text)} is not a number")
    number = round(float(text), 4)  # quantised: the normalised string must name the value exactly
    if not low <= number <= high:
        raise ModifierError(f"{name}: {text} is out of range ({_num(low)} to {_num(high)})")
    return number


def _flag(name: str, text: str) -> bool:
    if text not in ("0", "1"):
        raise ModifierError(f"{name}: {_shown(text)} is not 0 or 1")
    return text == "1"


def _num(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".") or "0"


def parse_colour(text: str) -> tuple[int, int, int]:
    """An IS colour value as RGB (HTTP protocol reference, data types: color).

    Hex ``[0x]RRGGBB[AA][r]``, ``0xGG[AA][g]``, ``[0x]CCMMYYKK[AA]k``; decimal ``r,g,b[,a][r]``
    (0…255), ``gray[,a][g]`` and ``c,m,y,k[,a]k`` (percent). Alpha is ignored (as IS does for
    ``bgc=``), so is the ``s`` suffix (one colour space here); CMYK is converted naively.
    """
    value = text.lower()
    value = value.removesuffix("s")
    kind = value[-1] if value and value[-1] in "grk" else ""
    value = value.removesuffix(kind) if kind else value
    if "," in value or (re.fullmatch("[0-9]{1,3}", value) and kind != "r"):  # "50": grey, in percent
        parts = value.split(",")
        if kind == "k" and len(parts) in (4, 5):
            return _from_cmyk(*(_int("bgc", p, 0, 100) / 100 for p in parts[:4]))
        if kind in ("", "r") and len(parts) in (3, 4):
            red, green, blue = (_int("bgc", p, 0, 255) for p in parts[:3])
            if len(parts) == 4:
                _int("bgc", parts[3], 0, 255)
            return red, green, blue
        if kind in ("", "g") and len(parts) in (1, 2):
            grey = round(_int("bgc", parts[0], 0, 100) * 255 / 100)
            return grey, grey, grey
        raise ModifierError(f"bgc: {_shown(text)} is not a colour")
    prefixed = value.startswith("0x")
    digits = value.removeprefix("0x")
    if not _HEX.fullmatch(digits):
        raise ModifierError(f"bgc: {_shown(text)} is not a colour")
    if kind == "k" and len(digits) in (8, 10):
        return _from_cmyk(*(int(digits[i:i + 2], 16) / 255 for i in range(0, 8, 2)))
    if kind in ("", "r") and len(digits) in (6, 8):
        return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)
    if prefixed and kind in ("", "g") and len(digits) in (2, 4):
        grey = int(digits[0:2], 16)
        return grey, grey, grey
    raise ModifierError(f"bgc: {_shown(text)} is not a colour")


def _from_cmyk(cyan: float, magenta: float, yellow: float, black: float) -> tuple[int, int, int]:
    return (round(255 * (1 - cyan) * (1 - black)), round(255 * (1 - magenta) * (1 - black)),
            round(255 * (1 - yellow) * (1 - black)))


# ---- the commands ---------------------------------------------------------------------------------


def _wid(s: _State, value: str | None) -> None:
    (text,) = _parts("wid", value, 1, 1)
    s.width, s.scale = _int("wid", text, 1, MAX_SIDE), None


def _hei(s: _State, value: str | None) -> None:
    (text,) = _parts("hei", value, 1, 1)
    s.height, s.scale = _int("hei", text, 1, MAX_SIDE), None


def _scl(s: _State, value: str | None) -> None:
    (text,) = _parts("scl", value, 1, 1)
    s.scale, s.width, s.height = _real("scl", text, 0.0001, 1_000_000), None, None


def _fit(s: _State, value: str | None) -> None:
    parts = _parts("fit", value, 1, 2)
    mode = parts[0].lower()
    if mode == "wrap":
        raise ModifierError("fit=wrap is not supported (constrain, crop, fit, hfit, vfit, stretch are)")
    if mode not in _FIT_MODES:
        raise ModifierError(f"fit: {_shown(parts[0])} is not a fit mode (constrain, crop, fit, hfit, vfit, stretch)")
    s.fit, s.upscale = mode, len(parts) == 2 and parts[1] != "" and _flag("fit", parts[1])


def _crop(s: _State, value: str | None) -> None:
    x, y, w, h = _parts("crop", value, 4, 4)
    if any("." in part for part in (x, y, w, h)):
        raise ModifierError("crop takes whole pixels; cropN= takes fractions of the image (0 to 1)")
    s.crop = ("px", (_int("crop", x, -10**9, 10**9), _int("crop", y, -10**9, 10**9),
                     _int("crop", w, 1, 10**9), _int("crop", h, 1, 10**9)))


def _crop_n(s: _State, value: str | None) -> None:
    x, y, w, h = _parts("cropN", value, 4, 4)
    width, height = _real("cropN", w, 0, 1000), _real("cropN", h, 0, 1000)
    if width <= 0 or height <= 0:
        raise ModifierError("cropN: the width and height must be greater than 0")
    s.crop = ("n", (_real("cropN", x, -1000, 1000), _real("cropN", y, -1000, 1000), width, height))


def _rect(s: _State, value: str | None) -> None:
    parts = _parts("rect", value, 4, 5)
    if len(parts) == 5 and _real("rect", parts[4], 0, 1000) != 1:
        raise ModifierError("rect: a scale other than 1 is not supported")
    s.rect = Rect(_int("rect", parts[0], -MAX_SIDE, MAX_SIDE), _int("rect", parts[1], -MAX_SIDE, MAX_SIDE),
                  _int("rect", parts[2], 1, MAX_SIDE), _int("rect", parts[3], 1, MAX_SIDE))


def _fmt(s: _State, value: str | None) -> None:
    parts = _parts("fmt", value, 1, 3) + ["", ""]
    name, pixel_type, compression = parts[0].lower(), parts[1].lower(), parts[2].lower()
    if name in _IS_FORMATS_LEFT_OUT:
        raise ModifierError(f"fmt={name} is not supported (jpeg, png, png-alpha, webp, avif, tif, gif are)")
    if name not in _FORMATS:
        raise ModifierError(f"fmt: {_shown(parts[0])} is not an image format (jpeg, png, png-alpha, webp, avif, "
                            "tif, gif)")
    if pixel_type not in ("", "rgb"):
        raise ModifierError(f"fmt: pixel type {_shown(parts[1])} is not supported (rgb is)")
    if compression not in _COMPRESSIONS | {""}:
        raise ModifierError(f"fmt: {_shown(parts[2])} is not a compression")
    s.fmt = _FORMATS[name]


def _qlt(s: _State, value: str | None) -> None:
    parts = _parts("qlt", value, 1, 2)
    s.quality = _int("qlt", parts[0], 1, 100)
    if len(parts) == 2 and parts[1] != "":
        _flag("qlt", parts[1])  # the chroma flag: checked, not applied (libvips decides the subsampling)


def _bgc(s: _State, value: str | None) -> None:
    if not value:
        raise ModifierError("bgc= needs a value")
    s.background = parse_colour(value)


def _res_mode(s: _State, value: str | None) -> None:
    (mode,) = _parts("resMode", value, 1, 1)
    if mode.lower() not in _RES_MODES:
        raise ModifierError(f"resMode: {_shown(mode)} is not a resampling mode (bilin, bicub, sharp2, bisharp, "
                            "trilin)")
    s.res_mode = _RES_MODES[mode.lower()]


def _op_sharpen(s: _State, value: str | None) -> None:
    (text,) = _parts("op_sharpen", value, 1, 1)
    s.sharpen = int(_flag("op_sharpen", text))


def _op_usm(s: _State, value: str | None) -> None:
    parts = _parts("op_usm", value, 1, 4) + ["0", "0", "0"]
    amount, radius = _real("op_usm", parts[0], 0, 5), _real("op_usm", parts[1] or "0", 0, 250)
    threshold, mono = _int("op_usm", parts[2] or "0", 0, 255), _flag("op_usm", parts[3] or "0")
    # IS's default op_usm=0,0,0,0 is no sharpening; so is any mask of no amount or no radius.
    s.usm = UnsharpMask(amount, radius, threshold, mono) if amount > 0 and radius > 0 else None


def _rotate(s: _State, value: str | None) -> None:
    (text,) = _parts("rotate", value, 1, 1)
    angle = _real("rotate", text, -1_000_000, 1_000_000)
    if angle % 90:
        raise ModifierError(f"rotate={_shown(text)}: only multiples of 90 degrees are supported")
    s.rotate = int(angle) % 360


def _flip(s: _State, value: str | None) -> None:
    (text,) = _parts("flip", value, 1, 1)
    if text.lower() not in ("lr", "ud", "lrud"):
        raise ModifierError(f"flip: {_shown(text)} is not lr, ud or lrud")
    s.flip = text.lower()


def _cache(s: _State, value: str | None) -> None:
    s.cache = _cache_value(value)


def _cache_value(value: str | None) -> str:
    parts = [part.lower() for part in _parts("cache", value, 1, 2)]
    if len(parts) == 1 and parts[0] in _CACHE_BOTH:
        return parts[0]
    if len(parts) == 2 and all(part in ("on", "off") for part in parts):
        return parts[0] if parts[0] == parts[1] else ",".join(parts)  # client, server
    raise ModifierError(f"cache={_shown(value or '')}: on, off, validate, update or <client>,<server> (on|off)")


_COMMANDS: dict[str, Callable[[_State, str | None], None]] = {
    "wid": _wid, "hei": _hei, "scl": _scl, "fit": _fit, "crop": _crop, "cropn": _crop_n, "rect": _rect,
    "fmt": _fmt, "qlt": _qlt, "bgc": _bgc, "resmode": _res_mode, "op_sharpen": _op_sharpen, "op_usm": _op_usm,
    "rotate": _rotate, "flip": _flip, "cache": _cache,
}


# ---- resolution against the master ------------------------------------------------------------------


def _resolve_crop(s: _State, width: int, height: int) -> Rect | None:
    if s.crop is None:
        return None
    unit, (x, y, w, h) = s.crop
    if unit == "n":
        x, y, w, h = round(x * width), round(y * height), round(w * width), round(h * height)
    left, top = max(0, int(x)), max(0, int(y))
    right, bottom = min(width, int(x + w)), min(height, int(y + h))
    if right <= left or bottom <= top:
        raise ModifierError(f"the crop lies outside the {width}×{height} image")
    if (left, top, right, bottom) == (0, 0, width, height):
        return None
    return Rect(left, top, right - left, bottom - top)


def _resolve_view(s: _State, cw: int, ch: int) -> tuple[int, int, Fit, bool] | None:
    """(box width, box height, fit, upscale) of the view image, or None: the composite as it is."""
    derived = True  # a box we computed: enlarging was decided with it (upscale follows from the box)
    if s.scale is not None:
        width, height, mode = max(1, round(cw / s.scale)), max(1, round(ch / s.scale)), "stretch"
    elif s.width is None and s.height is None:
        return None
    elif s.width is None or s.height is None:
        # One side: the other follows the aspect ratio; fit=… ,0 (not its absence) forbids enlarging.
        width = s.width or max(1, round(cw * (s.height or 0) / ch))
        height = s.height or max(1, round(ch * width / cw))
        if s.fit is not None and not s.upscale and (width > cw or height > ch):
            width, height = cw, ch
        mode = "stretch"
    else:
        width, height, mode, derived = s.width, s.height, s.fit or "fit", False  # IS's default: fit=fit,0
        if mode == "constrain":
            factor = min(width / cw, height / ch)
            factor = factor if s.upscale else min(factor, 1.0)
            width, height, mode, derived = max(1, round(cw * factor)), max(1, round(ch * factor)), "stretch", True
    if (width, height) == (cw, ch):
        return None  # every mode draws the composite 1:1 into a box of its size
    enlarges = {"fit": min(width / cw, height / ch) > 1, "crop": max(width / cw, height / ch) > 1,
                "hfit": width > cw, "vfit": height > ch, "stretch": width > cw or height > ch}[mode]
    return width, height, mode, enlarges and (derived or s.upscale)  # type: ignore[return-value]


def _resolve(s: _State, source_width: int, source_height: int, limits: Limits) -> RenditionRequest:
    crop = _resolve_crop(s, source_width, source_height)
    cw, ch = (crop.width, crop.height) if crop else (source_width, source_height)
    rotate, flip = s.rotate, s.flip
    if flip in ("ud", "lrud"):  # ud = lr + 180°, lrud = 180°: 180° commutes with every flip and turn
        rotate, flip = (rotate + 180) % 360, ("lr" if flip == "ud" else None)
    if rotate in (90, 270):
        cw, ch = ch, cw
    view = _resolve_view(s, cw, ch)
    view_w, view_h = (view[0], view[1]) if view else (cw, ch)
    rect = s.rect if s.rect != Rect(0, 0, view_w, view_h) else None
    out_w, out_h = (rect.width, rect.height) if rect else (view_w, view_h)
    side = FORMAT_MAX_SIDE.get(s.fmt, MAX_SIDE)
    if max(out_w, out_h) > side or max(view_w, view_h) > MAX_SIDE:
        raise ModifierError(f"the rendition would be {out_w}×{out_h} (view {view_w}×{view_h}); {s.fmt} images "
                            f"are at most {side} pixels a side")
    if out_w * out_h > limits.max_pixels:
        raise ModifierError(f"the rendition would be {out_w}×{out_h} = {out_w * out_h:,} pixels; at most "
                            f"{limits.max_pixels:,}: ask for less with wid=, hei= or scl=")
    # rect= cuts strips of a view larger than MaxPix (IS's use of it), but never of an enlarged one.
    if rect and view_w * view_h > max(limits.max_pixels, source_width * source_height):
        raise ModifierError(f"the view would be {view_w}×{view_h}, larger than the image and than "
                            f"{limits.max_pixels:,} pixels")
    return RenditionRequest(
        source_width=source_width, source_height=source_height, crop=crop,
        width=view[0] if view else None, height=view[1] if view else None,
        fit=view[2] if view else None, upscale=view[3] if view else False, rect=rect, fmt=s.fmt,
        quality=s.quality if s.fmt in LOSSY_FORMATS else DEFAULT_QUALITY,
        # png-alpha keeps transparency, padding included (IS ignores bgc= with alpha formats).
        background=None if s.fmt == "png-alpha" else s.background,
        res_mode=s.res_mode if view else DEFAULT_RES_MODE, sharpen=s.sharpen, usm=s.usm,
        rotate=rotate, flip=flip,  # type: ignore[arg-type]
    )


def normalise(request: RenditionRequest, cache: str | None = None) -> str:
    """The canonical modifier string of a resolved request: names lower-case and sorted, defaults
    left out, values in one spelling. Itself a valid query that parses back to the same request."""
    r = request
    pairs: dict[str, str] = {}
    if r.background is not None:
        pairs["bgc"] = "{:02x}{:02x}{:02x}".format(*r.background)
    if cache is not None:
        pairs["cache"] = cache
    if r.crop is not None:
        pairs["crop"] = f"{r.crop.x},{r.crop.y},{r.crop.width},{r.crop.height}"
    if r.width is not None and r.height is not None:
        pairs["wid"], pairs["hei"] = str(r.width), str(r.height)
        if r.fit != "fit" or r.upscale:
            pairs["fit"] = f"{r.fit},1" if r.upscale else str(r.fit)
    if r.flip is not None:
        pairs["flip"] = r.flip
    if r.fmt != "jpeg":
        pairs["fmt"] = r.fmt
    if r.sharpen:
        pairs["op_sharpen"] = "1"
    if r.usm is not None:
        u = r.usm
        pairs["op_usm"] = f"{_num(u.amount)},{_num(u.radius)},{u.threshold},{int(u.monochrome)}"
    if r.quality != DEFAULT_QUALITY:
        pairs["qlt"] = str(r.quality)
    if r.rect is not None:
        pairs["rect"] = f"{r.rect.x},{r.rect.y},{r.rect.width},{r.rect.height}"
    if r.res_mode != DEFAULT_RES_MODE:
        pairs["resmode"] = r.res_mode
    if r.rotate:
        pairs["rotate"] = str(r.rotate)
    return "&".join(f"{name}={pairs[name]}" for name in sorted(pairs))


def parse_modifiers(query: str, presets: Mapping[str, str], source_width: int, source_height: int, *,
                    limits: Limits) -> RenditionRequest:
    """The rendition an IS query asks of a master of ``source_width`` × ``source_height`` pixels.

    ``query`` is the raw query string (not decoded); ``presets`` the company's image presets
    (name → modifier string). Raises ``ModifierError`` for a value it will not render; modifiers
    it does not know are named in ``ignored`` (lower-case, percent-encoded, first occurrence).
    """
    if source_width < 1 or source_height < 1:
        raise ModifierError(f"the image has no pixels ({source_width}×{source_height})")
    commands, variables = _commands(query, presets, limits)
    state = _State()
    ignored: dict[str, None] = {}
    for name, value in commands:
        apply = _COMMANDS.get(name)
        if apply is None:
            shown = quote(name[:_IGNORED_NAME_CHARS], safe="_.-~")
            if shown:
                ignored[shown] = None
            continue
        apply(state, value)
    for name in variables:
        ignored[quote(name[:_IGNORED_NAME_CHARS], safe="$_.-~")] = None
    request = _resolve(state, source_width, source_height, limits)
    return replace(request, normalised=normalise(request, state.cache), ignored=tuple(ignored))


def cache_modifier(query: str, presets: Mapping[str, str] | None = None, *, limits: Limits | None = None) -> str | None:
    """The query's ``cache=`` (presets expanded; the last one wins), canonical: ``on``, ``off``,
    ``validate``, ``update`` (both caches), or ``<client>,<server>`` when they differ; None when absent.

    ``validate`` and ``update`` concern IS's server cache: for the client (``Cache-Control``) they
    mean ``on``. Raises ``ModifierError`` as ``parse_modifiers`` would.
    """
    limits = limits or Limits(max_pixels=1, max_modifiers=1024, max_length=65_536)
    found = None
    for name, value in _commands(query, presets or {}, limits)[0]:
        if name == "cache":
            found = _cache_value(value)
    return found
