"""Which uploads are video containers, from their first bytes only; and whether their structure is whole.

Pure Python, no PyAV: ProcessFileFunction (which has no PyAV) calls ``sniff`` on the first
``SNIFF_BYTES`` of an object to decide whether MediaFunction takes it
(docs/formats-video.md). The same function on the same bytes gives the same answer in
MediaFunction, so routing and processing never disagree.

Recognised, by magic bytes (never by extension):

============  ===============================================================  =========
label         first bytes                                                       demuxer
============  ===============================================================  =========
MP4, M4V,     ISO-BMFF ``ftyp`` box; the brand names the family. Image brands   ``mov``
MOV, 3GP      (AVIF, HEIF/HEIC, CR3, JPEG XL, …) and audio brands (M4A, M4B)
              are not videos.
MOV           an old QuickTime file with no ``ftyp``: ``moov``/``mdat``/        ``mov``
              ``wide``/``free``/``skip``/``pnot`` as first atom
AVI           ``RIFF`` … ``AVI ``                                               ``avi``
MPEG-PS       ``00 00 01 BA`` (MPEG program stream: .mpg, .vob, .m2p)          ``mpeg``
MPEG video    ``00 00 01 B3`` (MPEG-1/2 elementary stream: .m1v, .m2v)         ``mpegvideo``
MPEG-TS       ``47`` at 0, 188 and 376 (188-byte transport packets)            ``mpegts``
M2TS          ``47`` at 4, 196 and 388 (192-byte packets: .m2ts, .mts)         ``mpegts``
ASF           GUID ``30 26 B2 75 8E 66 CF 11 …`` (.wmv, .asf)                   ``asf``
Ogg           ``OggS`` whose first (BOS) pages start a Theora, VP8 or Dirac     ``ogg``
              stream. Ogg Vorbis/Opus/FLAC audio is not a video.
WebM,         EBML ``1A 45 DF A3``; the DocType says which                      ``matroska``
Matroska
============  ===============================================================  =========

The demuxer is then *forced* when the file is opened (``imaging.video``): FFmpeg never
probes the content for another format (its HLS or concat demuxers, for instance, would
open further files or URLs named inside).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from openips.models.errors import FileRejectedError

SNIFF_BYTES = 64 * 1024  # enough for every signature above, and for Ogg's header pages

# Image signatures win over everything: a JPEG, PNG, GIF ("G" is also the MPEG-TS sync byte),
# TIFF or WebP is never a video, whatever its name or later bytes.
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*", b"II+\x00",
                b"MM\x00+", b"8BPS", b"%PDF", b"%!PS", b"\xc5\xd0\xd3\xc6")

# ISO-BMFF brands that mean a still image (HEIF/AVIF family, Canon CR3, JPEG XL/2000 in
# ISO-BMFF): those stay with the image pipeline (which decodes AVIF, and refuses the others).
_IMAGE_BRANDS = frozenset({b"avif", b"avis", b"avio", b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm",
                           b"hevs", b"mif1", b"mif2", b"msf1", b"miaf", b"MiHA", b"MiHB", b"MiHE", b"MiAn", b"MiPr",
                           b"crx ", b"jxl ", b"j2ki", b"j2is", b"avci", b"avcs", b"jpeg", b"jpgs"})
# Brands of audio-only files (iTunes audio and audiobooks, Flash audio).
_AUDIO_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "})
_QUICKTIME_FIRST_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})
_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_SEGMENT_ID = b"\x18\x53\x80\x67"
_OGG_VIDEO_HEADERS = (b"\x80theora", b"OVP80", b"BBCD\x00")
MAX_TOP_LEVEL_BOXES = 100_000  # a long fragmented MP4 has a few thousand; past this, stop checking


@dataclass(frozen=True, slots=True)
class Container:
    """A recognised video container: its name for people and the FFmpeg demuxer that reads it."""

    label: str  # "MP4", "WebM", "MPEG-TS", …
    demuxer: str  # FFmpeg input format, forced at open
    brand: str | None = None  # ISO-BMFF major brand, e.g. "isom", "qt  "


class VideoRefusedError(FileRejectedError):
    """A video upload that cannot be stored as a video: damaged, truncated, too large, no video stream."""

    code = "video.refused"


def sniff(head: bytes, total_size: int) -> Container | None:
    """The video container that ``head``, the first bytes of a file of ``total_size`` bytes, starts; or None."""
    if head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return None
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return _iso_bmff(head)
    if len(head) >= 8 and head[4:8] in _QUICKTIME_FIRST_ATOMS and _plausible_atoms(head, total_size):
        return Container("MOV", "mov")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return Container("AVI", "avi")
    if head[:4] == b"\x00\x00\x01\xba":
        return Container("MPEG-PS", "mpeg")
    if head[:4] == b"\x00\x00\x01\xb3":
        return Container("MPEG video", "mpegvideo")
    if _packets(head, 0, 188):
        return Container("MPEG-TS", "mpegts")
    if _packets(head, 4, 192):
        return Container("M2TS", "mpegts")
    if head[:16] == _ASF_GUID:
        return Container("ASF", "asf")
    if head[:4] == b"OggS":
        return Container("Ogg", "ogg") if _ogg_has_video(head) else None
    if head[:4] == _EBML_MAGIC:
        return Container("WebM" if _ebml_doc_type(head) == b"webm" else "Matroska", "matroska")
    return None


def sniff_file(path: str) -> Container | None:
    with open(path, "rb") as fh:
        return sniff(fh.read(SNIFF_BYTES), os.fstat(fh.fileno()).st_size)


def check_structure(path: str, container: Container) -> None:
    """Refuse a file whose own size fields say it is cut short or damaged, before any demuxer reads it.

    FFmpeg is lenient: an MP4 cut before its ``moov`` box opens as a file with no streams, and
    one cut inside ``mdat`` opens and decodes its first frames. Both are damaged uploads.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        if container.demuxer == "mov":
            _check_iso_boxes(fh, size)
        elif container.demuxer == "matroska":
            _check_ebml_segment(fh, size)
        elif container.label == "AVI":
            fh.seek(4)
            riff_end = 8 + struct.unpack("<I", fh.read(4))[0]
            if riff_end > size:
                raise _truncated(f"its RIFF header announces {riff_end} bytes, the file has {size}")
        elif container.label == "ASF":
            fh.seek(16)
            header_size = struct.unpack("<Q", fh.read(8))[0]
            if header_size > size:
                raise _truncated(f"its header object announces {header_size} bytes, the file has {size}")


def _iso_bmff(head: bytes) -> Container | None:
    box_end = min(_box_size(head), len(head))
    major = head[8:12]
    brands = {major} | {head[i:i + 4] for i in range(16, box_end - 3, 4)}
    if brands & _IMAGE_BRANDS or major in _AUDIO_BRANDS:
        return None
    brand = major.decode("latin-1")
    if major == b"qt  ":
        return Container("MOV", "mov", brand)
    if major.startswith((b"3gp", b"3g2", b"3ge", b"3gg", b"3gs")):
        return Container("3GP", "mov", brand)
    if major.startswith(b"M4V"):
        return Container("M4V", "mov", brand)
    return Container("MP4", "mov", brand)


def _box_size(head: bytes) -> int:
    return struct.unpack(">I", head[:4])[0] if len(head) >= 4 else 0


def _plausible_atoms(head: bytes, total_size: int) -> bool:
    """Whether an old QuickTime file (no ``ftyp``) starts here: words like "free" also start texts.

    The first atom must fit in the file, and the atom after it, when within ``head``, must
    have a printable type.
    """
    first = _box_size(head)
    if not 8 <= first <= total_size:
        return False
    following = head[first + 4:first + 8] if first + 8 <= len(head) else None
    return following is None or all(0x20 <= b <= 0x7E for b in following)


def _packets(head: bytes, offset: int, stride: int) -> bool:
    return len(head) > offset + 2 * stride and all(head[offset + n * stride] == 0x47 for n in range(3))


def _ogg_has_video(head: bytes) -> bool:
    """Whether one of the stream-opening (BOS) pages at the start is Theora, VP8 or Dirac.

    Ogg puts every stream's first page before any other page, so the codecs of a file are
    all named in its first few pages (a skeleton stream may come first).
    """
    pos = 0
    while pos + 27 <= len(head) and head[pos:pos + 4] == b"OggS":
        header_type, segments = head[pos + 5], head[pos + 26]
        if not header_type & 0x02:  # past the BOS pages
            return False
        payload = pos + 27 + segments
        if payload > len(head):
            return False
        length = sum(head[pos + 27:payload])
        if head[payload:payload + length].startswith(_OGG_VIDEO_HEADERS):
            return True
        pos = payload + length
    return False


def _ebml_doc_type(head: bytes) -> bytes | None:
    """The DocType of the EBML header (``webm``, ``matroska``), or None when not readable."""
    size, width = _vint(head, 4)
    if size is None:
        return None
    start, end = 4 + width, min(4 + width + size, len(head))
    pos = start
    while pos < end:
        element_id, id_width = _element_id(head, pos)
        if element_id is None:
            return None
        length, length_width = _vint(head, pos + id_width)
        if length is None:
            return None
        data = pos + id_width + length_width
        if element_id == 0x4282:
            return head[data:data + length]
        pos = data + length
    return None


def _element_id(data: bytes, pos: int) -> tuple[int | None, int]:
    if pos >= len(data) or data[pos] == 0:
        return None, 0
    width = 8 - data[pos].bit_length() + 1
    if width > 4 or pos + width > len(data):
        return None, 0
    return int.from_bytes(data[pos:pos + width], "big"), width


def _vint(data: bytes, pos: int) -> tuple[int | None, int]:
    """An EBML variable-length size: (value, bytes used); value None when unreadable or "unknown"."""
    if pos >= len(data) or data[pos] == 0:
        return None, 0
    width = 8 - data[pos].bit_length() + 1
    if pos + width > len(data):
        return None, 0
    value = int.from_bytes(data[pos:pos + width], "big") & ((1 << (7 * width)) - 1)
    if value == (1 << (7 * width)) - 1:  # all ones: size unknown (a live stream)
        return None, width
    return value, width


def _check_iso_boxes(fh, size: int) -> None:
    pos, seen, count = 0, set(), 0
    while pos < size and count < MAX_TOP_LEVEL_BOXES:
        fh.seek(pos)
        header = fh.read(16)
        if len(header) < 8:
            raise _truncated(f"a box header at byte {pos} is cut off")
        box_size, box_type = struct.unpack(">I", header[:4])[0], header[4:8]
        if not all(0x20 <= b <= 0x7E for b in box_type):
            raise _damaged(f"the bytes at {pos} are not a box (type {box_type.hex()})")
        if box_size == 1:
            if len(header) < 16:
                raise _truncated(f"the box at byte {pos} is cut off")
            box_size = struct.unpack(">Q", header[8:16])[0]
            if box_size < 16:
                raise _damaged(f"the {box_type.decode()} box at byte {pos} has an impossible size ({box_size})")
        elif box_size == 0:  # the last box runs to the end of the file
            box_size = size - pos
        elif box_size < 8:
            raise _damaged(f"the {box_type.decode()} box at byte {pos} has an impossible size ({box_size})")
        if pos + box_size > size:
            raise _truncated(f"its {box_type.decode()} box at byte {pos} needs {box_size} bytes, "
                             f"{size - pos} are left")
        seen.add(box_type)
        pos += box_size
        count += 1
    if pos >= size and b"moov" not in seen:
        raise _truncated("it has no moov box (the index of its samples), so it was cut off or never finished")


def _check_ebml_segment(fh, size: int) -> None:
    head = fh.read(64)
    header_size, width = _vint(head, 4)
    if header_size is None:
        raise _damaged("its EBML header has no readable size")
    segment = 4 + width + header_size
    fh.seek(segment)
    data = fh.read(12)
    if data[:4] != _SEGMENT_ID:
        raise _truncated("no Matroska segment follows its EBML header") if len(data) < 4 else \
            _damaged("no Matroska segment follows its EBML header")
    segment_size, size_width = _vint(data, 4)
    if segment_size is not None and segment + 4 + size_width + segment_size > size:
        raise _truncated(f"its segment announces {segment_size} bytes, "
                         f"{size - segment - 4 - size_width} are in the file")


def _truncated(detail: str) -> VideoRefusedError:
    return VideoRefusedError(f"the video is truncated: {detail}", "video.truncated")


def _damaged(detail: str) -> VideoRefusedError:
    return VideoRefusedError(f"the video is damaged: {detail}", "video.corrupt")
