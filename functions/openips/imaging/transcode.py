"""``PyAVTranscoder``: one rendition of a stored video with FFmpeg's libraries (docs/formats-video.md#renditions).

The source is opened as ``imaging.video`` opens it for posters (demuxer forced from the sniff,
no nested file or URL, ``max_pixels`` on the decoder), and the work is bounded: frames past
``max_seconds_of_video`` and wall time past ``max_wall_seconds`` refuse the rendition instead of
running into the function's timeout. Output is constant frame rate, yuv420p (what browsers
play), audio resampled to stereo 48 kHz; a source without audio gives a rendition without audio.
"""

from __future__ import annotations

import os
import time
from fractions import Fraction

import av

from openips.imaging.transcoding import (
    CODEC_NAMES,
    MAX_FRAME_RATE,
    EncodingSpec,
    RenditionFile,
    TranscodeLimits,
    TranscodeRefusedError,
    fit,
)
from openips.imaging.video import open_video, video_stream
from openips.imaging.video_sniff import Container

AUDIO_RATE = 48000
# Speed over size: a rendition is made once per upload, inside a Lambda's 15 minutes (docs: measured speeds).
_ENCODER_OPTIONS = {
    "libx264": {"preset": "veryfast", "profile": "high"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8", "row-mt": "1"},
}


class PyAVTranscoder:
    """The ``Transcoder`` of the media layer (local stack and AWS alike)."""

    def transcode(self, source: str, container: Container, spec: EncodingSpec, out_path: str,
                  limits: TranscodeLimits) -> RenditionFile:
        for encoder in (spec.video_encoder, spec.audio_encoder):
            if encoder not in av.codecs_available:
                raise TranscodeRefusedError(f"this FFmpeg build has no {encoder} encoder")
        started = time.monotonic()
        try:
            return self._transcode(source, container, spec, out_path, limits, started)
        except av.FFmpegError as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise TranscodeRefusedError(f"the video could not be transcoded: {reason}") from exc

    def _transcode(self, source: str, container: Container, spec: EncodingSpec, out_path: str,
                   limits: TranscodeLimits, started: float) -> RenditionFile:
        with open_video(source, container) as input_:
            if not input_.streams.video:
                raise TranscodeRefusedError("the video has no video stream")
            stream = video_stream(input_, limits.max_pixels)
            audio_in = input_.streams.audio[0] if input_.streams.audio else None
            source_rate = float(stream.average_rate or stream.guessed_rate or 25)
            rate = Fraction(spec.frame_rate or min(source_rate, MAX_FRAME_RATE)).limit_denominator(1001)
            width, height = fit(stream.codec_context.width, stream.codec_context.height, spec.width, spec.height)
            muxer_options = {"movflags": "+faststart"} if spec.container == "mp4" else {}
            with av.open(out_path, "w", format=spec.container, options=muxer_options) as out:
                video_out = out.add_stream(spec.video_encoder, rate=rate)
                video_out.width, video_out.height, video_out.pix_fmt = width, height, "yuv420p"
                video_out.bit_rate = spec.video_bitrate
                video_out.options = {**_ENCODER_OPTIONS.get(spec.video_encoder, {}),
                                     "g": str(max(1, round(float(rate) * spec.keyframe_seconds)))}
                video_out.codec_context.time_base = 1 / rate
                audio_out = resampler = None
                if audio_in is not None:
                    audio_out = out.add_stream(spec.audio_encoder, rate=AUDIO_RATE)
                    audio_out.layout, audio_out.bit_rate = "stereo", spec.audio_bitrate
                    audio_out.codec_context.open()  # its frame size (AAC 1024, Opus 960) is known once open
                    resampler = av.AudioResampler(format=audio_out.codec_context.format.name, layout="stereo",
                                                  rate=AUDIO_RATE, frame_size=audio_out.codec_context.frame_size)
                start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
                frames, last_pts, samples = 0, -1, 0
                max_pts = int(limits.max_seconds_of_video * float(rate)) + 1
                wanted = [s for s in (stream, audio_in) if s is not None]
                for packet in input_.demux(*wanted):
                    if time.monotonic() - started > limits.max_wall_seconds:
                        raise TranscodeRefusedError(f"transcoding took longer than its limit of "
                                                    f"{limits.max_wall_seconds:g} s")
                    if packet.stream is audio_in:
                        assert audio_out is not None and resampler is not None
                        for decoded in packet.decode():
                            for chunk in resampler.resample(decoded):
                                chunk.pts, chunk.time_base = samples, Fraction(1, AUDIO_RATE)
                                samples += chunk.samples
                                if samples / AUDIO_RATE > limits.max_seconds_of_video + 1:
                                    raise _too_long(limits)
                                out.mux(audio_out.encode(chunk))
                        continue
                    for frame in packet.decode():
                        if frame.width * frame.height > limits.max_pixels:
                            raise TranscodeRefusedError(f"it decodes to frames of {frame.width}×{frame.height}, "
                                                        f"more than the limit of {limits.max_pixels} pixels")
                        pts = (last_pts + 1 if frame.time is None  # no timestamp: the next slot
                               else round((frame.time - start) * float(rate)))
                        if pts <= last_pts:
                            continue  # constant frame rate: a frame sooner than the next slot is dropped
                        if pts > max_pts:
                            raise _too_long(limits)
                        scaled = frame.reformat(width=width, height=height, format="yuv420p")
                        scaled.pts, scaled.time_base, last_pts = pts, 1 / rate, pts
                        out.mux(video_out.encode(scaled))
                        frames += 1
                out.mux(video_out.encode())
                if audio_out is not None and resampler is not None:
                    for chunk in resampler.resample(None):
                        chunk.pts, chunk.time_base = samples, Fraction(1, AUDIO_RATE)
                        samples += chunk.samples
                        out.mux(audio_out.encode(chunk))
                    out.mux(audio_out.encode())
            if frames == 0:
                raise TranscodeRefusedError("no frame could be decoded from the video")
        return RenditionFile(
            path=out_path, width=width, height=height, duration_ms=round(1000 * (last_pts + 1) / float(rate)),
            frames=frames, video_codec=CODEC_NAMES.get(spec.video_encoder, spec.video_encoder),
            audio_codec=CODEC_NAMES.get(spec.audio_encoder, spec.audio_encoder) if audio_out is not None else None,
            size=os.path.getsize(out_path), seconds=round(time.monotonic() - started, 3))



def _too_long(limits: TranscodeLimits) -> TranscodeRefusedError:
    return TranscodeRefusedError(f"the video is longer than the limit of {limits.max_seconds_of_video:g} s "
                                 "for transcoding (maxTranscodeSeconds)")
