"""Which renditions a video's ``mediaOptions`` ask for (spec §5.13; docs/formats-video.md#renditions).

``videoEncodingPresetsArray`` items name an openips preset (``PRESETS``): in Scene7 they are
``PropertySet`` handles of the company's encoding presets, opaque and per company, and the
reference documents no list of them, so openips' own names stand in for the handles.
``videoEncodingArray`` items are inline encodings (MP4/H.264 unless ``videoCodec`` names VP9,
bitrates in kbit/s as in the Scene7 UI). What cannot be made is a warning, never a failure of
the video: an unknown preset, a codec openips does not encode, sizes or bitrates out of
bounds, a name asked twice, more renditions than the company allows, a video too long.
Pure: no PyAV, so ProcessFileFunction's imports stay light.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from openips.imaging.transcoding import EncodingSpec
from openips.models.upload_job import MediaOptions, VideoEncoding

# Name → encoding. Sizes are boxes (aspect kept, never enlarged); bitrates in bits per second.
PRESETS: dict[str, EncodingSpec] = {spec.name: spec for spec in (
    EncodingSpec("mp4-h264-1080p", "mp4", "libx264", "aac", 1920, 1080, 5_000_000, 128_000),
    EncodingSpec("mp4-h264-720p", "mp4", "libx264", "aac", 1280, 720, 2_500_000, 128_000),
    EncodingSpec("mp4-h264-480p", "mp4", "libx264", "aac", 854, 480, 1_200_000, 96_000),
    EncodingSpec("mp4-h264-360p", "mp4", "libx264", "aac", 640, 360, 700_000, 96_000),
    EncodingSpec("webm-vp9-720p", "webm", "libvpx-vp9", "libopus", 1280, 720, 1_800_000, 128_000),
    EncodingSpec("webm-vp9-480p", "webm", "libvpx-vp9", "libopus", 854, 480, 800_000, 96_000),
)}

# videoEncoding.videoCodec values openips encodes (lower case) → (muxer, video encoder, audio encoder).
_CODECS = {
    "h264": ("mp4", "libx264", "aac"), "h.264": ("mp4", "libx264", "aac"), "avc": ("mp4", "libx264", "aac"),
    "avc1": ("mp4", "libx264", "aac"), "libx264": ("mp4", "libx264", "aac"),
    "vp9": ("webm", "libvpx-vp9", "libopus"), "libvpx-vp9": ("webm", "libvpx-vp9", "libopus"),
}
DEFAULT_BOX = (1920, 1080)  # an inline encoding without width/height: at most 1080p
MAX_BOX = (3840, 2160)
VIDEO_KBPS = (50, 20_000)
AUDIO_KBPS = (16, 320)
_SUFFIX = re.compile(r"[A-Za-z0-9_.-]{0,40}")
_NAME = re.compile(r"[A-Za-z0-9 _.+-]{1,64}")


@dataclass(frozen=True, slots=True)
class RenditionRequest:
    spec: EncodingSpec
    preset: str | None  # the openips preset; None for an inline videoEncodingArray item
    suffix: str  # appended to the asset's name in the file offered on download


@dataclass(frozen=True, slots=True)
class Plan:
    requests: list[RenditionRequest]
    warnings: list[str]  # each one becomes an UploadWarning in the video's row


def plan(options: MediaOptions | None, duration_ms: int | None, max_renditions: int, max_seconds: int) -> Plan:
    """The renditions to make of one video, and a warning for each one asked for that will not be made."""
    if options is None:
        return Plan([], [])
    requests: list[RenditionRequest] = []
    warnings: list[str] = []
    for handle in options.video_encoding_presets_array or []:
        spec = PRESETS.get(handle)
        if spec is None:
            warnings.append(f"mediaOptions.videoEncodingPresetsArray: no video encoding preset {_shown(handle)}; "
                            f"openips has {', '.join(PRESETS)}")
        else:
            requests.append(RenditionRequest(spec, handle, f"-{handle}"))
    for item in options.video_encoding_array or []:
        made = inline(item)
        if isinstance(made, str):
            warnings.append(f"mediaOptions.videoEncodingArray {_shown(item.name)}: {made}")
        else:
            requests.append(made)
    unique: list[RenditionRequest] = []
    for request in requests:
        if any(r.spec.name == request.spec.name for r in unique):
            warnings.append(f"the encoding {request.spec.name} is asked for twice; it is made once")
        else:
            unique.append(request)
    if unique and duration_ms is not None and duration_ms > max_seconds * 1000:
        warnings.append(f"no rendition was made: the video lasts {duration_ms / 1000:.1f} s, more than the "
                        f"limit of {max_seconds} s for transcoding")
        return Plan([], warnings)
    if len(unique) > max_renditions:
        dropped = ", ".join(r.spec.name for r in unique[max_renditions:])
        warnings.append(f"at most {max_renditions} renditions are made of one video; not made: {dropped}")
        unique = unique[:max_renditions]
    return Plan(unique, warnings)


def inline(item: VideoEncoding) -> RenditionRequest | str:
    """A ``videoEncodingArray`` item as an encoding, or why it cannot be made."""
    if not _NAME.fullmatch(item.name):
        return "the name must be 1 to 64 letters, digits, spaces or _ . + -"
    if not _SUFFIX.fullmatch(item.file_suffix):
        return "fileSuffix must be at most 40 letters, digits or _ . -"
    codec = (item.video_codec or "h264").strip().lower()
    if codec not in _CODECS:
        return f"videoCodec {_shown(item.video_codec or '')} is not encoded by openips (H.264 or VP9)"
    container, video_encoder, audio_encoder = _CODECS[codec]
    width, height = item.width or DEFAULT_BOX[0], item.height or DEFAULT_BOX[1]
    if not (16 <= width <= MAX_BOX[0] and 16 <= height <= MAX_BOX[1]):
        return f"{width}×{height} is outside 16×16 … {MAX_BOX[0]}×{MAX_BOX[1]}"
    if not VIDEO_KBPS[0] <= item.video_bitrate <= VIDEO_KBPS[1]:
        return f"videoBitrate {item.video_bitrate} kbit/s is outside {VIDEO_KBPS[0]} … {VIDEO_KBPS[1]}"
    if not AUDIO_KBPS[0] <= item.audio_bitrate <= AUDIO_KBPS[1]:
        return f"audioBitrate {item.audio_bitrate} kbit/s is outside {AUDIO_KBPS[0]} … {AUDIO_KBPS[1]}"
    if item.frame_rate is not None and not 1 <= item.frame_rate <= 60:
        return f"frameRate {item.frame_rate:g} is outside 1 … 60"
    spec = EncodingSpec(item.name, container, video_encoder, audio_encoder, width, height,
                        item.video_bitrate * 1000, item.audio_bitrate * 1000, frame_rate=item.frame_rate)
    return RenditionRequest(spec, None, item.file_suffix)


def _shown(value: str) -> str:
    """A client's value quoted in a row, cut short and without control characters."""
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in value[:80])
    return f"'{cleaned}'"
