"""Raster images (JPEG, PNG, TIFF, WebP, GIF, AVIF): an ``Image`` asset whose pyramid TIFF comes
through the job's option pipeline (docs/options/).

The last format in the registry and the only one that recognises every file: what no other
format claims goes to libvips, which refuses, with a row naming the detected type, what it
cannot decode.
"""

from __future__ import annotations

from openips.models.log_file_types import LogFileType, LogFileTypes
from openips.services.ingest.context import Upload
from openips.services.ingest.format import Format
from openips.services.ingest.outcome import FileResult, finish_file
from openips.services.ingest.raster import image_content
from openips.services.ingest.sniff import Sniff


def recognises(sniff: Sniff) -> bool:
    return True


def ingest(upload: Upload) -> FileResult:
    content = image_content(upload.deps, upload.job, upload.company, upload.target, upload.source, upload.tmp,
                            upload.replacing)
    return finish_file(upload, content)


FORMAT = Format(name="raster image", option=None, recognises=recognises,
                log_file_types=LogFileTypes(LogFileType.MASTER_IMAGE), ingest=ingest)
