"""createMask, the pure half: Photoshop IRB parsing and path-record decoding (no libvips)."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from openips.imaging.clipping_path import (
    INTERSECT,
    OR,
    SUBTRACT,
    XOR,
    ClippingPathError,
    Knot,
    Subpath,
    clipping_path_name,
    decode_path,
    find_clipping_path,
    jpeg_irb_segments,
    layers,
    parse_irb,
    starts_filled,
    svg_path_data,
)
from tests.imaging.clipping_fixtures import (
    build_irb_with_path,
    circle,
    clipping_name_data,
    jpeg_with_irb,
    knot_record,
    length_record,
    path_data,
    rectangle,
    resource,
)

ROOT = Path(__file__).resolve().parents[2]
RECT = path_data([rectangle(0.25, 0.25, 0.75, 0.75)])


def test_parse_irb_returns_every_8bim_resource_with_name_and_data() -> None:
    # Given
    irb = build_irb_with_path({"Path 1": RECT, "Outline": b""}, "Path 1")

    # When
    resources = parse_irb(irb)

    # Then
    assert sorted(resources) == [1005, 1028, 2000, 2001, 2999]
    assert resources[2000] == ("Path 1", RECT)
    assert resources[2001] == ("Outline", b"")
    assert resources[1028][1].endswith(b"abc")  # odd-sized data, then its pad byte
    assert resources[2999][0] == ""


def test_parse_irb_skips_other_signatures_trailing_padding_and_a_missing_pad_byte() -> None:
    # Given: a PHUT resource, an odd-sized resource written without its pad byte, zero padding
    unpadded = b"8BIM" + struct.pack(">H", 1028) + b"\x00\x00" + struct.pack(">I", 3) + b"xyz"
    irb = resource(1000, b"ignored", signature=b"PHUT") + unpadded + resource(2000, RECT, "é path") + bytes(4)

    # When
    resources = parse_irb(irb)

    # Then
    assert resources == {1028: ("", b"xyz"), 2000: ("é path", RECT)}


def test_parse_irb_decodes_names_that_are_not_utf8_as_mac_roman() -> None:
    irb = b"8BIM" + struct.pack(">H", 2000) + b"\x04Caf\x8e\x00" + struct.pack(">I", 0)

    assert parse_irb(irb) == {2000: ("Café", b"")}


@pytest.mark.parametrize(("irb", "reason"), [
    (resource(2000, RECT, "Path 1")[:-10], "resource 2000 claims 182 bytes but only 172 remain"),
    (b"8BIM\x07\xd0\x06Pa", "cut off in its header"),
    (b"8BIM\x07", "end inside the header at byte 0"),
    (resource(1005, bytes(16)) + b"JUNK" + bytes(20), "no resource signature at byte 28"),
])
def test_parse_irb_refuses_truncated_or_garbled_blocks(irb: bytes, reason: str) -> None:
    with pytest.raises(ClippingPathError, match=reason):
        parse_irb(irb)


def test_clipping_path_name_reads_the_name_and_the_stated_fill_rule() -> None:
    assert clipping_path_name(clipping_name_data("Outline")) == ("Outline", None)
    assert clipping_path_name(clipping_name_data("Outline", fill_rule=1)) == ("Outline", "evenodd")
    assert clipping_path_name(clipping_name_data("Outline", fill_rule=2)) == ("Outline", "nonzero")
    assert clipping_path_name(b"\x07Outline") == ("Outline", None)  # no flatness or rule at all


@pytest.mark.parametrize("data", [b"", b"\x09Outline"])
def test_clipping_path_name_refuses_a_truncated_resource(data: bytes) -> None:
    with pytest.raises(ClippingPathError, match="2999"):
        clipping_path_name(data)


def test_find_clipping_path_picks_the_path_resource_2999_names() -> None:
    # Given
    outline = path_data([rectangle(0.1, 0.1, 0.9, 0.9)])
    resources = parse_irb(build_irb_with_path({"Path 1": RECT, "Outline": outline}, "Outline", fill_rule=2))

    # When / Then
    assert find_clipping_path(resources) == ("Outline", outline, "nonzero")


def test_find_clipping_path_is_none_without_resource_2999() -> None:
    assert find_clipping_path(parse_irb(build_irb_with_path({"Path 1": RECT}))) is None


def test_find_clipping_path_refuses_a_name_no_saved_path_has() -> None:
    resources = parse_irb(build_irb_with_path({"Path 1": RECT}, "Missing"))

    with pytest.raises(ClippingPathError, match="'Missing' is not among"):
        find_clipping_path(resources)


def test_decode_path_maps_fixed_point_fractions_to_pixels() -> None:
    # Given: one closed subpath of two knots with distinct control points; Photoshop stores
    # (vertical, horizontal) pairs, our fixtures take (x, y)
    knots = [((0.125, 0.25), (0.25, 0.5), (0.375, 0.75)), ((1.0, -0.25), (0.75, 0.5), (0.5, 0.0))]
    data = path_data([knots])

    # When
    subpaths = decode_path(data, 400, 200)

    # Then
    assert subpaths == [Subpath(closed=True, operation=XOR, knots=(
        Knot(preceding=(50.0, 50.0), anchor=(100.0, 100.0), leaving=(150.0, 150.0)),
        Knot(preceding=(400.0, -50.0), anchor=(300.0, 100.0), leaving=(200.0, 0.0)),
    ))]


def test_decode_path_reads_a_known_record_set_byte_for_byte() -> None:
    # Given: records written out by hand, 0.5 = 0x00800000 in 8.24 fixed point
    half, quarter = 0x00800000, 0x00400000
    records = (
        struct.pack(">H", 6) + bytes(24)
        + struct.pack(">HHh", 3, 1, 1) + bytes(20)  # open subpath, one knot, operation OR
        + struct.pack(">H6i", 5, half, quarter, half, half, quarter, half)
    )

    # When
    subpaths = decode_path(records, 100, 100)

    # Then
    assert subpaths == [Subpath(closed=False, operation=OR,
                                knots=(Knot(preceding=(25.0, 50.0), anchor=(50.0, 50.0), leaving=(50.0, 25.0)),))]


def test_decode_path_reads_operations_and_the_initial_fill_record() -> None:
    data = path_data([rectangle(0, 0, 1, 1), rectangle(0.2, 0.2, 0.4, 0.4)], operations=[1, 2], initial_fill=True)

    subpaths = decode_path(data, 10, 10)

    assert [s.operation for s in subpaths] == [OR, SUBTRACT]
    assert starts_filled(data) and not starts_filled(RECT)


@pytest.mark.parametrize(("data", "reason"), [
    (RECT[:-1], "not a whole number of 26-byte records"),
    (RECT[:-26], "ends 1 knot\\(s\\) short"),
    (knot_record(((0, 0), (0, 0), (0, 0))), "record 0: a knot outside any subpath"),
    (length_record(3) + knot_record(((0, 0), (0, 0), (0, 0))) + length_record(1), "record 2: a subpath starts 2"),
    (struct.pack(">H", 9) + bytes(24), "record 0: unknown path record selector 9"),
])
def test_decode_path_refuses_malformed_records(data: bytes, reason: str) -> None:
    with pytest.raises(ClippingPathError, match=reason):
        decode_path(data, 100, 100)


def test_svg_path_data_closes_closed_subpaths_with_a_final_curve() -> None:
    subpaths = decode_path(path_data([rectangle(0.25, 0.25, 0.75, 0.75)]), 400, 300)

    assert svg_path_data(subpaths) == (
        "M100,75C100,75 300,75 300,75C300,75 300,225 300,225C300,225 100,225 100,225C100,225 100,75 100,75Z"
    )


def test_svg_path_data_leaves_open_subpaths_open() -> None:
    subpaths = decode_path(path_data([rectangle(0, 0, 0.5, 0.5)[:2]], closed=False), 10, 10)

    assert svg_path_data(subpaths) == "M0,0C0,0 5,0 5,0"


def test_svg_path_data_keeps_bezier_control_points() -> None:
    subpaths = decode_path(path_data([circle(50, 50, 40, 100, 100)]), 100, 100)

    d = svg_path_data(subpaths)

    assert d.startswith("M90,50C90,72.091 72.091,90 50,90C") and d.endswith("Z")
    assert d.count("C") == 4


def test_layers_draw_legacy_paths_in_one_even_odd_render() -> None:
    subpaths = decode_path(path_data([rectangle(0, 0, 1, 1), rectangle(0.2, 0.2, 0.4, 0.4)]), 10, 10)

    assert [(layer.operation, layer.fill_rule, len(layer.subpaths)) for layer in layers(subpaths)] == [
        (XOR, "evenodd", 2)]
    assert layers(subpaths, "nonzero")[0].fill_rule == "nonzero"


def test_layers_group_runs_of_one_operation_and_wind_unions_the_same_way() -> None:
    # Given: two unions (the second drawn the other way round), a subtraction, two intersections
    clockwise = rectangle(0, 0, 0.5, 0.5)
    counter = list(reversed(rectangle(0.4, 0.4, 0.9, 0.9)))
    data = path_data([clockwise, counter, rectangle(0.1, 0.1, 0.2, 0.2), rectangle(0, 0, 1, 1),
                      rectangle(0, 0, 1, 1)], operations=[OR, OR, SUBTRACT, INTERSECT, INTERSECT])

    # When
    grouped = layers(decode_path(data, 100, 100))

    # Then
    assert [(layer.operation, layer.fill_rule, len(layer.subpaths)) for layer in grouped] == [
        (OR, "nonzero", 2), (SUBTRACT, "nonzero", 1), (INTERSECT, "nonzero", 1), (INTERSECT, "nonzero", 1)]
    first, second = grouped[0].subpaths
    assert _turns(first) == _turns(second)


def test_jpeg_irb_segments_collects_every_photoshop_app13_segment_before_the_scan() -> None:
    # Given: a minimal JPEG header (SOI, APP0, a non-Photoshop APP13, SOS) with the IRB in 100-byte pieces
    # inserted after SOI, and an APP13 marker after the scan start
    jpeg = b"\xff\xd8" + b"\xff\xe0\x00\x04ab" + b"\xff\xed\x00\x06Adob" + b"\xff\xda\x00\x02" + b"\xff\xed"
    irb = build_irb_with_path({"Path 1": RECT}, "Path 1")

    # When
    pieces = jpeg_irb_segments(io.BytesIO(jpeg_with_irb(jpeg, irb, segment_size=100)))

    # Then
    assert len(pieces) == -(-len(irb) // 100) and b"".join(pieces) == irb
    assert jpeg_irb_segments(io.BytesIO(b"GIF89a")) == []


def test_the_parser_imports_without_libvips() -> None:
    code = ("import sys, openips.imaging.clipping_path; "
            "sys.exit(1 if 'pyvips' in sys.modules else 0)")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "functions")}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def _turns(subpath: Subpath) -> bool:
    points = [k.anchor for k in subpath.knots]
    area = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True))
    return area > 0
