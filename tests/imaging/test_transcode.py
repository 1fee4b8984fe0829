"""The PyAV transcoder on tiny generated clips: the output decodes, with the codec and size asked for."""

from __future__ import annotations


import pytest

av = pytest.importorskip("av")

from openips.imaging.transcode import PyAVTranscoder, fit  # noqa: E402
from openips.imaging.transcoding import EncodingSpec, TranscodeLimits, TranscodeRefusedError  # noqa: E402
from openips.imaging.video_sniff import VideoRefusedError, sniff  # noqa: E402
from openips.services.video_presets import PRESETS  # noqa: E402
from tests.video_files import make_video  # noqa: E402

LIMITS = TranscodeLimits(max_pixels=10**9, max_seconds_of_video=600, max_wall_seconds=60)


def transcoded(tmp_path, data: bytes, spec: EncodingSpec, limits: TranscodeLimits = LIMITS):
    source = tmp_path / "source"
    source.write_bytes(data)
    container = sniff(data[:65536], len(data))
    assert container is not None
    return PyAVTranscoder().transcode(str(source), container, spec, str(tmp_path / f"out.{spec.extension}"), limits)


def streams(path: str) -> tuple[str, tuple[str, int, int, int], str | None]:
    with av.open(path) as found:
        video = found.streams.video[0]
        frames = sum(1 for _ in found.decode(video))
        audio = found.streams.audio[0].codec_context.name if found.streams.audio else None
        return found.format.name, (video.codec_context.name, video.codec_context.width, video.codec_context.height,
                                   frames), audio


def test_h264_mp4_decodes_with_the_size_and_codecs_asked(tmp_path):
    made = transcoded(tmp_path, make_video("webm", "libvpx-vp9", width=160, height=90, frames=20, audio="libopus"),
                      EncodingSpec("x", "mp4", "libx264", "aac", 64, 64, 300_000, 64_000))
    assert streams(made.path) == ("mov,mp4,m4a,3gp,3g2,mj2", ("h264", 64, 36, 20), "aac")
    assert (made.width, made.height, made.frames, made.video_codec, made.audio_codec) == (64, 36, 20, "h264", "aac")
    assert made.duration_ms == 800 and made.size > 0


def test_vp9_webm_without_audio_and_never_enlarged(tmp_path):
    made = transcoded(tmp_path, make_video(width=64, height=48, frames=10), PRESETS["webm-vp9-720p"])
    assert streams(made.path) == ("matroska,webm", ("vp9", 64, 48, 10), None)
    assert made.audio_codec is None


def test_a_video_longer_than_the_limit_is_refused(tmp_path):
    short = TranscodeLimits(max_pixels=10**9, max_seconds_of_video=0.5, max_wall_seconds=60)
    with pytest.raises(TranscodeRefusedError, match="longer than the limit of 0.5 s"):
        transcoded(tmp_path, make_video(frames=25), PRESETS["mp4-h264-360p"], short)


def test_garbage_is_refused_not_crashed(tmp_path):
    data = make_video()[:200] + bytes(5000)  # an MP4 header and nothing readable
    with pytest.raises(VideoRefusedError, match="cannot be read"):  # a row, as for a poster
        source = tmp_path / "source"
        source.write_bytes(data)
        PyAVTranscoder().transcode(str(source), sniff(data[:64], len(data)), PRESETS["mp4-h264-360p"],
                                   str(tmp_path / "out.mp4"), LIMITS)


def test_fit_keeps_aspect_even_and_never_enlarges():
    assert fit(1920, 1080, 1280, 720) == (1280, 720)
    assert fit(1080, 1920, 1280, 720) == (404, 720)
    assert fit(100, 50, 1280, 720) == (100, 50)
    assert fit(101, 51, 1280, 720) == (100, 52)  # even sizes, rounded half to even


def test_every_preset_has_its_encoders_in_this_build():
    assert all(spec.video_encoder in av.codecs_available and spec.audio_encoder in av.codecs_available
               for spec in PRESETS.values())
