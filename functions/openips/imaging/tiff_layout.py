"""The directory (IFD) chain of an uploaded TIFF, read from its bytes once: linear, capped, loop-proof.

libtiff finds page N by walking the chain from the start, so opening every page through libvips
to tell a pyramid from a multi-page file cost O(pages²) (4,000 chained 1×1 pages: 137 s). Here
each directory is read once, only its entries, and at most ``MAX_DIRECTORIES`` of them; a chain
that comes back to a directory already read is a damaged file. The first directory — the only
page openips decodes — must have all its strips (or tiles) inside the file: libtiff reads a
missing strip as zeros, which would make an asset whose missing part is black.

Pure Python (no pyvips): classic TIFF and BigTIFF, either byte order.
"""

from __future__ import annotations

import array
import os
import struct
import sys
from dataclasses import dataclass
from typing import BinaryIO

from openips.models.errors import CorruptImageError

# IPS processes page 1 of a multi-page TIFF (or the full level of a pyramid); more directories
# than this are not read, only reported as "more than 64 pages". A pyramid halving at each
# level never needs more than 32 levels for 2^31 pixels a side.
MAX_DIRECTORIES = 64
# A strip or tile table longer than this is not checked here (memory and time); libvips' own
# read (fail_on "error") still refuses a strip it cannot read. 1M entries: 8 MiB, ~0.2 s.
MAX_CHECKED_ENTRIES = 1 << 20

_WIDTH, _HEIGHT = 256, 257
_STRIP_OFFSETS, _STRIP_BYTE_COUNTS = 273, 279
_TILE_OFFSETS, _TILE_BYTE_COUNTS = 324, 325
_WANTED = frozenset({_WIDTH, _HEIGHT, _STRIP_OFFSETS, _STRIP_BYTE_COUNTS, _TILE_OFFSETS, _TILE_BYTE_COUNTS})
# A classic TIFF directory holds at most 65535 entries; a BigTIFF one claiming more is damaged
# (libtiff draws the line at 4096), and reading it would cost memory for nothing.
_MAX_ENTRIES = 65535
# Field type -> array typecode (SHORT, LONG, IFD, LONG8, IFD8); other types are not offsets or sizes.
_TYPECODES = {3: "H", 4: "I", 13: "I", 16: "Q", 18: "Q"}


@dataclass(frozen=True, slots=True)
class Directory:
    offset: int
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class TiffLayout:
    directories: tuple[Directory, ...]  # in chain order, at most MAX_DIRECTORIES
    more: bool  # the chain goes on past the directories read

    @property
    def is_pyramid(self) -> bool:
        """Each directory after the first halves the one before (rounded either way): reduced levels
        of one image, not pages. A 1×1 directory followed by another is not a reduction."""
        if self.more or len(self.directories) < 2:
            return False
        for upper, level in zip(self.directories, self.directories[1:]):
            if level.width not in (upper.width // 2, (upper.width + 1) // 2) or \
                    level.height not in (upper.height // 2, (upper.height + 1) // 2):
                return False
            if (level.width, level.height) == (upper.width, upper.height):
                return False
        return True


def read_layout(path: str, *, max_directories: int = MAX_DIRECTORIES) -> TiffLayout:
    """The directories of the TIFF at ``path``; ``CorruptImageError`` for a chain that loops, a first
    directory outside the file, or a first page whose pixel data does not lie wholly inside it."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        return TiffReader(fh, size).layout(max_directories)


class TiffReader:
    """A TIFF's header and directories read from any seekable file (a local file, or ranged S3 reads)."""

    def __init__(self, fh: BinaryIO, size: int) -> None:
        self.fh, self.size = fh, size
        head = fh.read(16)
        if head[:2] not in (b"II", b"MM") or len(head) < 8:
            raise CorruptImageError("the TIFF header is damaged")
        self.order = "<" if head[:2] == b"II" else ">"
        version = struct.unpack(self.order + "H", head[2:4])[0]
        self.big = version == 43
        if self.big:
            self.count_fmt, self.entry_fmt, self.offset_fmt = "Q", "HHQ8s", "Q"
            self.first = struct.unpack(self.order + "Q", head[8:16])[0] if len(head) == 16 else 0
        else:
            self.count_fmt, self.entry_fmt, self.offset_fmt = "H", "HHI4s", "I"
            self.first = struct.unpack(self.order + "I", head[4:8])[0]

    def layout(self, max_directories: int) -> TiffLayout:
        directories: list[Directory] = []
        seen: set[int] = set()
        offset = self.first
        while offset:
            if len(directories) == max_directories:
                return TiffLayout(tuple(directories), more=True)
            if offset in seen:
                read = "1 directory" if len(directories) == 1 else f"{len(directories)} directories"
                raise CorruptImageError(
                    f"the TIFF is damaged: its chain of directories (pages) loops back on itself after {read}")
            seen.add(offset)
            entries = self._directory(offset)
            if entries is None:
                if not directories:
                    raise CorruptImageError(f"the TIFF is damaged: its first directory (at byte {offset}) "
                                            f"lies outside the file ({self.size} bytes)")
                break  # a dangling pointer after complete pages: libtiff stops there too
            fields, next_offset = entries
            width, height = (self._scalar(fields.get(tag)) for tag in (_WIDTH, _HEIGHT))
            if not directories:
                self._check_pixel_data(fields, width, height)
            directories.append(Directory(offset=offset, width=width, height=height))
            offset = next_offset
        if not directories:
            raise CorruptImageError("the TIFF is damaged: it has no image directory")
        return TiffLayout(tuple(directories), more=False)

    def _directory(self, offset: int) -> tuple[dict[int, tuple[int, int, bytes]], int] | None:
        """The wanted entries (tag -> (type, count, value field)) and the next directory's offset."""
        count_size = struct.calcsize(self.count_fmt)
        if offset + count_size > self.size:
            return None
        self.fh.seek(offset)
        (count,) = struct.unpack(self.order + self.count_fmt, self.fh.read(count_size))
        entries_size = count * struct.calcsize(self.order + self.entry_fmt)
        if count > _MAX_ENTRIES or offset + count_size + entries_size + struct.calcsize(self.offset_fmt) > self.size:
            return None
        body = self.fh.read(entries_size + struct.calcsize(self.offset_fmt))
        fields = {tag: (kind, n, value) for tag, kind, n, value
                  in struct.iter_unpack(self.order + self.entry_fmt, body[:entries_size]) if tag in _WANTED}
        (next_offset,) = struct.unpack_from(self.order + self.offset_fmt, body, entries_size)
        return fields, next_offset

    def _values(self, field: tuple[int, int, bytes] | None) -> array.array[int]:
        """A field's integer values, inline or read from where the field points (bounded by the file)."""
        if field is None or field[0] not in _TYPECODES or field[1] > MAX_CHECKED_ENTRIES:
            return array.array("Q")
        kind, count, value = field
        typecode = _TYPECODES[kind]
        width = array.array(typecode).itemsize
        if count * width <= len(value):
            data = value[:count * width]
        else:
            (at,) = struct.unpack(self.order + ("Q" if self.big else "I"), value)
            if at + count * width > self.size:
                raise CorruptImageError(f"the TIFF is cut off or damaged: a table of its directory lies "
                                        f"beyond the end of the file ({self.size} bytes)")
            self.fh.seek(at)
            data = self.fh.read(count * width)
        values = array.array(typecode, data)
        if (self.order == "<") != (sys.byteorder == "little"):
            values.byteswap()
        return values

    def _scalar(self, field: tuple[int, int, bytes] | None) -> int:
        """A width or height; 0 when absent or unreadable (libvips refuses page 1 without one, and
        a later page's is only compared)."""
        try:
            values = self._values(field)
        except CorruptImageError:
            return 0
        return values[0] if values else 0

    def _check_pixel_data(self, fields: dict[int, tuple[int, int, bytes]], width: int, height: int) -> None:
        """Every strip (or tile) of the first page lies inside the file."""
        unit = "tile" if _TILE_OFFSETS in fields else "strip"
        offsets_tag, counts_tag = ((_TILE_OFFSETS, _TILE_BYTE_COUNTS) if unit == "tile"
                                   else (_STRIP_OFFSETS, _STRIP_BYTE_COUNTS))
        offsets, counts = self._values(fields.get(offsets_tag)), self._values(fields.get(counts_tag))
        for index, (start, length) in enumerate(zip(offsets, counts)):
            # A zero count is a sparse (empty) tile or a missing count: the decoder decides.
            if length and start + length > self.size:
                raise CorruptImageError(
                    f"the TIFF is cut off or damaged: {unit} {index + 1} of {len(offsets)} of its "
                    f"{width}×{height} image lies at bytes {start}–{start + length - 1}, beyond the end "
                    f"of the file ({self.size} bytes), so part of the image is missing")
