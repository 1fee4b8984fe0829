"""The rendition request and result shared by the grammar, the renderer and the delivery route.

The grammar (services/delivery/modifiers.py) resolves an Image Serving query into a
``RenditionRequest``; the renderer (imaging/render.py) only executes it. Plain frozen
dataclasses: imaging/ does not depend on pydantic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Fit = Literal["constrain", "crop", "fit", "hfit", "vfit", "stretch"]
Format = Literal["jpeg", "png", "png-alpha", "webp", "avif", "tif", "gif"]
ResMode = Literal["bilin", "bicub", "sharp2", "trilin", "bisharp"]
Flip = Literal["lr", "ud", "lrud"]


@dataclass(frozen=True, slots=True)
class Rect:
    """A region in pixels; x/y = left/top."""

    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class UnsharpMask:
    """op_usm=amount,radius,threshold,monochrome (IS units)."""

    amount: float
    radius: float
    threshold: int
    monochrome: bool


@dataclass(frozen=True, slots=True)
class RenditionRequest:
    """Everything resolved by the grammar (services/delivery/modifiers.py) against the master's displayed size;
    the renderer (imaging/render.py) only executes it."""

    source_width: int  # the master's size as displayed: level 0 turned by its EXIF orientation
    source_height: int
    crop: Rect | None = None  # region of the SOURCE in source pixels (IS `crop`), already clamped
    width: int | None = None  # wid
    height: int | None = None  # hei
    scale: float | None = None  # scl (view = source / scl); exclusive with wid/hei after resolution
    fit: Fit | None = None  # fit=...[,0|1]
    upscale: bool = False  # the `,1` of fit (allow enlarging)
    rect: Rect | None = None  # IS `rect`: region of the final VIEW image in view pixels, applied last
    fmt: Format = "jpeg"
    quality: int = 80  # qlt first value, 1..100
    background: tuple[int, int, int] | None = None  # bgc (RGB); used for flattening and padding
    res_mode: ResMode = "sharp2"
    sharpen: int = 0  # op_sharpen (0 = none, 1 = sharpen)
    usm: UnsharpMask | None = None  # op_usm
    rotate: int = 0  # 0/90/180/270 after normalisation
    flip: Flip | None = None
    normalised: str = ""  # canonical modifier string: the cache key / ETag input (the grammar builds it)
    ignored: tuple[str, ...] = ()  # modifiers accepted and ignored (the route names them in a response header)


class RangeReader(Protocol):
    """Random access to one stored object (the pyramid TIFF, or the mask TIFF)."""

    @property
    def size(self) -> int: ...

    def read(self, offset: int, length: int) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Rendition:
    body: bytes
    content_type: str  # e.g. image/jpeg
    width: int
    height: int
    level: int  # the pyramid level read (0 = full size)
    bytes_read: int  # bytes read from the RangeReader(s): reported by make bench
