"""The first bytes of an upload, read once and asked by every format's recogniser.

Formats are recognised by content, never by extension alone (docs/formats.md). Each answer is
computed from ``head`` the first time a recogniser asks, so a JPEG costs one read of its first
64 KiB (the most any recogniser needs: Ogg's header pages), not one read per format.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from openips.imaging import eps, indesign, pdf, photoshop, video_sniff
from openips.services import archives

HEAD_BYTES = video_sniff.SNIFF_BYTES
assert HEAD_BYTES >= max(archives.SNIFF_BYTES, pdf.SNIFF_BYTES, len(indesign.INDESIGN_MAGIC))

PdfSniff = Literal["pdf", "postscript"]


@dataclass(frozen=True)
class Sniff:
    """An upload's first bytes, its size and its extension (lower case, no dot)."""

    head: bytes
    size: int
    extension: str
    # The file itself, for the one question the first bytes cannot answer (is a gzip stream a
    # TAR?); None before the download, when only a ranged GET of the head is known.
    path: str | None = None

    @classmethod
    def of_file(cls, path: str, extension: str) -> Sniff:
        with open(path, "rb") as fh:
            return cls(fh.read(HEAD_BYTES), os.fstat(fh.fileno()).st_size, extension, path)

    @cached_property
    def archive(self) -> archives.ArchiveKind | None:
        if self.path is None and self.head[:2] == b"\x1f\x8b":
            return None  # undecided without the file; nothing asks before the download
        return archives.archive_kind_of(self.head, self.path or "")

    @cached_property
    def pdf(self) -> PdfSniff | None:
        """``%PDF-`` near the start (a PDF or PDF-compatible Illustrator file), or a PostScript header."""
        return pdf.sniff_head(self.head)

    @cached_property
    def indesign(self) -> bool:
        return indesign.is_indesign(self.head)

    @cached_property
    def psd(self) -> bool:
        return photoshop.is_psd(self.head)

    @cached_property
    def postscript(self) -> eps.EpsKind | None:
        return eps.postscript_kind_of(self.head)

    @cached_property
    def video(self) -> video_sniff.Container | None:
        return video_sniff.sniff(self.head, self.size)
