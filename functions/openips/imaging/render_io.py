"""Ranged reads of a stored pyramid TIFF for the renderer: a cache, a libvips source over it, the levels.

Each ``RangeReader.read`` is one ranged GET on S3 (tens of milliseconds), so reads are few and
large rather than libtiff's many small ones:

* ``CachedReader`` keeps what it fetched and rounds each miss up to ``READ_AHEAD`` bytes, so a
  directory, its tag arrays and its neighbours come in one request;
* ``prefetch_tiles`` fetches the tiles of one level region in a few coalesced ranges before
  libvips asks for them one by one.

The directory chain is read with ``imaging/tiff_layout.py``'s reader (linear, capped, loop-proof,
level 0's tiles checked against the file size) over the cache rather than a local file.

This module imports pyvips for ``SourceCustom``, which ``imaging/vips.py`` does not wrap yet.
"""

from __future__ import annotations

import bisect
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass

import pyvips

from openips.imaging import tiff_layout
from openips.models.rendition import RangeReader
from openips.models.errors import CorruptImageError

READ_AHEAD = 16 * 1024  # measured: 8000×6000 JPEG pyramid, 256 px reply: 98 KB in 6 requests (32 KiB: 179 KB in 7)
# Tiles of one level lie in row order; ranges closer than this are fetched as one (a wasted gap
# costs less than another request's latency).
COALESCE_GAP = 64 * 1024
MAX_CACHED_BYTES = 256 * 1024 * 1024
_TILE_OFFSETS, _TILE_BYTE_COUNTS = 324, 325
_ORIENTATION, _SHORT = 274, 3


class FileRangeReader:
    """A local file as a ``RangeReader`` that counts what was read (tests and ``make bench``)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._size = os.path.getsize(path)
        self.bytes_read = 0
        self.reads = 0

    @property
    def size(self) -> int:
        return self._size

    def read(self, offset: int, length: int) -> bytes:
        with open(self.path, "rb") as fh:
            fh.seek(offset)
            data = fh.read(length)
        self.bytes_read += len(data)
        self.reads += 1
        return data


class CachedReader:
    """A ``RangeReader`` behind a read-ahead cache; ``bytes_read`` counts what reached storage."""

    def __init__(self, reader: RangeReader) -> None:
        self.reader = reader
        self.size = reader.size
        self.bytes_read = 0
        self.requests = 0
        self._starts: list[int] = []  # sorted segment starts
        self._segments: dict[int, bytes] = {}
        self._cached = 0

    def read(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``offset`` (fewer at the end of the object)."""
        length = max(0, min(length, self.size - offset))
        if length == 0 or offset < 0:
            return b""
        hit = self._lookup(offset, length)
        if hit is not None:
            return hit
        self.fetch(offset, max(length, READ_AHEAD))
        hit = self._lookup(offset, length)
        if hit is None:  # the reader returned less than asked: the object is shorter than it says
            raise CorruptImageError(f"the stored image ended early: {length} bytes at {offset} could not be read")
        return hit

    def fetch(self, offset: int, length: int) -> None:
        """Read ``length`` bytes at ``offset`` from storage into the cache (one request)."""
        length = min(length, self.size - offset)
        if length <= 0:
            return
        data = self.reader.read(offset, length)
        self.requests += 1
        self.bytes_read += len(data)
        if self._cached + len(data) > MAX_CACHED_BYTES:
            self._starts.clear()
            self._segments.clear()
            self._cached = 0
        if offset not in self._segments:
            bisect.insort(self._starts, offset)
        else:
            self._cached -= len(self._segments[offset])
        self._segments[offset] = data
        self._cached += len(data)

    def has(self, offset: int, length: int) -> bool:
        return self._lookup(offset, length) is not None

    def _lookup(self, offset: int, length: int) -> bytes | None:
        # Segments may overlap; the one starting closest before ``offset`` is the likeliest to hold it.
        index = bisect.bisect_right(self._starts, offset)
        for start in reversed(self._starts[max(0, index - 4):index]):
            data = self._segments[start]
            if offset + length <= start + len(data):
                return data[offset - start:offset - start + length]
        return None


class _File:
    """The minimal file object ``tiff_layout`` reads through (seek, read)."""

    def __init__(self, cache: CachedReader) -> None:
        self.cache, self.position = cache, 0

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = offset if whence == 0 else (self.position + offset if whence == 1 else self.cache.size + offset)
        return self.position

    def read(self, length: int = -1) -> bytes:
        length = self.cache.size - self.position if length < 0 else length
        data = self.cache.read(self.position, length)
        self.position += len(data)
        return data


@dataclass(frozen=True, slots=True)
class Level:
    index: int  # page number in the chain (0 = full resolution)
    offset: int  # of its directory
    width: int
    height: int


def read_levels(cache: CachedReader) -> list[Level]:
    """The pyramid's levels (page directories); one level when the chain is not a pyramid.

    ``CorruptImageError`` when the header or chain is damaged or level 0's tiles lie past the end."""
    reader = tiff_layout.TiffReader(_File(cache), cache.size)  # over ranged reads
    layout = reader.layout(tiff_layout.MAX_DIRECTORIES)
    last = reader._directory(layout.directories[-1].offset)  # noqa: SLF001
    if not layout.more and last is not None and last[1] != 0:
        # The layout reader stops quietly at a dangling pointer; a stored pyramid that has one was cut off.
        raise CorruptImageError("the TIFF is cut off: its chain of levels points past the end of the file")
    directories = layout.directories if layout.is_pyramid else layout.directories[:1]
    if directories[0].width <= 0 or directories[0].height <= 0:
        raise CorruptImageError("the TIFF is damaged: its first directory has no size")
    return [Level(i, d.offset, d.width, d.height) for i, d in enumerate(directories)]


def read_orientation(cache: CachedReader) -> int:
    """Level 0's EXIF orientation (TIFF tag 274, which libvips writes from the image's ``orientation``):
    1 to 8, 1 when absent or out of range. Reads the header and the first directory only.

    ``CorruptImageError`` when the header is damaged or the first directory lies outside the file."""
    file = _File(cache)
    reader = tiff_layout.TiffReader(file, cache.size)  # its header parsing; it keeps no tag 274
    order = reader.order
    count_size, entry_size = struct.calcsize(order + reader.count_fmt), struct.calcsize(order + reader.entry_fmt)
    if reader.first <= 0 or reader.first + count_size > cache.size:
        raise CorruptImageError("the TIFF is damaged: its first directory lies outside the file")
    file.seek(reader.first)
    (count,) = struct.unpack(order + reader.count_fmt, file.read(count_size))
    body = file.read(min(count, tiff_layout._MAX_ENTRIES) * entry_size)  # noqa: SLF001
    whole = body[:len(body) // entry_size * entry_size]  # a directory cut off by the end of the file
    for tag, kind, n, value in struct.iter_unpack(order + reader.entry_fmt, whole):
        if tag == _ORIENTATION and kind == _SHORT and n >= 1:
            (orientation,) = struct.unpack_from(order + "H", value)
            return orientation if 1 <= orientation <= 8 else 1
    return 1


def tile_ranges(cache: CachedReader, level: Level) -> tuple[list[int], list[int]]:
    """The (offsets, byte counts) of a level's tiles; empty for a stripped level."""
    reader = tiff_layout.TiffReader(_File(cache), cache.size)
    entries = reader._directory(level.offset)  # noqa: SLF001
    if entries is None:
        raise CorruptImageError(f"the TIFF is damaged: the directory of level {level.index} lies outside the file")
    fields, _next = entries
    offsets = reader._values(fields.get(_TILE_OFFSETS))  # noqa: SLF001
    counts = reader._values(fields.get(_TILE_BYTE_COUNTS))  # noqa: SLF001
    return list(offsets), list(counts)


def prefetch_tiles(cache: CachedReader, level: Level, tile: tuple[int, int], box: tuple[int, int, int, int]) -> None:
    """Fetch the tiles of ``level`` that cover ``box`` (x, y, width, height in level pixels) in few requests."""
    offsets, counts = tile_ranges(cache, level)
    across = -(-level.width // tile[0])
    x, y, w, h = box
    wanted = sorted(
        (offsets[row * across + col], counts[row * across + col])
        for row in range(y // tile[1], (y + h - 1) // tile[1] + 1)
        for col in range(x // tile[0], (x + w - 1) // tile[0] + 1)
        if row * across + col < min(len(offsets), len(counts)) and counts[row * across + col]
    )
    if wanted and wanted[-1][0] + wanted[-1][1] > cache.size:
        raise CorruptImageError(f"the TIFF is cut off: tiles of level {level.index} lie past the end of the file")
    run_start = run_end = None
    for start, count in wanted:
        if run_start is not None and start - run_end <= COALESCE_GAP:
            run_end = max(run_end, start + count)
            continue
        if run_start is not None and not cache.has(run_start, run_end - run_start):
            cache.fetch(run_start, run_end - run_start)
        run_start, run_end = start, start + count
    if run_start is not None and not cache.has(run_start, run_end - run_start):
        cache.fetch(run_start, run_end - run_start)


def can_save(suffix: str) -> bool:
    """Whether this libvips build has a saver for ``suffix`` (e.g. ".avif")."""
    return suffix in pyvips.get_suffixes()


class LevelSource:
    """A libvips source over the cache; a failure of the reader is kept and re-raised by ``check``."""

    def __init__(self, cache: CachedReader) -> None:
        self.cache = cache
        self.position = 0
        self.failure: BaseException | None = None
        self.source = pyvips.SourceCustom()
        self.source.on_read(self._on_read)
        self.source.on_seek(self._on_seek)

    def load(self, page: int, **options: object) -> pyvips.Image:
        """Open one page (a level) for random access; reads its directory, not its pixels."""
        return self._guard(lambda: pyvips.Image.tiffload_source(self.source, page=page, access="random",
                                                                fail_on="error", **options))

    def _guard(self, call: Callable[[], pyvips.Image]) -> pyvips.Image:
        try:
            return call()
        except pyvips.Error:
            self.check()
            raise

    def check(self) -> None:
        """Re-raise what the reader raised inside a libvips callback (libvips only saw end-of-file)."""
        if self.failure is not None:
            raise self.failure

    def _on_read(self, length: int) -> bytes:
        if self.failure is not None:
            return b""
        try:
            data = self.cache.read(self.position, length)
        except Exception as exc:  # noqa: BLE001 - an exception cannot cross libvips; kept for check()
            self.failure = exc
            return b""
        self.position += len(data)
        return data

    def _on_seek(self, offset: int, whence: int) -> int:
        if whence == 0:
            self.position = offset
        elif whence == 1:
            self.position += offset
        elif whence == 2:
            self.position = self.cache.size + offset
        else:
            return -1
        return self.position
