"""Video files with PyAV: what the streams are, and one frame as the poster (docs/formats-video.md).

The only module that imports ``av`` (PyAV, FFmpeg's libraries; MediaLayer). It returns plain
data and file paths. What it guards against, since a video is attacker-controlled input:

* **Which demuxer reads the file.** The container was recognised by its magic bytes
  (``video_sniff``) and that demuxer is forced: FFmpeg never probes the bytes for another
  format. The file is read through a Python file object, and any further file or URL a
  container names (QuickTime data references, playlists) is refused (``io_open``), so no
  network and no other local file is ever opened.
* **Pixel bombs.** The frame size in the stream headers is checked against ``max_pixels``
  before any frame is decoded, the decoder is opened with FFmpeg's own ``max_pixels`` (a
  stream that grows its frames later fails to decode), and each decoded frame is checked
  again before it is converted.
* **Decoding work.** A poster costs at most ``MAX_DECODED_FRAMES`` decoded frames after the
  seek and ``MAX_PACKETS`` packets of the video stream; past that the nearest frame reached
  is used (and said so).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import av

from openips.imaging import vips
from openips.imaging.video_sniff import Container, VideoRefusedError

MAX_DECODED_FRAMES = 1000  # ≥ one keyframe interval of nearly every encoder (10 s at 60 fps = 600 frames)
MAX_PACKETS = 5000  # video packets read for one poster (decoders need a few more packets than frames)
_INT_MAX = 2**31 - 1  # FFmpeg's max_pixels is an int option
_VIPS_ROTATION = {90: "d90", 180: "d180", 270: "d270"}  # clockwise degrees → vips angle


@dataclass(frozen=True, slots=True)
class VideoStreams:
    """The file's streams, from its headers (no frame decoded). Codec names are FFmpeg's."""

    container: Container
    format_name: str  # FFmpeg's demuxer: "mov", "matroska", "mpegts", …
    duration_ms: int | None
    width: int
    height: int
    video_codec: str
    decodable: bool  # this build of FFmpeg has a decoder for the video codec
    frame_rate: float | None
    bit_rate: int | None
    audio_codec: str | None


@dataclass(frozen=True, slots=True)
class Poster:
    """One frame, written as an uncompressed RGB TIFF that the raster pipeline takes as its source."""

    path: str
    time_ms: int  # from the start of the video
    width: int  # after the stream's display rotation
    height: int
    beyond_end: bool = False  # the time asked lies past the end: the first frame was taken
    capped: bool = False  # the decoding bound was reached before the time asked


def probe(path: str, container: Container, *, max_pixels: int) -> VideoStreams:
    """Read the headers; refuse files without a video stream and frame sizes over ``max_pixels``."""
    with _opened(path, container) as input_:
        if not input_.streams:
            raise VideoRefusedError(f"the video is damaged: no stream could be read from the {container.label} "
                                    "file", "video.corrupt")
        if not input_.streams.video:
            audio = ", ".join(filter(None, map(_codec_name, input_.streams.audio))) or "none"
            raise VideoRefusedError(
                f"the {container.label} file has no video stream (audio: {audio}); audio-only files are not "
                "processed in this version", "video.no_video_stream")
        stream = input_.streams.video[0]
        codec = stream.codec_context
        width, height = (codec.width, codec.height) if codec else (0, 0)
        if width <= 0 or height <= 0:
            raise VideoRefusedError(f"the video is damaged: its headers give no frame size ({width}×{height})",
                                    "video.corrupt")
        _check_pixels(width, height, max_pixels, "its headers declare frames of")
        video_codec = _codec_name(stream)
        audio_codecs = list(filter(None, map(_codec_name, input_.streams.audio)))
        return VideoStreams(
            container=container, format_name=input_.format.name, duration_ms=_duration_ms(input_, stream),
            width=width, height=height, video_codec=video_codec or "unknown",
            decodable=video_codec is not None and _has_decoder(video_codec), frame_rate=_frame_rate(stream),
            bit_rate=input_.bit_rate or None, audio_codec=audio_codecs[0] if audio_codecs else None)


def poster(path: str, container: Container, out_path: str, *, time_ms: int, duration_ms: int | None,
           max_pixels: int) -> Poster:
    """The frame shown at ``time_ms`` (0: the first frame), written to ``out_path``.

    A time past the end of the video gives the first frame (spec §5.13: "an invalid time falls
    back to the first frame"), with ``beyond_end`` set.
    """
    if time_ms > 0 and (duration_ms is None or time_ms <= duration_ms):
        found = _frame_at(path, container, out_path, time_ms, max_pixels)
        if found is not None:
            return found
        beyond = True  # the file ended before the time asked (its duration was not in its headers)
    else:
        beyond = time_ms > 0
    with _opened(path, container) as input_:
        stream = _video_stream(input_, max_pixels)
        decoder = _Decoder(input_, stream)
        frame = next(decoder.frames(), None)
        if frame is None:
            raise _no_frame(decoder)
        return _save(frame, _frame_seconds(frame, stream, 1), stream, out_path, max_pixels, beyond_end=beyond)


def _frame_at(path: str, container: Container, out_path: str, time_ms: int, max_pixels: int, *,
              seek: bool = True) -> Poster | None:
    """The last frame whose time is at or before ``time_ms``; None when the video ends before it."""
    with _opened(path, container) as input_:
        stream = _video_stream(input_, max_pixels)
        target = _start_seconds(stream) + time_ms / 1000
        if seek:
            try:
                input_.seek(int(target / stream.time_base), stream=stream, backward=True, any_frame=False)
            except av.FFmpegError:
                seek = False  # an unseekable stream is decoded from its start
        decoder = _Decoder(input_, stream)
        shown, shown_at = None, 0.0
        for frame in decoder.frames():
            at = _frame_seconds(frame, stream, decoder.decoded)
            if at <= target + 1e-6:
                shown, shown_at = frame, at
                continue
            if shown is not None:
                return _save(shown, shown_at, stream, out_path, max_pixels)
            if not seek:  # the video's very first frame comes after the time asked
                return _save(frame, at, stream, out_path, max_pixels)
            break  # the seek overshot (MPEG-TS and -PS seek by byte position): decode from the start instead
        else:
            if shown is not None:
                if decoder.capped or target <= shown_at + _frame_interval(stream) + 1e-6:
                    return _save(shown, shown_at, stream, out_path, max_pixels, capped=decoder.capped)
                return None
            if not seek:
                raise _no_frame(decoder)
    return _frame_at(path, container, out_path, time_ms, max_pixels, seek=False)


class _Decoder:
    """Frames of one video stream in presentation order, within the decoding bounds."""

    def __init__(self, input_: av.container.InputContainer, stream: av.video.stream.VideoStream) -> None:
        self.input, self.stream = input_, stream
        self.packets = self.decoded = 0
        self.capped = False

    def frames(self) -> Iterator[av.VideoFrame]:
        try:
            for packet in self.input.demux(self.stream):
                self.packets += 1
                for frame in packet.decode():
                    self.decoded += 1
                    yield frame
                    if self.decoded >= MAX_DECODED_FRAMES:
                        self.capped = True
                        return
                if self.packets >= MAX_PACKETS:
                    self.capped = True
                    return
        except av.FFmpegError as exc:
            raise _unreadable(exc) from exc


def _save(frame: av.VideoFrame, at: float, stream: av.video.stream.VideoStream, out_path: str, max_pixels: int, *,
          beyond_end: bool = False, capped: bool = False) -> Poster:
    """Write ``frame`` (presented at ``at`` seconds, stream time) as the poster TIFF."""
    width, height = frame.width, frame.height
    _check_pixels(width, height, max_pixels, "it decodes to frames of")
    try:
        rgb = frame.reformat(format="rgb24")
    except av.FFmpegError as exc:
        raise _unreadable(exc) from exc
    plane = rgb.planes[0]
    data, row = bytes(plane), width * 3
    if plane.line_size != row:  # rows are padded for alignment
        data = b"".join(data[y * plane.line_size:y * plane.line_size + row] for y in range(height))
    image = vips.Image.new_from_memory(data, width, height, 3, "uchar").copy(interpretation="srgb")
    # Phones store portrait video as landscape frames plus a display rotation (counter-clockwise).
    clockwise = (-round(getattr(frame, "rotation", 0) or 0)) % 360
    if clockwise in _VIPS_ROTATION:
        image = image.rot(_VIPS_ROTATION[clockwise])
    try:
        image.tiffsave(out_path, compression="none")
    except vips.VipsError as exc:
        raise VideoRefusedError(f"the poster frame could not be written: {vips.error_summary(exc)}",
                                "video.corrupt") from exc
    since_start = at - _start_seconds(stream)
    return Poster(out_path, max(0, round(since_start * 1000)), image.width, image.height, beyond_end, capped)


@contextlib.contextmanager
def _opened(path: str, container: Container) -> Iterator[av.container.InputContainer]:
    with open(path, "rb") as fh:
        try:
            input_ = av.open(fh, format=container.demuxer, options={"protocol_whitelist": "file"},
                             io_open=_refuse_nested_open)
        except (av.FFmpegError, PermissionError) as exc:
            raise _unreadable(exc) from exc
        try:
            yield input_
        except av.FFmpegError as exc:
            raise _unreadable(exc) from exc
        finally:
            input_.close()


open_video = _opened  # the transcoder opens sources the same guarded way


def _refuse_nested_open(url: str, flags: int, options: dict) -> None:
    raise PermissionError("the video refers to other files or URLs; openips opens none")


def _video_stream(input_: av.container.InputContainer, max_pixels: int) -> av.video.stream.VideoStream:
    stream = input_.streams.video[0]
    _check_pixels(stream.codec_context.width, stream.codec_context.height, max_pixels, "its headers declare frames of")
    # FFmpeg's own limit, for streams that change their frame size after the headers.
    stream.codec_context.options = {"max_pixels": str(min(max_pixels, _INT_MAX))}
    return stream


video_stream = _video_stream  # the first video stream, pixel limit checked and set on its decoder


def _check_pixels(width: int, height: int, max_pixels: int, what: str) -> None:
    if width * height > max_pixels:
        raise VideoRefusedError(f"{what} {width}×{height} = {width * height} pixels, more than the limit of "
                                f"{max_pixels}", "video.too_many_pixels")


def _codec_name(stream: av.stream.Stream) -> str | None:
    """The codec's own name (``av1``, ``opus``), not the decoder's (``libdav1d``, ``libopus``)."""
    context = stream.codec_context
    if context is None:
        return None
    codec = getattr(context, "codec", None)
    return getattr(codec, "canonical_name", None) or context.name


def _has_decoder(name: str) -> bool:
    try:
        av.codec.Codec(name, "r")
    except (av.FFmpegError, ValueError):
        return False
    return True


def _duration_ms(input_: av.container.InputContainer, stream: av.video.stream.VideoStream) -> int | None:
    if input_.duration:  # microseconds (AV_TIME_BASE)
        return round(input_.duration / 1000)
    if stream.duration and stream.time_base:
        return round(float(stream.duration * stream.time_base) * 1000)
    return None


def _frame_rate(stream: av.video.stream.VideoStream) -> float | None:
    for rate in (stream.average_rate, stream.guessed_rate):
        if rate:
            return round(float(rate), 3)
    return None


def _frame_interval(stream: av.video.stream.VideoStream) -> float:
    rate = _frame_rate(stream)
    return 1 / rate if rate else 0.0


def _start_seconds(stream: av.video.stream.VideoStream) -> float:
    return float(stream.start_time * stream.time_base) if stream.start_time is not None and stream.time_base else 0.0


def _frame_seconds(frame: av.VideoFrame, stream: av.video.stream.VideoStream, ordinal: int) -> float:
    """The frame's presentation time; a frame without a timestamp counts by the frame rate."""
    if frame.time is not None and math.isfinite(frame.time):
        return float(frame.time)
    return _start_seconds(stream) + (ordinal - 1) * _frame_interval(stream)


def _no_frame(decoder: _Decoder) -> VideoRefusedError:
    return VideoRefusedError(f"the video is damaged: no frame could be decoded from {decoder.packets} packets of its "
                             "video stream", "video.corrupt")


def _unreadable(exc: Exception) -> VideoRefusedError:
    # FFmpeg's messages end with the file name (a temporary path): keep only the reason.
    reason = getattr(exc, "strerror", None) or str(exc)
    return VideoRefusedError(f"the video cannot be read: {reason}", "video.corrupt")

