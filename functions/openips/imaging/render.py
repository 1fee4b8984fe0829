"""One Image Serving rendition cut from the pyramid TIFF, reading only the level and tiles it needs.

``render(pyramid, request, mask, max_pixels=…)`` executes a ``RenditionRequest`` the grammar has
already resolved (services/delivery/modifiers.py). The pyramid's smallest level that still has as
many pixels across the crop as the reply needs is opened through a libvips source over ranged
reads (``imaging/render_io.py``); only its tiles under the crop are fetched, in a few coalesced
requests. IS order: crop → flip → rotate (the layer) → scale and fit (the view) → sharpen →
rect (the reply) → format.

| modifier | what the renderer does |
|---|---|
| `crop=x,y,w,h` | source region in level-0 pixels as displayed (clamped by the grammar); mapped onto the chosen level at its sub-pixel position (render_resample.py), read from the stored pixels under it |
| `wid` alone / `hei` alone | scale the layer to that width / height, keeping aspect; enlarges when the layer is smaller (IS does, without `fit`) |
| `wid` + `hei`, no `fit` | as `fit=fit`: fit inside, pad to exactly `wid`×`hei` with `bgc`, centred (IS's default `align`) |
| `scl=s` | view = layer / s; enlarges when s < 1; no canvas |
| `fit=fit` | the smaller scale; reply exactly `wid`×`hei`, padded with `bgc` |
| `fit=constrain` | the smaller scale; reply only as large as the scaled image (no padding) |
| `fit=crop` | the larger scale; centre cut to exactly `wid`×`hei` |
| `fit=hfit` / `fit=vfit` | the width's / height's scale; the other axis centred, cut or padded to `hei` / `wid` |
| `fit=stretch` | independent x and y scales; exactly `wid`×`hei`, aspect not kept |
| `fit=…,0` (or no flag) / `fit=…,1` | with `fit`, the scale is capped at 1 unless the upscale flag is 1; a capped `fit`/`crop`/`hfit`/`vfit`/`stretch` still answers `wid`×`hei`, padded |
| `resMode` | `bilin` → linear, `bicub` → cubic, `sharp2` → Lanczos-3, `bisharp` → Lanczos-3 (no separate "bicubic sharper"), `trilin` → linear from the nearest larger level |
| `op_sharpen=1` | a light unsharp mask on the scaled image: amount 1, σ 0.5 view pixels, luma only, alpha untouched |
| `op_usm=a,r,t,m` | unsharp mask after scaling: radius `r` is given for the full-resolution image and multiplied by the scale; `t` in 8-bit levels; `m=1` sharpens luma only (render_sharpen.py) |
| `rotate` | 0/90/180/270 clockwise (the grammar normalises); sizes (`wid`, `hei`, `fit`) apply to the rotated layer |
| `flip=lr|ud|lrud` | mirror the layer, after crop and before rotate |
| `rect=x,y,w,h` | region of the final view in view pixels, applied last; parts outside the view are `bgc` (transparent for png-alpha); the view may exceed `max_pixels` up to the master's pixel count, the reply may not |
| `bgc` | padding colour and the colour alpha is flattened on; white when absent |
| `fmt=jpeg` | baseline JPEG, quality `qlt`, Huffman-optimised; flattened on `bgc` |
| `fmt=png` | 8-bit RGB PNG, flattened on `bgc` |
| `fmt=png-alpha` | 8-bit RGBA PNG; alpha = the mask TIFF's (when given) × the image's own; padding transparent |
| `fmt=webp` | lossy WebP, quality `qlt`, flattened on `bgc` |
| `fmt=avif` | AVIF (AV1, quality `qlt`, effort 2) when libvips has an AV1 encoder, else RenditionFormatUnavailableError (501) |
| `fmt=tif` | deflate-compressed RGB TIFF (small enough for a Lambda answer), flattened on `bgc` |
| `fmt=gif` | 256-colour GIF, flattened on `bgc` |
| colour | sRGB 8-bit: from level 0's ICC profile (relative colorimetric) when it has one, else libvips' sRGB/grey/CMYK defaults; no profile, EXIF, XMP or IPTC in the reply |
| limits | reply `w`×`h` > `max_pixels` → RenditionTooLargeError (400) before any read; an unreadable pyramid → DamagedPyramidError (500); a reader's own exception is re-raised as it was |

EXIF orientation: level 0's (1–8, flips and transposes included) is honoured. Every modifier's
coordinates (`crop`, `cropN`, `rect`, `wid`/`hei`, `rotate`, `flip`) refer to the image as displayed,
upright, as a browser shows the master and the thumbnail does; the request's source size is that
displayed size (``displayed_size``). The crop is mapped back onto the stored pixels to choose the
level and read its tiles, and the extracted box is turned upright before it is scaled. A mask is
stored as its image is and is turned by the image's orientation.

Not done here: arbitrary rotation angles, `align`, `fit=wrap`, `-alpha` variants other than png.
"""

from __future__ import annotations

from openips.imaging import render_io, vips
from openips.imaging.render_geometry import (
    LevelRegion,
    Plan,
    choose_level,
    level_region,
    oriented_size,
    plan,
    stored_rect,
)
from openips.imaging.render_io import CachedReader, FileRangeReader, LevelSource
from openips.imaging.render_resample import resample
from openips.imaging.render_sharpen import sharpen, unsharp_mask
from openips.models.rendition import RangeReader, Rect, Rendition, RenditionRequest
from openips.models.errors import (
    CorruptImageError,
    DamagedPyramidError,
    RenditionError,
    RenditionFormatUnavailableError,
    RenditionTooLargeError,
)

__all__ = ["CachedReader", "FileRangeReader", "displayed_size", "render"]

_KERNELS = {"bilin": "linear", "bicub": "cubic", "sharp2": "lanczos3", "bisharp": "lanczos3", "trilin": "linear"}
_CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "png-alpha": "image/png", "webp": "image/webp",
                  "avif": "image/avif", "tif": "image/tiff", "gif": "image/gif"}
_WHITE = (255, 255, 255)
_ICC = "icc-profile-data"
_ORIENTATION = "orientation"
_STRIP = vips.ForeignKeep.NONE
AVIF_EFFORT = 2  # libheif's AV1 speed/size trade-off, 0–9: 2 keeps a 1000 px reply well under a second


def render(pyramid: RangeReader, request: RenditionRequest, mask: RangeReader | None = None, *,
           max_pixels: int) -> Rendition:
    """The rendition ``request`` asks for, read from ``pyramid`` (and ``mask`` for png-alpha)."""
    p = _checked_plan(request, max_pixels)
    if request.fmt == "avif" and not render_io.can_save(".avif"):
        raise RenditionFormatUnavailableError("AVIF cannot be written by this server (libvips has no AVIF saver)")
    image_reader = _LevelReader(pyramid, "image")
    readers = [image_reader]
    try:
        orientation = image_reader.orientation()
        image, level = image_reader.scaled(request, p, orientation, keep_profile=True)
        alpha = None
        if request.fmt == "png-alpha" and mask is not None:
            mask_reader = _LevelReader(mask, "mask")
            readers.append(mask_reader)
            # The mask's pixels lie as the image's do (the optimizer draws it on the stored image).
            alpha, _ = mask_reader.scaled(request, p, orientation, keep_profile=False)
            alpha = alpha[0]
        # Pixels are read and computed here, so that an encoder's failure is told from a read's.
        image = _composite(image, alpha, request, p).copy_memory()
        for reader in readers:
            reader.source.check()  # a failed read libvips tolerated (it saw end-of-file) still fails
        body = _encode(image, request)
    except vips.VipsError as exc:
        for reader in readers:
            try:
                reader.source.check()  # the reader's own exception, when that is what libvips saw as end-of-file
            except CorruptImageError as short:
                raise DamagedPyramidError(f"the stored {reader.what} is damaged: {short.message}") from short
        raise DamagedPyramidError(f"cannot render the image: {vips.error_summary(exc)}") from exc
    return Rendition(body=body, content_type=_CONTENT_TYPES[request.fmt], width=image.width, height=image.height,
                     level=level, bytes_read=sum(r.cache.bytes_read for r in readers))


def displayed_size(pyramid: RangeReader, width: int, height: int) -> tuple[int, int]:
    """The master's size as displayed: the stored ``width``×``height`` swapped when level 0's EXIF
    orientation transposes it (5–8). Reads the pyramid's header and first directory; pass the same
    ``CachedReader`` to ``render`` and it reads them once."""
    try:
        orientation = render_io.read_orientation(_cached(pyramid))
    except CorruptImageError as exc:
        raise DamagedPyramidError(f"the stored image is damaged: {exc.message}") from exc
    return oriented_size((width, height), orientation)


def _cached(reader: RangeReader) -> CachedReader:
    return reader if isinstance(reader, CachedReader) else CachedReader(reader)


def _checked_plan(request: RenditionRequest, max_pixels: int) -> Plan:
    if request.source_width <= 0 or request.source_height <= 0:
        raise RenditionError(f"the image has no size ({request.source_width}×{request.source_height})")
    try:
        p = plan(request)
    except ValueError as exc:
        raise RenditionError(str(exc)) from exc
    if p.reply.width * p.reply.height > max_pixels:
        raise RenditionTooLargeError(f"the reply image would be {p.reply.width}×{p.reply.height} pixels, more than "
                                     f"the limit of {max_pixels}")
    # rect may cut strips from a view larger than max_pixels (IS's use of it), but not beyond the master;
    # the content (larger than the view under fit=crop) is bounded alike.
    bound = max(max_pixels, request.source_width * request.source_height)
    for what, w, h in (("view", p.view_width, p.view_height), ("scaled", p.content_width, p.content_height)):
        if w * h > bound:
            raise RenditionTooLargeError(f"the {what} image would be {w}×{h} pixels, more than the limit of {bound}")
    return p


class _LevelReader:
    """One stored pyramid (image or mask): its levels, the chosen one opened, the crop scaled."""

    def __init__(self, reader: RangeReader, what: str) -> None:
        self.what = what
        self.cache = _cached(reader)
        self.source = LevelSource(self.cache)

    def orientation(self) -> int:
        """Level 0's EXIF orientation (the reduced levels may lack the tag)."""
        try:
            return render_io.read_orientation(self.cache)
        except CorruptImageError as exc:
            raise DamagedPyramidError(f"the stored {self.what} is damaged: {exc.message}") from exc

    def scaled(self, request: RenditionRequest, p: Plan, orientation: int, *,
               keep_profile: bool) -> tuple[vips.Image, int]:
        """The crop at the content's size, upright, flipped and rotated, 8-bit sRGB (or 1-band for a mask)."""
        try:
            levels = render_io.read_levels(self.cache)
        except CorruptImageError as exc:
            raise DamagedPyramidError(f"the stored {self.what} is damaged: {exc.message}") from exc
        # Geometry is decided on the displayed levels; only the box read is mapped to stored pixels.
        shown = [oriented_size((lv.width, lv.height), orientation) for lv in levels]
        full = shown[0]
        if full != (request.source_width, request.source_height):
            turned = f" ({full[0]}×{full[1]} as displayed)" if orientation != 1 else ""
            raise DamagedPyramidError(f"the stored {self.what} is {levels[0].width}×{levels[0].height} pixels"
                                      f"{turned}, the request was resolved for "
                                      f"{request.source_width}×{request.source_height}")
        index = choose_level(shown, p)
        level = levels[index]
        image = self.source.load(index)
        region = level_region(p.crop, full, shown[index])
        box = stored_rect(region.box, orientation, shown[index])
        if request.rect is None and vips.has_field(image, "tile-width"):
            # With rect only part of the view is computed; libvips then reads just those tiles itself.
            try:
                render_io.prefetch_tiles(self.cache, level, (image.get("tile-width"), image.get("tile-height")),
                                         (box.x, box.y, box.width, box.height))
            except CorruptImageError as exc:
                raise DamagedPyramidError(f"the stored {self.what} is damaged: {exc.message}") from exc
        profile = self._profile(image, index) if keep_profile else None
        upright = _upright(image.extract_area(box.x, box.y, box.width, box.height), orientation)
        inside = LevelRegion(box=Rect(0, 0, region.box.width, region.box.height), left=region.left, top=region.top,
                             width=region.width, height=region.height)
        out = resample(upright, inside, p.unturned_content, _KERNELS[request.res_mode])
        out = _to_srgb(out, profile) if keep_profile else _to_mask(out)
        return _turn(out, request), index

    def _profile(self, image: vips.Image, index: int) -> bytes | None:
        """The level's ICC profile, or level 0's (encode.py writes a large profile in level 0 only)."""
        if vips.has_field(image, _ICC):
            return image.get(_ICC)
        if index == 0:
            return None
        base = self.source.load(0)
        return base.get(_ICC) if vips.has_field(base, _ICC) else None


def _to_srgb(image: vips.Image, profile: bytes | None) -> vips.Image:
    if profile is not None:
        tagged = vips.with_blob(image, _ICC, profile)
        try:
            image = tagged.icc_transform("srgb", embedded=True, intent="relative")
        except vips.VipsError:
            image = image.colourspace("srgb")  # an unusable profile: as untagged, like the thumbnail
    elif image.interpretation != "srgb":
        image = image.colourspace("srgb")
    if image.format != "uchar":
        image = image.cast("uchar")
    if image.bands == 2 or image.bands > 4:
        image = image.extract_band(0, n=3)
    return image


def _to_mask(image: vips.Image) -> vips.Image:
    if image.format != "uchar":
        image = (image.cast("float") * (255 / 65535)).cast("uchar") if image.format == "ushort" else image.cast("uchar")
    return image[0]


def _upright(image: vips.Image, orientation: int) -> vips.Image:
    """``image`` (stored pixels) as displayed, turned as libvips' autorot (and so the thumbnail) turns it."""
    if orientation == 1:
        return image
    return vips.with_int(image, _ORIENTATION, orientation).autorot()


def _turn(image: vips.Image, request: RenditionRequest) -> vips.Image:
    """flip, then rotate (IS: flip applies after crop and before rotate)."""
    if request.flip in ("lr", "lrud"):
        image = image.fliphor()
    if request.flip in ("ud", "lrud"):
        image = image.flipver()
    angle = request.rotate % 360
    if angle:
        image = image.rot({90: "d90", 180: "d180", 270: "d270"}[angle])
    return image


def _composite(image: vips.Image, mask: vips.Image | None, request: RenditionRequest, p: Plan) -> vips.Image:
    """Sharpen, then the view canvas and the rect in one embed, on bgc or transparency."""
    if request.usm is not None:
        scale = (p.fx * p.fy) ** 0.5
        image = unsharp_mask(image, request.usm, scale)
    if request.sharpen:
        image = sharpen(image)
    background = request.background or _WHITE
    if request.fmt == "png-alpha":
        if mask is not None:
            own = image[3] if image.hasalpha() else None
            colour = image.extract_band(0, n=3) if image.hasalpha() else image
            alpha = mask if own is None else (mask.cast("ushort") * own / 255).rint().cast("uchar")
            image = colour.bandjoin(alpha)
        elif not image.hasalpha():
            image = image.bandjoin(255)
        fill = [*background, 0]
    else:
        if image.hasalpha():
            image = image.flatten(background=list(background))
        fill = list(background)
    ox, oy = p.content_offset
    return image.embed(ox - p.reply.x, oy - p.reply.y, p.reply.width, p.reply.height,
                       extend="background", background=fill).copy(interpretation="srgb")


def _encode(image: vips.Image, request: RenditionRequest) -> bytes:
    fmt, q = request.fmt, request.quality
    if image.format != "uchar":
        image = image.cast("uchar")
    if fmt == "jpeg":
        return image.jpegsave_buffer(Q=q, optimize_coding=True, keep=_STRIP)
    if fmt in ("png", "png-alpha"):
        return image.pngsave_buffer(keep=_STRIP)
    if fmt == "webp":
        return image.webpsave_buffer(Q=q, keep=_STRIP)
    if fmt == "tif":
        return image.tiffsave_buffer(compression="deflate", predictor="horizontal", keep=_STRIP)
    if fmt == "gif":
        return image.gifsave_buffer(keep=_STRIP)
    if fmt == "avif":
        try:
            return image.heifsave_buffer(compression="av1", Q=q, effort=AVIF_EFFORT, keep=_STRIP)
        except vips.VipsError as exc:
            raise RenditionFormatUnavailableError(
                f"AVIF cannot be written by this server: {vips.error_summary(exc)}") from exc
    raise RenditionError(f"unknown format {fmt!r}")
