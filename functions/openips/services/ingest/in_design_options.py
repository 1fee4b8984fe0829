"""InDesign files (``inDesignOptions``): an ``InDesign`` asset, master only, whose page previews
(the JPEGs InDesign stores in the file's XMP) become page images like a PDF's
(``documents``, docs/formats.md#indesign-files-indesignoptions). Recognised by the GUID
every ``.indd``/``.indt`` file starts with."""

from __future__ import annotations

from openips.models.log_file_types import LogFileType, LogFileTypes
from openips.services.ingest import documents
from openips.services.ingest.context import Upload
from openips.services.ingest.format import Format
from openips.services.ingest.outcome import FileResult
from openips.services.ingest.sniff import Sniff


def recognises(sniff: Sniff) -> bool:
    return sniff.indesign


def ingest(upload: Upload) -> FileResult:
    return documents.ingest(upload, "indesign")


# Job Log File Types have no InDesign value.
FORMAT = Format(name="InDesign file", option="in_design_options", recognises=recognises,
                log_file_types=LogFileTypes(LogFileType.NO_TYPE), ingest=ingest)
