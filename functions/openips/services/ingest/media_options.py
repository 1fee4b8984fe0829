"""Videos (``mediaOptions``, spec §5.13, §9.6): a ``Video`` or ``MasterVideo`` asset with its poster
frame (``videos``, docs/formats-video.md).

Recognised by container signature (``imaging.video_sniff``). Its ingest needs PyAV, which only
MediaFunction has (its own layer): ProcessFileFunction hands a video over, unclaimed, and
MediaFunction ingests it. ``videos`` is therefore imported when a video is ingested, never
where this registration is.
"""

from __future__ import annotations

from openips.models.log_file_types import LogFileType, LogFileTypes
from openips.services.ingest.context import Upload
from openips.services.ingest.format import Format
from openips.services.ingest.outcome import FileResult
from openips.services.ingest.sniff import Sniff


def recognises(sniff: Sniff) -> bool:
    return sniff.video is not None


def ingest(upload: Upload) -> FileResult:
    from openips.services.ingest import videos  # PyAV: in MediaLayer only, never in ProcessFileFunction

    return videos.ingest(upload)


# Both Video and MasterVideo assets are Video in the job log (which has no MasterVideo value).
FORMAT = Format(name="video", option="media_options", recognises=recognises,
                log_file_types=LogFileTypes(LogFileType.VIDEO), ingest=ingest, media_function=True)
