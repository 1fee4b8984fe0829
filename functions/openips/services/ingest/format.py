"""What a format declares to be registered: how it recognises a file, what its rows say, how it ingests it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from openips.models.log_file_types import LogFileTypes
from openips.services.ingest.context import Upload
from openips.services.ingest.outcome import FileResult
from openips.services.ingest.sniff import Sniff


@dataclass(frozen=True)
class Format:
    name: str  # for people: "PDF", "raster image"
    # The UploadPostJob field that steers it (``pdf_options``); None when only the job-wide and
    # image options apply (raster images, ICC profiles).
    option: str | None
    recognises: Callable[[Sniff], bool]  # from the first bytes (and the extension) only, never the job
    log_file_types: LogFileTypes  # the job-log file type of its file's row (spec §8.7)
    ingest: Callable[[Upload], FileResult]
    # Its ingest needs PyAV, which only MediaFunction has: ProcessFileFunction hands such files
    # over before claiming them, and never ingests them itself.
    media_function: bool = False
