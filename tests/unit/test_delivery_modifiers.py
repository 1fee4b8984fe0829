"""The Image Serving grammar: each modifier, presets, normalisation, limits and hostile queries (docs/delivery.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from openips.models.rendition import Rect, UnsharpMask
from openips.services.delivery.modifiers import (
    Limits,
    ModifierError,
    cache_modifier,
    parse_colour,
    parse_modifiers,
)

LIMITS = Limits(max_pixels=4_000_000, max_modifiers=64, max_length=2048)
W, H = 2000, 1000  # the master of most tests


def parse(query: str, presets: dict[str, str] | None = None, width: int = W, height: int = H,
          limits: Limits = LIMITS):
    return parse_modifiers(query, presets or {}, width, height, limits=limits)


def refused(query: str, *words: str, presets: dict[str, str] | None = None, width: int = W, height: int = H,
            limits: Limits = LIMITS) -> str:
    with pytest.raises(ModifierError) as caught:
        parse(query, presets, width, height, limits)
    for word in words:
        assert word in caught.value.message, caught.value.message
    return caught.value.message


def box(query: str, **kw) -> tuple:
    r = parse(query, **kw)
    return r.width, r.height, r.fit, r.upscale


# ---- sizes -----------------------------------------------------------------------------------------


def test_no_size_is_the_master_itself():
    r = parse("")
    assert (r.source_width, r.source_height, r.width, r.height, r.fit, r.crop, r.rect) == (W, H, None, None, None,
                                                                                            None, None)
    assert (r.fmt, r.quality, r.res_mode, r.normalised, r.ignored) == ("jpeg", 80, "sharp2", "", ())


def test_one_side_keeps_the_aspect_ratio_and_may_enlarge():
    assert box("wid=500") == (500, 250, "stretch", False)
    assert box("hei=100") == (200, 100, "stretch", False)
    assert box("wid=4000", limits=Limits(10**8, 64, 2048)) == (4000, 2000, "stretch", True)
    assert box("wid=333", width=1000, height=333) == (333, 111, "stretch", False)  # rounded, at least 1
    assert box("wid=1", width=1000, height=1) == (1, 1, "stretch", False)


def test_an_explicit_fit_without_upscale_never_enlarges_one_side():
    assert box("wid=4000&fit=fit,0", limits=Limits(10**8, 64, 2048)) == (None, None, None, False)
    assert box("wid=4000&fit=constrain,1", limits=Limits(10**8, 64, 2048)) == (4000, 2000, "stretch", True)


def test_both_sides_default_to_fit_fit_0_a_box_padded_around_the_image():
    assert box("wid=500&hei=500") == (500, 500, "fit", False)
    assert box("wid=500&hei=500&fit=fit,0") == (500, 500, "fit", False)
    assert box("wid=4000&hei=4000", limits=Limits(10**8, 64, 2048)) == (4000, 4000, "fit", False)
    assert box("wid=4000&hei=4000&fit=fit,1", limits=Limits(10**8, 64, 2048)) == (4000, 4000, "fit", True)


@pytest.mark.parametrize(("fit", "expected"), [
    ("constrain", (500, 250, "stretch", False)),  # resolved: the box the image fills
    ("crop", (500, 500, "crop", False)),
    ("fit", (500, 500, "fit", False)),
    ("hfit", (500, 500, "hfit", False)),
    ("vfit", (500, 500, "vfit", False)),
    ("stretch", (500, 500, "stretch", False)),
    ("CROP,1", (500, 500, "crop", False)),  # upscale only when it would enlarge: 500/1000 < 1
])
def test_every_fit_mode(fit, expected):
    assert box(f"wid=500&hei=500&fit={fit}") == expected


def test_upscale_is_kept_only_where_the_mode_would_enlarge():
    big = Limits(10**8, 64, 2048)
    assert box("wid=2500&hei=500&fit=crop,1", limits=big) == (2500, 500, "crop", True)  # max(1.25, .5) > 1
    assert box("wid=2500&hei=500&fit=fit,1", limits=big) == (2500, 500, "fit", False)  # min(1.25, .5) < 1
    assert box("wid=2500&hei=500&fit=hfit,1", limits=big) == (2500, 500, "hfit", True)
    assert box("wid=2500&hei=500&fit=vfit,1", limits=big) == (2500, 500, "vfit", False)
    assert box("wid=3000&hei=3000&fit=constrain,0", limits=Limits(10**8, 64, 2048)) == (None, None, None, False)


def test_scl_is_the_inverse_scale_and_cancels_wid_and_hei_before_it_and_the_reverse():
    assert box("scl=4") == (500, 250, "stretch", False)
    assert box("scl=0.5", limits=Limits(10**8, 64, 2048)) == (4000, 2000, "stretch", True)
    assert box("scl=1") == (None, None, None, False)
    assert box("wid=100&hei=100&scl=4") == (500, 250, "stretch", False)
    assert box("scl=4&wid=100") == (100, 50, "stretch", False)
    assert box("scl=4&fit=crop") == (500, 250, "stretch", False)  # fit= needs wid= and hei=


def test_a_box_the_size_of_the_image_is_no_box():
    assert box("wid=2000&hei=1000&fit=crop") == (None, None, None, False)
    assert parse("wid=2000").normalised == parse("").normalised == ""


# ---- crop, rect, rotate, flip ----------------------------------------------------------------------


def test_crop_in_pixels_clamped_to_the_master():
    assert parse("crop=100,50,300,200").crop == Rect(100, 50, 300, 200)
    assert parse("crop=-100,-100,300,300").crop == Rect(0, 0, 200, 200)
    assert parse("crop=1900,900,500,500").crop == Rect(1900, 900, 100, 100)
    assert parse("crop=0,0,5000,5000").crop is None  # all of it
    refused("crop=2000,0,10,10", "outside")
    refused("crop=0,0,0,10", "crop", "out of range")
    refused("crop=0.1,0,0.5,0.5", "cropN")
    refused("crop=1,2,3", "4 comma-separated")


def test_crop_n_takes_fractions_and_resolves_to_the_same_pixels():
    assert parse("cropN=0.25,0.5,0.5,0.5").crop == Rect(500, 500, 1000, 500)
    assert parse("CROPN=0.25,0.5,0.5,0.5").normalised == parse("crop=500,500,1000,500").normalised
    refused("cropN=0,0,0,0.5", "greater than 0")


def test_crop_then_size_works_on_the_cropped_image():
    assert box("crop=0,0,1000,1000&wid=250") == (250, 250, "stretch", False)


def test_rect_is_in_view_pixels_and_sets_the_answers_size():
    r = parse("wid=1000&rect=100,50,200,100")
    assert (r.rect, r.width, r.height) == (Rect(100, 50, 200, 100), 1000, 500)
    assert parse("wid=1000&rect=0,0,1000,500").rect is None  # the whole view
    assert parse("rect=0,0,100,100,1.0").rect == Rect(0, 0, 100, 100)
    refused("rect=0,0,100,100,2", "scale")
    refused("rect=0,0,0,100", "out of range")


def test_rect_cuts_strips_of_a_view_over_max_pixels_but_not_of_an_enlarged_one():
    small = Limits(max_pixels=100_000, max_modifiers=64, max_length=2048)
    assert parse("rect=0,0,2000,50", limits=small).rect == Rect(0, 0, 2000, 50)
    refused("", "2,000,000 pixels", limits=small)
    refused("scl=0.5&rect=0,0,100,100", "larger than the image", limits=small)


def test_rotate_turns_the_image_before_it_is_sized():
    r = parse("rotate=90&wid=100")
    assert (r.rotate, r.width, r.height) == (90, 100, 200)
    assert parse("rotate=-90").rotate == 270
    assert parse("rotate=450.0").rotate == 90
    assert parse("rotate=360").normalised == ""
    refused("rotate=45", "multiples of 90")
    refused("rotate=abc", "not a number")


def test_flip_and_its_equivalent_turns():
    assert (parse("flip=LR").flip, parse("flip=lr").rotate) == ("lr", 0)
    r = parse("flip=ud")  # ud = lr + 180°
    assert (r.flip, r.rotate) == ("lr", 180)
    r = parse("flip=lrud")  # = 180°
    assert (r.flip, r.rotate, r.normalised) == (None, 180, "rotate=180")
    assert parse("flip=lrud&rotate=180").normalised == ""
    refused("flip=sideways", "lr, ud or lrud")


# ---- encoding and filters --------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "fmt"), [
    ("jpeg", "jpeg"), ("JPG", "jpeg"), ("pjpeg", "jpeg"), ("png", "png"), ("png-alpha", "png-alpha"),
    ("webp", "webp"), ("avif", "avif"), ("tif", "tif"), ("gif", "gif"), ("jpeg,rgb", "jpeg"), ("tif,,lzw", "tif"),
    ("webp,rgb,lossless", "webp"),
])
def test_formats(value, fmt):
    assert parse(f"fmt={value}").fmt == fmt


@pytest.mark.parametrize(("value", "words"), [
    ("eps", ("not supported",)), ("tif-alpha", ("not supported",)), ("bmp", ("not an image format",)),
    ("jpeg,cmyk", ("pixel type",)), ("jpeg,gray", ("pixel type",)), ("png,rgb,fast", ("compression",)),
    ("", ("needs a value",)),
])
def test_formats_left_out_are_refused(value, words):
    refused(f"fmt={value}", *words)


def test_quality_applies_to_lossy_formats_only():
    assert parse("qlt=55").quality == 55
    assert parse("qlt=90,1").quality == 90
    assert parse("qlt=90&fmt=webp").quality == 90
    assert parse("qlt=90&fmt=png").quality == 80 and parse("qlt=90&fmt=png").normalised == "fmt=png"
    assert parse("qlt=80").normalised == ""
    refused("qlt=0", "out of range")
    refused("qlt=101", "out of range")
    refused("qlt=90,2", "0 or 1")


@pytest.mark.parametrize(("text", "rgb"), [
    ("ff0000", (255, 0, 0)), ("0xFF8000", (255, 128, 0)), ("00b1c2", (0, 177, 194)), ("00b1c2ff", (0, 177, 194)),
    ("ff0000r", (255, 0, 0)), ("0x80", (128, 128, 128)), ("0x80ffg", (128, 128, 128)), ("50", (128, 128, 128)),
    ("0,100,200", (0, 100, 200)), ("0,100,200,128", (0, 100, 200)), ("100g", (255, 255, 255)),
    ("0,0,0,100k", (0, 0, 0)), ("100,0,0,0k", (0, 255, 255)), ("00000000k", (255, 255, 255)), ("ff0000s", (255, 0, 0)),
])
def test_colours_as_is_writes_them(text, rgb):
    assert parse_colour(text) == rgb


@pytest.mark.parametrize("text", ["red", "fff", "0x8", "256,0,0", "1,2,3,4,5", "101", "ff00", "gg0000", "0,0,0,0g",
                                  "-1,0,0", "ff0000k", "１２８", "", "0x", ",,"])
def test_colours_that_are_not(text):
    with pytest.raises(ModifierError, match="bgc"):
        parse_colour(text)


def test_bgc_is_canonical_hex_and_dropped_where_transparency_wins():
    assert parse("bgc=255,255,255").background == (255, 255, 255)
    assert parse("bgc=255,255,255").normalised == parse("bgc=0xFFFFFF").normalised == "bgc=ffffff"
    assert parse("bgc=ff0000&fmt=png-alpha").background is None


def test_res_mode_and_sharpening():
    assert parse("wid=100&resMode=BICUB").res_mode == "bicub"
    assert parse("wid=100&resmode=sharp").res_mode == "sharp2"  # IS replaced sharp with sharp2
    assert parse("resMode=bilin").res_mode == "sharp2"  # no scaling: nothing to resample
    refused("resMode=nearest", "resampling mode")
    assert parse("op_sharpen=1").sharpen == 1 and parse("op_sharpen=0").normalised == ""
    refused("op_sharpen=2", "0 or 1")


def test_unsharp_mask():
    assert parse("op_usm=0.9,2").usm == UnsharpMask(0.9, 2.0, 0, False)
    assert parse("op_usm=5,250,255,1").usm == UnsharpMask(5.0, 250.0, 255, True)
    assert parse("op_usm=.9,2,0,0").normalised == parse("OP_USM=0.90,2.0").normalised == "op_usm=0.9,2,0,0"
    assert parse("op_usm=0,0,0,0").usm is None and parse("op_usm=1").usm is None  # no radius: no effect
    refused("op_usm=6,1", "out of range")
    refused("op_usm=1,251", "out of range")
    refused("op_usm=1,1,256", "out of range")
    refused("op_usm=1,1,0,2", "0 or 1")
    refused("op_usm=1,1,0,0,0", "1 to 4")


def test_cache_is_recorded_in_the_normalised_string_and_by_itself():
    assert parse("cache=off").normalised == "cache=off"
    assert parse("cache=on,on").normalised == "cache=on"
    assert cache_modifier("wid=1&cache=off,on&cache=ON") == "on"
    assert cache_modifier("cache=on,off") == "on,off"
    assert cache_modifier("cache=validate") == "validate"
    assert cache_modifier("$nocache$", {"nocache": "cache=off"}) == "off"
    assert cache_modifier("wid=1") is None
    refused("cache=maybe", "cache=")
    refused("cache=validate,on", "cache=")


# ---- the query: names, order, ignored, presets -----------------------------------------------------


def test_names_are_case_insensitive_and_the_last_command_wins():
    assert parse("WID=100&Hei=50&FIT=CROP").normalised == parse("wid=100&hei=50&fit=crop").normalised
    assert parse("wid=100&wid=300").width == 300
    assert parse("fmt=png&fmt=webp").fmt == "webp"


def test_unknown_modifiers_and_variables_are_ignored_and_named_once():
    r = parse("wid=100&utm_source=mail&Foo&foo=2&$var=3&.a comment&&&layer=1")
    assert r.ignored == ("utm_source", "foo", "layer", "$var")
    assert r.normalised == parse("wid=100").normalised  # they change nothing


def test_presets_expand_in_place_and_commands_after_them_override_them():
    presets = {"Thumb": "wid=100&hei=100&fit=crop&qlt=60"}
    r = parse("$thumb$&qlt=90", presets)
    assert (r.width, r.height, r.fit, r.quality) == (100, 100, "crop", 90)
    assert parse("qlt=90&$THUMB$", presets).quality == 60  # a macro overrides what came before it
    assert parse("$thumb$", presets).normalised == parse("wid=100&hei=100&fit=crop&qlt=60").normalised


def test_presets_nest_four_deep_and_refuse_loops_unknown_names_and_odd_spellings():
    chain = {"a": "$b$&qlt=10", "b": "$c$", "c": "$d$", "d": "wid=100"}
    assert parse("$a$", chain).width == 100
    refused("$x$", "presets nest deeper than 4", presets={"x": "$a$", **chain})
    refused("$a$", "loop", "$a$ → $b$ → $a$", presets={"a": "$b$", "b": "$a$"})
    refused("$self$", "loop", presets={"self": "wid=1&$SELF$"})
    refused("$nope$", "no image preset $nope$")
    refused("$no pe$", "not a preset name")
    refused("$$", "not a preset name")


def test_a_preset_fanning_out_is_stopped_by_the_modifier_limit():
    presets = {"a": "&".join(["$b$"] * 60), "b": "&".join(["$c$"] * 60), "c": "&".join([".x"] * 60)}
    refused("$a$", "more than 64 modifiers", presets=presets)


def test_limits_on_count_length_and_pixels():
    refused("&".join(["qlt=80"] * 65), "more than 64 modifiers")
    refused("qlt=80&." + "x" * 2048, "2056 characters")
    refused("$big$", "longer than 2048", presets={"big": "&".join(["x=" + "a" * 100] * 30)})
    refused("$big$", "longer than 100", presets={"big": "bgc=" + "0" * 100},
            limits=Limits(max_pixels=4_000_000, max_modifiers=64, max_length=100))
    refused("wid=2001&hei=2000", "4,002,000 pixels", "at most 4,000,000")
    assert parse("wid=2000&hei=2000").width == 2000
    refused("wid=20000&fmt=webp", "at most 16383", limits=Limits(10**12, 64, 2048))
    refused("wid=65536", "out of range")


# ---- hostile queries -------------------------------------------------------------------------------


@pytest.mark.parametrize(("query", "words"), [
    ("wid=nan", ("not an integer",)), ("wid=inf", ("not an integer",)), ("wid=1e3", ("not an integer",)),
    ("wid=-100", ("out of range",)), ("wid=0", ("out of range",)), ("wid=99999999999999999999", ("not an integer",)),
    ("wid=+100", ("not an integer",)), ("wid= 100", ("not an integer",)), ("wid=%EF%BC%95", ("not an integer",)),
    ("wid=１００", ("not an integer",)), ("scl=NaN", ("not a number",)), ("scl=-1", ("out of range",)),
    ("scl=0", ("out of range",)), ("scl=1e-9", ("not a number",)), ("wid", ("needs a value",)),
    ("wid=", ("needs a value",)),
    ("bgc=ff%00000", ("not a colour",)), ("wid=%FF", ("not UTF-8",)), ("rotate=90%2C0", ("1 comma-separated",)),
    ("crop=0,0,99999999999,1", ("not an integer",)), ("scl=0.00001", ("out of range",)),
])
def test_hostile_values_are_refused_with_a_reason(query, words):
    refused(query, *words)


def test_values_are_decoded_once_after_the_split_and_names_never():
    assert parse("wid=%35%30%30").width == 500  # an encoded value is its value
    refused("fmt=png%26wid%3D5000", "not an image format")  # an encoded & stays in its value
    assert parse("%77id=500").ignored == ("%2577id",) and parse("%77id=500").width is None  # names are not decoded
    refused("wid=%2535", "not an integer")  # decoded once: "%35" is no number


def test_ignored_names_are_safe_to_put_in_a_header():
    r = parse("caf\u00e9=1&x\r\nSet-Cookie: a=b&" + "n" * 100 + "=1")
    assert all(name.isascii() and name.isprintable() and len(name) <= 60 for name in r.ignored), r.ignored
    assert r.ignored[0] == "caf%C3%A9"


def test_error_messages_echo_only_safe_text():
    message = refused("fmt=\u202egpj\r\n", "not an image format")
    assert message.isascii() and "\r" not in message and "\n" not in message


def test_a_master_without_pixels_is_refused():
    refused("", "no pixels", width=0, height=10)


# ---- normalisation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("one", "other"), [
    ("wid=500&hei=250&fmt=jpeg&qlt=80", "hei=250&wid=500"),
    ("wid=500", "scl=4"),
    ("wid=500", "hei=250"),
    ("wid=500&hei=500&fit=constrain", "wid=500"),
    ("wid=500&hei=500&fit=fit,0", "wid=500&hei=500"),
    ("fmt=jpg&resMode=sharp2&op_sharpen=0&rotate=0", ""),
    ("cropN=0,0,0.5,0.5&wid=500", "crop=0,0,1000,500&wid=500"),
    ("flip=ud", "flip=lr&rotate=180"),
    ("bgc=128,128,128", "bgc=0x80"),
    ("wid=100&utm=1&.note", "wid=100"),
    ("$t$&qlt=70", "wid=100&qlt=70"),
])
def test_equivalent_queries_share_one_normalised_string(one, other):
    assert parse(one, {"t": "wid=100&qlt=90"}).normalised == parse(other, {"t": "wid=100&qlt=90"}).normalised


@pytest.mark.parametrize(("one", "other"), [
    ("wid=500", "wid=501"), ("wid=500&hei=500", "wid=500&hei=500&fit=crop"), ("qlt=81", ""), ("fmt=png", ""),
    ("flip=lr", ""), ("rotate=90", "rotate=270"), ("op_usm=1,1", "op_usm=1,1.0001"), ("cache=off", ""),
    ("wid=4000&hei=4000&fit=crop,1", "wid=4000&hei=4000&fit=crop"),
])
def test_different_renditions_get_different_normalised_strings(one, other):
    big = Limits(10**8, 64, 2048)
    assert parse(one, limits=big).normalised != parse(other, limits=big).normalised


@pytest.mark.parametrize("query", [
    "", "wid=500&fmt=webp", "wid=4000&hei=4000&fit=crop,1&bgc=ff0000", "crop=10,20,300,400&scl=2&rotate=90&flip=ud",
    "rect=-10,-10,50,50&op_usm=1.2345,3,4,1&qlt=95,1&resMode=bicub&wid=300", "cache=on,off&fmt=png-alpha&op_sharpen=1",
    "wid=700&hei=300&fit=vfit", "cropN=0.1,0.1,0.3,0.3&hei=99",
])
def test_the_normalised_string_parses_back_to_the_same_request(query):
    big = Limits(10**8, 64, 2048)
    first = parse(query, limits=big)
    assert parse(first.normalised, limits=big) == first
    names = [pair.split("=")[0] for pair in first.normalised.split("&") if pair]
    assert names == sorted(names) and all(name == name.lower() for name in names)


def test_the_grammar_loads_no_native_image_library():
    # The API function has no imaging layer: the presets routes parse modifiers with this module
    # (the request it builds is models/rendition.py: plain dataclasses, nothing of imaging).
    probe = ("import sys, openips.services.delivery.presets, openips.services.delivery.modifiers\n"
             "print(sorted(m for m in ('pyvips', 'PIL', 'numpy', 'av', 'pypdfium2') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True,
                          env={"PYTHONPATH": "functions:src", "PATH": ""}, cwd=Path(__file__).resolve().parents[2])
    assert done.stdout.strip() == "[]", done.stderr
