"""IPS naming rules, as pure functions (spec §9.1–§9.2).

* An upload's *target path* is the job's ``destFolder`` + the relative path the client
  put after the job's key prefix; it splits into a folder (``shoes/red/``, ``""`` at
  the company root) and a file name.
* The *asset ID* is the file name without its extension, with the characters IPS
  strips removed; it is case-sensitive and unique across the company.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from openips.models.domain import Asset, OverwriteMode
from openips.models.errors import InvalidPathError
from openips.models.text import SLASH_LOOKALIKES, hidden_characters

# Spec §9.1: removed from file names on upload.
FORBIDDEN_NAME_CHARS = frozenset('\\;/?:@&=+$,*"<>|\'{}%')
MAX_PATH_BYTES = 900  # S3 keys stop at 1024 bytes, and our key prefix needs the rest
MAX_SUFFIX = 1000


@dataclass(frozen=True)
class TargetPath:
    folder: str  # "" or ends with "/"
    file_name: str
    asset_name: str
    extension: str  # lower-case, without the dot; "" when the name has none

    @property
    def path(self) -> str:
        return self.folder + self.file_name


def normalize_folder(folder: str) -> str:
    """``"/a//b"`` → ``"a/b/"``; refuses traversal and control characters."""
    parts = [p for p in folder.replace("\\", "/").split("/") if p]
    for part in parts:
        _check_segment(part, folder)
    return "".join(f"{p}/" for p in parts)


def _check_segment(segment: str, whole: str) -> None:
    if segment in {".", ".."}:
        raise InvalidPathError(f"Path {whole!r} contains a {segment!r} segment; relative segments are not allowed")
    if hidden := hidden_characters(segment):
        raise InvalidPathError(f"Path {whole!r} contains control or invisible format characters "
                               f"({', '.join(hidden)}); they would make the name read as something else")
    if lookalikes := sorted(SLASH_LOOKALIKES.intersection(segment)):
        shown = ", ".join(f"U+{ord(ch):04X}" for ch in lookalikes)
        raise InvalidPathError(f"Path {whole!r} contains characters that look like a slash ({shown})")


def target_path(dest_folder: str, relative: str) -> TargetPath:
    """Resolve where an uploaded file goes; ``InvalidPathError`` for hostile paths."""
    if "\\" in relative:
        raise InvalidPathError(f"Path {relative!r} contains a backslash")
    if relative.startswith("/") or not relative or relative.endswith("/"):
        raise InvalidPathError(f"Path {relative!r} is not a relative file path")
    segments = relative.split("/")
    if any(seg == "" for seg in segments):
        raise InvalidPathError(f"Path {relative!r} contains an empty segment")
    for seg in segments:
        _check_segment(seg, relative)
    folder = normalize_folder(dest_folder) + "".join(f"{s}/" for s in segments[:-1])
    file_name = segments[-1]
    if len((folder + file_name).encode()) > MAX_PATH_BYTES:
        raise InvalidPathError(f"Path of {len((folder + file_name).encode())} bytes is longer than {MAX_PATH_BYTES}")
    stem, ext = posixpath.splitext(file_name)
    if not stem:  # ".jpg" or a dot-file: the whole name is the stem
        stem, ext = file_name, ""
    name = asset_id(stem)
    if not name:
        raise InvalidPathError(f"File name {file_name!r} leaves no asset ID once forbidden characters are removed")
    return TargetPath(folder=folder, file_name=file_name, asset_name=name, extension=ext.lstrip(".").lower())


def asset_id(stem: str) -> str:
    """The IPS asset ID for a file-name stem: forbidden characters removed, case kept."""
    return "".join(ch for ch in stem if ch not in FORBIDDEN_NAME_CHARS).strip()


def suffixed(name: str, n: int) -> str:
    """``chair`` → ``chair-1``: the name IPS gives a new asset whose ID is taken (§9.2)."""
    return name if n == 0 else f"{name}-{n}"


def overwrite_matches(mode: OverwriteMode, existing: Asset, target: TargetPath) -> bool:
    """Whether ``existing`` is the asset a new upload replaces under ``mode`` (§9.2)."""
    same_folder = existing.folder == target.folder or mode.endswith("AnyFolder")
    same_ext = existing.extension == target.extension or "AnyExt" in mode
    return same_folder and same_ext
