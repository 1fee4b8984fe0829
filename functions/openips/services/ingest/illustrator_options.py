"""Illustrator files (``illustratorOptions``, spec §5.9): ``.ai`` files that are PDF-compatible are
rasterised like PDFs into an ``Illustrator`` asset and its page images; PostScript-based ones are
stored, master only, with a warning (``documents``, docs/formats.md)."""

from __future__ import annotations

from openips.models.log_file_types import LogFileType, LogFileTypes
from openips.services.ingest import documents
from openips.services.ingest.context import Upload
from openips.services.ingest.format import Format
from openips.services.ingest.outcome import FileResult
from openips.services.ingest.sniff import Sniff


def recognises(sniff: Sniff) -> bool:
    return sniff.extension == "ai" and sniff.pdf is not None


def ingest(upload: Upload) -> FileResult:
    return documents.ingest(upload, "illustrator" if upload.sniff.pdf == "pdf" else "illustrator-ps")


# Job Log File Types have no Illustrator value.
FORMAT = Format(name="Illustrator file", option="illustrator_options", recognises=recognises,
                log_file_types=LogFileTypes(LogFileType.NO_TYPE), ingest=ingest)
