"""Video renditions: what one encoding is, what it produced, and the adapter that makes it (no PyAV here).

``Transcoder`` is the synchronous seam between the rendition service and an engine:
``PyAVTranscoder`` (``imaging.transcode``, FFmpeg's libraries in MediaLayer) makes every
rendition locally and, on AWS, those of videos up to the line; longer ones go to MediaConvert
(``adapters.mediaconvert``, a job completed by its state-change event) when it is enabled
(docs/formats-video.md#renditions). This module is pure data (and ``fit``) so that the services,
the job model and both engines' mappings name presets, specs and sizes without loading FFmpeg.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from openips.imaging.video_sniff import Container, VideoRefusedError


@dataclass(frozen=True, slots=True)
class EncodingSpec:
    """One encoding: the output container, its codecs (FFmpeg encoder names) and its limits."""

    name: str  # the preset's or the videoEncodingArray item's name
    container: str  # FFmpeg muxer: "mp4" or "webm"
    video_encoder: str  # "libx264", "libvpx-vp9"
    audio_encoder: str  # "aac", "libopus"
    width: int  # the frame fits in width × height, aspect kept, never enlarged
    height: int
    video_bitrate: int  # bits per second
    audio_bitrate: int  # bits per second
    frame_rate: float | None = None  # None: the source's (at most MAX_FRAME_RATE)
    keyframe_seconds: float = 2.0  # a keyframe every so often, so players can seek

    @property
    def extension(self) -> str:
        return {"mp4": "mp4", "webm": "webm"}[self.container]

    @property
    def content_type(self) -> str:
        return {"mp4": "video/mp4", "webm": "video/webm"}[self.container]


@dataclass(frozen=True, slots=True)
class TranscodeLimits:
    """Bounds on one transcode of attacker-controlled input."""

    max_pixels: int  # the source's frame size (as for posters)
    max_seconds_of_video: float  # frames past this much video are not encoded: refused instead
    max_wall_seconds: float  # the work stops (refused) past this, well before the function's timeout


@dataclass(frozen=True, slots=True)
class RenditionFile:
    """The file one transcode wrote, and what it holds."""

    path: str
    width: int
    height: int
    duration_ms: int
    frames: int
    video_codec: str  # FFmpeg codec names: "h264", "vp9"
    audio_codec: str | None  # None: the source had no audio
    size: int  # bytes
    seconds: float  # wall time spent


MAX_FRAME_RATE = 60.0  # a rendition's frame rate is the source's, at most this (either engine)
# FFmpeg encoder → the codec name a rendition reports (FFmpeg's decoder names, as in ``VideoInfo``).
CODEC_NAMES = {"libx264": "h264", "libvpx-vp9": "vp9", "aac": "aac", "libopus": "opus"}


def fit(width: int, height: int, box_width: int, box_height: int) -> tuple[int, int]:
    """The size of a ``width``×``height`` frame inside the box: aspect kept, never enlarged, even (yuv420p)."""
    scale = min(1.0, box_width / width, box_height / height)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


class TranscodeRefusedError(VideoRefusedError):
    """A rendition that cannot be made from this source: unreadable, too long, too slow, no encoder."""

    code = "video.rendition_failed"


class Transcoder(Protocol):
    """Makes one rendition of a stored video. Raises ``TranscodeRefusedError`` for what retrying cannot fix."""

    def transcode(self, source: str, container: Container, spec: EncodingSpec, out_path: str,
                  limits: TranscodeLimits) -> RenditionFile: ...
