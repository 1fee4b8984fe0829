"""Crop geometry: manual trim boxes, clamping, corners and the tolerance mapping (pure, no pyvips)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from openips.imaging.geometry import clamp_rect, corner_xy, tolerance_to_threshold, trim_box
from openips.imaging.options import ManualCrop, SourceRect
from openips.models.errors import FileRejectedError


def _trim(left: int = 0, right: int = 0, top: int = 0, bottom: int = 0) -> ManualCrop:
    return ManualCrop(left=left, right=right, top=top, bottom=bottom)


def _rect(x: int, y: int, w: int, h: int) -> SourceRect:
    return SourceRect(x_offset=x, y_offset=y, width=w, height=h)


@pytest.mark.parametrize(
    ("opt", "box"),
    [
        (_trim(), (0, 0, 1000, 1000)),
        (_trim(left=10, right=5), (10, 0, 985, 1000)),
        (_trim(top=7, bottom=3), (0, 7, 1000, 990)),
        (_trim(500, 499, 999, 0), (500, 999, 1, 1)),
    ],
)
def test_trim_box_removes_each_edge_amount(opt: ManualCrop, box: tuple[int, int, int, int]) -> None:
    # When
    result = trim_box(opt, 1000, 1000)

    # Then
    assert result == box


@pytest.mark.parametrize(
    ("opt", "numbers"),
    [
        (_trim(left=300, right=300), ["left 300", "right 300", "600 px", "500 px wide", "500×400"]),
        (_trim(left=250, right=250), ["500 px", "500 px wide"]),
        (_trim(top=400), ["top 400", "bottom 0", "400 px high"]),
    ],
)
def test_trim_that_leaves_nothing_is_a_rejected_file_naming_the_numbers(
    opt: ManualCrop, numbers: list[str]
) -> None:
    # When
    with pytest.raises(FileRejectedError) as raised:
        trim_box(opt, 500, 400)

    # Then
    assert raised.value.code == "manual_crop.nothing_left"
    for number in numbers:
        assert number in raised.value.message


@pytest.mark.parametrize(
    ("rect", "clamped"),
    [
        (_rect(10, 20, 30, 40), _rect(10, 20, 30, 40)),
        (_rect(0, 0, 100, 80), _rect(0, 0, 100, 80)),
        (_rect(90, 70, 50, 50), _rect(90, 70, 10, 10)),
        (_rect(-5, -10, 20, 20), _rect(0, 0, 15, 10)),
        (_rect(-5, -5, 500, 500), _rect(0, 0, 100, 80)),
    ],
)
def test_clamp_rect_intersects_with_the_image(rect: SourceRect, clamped: SourceRect) -> None:
    assert clamp_rect(rect, 100, 80) == clamped


@pytest.mark.parametrize(
    "rect", [_rect(100, 0, 10, 10), _rect(0, 80, 10, 10), _rect(-10, 0, 10, 10), _rect(5, 5, 0, 10)]
)
def test_clamp_rect_outside_the_image_is_none(rect: SourceRect) -> None:
    assert clamp_rect(rect, 100, 80) is None


@pytest.mark.parametrize(
    ("corner", "xy"),
    [("UpperLeft", (0, 0)), ("UpperRight", (399, 0)), ("BottomLeft", (0, 299)), ("BottomRight", (399, 299))],
)
def test_corner_xy(corner: str, xy: tuple[int, int]) -> None:
    assert corner_xy(corner, 400, 300) == xy  # type: ignore[arg-type]


def test_unknown_corner_is_refused() -> None:
    with pytest.raises(ValueError, match="Center"):
        corner_xy("Center", 4, 4)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tolerance", "max_value", "threshold"),
    [(0.0, 255, 0.0), (0.1, 255, 25.5), (1.0, 255, 255.0), (0.0, 65535, 0.0), (0.2, 65535, 13107.0)],
)
def test_tolerance_is_a_fraction_of_full_scale(tolerance: float, max_value: float, threshold: float) -> None:
    assert tolerance_to_threshold(tolerance, max_value) == pytest.approx(threshold)


@pytest.mark.parametrize("tolerance", [-0.01, 1.01])
def test_tolerance_outside_0_to_1_is_refused(tolerance: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        tolerance_to_threshold(tolerance, 255)


def test_geometry_imports_without_pyvips() -> None:
    # Given
    code = "import sys, openips.imaging.geometry; sys.exit(1 if 'pyvips' in sys.modules else 0)"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "functions")}

    # When
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)

    # Then
    assert result.returncode == 0, result.stderr
