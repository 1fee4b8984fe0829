"""Pure crop geometry and parameter mappings for the crop steps (no pyvips, unit-tested alone)."""

from __future__ import annotations

from openips.imaging.options import Corner, ManualCrop, SourceRect
from openips.models.errors import FileRejectedError

Box = tuple[int, int, int, int]  # left, top, width, height


def trim_box(opt: ManualCrop, width: int, height: int) -> Box:
    """The box left after trimming ``opt``'s pixel amounts from each edge (spec §5.2: trim amounts)."""
    for first, second, total, size, axis in (
        ("left", "right", opt.left + opt.right, width, "wide"),
        ("top", "bottom", opt.top + opt.bottom, height, "high"),
    ):
        if total >= size:
            raise FileRejectedError(
                f"manualCropOptions trims {first} {getattr(opt, first)} + {second} {getattr(opt, second)} "
                f"= {total} px from an image {size} px {axis} ({width}×{height}): nothing is left",
                code="manual_crop.nothing_left",
            )
    return opt.left, opt.top, width - opt.left - opt.right, height - opt.top - opt.bottom


def clamp_rect(rect: SourceRect, width: int, height: int) -> SourceRect | None:
    """``rect`` intersected with a ``width``×``height`` image; None when they do not overlap."""
    left, top = max(rect.x_offset, 0), max(rect.y_offset, 0)
    right = min(rect.x_offset + rect.width, width)
    bottom = min(rect.y_offset + rect.height, height)
    if right <= left or bottom <= top:
        return None
    return SourceRect(x_offset=left, y_offset=top, width=right - left, height=bottom - top)


def corner_xy(corner: Corner, width: int, height: int) -> tuple[int, int]:
    """Pixel coordinates of ``corner`` (``UpperLeft``, ``UpperRight``, ``BottomLeft``, ``BottomRight``)."""
    corners = {
        "UpperLeft": (0, 0),
        "UpperRight": (width - 1, 0),
        "BottomLeft": (0, height - 1),
        "BottomRight": (width - 1, height - 1),
    }
    if corner not in corners:
        raise ValueError(f"unknown corner {corner!r}")
    return corners[corner]


def tolerance_to_threshold(tolerance: float, max_value: float) -> float:
    """IPS tolerance 0..1 → libvips ``find_trim`` threshold in the image's units (0 = exact match)."""
    # find_trim counts a pixel as content when any band differs from the background by
    # *more than* the threshold. So ``tolerance × full scale`` (255, or 65535 for 16-bit)
    # lets every band differ by up to that fraction of its range: 0 keeps only exact
    # matches as border, 0.1 on 8-bit allows ±25.5 levels, 1 lets everything match.
    if not 0.0 <= tolerance <= 1.0:
        raise ValueError(f"tolerance must be between 0 and 1, got {tolerance}")
    return tolerance * max_value
