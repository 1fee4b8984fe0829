"""Scale a level's crop to the content size, keeping the crop's sub-pixel position.

A source crop rarely starts on a whole pixel of a reduced level (x = 101 on level 2 is 25.25), and
at reply size a quarter-pixel shift of fine detail is a visible difference from the master. The
box of whole level pixels around the crop is resized with the requested kernel, then the remaining
fraction of a pixel is taken up by a bicubic translation (pixel-centre convention throughout,
as libvips' resize and the pyramid's 2×2 averages both use).

Imports pyvips for ``Interpolate``, which ``imaging/vips.py`` does not wrap yet.
"""

from __future__ import annotations

import math

import pyvips

from openips.imaging.render_geometry import LevelRegion

# A residual shift smaller than this (in output pixels) is below 8-bit visibility on any edge.
_NEGLIGIBLE_SHIFT = 1e-3


def resample(image: pyvips.Image, region: LevelRegion, size: tuple[int, int], kernel: str) -> pyvips.Image:
    """The ``region`` of a level scaled to ``size`` (w, h) with ``kernel``; alpha premultiplied meanwhile."""
    box = region.box
    image = image.extract_area(box.x, box.y, box.width, box.height)
    hscale, vscale = size[0] / region.width, size[1] / region.height
    start_x, start_y = region.left * hscale, region.top * vscale
    if (hscale, vscale) == (1.0, 1.0) and (start_x, start_y) == (0.0, 0.0) and (box.width, box.height) == size:
        return image
    alpha, fmt = image.hasalpha(), image.format
    if alpha:
        image = image.premultiply()
    if (hscale, vscale) != (1.0, 1.0):
        image = image.resize(hscale, vscale=vscale, kernel=kernel)
    whole_x, whole_y = math.floor(start_x), math.floor(start_y)
    if start_x - whole_x < _NEGLIGIBLE_SHIFT and start_y - whole_y < _NEGLIGIBLE_SHIFT:
        # Rounding in resize can leave the box a pixel short of the crop's far edge: repeat the edge.
        image = image.embed(-whole_x, -whole_y, size[0], size[1], extend="copy")
    else:
        image = image.affine([1, 0, 0, 1], interpolate=pyvips.Interpolate.new("bicubic"), odx=-start_x,
                             ody=-start_y, oarea=[0, 0, size[0], size[1]], extend="copy")
    if alpha:
        image = image.unpremultiply()
    return image.cast(fmt) if image.format != fmt else image
