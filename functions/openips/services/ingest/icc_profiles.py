"""ICC colour profiles (``.icc``, ``.icm``): ``IccProfile`` assets, which ``colorManagementOptions``
and the company's default profiles name (docs/options/color-and-sharpening.md).

Recognised by extension, then checked by content: a file named like a profile that is not one
is refused rather than decoded as something else.
"""

from __future__ import annotations

from openips.models import errors
from openips.models.log_file_types import LogFileType, LogFileTypes
from openips.services.ingest.context import Upload
from openips.services.ingest.format import Format
from openips.services.ingest.outcome import Content, FileResult, finish_file
from openips.services.ingest.sniff import Sniff
from openips.services.profiles import ICC_EXTENSIONS, MAX_PROFILE_BYTES, is_icc_profile


def recognises(sniff: Sniff) -> bool:
    return sniff.extension in ICC_EXTENSIONS


def ingest(upload: Upload) -> FileResult:
    size = upload.size
    with open(upload.source, "rb") as fh:
        data = fh.read(min(size, MAX_PROFILE_BYTES + 1))  # the whole profile: its size field is checked
    if size > MAX_PROFILE_BYTES or not is_icc_profile(data):
        raise errors.UnsupportedFormatError("the file has an ICC profile extension but is not an ICC profile")
    return finish_file(upload, Content(type="IccProfile", summary=f"ICC profile, {size} bytes"))


FORMAT = Format(name="ICC profile", option=None, recognises=recognises,
                log_file_types=LogFileTypes(LogFileType.ICC_PROFILE), ingest=ingest)
