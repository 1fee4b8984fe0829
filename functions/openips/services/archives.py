"""Archives (``unCompressOptions``, spec §5.16): read ZIP, TAR and TAR.GZ safely.

``process: None`` (or no block) stores an archive as one ``Zip`` asset. ``UnCompress``
extracts it: every member is streamed to S3 under the job's ``extracted/`` prefix, where
the bucket notification hands it to ProcessFile like an uploaded file.

Everything is checked before the first byte is written, from the archive's own index
(ZIP central directory, TAR headers), so a refused archive leaves nothing behind:

* the whole archive is refused when it is damaged, encrypted throughout, holds more than
  ``max_members`` files or more than ``max_total_bytes``, expands more than ``max_ratio``
  times its size (a decompression bomb), or is nested deeper than ``max_depth``;
* one member is refused — with its own log row — when its path is absolute, climbs out
  with ``..``, holds a backslash or a forbidden segment, repeats another member's path, is
  a link, a device or a FIFO, is encrypted, is compressed with a method Python's ``zipfile``
  cannot read (Deflate64, Implode, PPMd…), or is larger than the file-size limit.

A member whose data turns out damaged while it is streamed (a corrupt deflate stream, a bad
CRC) raises one of ``MEMBER_READ_ERRORS`` whatever the decoder raised (``zlib.error``…), so
the caller refuses that member alone and goes on with the others.

macOS metadata (``__MACOSX/``, ``._*``, ``.DS_Store``) is skipped and counted in the row.
"""

from __future__ import annotations

import io
import lzma
import posixpath
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Literal, TypeVar

from openips.models.errors import FileRejectedError, InvalidPathError
from openips.services import naming

T = TypeVar("T")
ArchiveKind = Literal["zip", "tar", "tar.gz"]
KIND_LABELS = {"zip": "ZIP", "tar": "TAR", "tar.gz": "TAR.GZ"}
SNIFF_BYTES = 512  # a TAR header block, where ``ustar`` sits at offset 257
# What reading a member may raise once the decoders' own errors are translated by ``opened``:
# the caller catches exactly these per member.
MEMBER_READ_ERRORS = (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError)
# ZIP compression methods this Python reads (bz2 and lzma are part of the standard library
# builds openips runs on); names for the others, so a refusal says which one it was.
READABLE_ZIP_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA})
ZIP_METHOD_NAMES = {1: "Shrink", 2: "Reduce", 3: "Reduce", 4: "Reduce", 5: "Reduce", 6: "Implode",
                    9: "Deflate64", 10: "PKWARE DCL Implode", 18: "IBM TERSE", 19: "IBM LZ77",
                    93: "Zstandard", 94: "MP3", 95: "XZ", 96: "JPEG", 97: "WavPack", 98: "PPMd",
                    99: "AES encryption"}
# Decoder errors that are not OSError/EOFError: zlib's and lzma's (a gzip stream or a ZIP member
# may raise them from any read), zipfile's NotImplementedError, a local name that is not UTF-8.
_DECODE_ERRORS = (zlib.error, lzma.LZMAError, NotImplementedError, UnicodeDecodeError)
_DAMAGED = (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError, *_DECODE_ERRORS)


class ArchiveRefusedError(FileRejectedError):
    code = "archive.refused"


@dataclass(frozen=True)
class Limits:
    max_member_bytes: int
    max_members: int = 10_000
    max_total_bytes: int = 50 * 1024**3
    max_ratio: int = 200
    max_depth: int = 3


@dataclass(frozen=True)
class Member:
    path: str  # relative path inside the archive, checked
    size: int
    name: str  # the archive's own name for it (to open it)


@dataclass
class Plan:
    """What extracting an archive will do, decided before anything is written."""

    kind: ArchiveKind
    members: list[Member] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (path as stored, why)
    skipped: int = 0  # macOS metadata

    @property
    def total_bytes(self) -> int:
        return sum(m.size for m in self.members)


def archive_kind(path: str) -> ArchiveKind | None:
    """The archive format by content (never by extension); None for anything else."""
    with open(path, "rb") as fh:
        return archive_kind_of(fh.read(SNIFF_BYTES), path)


def archive_kind_of(head: bytes, path: str) -> ArchiveKind | None:
    """``archive_kind`` from the file's first bytes; a gzip stream is opened (``path``) to see whether it is a TAR."""
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if head[257:262] == b"ustar":
        return "tar"
    if head[:2] == b"\x1f\x8b":
        try:
            with tarfile.open(path, mode="r:gz") as tar:
                tar.next()  # a gzip stream that is not a TAR (a plain .gz) is not an archive here
            return "tar.gz"
        except (tarfile.TarError, OSError, EOFError, zlib.error):
            return None
    return None


def plan_extraction(path: str, kind: ArchiveKind, archive_size: int, limits: Limits) -> Plan:
    """Read the archive's index and decide every member; ``ArchiveRefusedError`` refuses all."""
    plan = Plan(kind)
    seen: set[str] = set()
    declared = 0
    try:
        for entry in _entries(path, kind):
            if len(plan.members) + len(plan.refused) >= limits.max_members:
                raise ArchiveRefusedError(f"the archive holds more than {limits.max_members} files")
            if entry.is_dir:
                continue
            if _is_macos_metadata(entry.name):
                plan.skipped += 1
                continue
            declared += entry.size
            if declared > limits.max_total_bytes:
                raise ArchiveRefusedError(f"its files add up to more than {limits.max_total_bytes} bytes")
            if declared > limits.max_ratio * max(archive_size, 1):
                raise ArchiveRefusedError(f"it expands more than {limits.max_ratio} times its size "
                                          "(a decompression bomb?)")
            problem = _member_problem(entry, seen, limits)
            if problem:
                plan.refused.append((entry.name, problem))
            else:
                relative = _relative(entry.name)
                seen.add(relative)
                plan.members.append(Member(relative, entry.size, entry.name))
    except _DAMAGED as exc:
        raise ArchiveRefusedError(f"the {KIND_LABELS[kind]} archive is damaged ({exc})") from exc
    return plan


@contextmanager
def opened(path: str, kind: ArchiveKind) -> Iterator[Callable[[Member], IO[bytes]]]:
    """A function that opens one planned member for streaming, while the archive is open."""
    if kind == "zip":
        with zipfile.ZipFile(path) as archive:
            def open_zip_member(member: Member) -> IO[bytes]:
                try:
                    return _MemberStream(archive.open(member.name), zipfile.BadZipFile)
                except _DECODE_ERRORS as exc:
                    raise zipfile.BadZipFile(_decode_reason(exc)) from exc
            yield open_zip_member
    else:
        with tarfile.open(path, mode="r:gz" if kind == "tar.gz" else "r:") as tar:
            def open_member(member: Member) -> IO[bytes]:
                try:
                    stream = tar.extractfile(member.name)
                except _DECODE_ERRORS as exc:
                    raise tarfile.ReadError(_decode_reason(exc)) from exc
                if stream is None:  # the plan keeps regular files only; refused alone all the same
                    raise tarfile.ReadError(f"{member.name} is not a regular file")
                return _MemberStream(stream, tarfile.ReadError)
            yield open_member


class _MemberStream(io.RawIOBase):
    """A member's stream whose decoder errors (``zlib.error``…) are ``error`` (``BadZipFile``,
    ``tarfile.ReadError``): one of ``MEMBER_READ_ERRORS``, which the caller catches per member,
    so a damaged member never fails the whole archive (nor leaves its siblings unaccounted)."""

    def __init__(self, raw: IO[bytes], error: type[Exception]) -> None:
        super().__init__()
        self._raw = raw
        self._error = error

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._raw.seekable()

    def read(self, size: int | None = -1) -> bytes:
        return self._guard(self._raw.read, -1 if size is None else size)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        # A ZIP member seeks by decompressing up to the target: the same errors may surface.
        return self._guard(self._raw.seek, offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()

    def _guard(self, call: Callable[..., T], *args: int) -> T:
        try:
            return call(*args)
        except _DECODE_ERRORS as exc:
            raise self._error(_decode_reason(exc)) from exc


def _decode_reason(exc: Exception) -> str:
    if isinstance(exc, NotImplementedError):
        return f"unsupported compression method: {exc}"
    return f"corrupt compressed data: {exc}"


@dataclass(frozen=True)
class _Entry:
    name: str
    size: int
    is_dir: bool
    kind: str  # "file", "link", "device", "encrypted"
    method: int = zipfile.ZIP_STORED  # ZIP compression method (TAR members: stored)


def _entries(path: str, kind: ArchiveKind) -> Iterator[_Entry]:
    if kind == "zip":
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                # Unix file type bits, when the writer set them (zip tools on Windows do not).
                file_type = stat.S_IFMT(info.external_attr >> 16)
                what = ("encrypted" if info.flag_bits & 0x1 else
                        "link" if file_type == stat.S_IFLNK else
                        "device" if file_type not in (0, stat.S_IFREG, stat.S_IFDIR) else "file")
                yield _Entry(info.filename, info.file_size, info.is_dir(), what, info.compress_type)
        return
    with tarfile.open(path, mode="r:gz" if kind == "tar.gz" else "r:") as tar:
        for info in tar:  # streams the headers; members are not read
            what = ("file" if info.isreg() else "link" if info.issym() or info.islnk() else "device")
            yield _Entry(info.name, info.size, info.isdir(), what)


def _member_problem(entry: _Entry, seen: set[str], limits: Limits) -> str | None:
    if entry.kind == "link":
        return "it is a link; links are never followed or extracted"
    if entry.kind == "device":
        return "it is a device, FIFO or other special file"
    if entry.kind == "encrypted":
        return "it is encrypted"
    if entry.method not in READABLE_ZIP_METHODS:
        method = ZIP_METHOD_NAMES.get(entry.method, f"compression method {entry.method}")
        return (f"it is compressed with {method}, which openips cannot read; "
                "re-create the archive with standard Deflate compression")
    name = entry.name
    if "\\" in name:
        return "its path contains a backslash"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "its path is absolute"
    if ".." in name.split("/"):
        return "its path climbs out of the archive (..)"
    relative = _relative(name)
    try:
        naming.target_path("", relative)
    except InvalidPathError as exc:
        return exc.message
    if relative in seen:
        return "another member has the same path"
    if entry.size > limits.max_member_bytes:
        return f"it has {entry.size} bytes; the limit is {limits.max_member_bytes}"
    return None


def _relative(name: str) -> str:
    """``./shoes/red.jpg`` → ``shoes/red.jpg`` (TAR writers often add ``./``)."""
    while name.startswith("./"):
        name = name[2:]
    return name


def _is_macos_metadata(name: str) -> bool:
    base = posixpath.basename(name)
    return name.startswith("__MACOSX/") or "/__MACOSX/" in name or base == ".DS_Store" or base.startswith("._")
