"""What an upload sends: the ``UploadPostJob`` options file, and the files a walk of PATHs finds."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from openips_cli.cli.errors import UsageError


def load_options(path: Path) -> dict:
    """The ``UploadPostJob`` options file: a JSON object, checked before anything is created."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"options file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read options file {path}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"options file {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"options file {path} must hold a JSON object (the UploadPostJob options), "
                         f"not a JSON {type(data).__name__}")
    return data


def _hidden(name: str) -> bool:
    return name.startswith(".")


def _walk(directory: Path, prefix: str) -> Iterable[tuple[str, Path]]:
    with os.scandir(directory) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            # Symlinks are never followed: a link could pull in a tree outside the one named.
            if _hidden(entry.name) or entry.is_symlink():
                continue
            if entry.is_dir(follow_symlinks=False):
                yield from _walk(Path(entry.path), f"{prefix}{entry.name}/")
            elif entry.is_file(follow_symlinks=False):
                yield f"{prefix}{entry.name}", Path(entry.path)


def collect_files(paths: Sequence[Path]) -> list[tuple[str, Path]]:
    """``(relative upload path, file)`` for every PATH: a file by its base name, a folder walked."""
    found: dict[str, Path] = {}
    for path in paths:
        if path.is_dir():
            entries = list(_walk(path, ""))
        elif path.is_file():
            entries = [(path.name, path)]
        elif path.exists():
            raise UsageError(f"{path} is neither a file nor a folder")
        else:
            raise UsageError(f"{path} not found")
        for relative, file in entries:
            if relative in found and found[relative] != file:
                raise UsageError(f"{found[relative]} and {file} would both be uploaded as {relative}")
            found[relative] = file
    return list(found.items())


def default_job_name(now: datetime | None = None) -> str:
    """``upload-<UTC yyyymmdd-HHMMSS>``."""
    return "upload-" + (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")
