"""Transcoding: openips' ``PyAVTranscoder`` against a bare PyAV decode → libx264 loop, same clip, same run.

The clip is generated (cached nowhere, it takes a second): 1280×720 at 25 fps, 10 s (``--quick``:
320×180, 2 s), frames cycling through a few of random noise over a gradient, so the encoder has
real work (noise is near the worst case for x264; camera footage encodes faster). Both variants
encode the ``mp4-h264-720p`` preset (libx264 ``veryfast``, 2.5 Mbit/s, AAC) in this process; the
report gives wall seconds per second of video, the figure that sets the line between
TranscodeFunction and a longer-running engine (docs/formats-video.md#renditions).

    python -m bench.transcode [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction

import av

from openips.imaging.transcode import PyAVTranscoder
from openips.imaging.transcoding import TranscodeLimits
from openips.imaging.video_sniff import sniff
from openips.services.video_presets import PRESETS

PRESET = "mp4-h264-720p"
RATE = 25


@dataclass
class TranscodeRun:
    width: int
    height: int
    seconds_of_video: float
    timings: dict[str, float]  # variant → median wall seconds
    threads: int


def make_clip(path: str, width: int, height: int, seconds: float) -> None:
    band = height // 4
    gradient = bytes((x * 7) % 256 for x in range(width * 3)) * band  # a gradient band, then noise
    noise = [os.urandom(width * (height - band) * 3) for _ in range(4)]
    with av.open(path, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "18"}
        for index in range(int(seconds * RATE)):
            frame = _frame(gradient + noise[index % 4], width, height)
            frame.pts = index
            out.mux(stream.encode(frame.reformat(format="yuv420p")))
        out.mux(stream.encode())


def _frame(data: bytes, width: int, height: int) -> av.VideoFrame:
    frame = av.VideoFrame(width, height, "rgb24")
    plane, row = frame.planes[0], width * 3
    plane.update(b"".join(data[y * row:(y + 1) * row] + bytes(plane.line_size - row) for y in range(height)))
    return frame


def bare_pyav(source: str, out_path: str) -> None:
    """The reference: decode, scale, encode with the same encoder settings; no bounds, no checks."""
    spec = PRESETS[PRESET]
    with av.open(source) as input_, av.open(out_path, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = input_.streams.video[0].width, input_.streams.video[0].height, \
            "yuv420p"
        stream.bit_rate, stream.options = spec.video_bitrate, {"preset": "veryfast", "profile": "high",
                                                               "g": str(RATE * 2)}
        stream.codec_context.time_base = Fraction(1, RATE)
        for frame in input_.decode(video=0):
            frame = frame.reformat(width=stream.width, height=stream.height, format="yuv420p")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())


def run(quick: bool = False, repeat: int = 3) -> TranscodeRun:
    width, height, seconds = (320, 180, 2.0) if quick else (1280, 720, 10.0)
    timings: dict[str, list[float]] = {"openips": [], "pyav": []}
    with tempfile.TemporaryDirectory(prefix="bench-transcode-") as tmp:
        source = os.path.join(tmp, "clip.mp4")
        make_clip(source, width, height, seconds)
        with open(source, "rb") as fh:
            head = fh.read(65536)
        container = sniff(head, os.path.getsize(source))
        assert container is not None
        limits = TranscodeLimits(max_pixels=10**9, max_seconds_of_video=3600, max_wall_seconds=3600)
        for _ in range(1 if quick else repeat):
            started = time.perf_counter()
            PyAVTranscoder().transcode(source, container, PRESETS[PRESET], os.path.join(tmp, "o.mp4"), limits)
            timings["openips"].append(time.perf_counter() - started)
            started = time.perf_counter()
            bare_pyav(source, os.path.join(tmp, "b.mp4"))
            timings["pyav"].append(time.perf_counter() - started)
    return TranscodeRun(width, height, seconds, {k: statistics.median(v) for k, v in timings.items()},
                        os.cpu_count() or 1)


def render_report(done: TranscodeRun) -> list[str]:
    lines = [f"## Transcoding ({PRESET}: libx264 veryfast, 2.5 Mbit/s)", "",
             f"A {done.width}×{done.height} clip of {done.seconds_of_video:g} s at {RATE} fps (noise over a "
             f"gradient), {done.threads} CPU(s); wall time, median.", "",
             "| variant | wall | s per s of video | × real time |", "|---|---:|---:|---:|"]
    for variant, wall in done.timings.items():
        per = wall / done.seconds_of_video
        lines.append(f"| {variant} | {wall:.2f} s | {per:.3f} | {1 / per:.1f} |")
    ratio = done.timings["openips"] / done.timings["pyav"]
    lines += ["", f"openips / bare PyAV: {ratio:.2f}×"]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    print("\n".join(render_report(run(quick=args.quick))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
