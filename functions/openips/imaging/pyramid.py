"""Read back the structure of a pyramid TIFF written by encode.py (or uploaded)."""

from __future__ import annotations

from openips.imaging import vips


def read_pyramid_levels(path: str) -> list[tuple[int, int]]:
    """(width, height) of each level in file order, full resolution first (page IFDs, or SubIFDs if present)."""
    try:
        base = vips.Image.tiffload(path)
        if vips.has_field(base, "n-subifds") and base.get("n-subifds") > 0:
            extra = [vips.Image.tiffload(path, subifd=i) for i in range(base.get("n-subifds"))]
        else:
            extra = [vips.Image.tiffload(path, page=i) for i in range(1, base.get_n_pages())]
    except vips.VipsError as exc:
        raise ValueError(f"not a readable TIFF: {path}: {vips.error_summary(exc)}") from exc
    return [(image.width, image.height) for image in (base, *extra)]


def is_tiled(path: str) -> tuple[int, int] | None:
    """Tile size (width, height) of the first IFD, or None for a stripped TIFF."""
    try:
        image = vips.Image.tiffload(path)
    except vips.VipsError as exc:
        raise ValueError(f"not a readable TIFF: {path}: {vips.error_summary(exc)}") from exc
    if not vips.has_field(image, "tile-width"):
        return None
    return image.get("tile-width"), image.get("tile-height")
