"""Small videos made by the tests with PyAV (no binary fixtures).

Frame ``i`` of a generated video is one flat grey, ``shade(i)``: a poster's mean brightness
tells which frame it was taken from. This PyAV wheel encodes H.264 (libx264), HEVC (libx265),
VP8/VP9 (libvpx), MPEG-1/2/4, WMV2 and AAC/Opus; it has no Theora or Vorbis encoder, so the
Ogg video is VP8 in Ogg.
"""

from __future__ import annotations

import io
import os
import tempfile

import av

RATE = 25  # frames per second: frame i starts at i * 40 ms


def shade(index: int) -> int:
    """The grey level of frame ``index`` (10, 19, 28, …; distinct for the first 27 frames)."""
    return min(10 + 9 * index, 250)


def make_video(fmt: str = "mp4", codec: str = "libx264", *, width: int = 64, height: int = 48, frames: int = 25,
               audio: str | None = None, rotation: int | None = None, options: dict | None = None,
               pix_fmt: str = "yuv420p") -> bytes:
    """An encoded video, as bytes: ``frames`` frames at 25 fps, frame i filled with ``shade(i)``."""
    # Some muxers (mp4's moov) need a real, seekable file; a temporary one is simplest.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"video.{fmt}")
        with av.open(path, "w", format=fmt, options=options or {}) as out:
            stream = out.add_stream(codec, rate=RATE)
            stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
            if codec == "libx264":
                stream.options = {"g": "12"}  # a keyframe every 12 frames, so seeking has work to do
            if rotation is not None:
                stream.set_display_rotation(rotation)
            sound = out.add_stream(audio, rate=48000) if audio else None
            for index in range(frames):
                frame = _grey_frame(width, height, shade(index))
                frame.pts = index
                for packet in stream.encode(frame.reformat(format=pix_fmt)):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
            if sound is not None:
                _silence(out, sound, seconds=frames / RATE)
        with open(path, "rb") as fh:
            return fh.read()


def audio_only(fmt: str = "mp4", codec: str = "aac") -> bytes:
    """An audio file with no video stream (one second of silence)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"audio.{fmt}")
        with av.open(path, "w", format=fmt) as out:
            _silence(out, out.add_stream(codec, rate=48000), seconds=1.0)
        with open(path, "rb") as fh:
            return fh.read()


def with_mpeg_frame_size(m2v: bytes, width: int, height: int) -> bytes:
    """An MPEG-1/2 elementary stream whose sequence header claims ``width``×``height`` (each at most 4095)."""
    data = bytearray(m2v)
    at = data.index(b"\x00\x00\x01\xb3") + 4
    data[at:at + 3] = bytes([width >> 4, ((width & 0xF) << 4) | (height >> 8), height & 0xFF])
    return bytes(data)


def jpeg_bytes(width: int = 32, height: int = 24) -> bytes:
    """A small JPEG, via PyAV's MJPEG encoder (no Pillow needed)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mjpeg") as out:
        stream = out.add_stream("mjpeg", rate=1)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuvj420p"
        for packet in stream.encode(_grey_frame(width, height, 128).reformat(format="yuvj420p")):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buffer.getvalue()


def _grey_frame(width: int, height: int, level: int) -> av.VideoFrame:
    frame = av.VideoFrame(width, height, "rgb24")
    plane = frame.planes[0]
    row = bytes([level]) * (width * 3) + bytes(plane.line_size - width * 3)
    plane.update(row * height)
    return frame


def _silence(out: av.container.OutputContainer, stream: av.audio.stream.AudioStream, seconds: float) -> None:
    samples = stream.codec_context.frame_size or 1024
    total = int(48000 * seconds)
    for start in range(0, total, samples):
        frame = av.AudioFrame(format=stream.codec_context.format.name, layout="stereo", samples=samples)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate, frame.pts = 48000, start
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
