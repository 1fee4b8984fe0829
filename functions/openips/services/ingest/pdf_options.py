"""PDF documents (``pdfOptions``, spec §5.8): a ``Pdf`` asset, its page images and catalog
(``documents``, docs/formats.md). Recognised by ``%PDF-`` within the first 1024 bytes;
a PDF named ``.ai`` is an Illustrator file (``illustrator_options``)."""

from __future__ import annotations

from openips.models.log_file_types import LogFileType, LogFileTypes
from openips.services.ingest import documents
from openips.services.ingest.context import Upload
from openips.services.ingest.format import Format
from openips.services.ingest.outcome import FileResult
from openips.services.ingest.sniff import Sniff


def recognises(sniff: Sniff) -> bool:
    return sniff.pdf == "pdf" and sniff.extension != "ai"


def ingest(upload: Upload) -> FileResult:
    return documents.ingest(upload, "pdf")


FORMAT = Format(name="PDF", option="pdf_options", recognises=recognises,
                log_file_types=LogFileTypes(LogFileType.PDF), ingest=ingest)
