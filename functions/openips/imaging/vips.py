"""The only module that imports pyvips: libvips tuning and thin, error-mapped loader helpers."""

from __future__ import annotations

import pyvips

from openips.models.errors import CorruptImageError

Image = pyvips.Image
VipsError = pyvips.Error
ForeignKeep = pyvips.enums.ForeignKeep

# The operation cache is keyed on the file *name*: a warm container that reuses a /tmp
# path gets the previous file's header back (seen with tiffload in 8.18.7). One-shot
# pipelines gain nothing from it, so it is off rather than merely small.
pyvips.cache_set_max(0)
pyvips.cache_set_max_mem(0)
pyvips.cache_set_max_files(0)

# TRUNCATED (not the default NONE) makes a cut-off JPEG/PNG fail; with NONE libvips
# only logs a warning and pads the missing rows with grey.
FAIL_ON = "truncated"
# libtiff reports a strip it cannot read (cut off, corrupt) as an error, which tiffload passes
# over below ERROR, leaving the strip black. tiff_layout refuses strips past the end of the
# file up front; this catches the damage only decoding finds.
FAIL_ON_BY_LOADER = {"tiffload": "error"}


def configure(concurrency: int | None = None) -> None:
    """Set the libvips worker-thread count; ``None`` keeps libvips' own default (VIPS_CONCURRENCY or cores)."""
    if concurrency is not None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        pyvips.concurrency_set(concurrency)


def find_loader(path: str) -> str | None:
    """Nickname of the libvips loader that would open ``path`` (e.g. ``"jpegload"``), or None."""
    if path.endswith("]"):
        # libvips would parse a trailing "[...]" as load options, not as part of the name.
        raise ValueError(f"unsupported local path (ends with ']'): {path}")
    pyvips.vips_lib.vips_error_clear()  # start each file without lines left by the previous one
    pointer = pyvips.vips_lib.vips_foreign_find_load(path.encode())
    if pointer == pyvips.ffi.NULL:
        pyvips.vips_lib.vips_error_clear()
        return None
    return pyvips.nickname_find(pyvips.type_from_name(pyvips.ffi.string(pointer).decode()))


def open_image(path: str, loader: str, *, page: int | None = None) -> pyvips.Image:
    """Open one page (default: the first) of ``path`` with ``loader`` for a sequential pass; reads the header only."""
    options = {} if page is None else {"page": page}
    try:
        return pyvips.Operation.call(loader, path, access="sequential",
                                     fail_on=FAIL_ON_BY_LOADER.get(loader, FAIL_ON), **options)
    except pyvips.Error as exc:
        raise CorruptImageError(f"unreadable image: {error_summary(exc)}") from exc


def error_summary(exc: pyvips.Error) -> str:
    """Last line of libvips' error text, the one that names the actual failure."""
    # The libvips error buffer is process-global and also collects lines from earlier
    # operations that did not fail, so the full detail can carry unrelated noise.
    lines = [line.strip() for line in (exc.detail or "").splitlines() if line.strip()]
    return lines[-1] if lines else str(exc.message).strip()


def has_field(image: pyvips.Image, name: str) -> bool:
    """Whether ``image`` carries metadata field ``name``."""
    return image.get_typeof(name) != 0


def with_blob(image: pyvips.Image, name: str, data: bytes) -> pyvips.Image:
    """A copy of ``image`` whose metadata field ``name`` holds ``data`` (e.g. ``xmp-data``)."""
    # set_type mutates: on a copy, so the caller's image (and its other users) keep theirs.
    copied = image.copy()
    copied.set_type(pyvips.GValue.blob_type, name, data)
    return copied


def with_int(image: pyvips.Image, name: str, value: int) -> pyvips.Image:
    """A copy of ``image`` whose metadata field ``name`` holds the integer ``value`` (e.g. ``orientation``)."""
    copied = image.copy()
    copied.set_type(pyvips.GValue.gint_type, name, value)
    return copied
