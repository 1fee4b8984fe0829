"""Put an ICC profile into the first IFD only of a TIFF that libvips wrote without one.

libvips copies the profile into every pyramid level; a 1 MB CMYK profile then costs
~5 MB per file. Pure Python: append the profile, write IFD 0 again with tag 34675 added
(entries kept sorted), point the header at it. Classic TIFF and BigTIFF, either byte order.
"""

from __future__ import annotations

import struct

ICC_TAG, UNDEFINED = 34675, 7

def embed_icc_in_first_ifd(path: str, icc: bytes) -> None:
    """Give IFD 0 (full resolution) of the TIFF at ``path`` the profile ``icc``."""
    with open(path, "r+b") as f:
        head = f.read(16)
        order = {b"II": "<", b"MM": ">"}[head[:2]]
        big = struct.unpack(order + "H", head[2:4])[0] == 43
        if big:
            ifd0 = struct.unpack(order + "Q", head[8:16])[0]
            count_fmt, entry_size, off_fmt, hdr_off_pos = "Q", 20, "Q", 8
        else:
            ifd0 = struct.unpack(order + "I", head[4:8])[0]
            count_fmt, entry_size, off_fmt, hdr_off_pos = "H", 12, "I", 4
        f.seek(ifd0)
        count = struct.unpack(order + count_fmt, f.read(struct.calcsize(count_fmt)))[0]
        entries = [f.read(entry_size) for _ in range(count)]
        next_ifd = f.read(struct.calcsize(off_fmt))
        entries = [e for e in entries if struct.unpack(order + "H", e[:2])[0] != ICC_TAG]
        f.seek(0, 2)
        if f.tell() % 2:
            f.write(b"\0")  # TIFF offsets must be word-aligned
        icc_at = f.tell()
        f.write(icc)
        if f.tell() % 2:
            f.write(b"\0")
        new = (struct.pack(order + "HHQQ", ICC_TAG, UNDEFINED, len(icc), icc_at) if big
               else struct.pack(order + "HHII", ICC_TAG, UNDEFINED, len(icc), icc_at))
        entries = sorted(entries + [new], key=lambda e: struct.unpack(order + "H", e[:2])[0])
        ifd_at = f.tell()
        f.write(struct.pack(order + count_fmt, len(entries)) + b"".join(entries) + next_ifd)
        f.seek(hdr_off_pos)
        f.write(struct.pack(order + off_fmt, ifd_at))
