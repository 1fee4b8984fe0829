"""imaging.video_sniff (which uploads are videos, whole or cut) and imaging.video (PyAV: streams, poster).

Every video here is made by the test (tests/video_files.py); frame i is flat grey ``shade(i)``,
so a poster's brightness says which frame it is.
"""

from __future__ import annotations

import struct

import pytest

pytest.importorskip("av")
pyvips = pytest.importorskip("pyvips")

from openips.imaging import video, video_sniff  # noqa: E402
from openips.imaging.video_sniff import VideoRefusedError  # noqa: E402
from openips.models.upload_job import MediaOptions  # noqa: E402
from openips.services.ingest import videos  # noqa: E402
from tests.video_files import audio_only, jpeg_bytes, make_video, shade, with_mpeg_frame_size  # noqa: E402

MAX = 10_000_000


def write(tmp_path, data: bytes, name: str = "upload") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def sniffed(data: bytes) -> video_sniff.Container | None:
    return video_sniff.sniff(data[:video_sniff.SNIFF_BYTES], len(data))


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x02\x00" + b"".join(compatible)
    return struct.pack(">I", 8 + len(body)) + b"ftyp" + body + b"\x00\x00\x00\x08free"


# ---- sniff: by content, never by name -------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "codec", "options", "label", "demuxer"), [
    ("mp4", "libx264", None, "MP4", "mov"),
    ("mov", "libx264", None, "MOV", "mov"),
    ("3gp", "libx264", None, "3GP", "mov"),
    ("avi", "mpeg4", None, "AVI", "avi"),
    ("mpeg", "mpeg1video", None, "MPEG-PS", "mpeg"),
    ("mpeg2video", "mpeg2video", None, "MPEG video", "mpegvideo"),
    ("mpegts", "mpeg2video", None, "MPEG-TS", "mpegts"),
    ("mpegts", "libx264", {"mpegts_m2ts_mode": "1"}, "M2TS", "mpegts"),
    ("asf", "wmv2", None, "ASF", "asf"),
    ("ogg", "libvpx", None, "Ogg", "ogg"),
    ("webm", "libvpx-vp9", None, "WebM", "matroska"),
    ("matroska", "libx264", None, "Matroska", "matroska"),
])
def test_every_container_is_recognised_by_its_first_bytes(fmt, codec, options, label, demuxer):
    found = sniffed(make_video(fmt, codec, frames=5, options=options))
    assert found is not None and (found.label, found.demuxer) == (label, demuxer)


@pytest.mark.parametrize(("head", "label"), [
    (ftyp(b"M4V ", b"M4V ", b"mp42"), "M4V"),
    (ftyp(b"qt  ", b"qt  "), "MOV"),
    (ftyp(b"3gp4", b"isom"), "3GP"),
    (ftyp(b"isom", b"iso2", b"avc1", b"mp41"), "MP4"),
    (struct.pack(">I", 16) + b"mdat" + bytes(8) + struct.pack(">I", 8) + b"moov", "MOV"),  # QuickTime, no ftyp
])
def test_iso_brands_name_the_family(head, label):
    found = sniffed(head)
    assert found is not None and found.label == label and found.demuxer == "mov"


@pytest.mark.parametrize("head", [
    ftyp(b"avif", b"mif1", b"miaf"), ftyp(b"heic", b"mif1", b"heic"), ftyp(b"mif1", b"heic"), ftyp(b"crx ", b"crx "),
    ftyp(b"isom", b"avif"),  # a compatible image brand is enough
    ftyp(b"M4A ", b"M4A ", b"mp42"),  # audio
    b"The free software" + bytes(100),  # "free" at offset 4, a first "atom" far larger than the file
    b"#EXTM3U\n#EXTINF:1,\nhttp://127.0.0.1/x.ts\n",  # an HLS playlist: never handed to FFmpeg
    b"RIFF\x10\x00\x00\x00WEBPVP8 ",
    b"GIF89a" + bytes(182) + b"G" + bytes(187) + b"G" + bytes(200),  # "G" where MPEG-TS has its sync bytes
    b"", b"\x00\x00\x01",
])
def test_images_audio_and_text_are_not_videos(head):
    assert sniffed(head) is None


def test_a_real_avif_and_a_jpeg_named_mp4_stay_images(tmp_path, skip_if_no):
    skip_if_no("heifsave")
    avif = tmp_path / "still.mp4"
    pyvips.Image.black(16, 16).bandjoin([0, 0]).heifsave(str(avif), compression="av1")
    assert video_sniff.sniff_file(str(avif)) is None
    assert video_sniff.sniff_file(write(tmp_path, jpeg_bytes(), "photo.mp4")) is None


def test_ogg_is_a_video_only_with_a_video_stream():
    assert sniffed(make_video("ogg", "libvpx", frames=3)).label == "Ogg"
    assert sniffed(audio_only("ogg", "libopus")) is None


def test_webm_and_matroska_are_told_apart_by_doc_type():
    assert sniffed(make_video("webm", "libvpx", frames=3)).label == "WebM"
    assert sniffed(make_video("matroska", "libvpx", frames=3)).label == "Matroska"


# ---- structure: cut and damaged files ---------------------------------------------------------------


def test_whole_files_pass_the_structure_check(tmp_path):
    for fmt, codec in (("mp4", "libx264"), ("webm", "libvpx"), ("avi", "mpeg4"), ("asf", "wmv2")):
        path = write(tmp_path, make_video(fmt, codec, frames=5), f"whole.{fmt}")
        video_sniff.check_structure(path, video_sniff.sniff_file(path))


@pytest.mark.parametrize(("data", "code", "reason"), [
    (make_video()[:1500], "video.truncated", "needs"),  # index (moov) at the end: cut off
    (make_video(options={"movflags": "faststart"})[:-600], "video.truncated", "mdat"),
    (make_video()[:32], "video.truncated", "no moov box"),  # the ftyp box and nothing else
    (make_video()[:32] + bytes(range(256)) * 4, "video.corrupt", "not a box"),
    (make_video("webm", "libvpx")[:36] + b"\xee" * 300, "video.corrupt", "segment"),
    (make_video("webm", "libvpx")[:-200], "video.truncated", "segment"),
    (make_video("avi", "mpeg4")[:-500], "video.truncated", "RIFF"),
    (make_video("asf", "wmv2")[:300], "video.truncated", "header object"),
])
def test_cut_and_damaged_files_are_refused_before_any_demuxer_reads_them(tmp_path, data, code, reason):
    path = write(tmp_path, data)
    with pytest.raises(VideoRefusedError, match=reason) as info:
        video_sniff.check_structure(path, video_sniff.sniff_file(path))
    assert info.value.code == code


# ---- probe ----------------------------------------------------------------------------------------------


def test_probe_reads_the_streams(tmp_path):
    path = write(tmp_path, make_video(width=96, height=64, audio="aac"))
    streams = video.probe(path, video_sniff.sniff_file(path), max_pixels=MAX)
    assert (streams.container.label, streams.video_codec, streams.audio_codec) == ("MP4", "h264", "aac")
    assert (streams.width, streams.height, streams.frame_rate, streams.decodable) == (96, 64, 25.0, True)
    assert streams.format_name == "mov" and streams.bit_rate > 0
    assert 950 <= streams.duration_ms <= 1100  # 25 frames at 25 fps, audio about as long


def test_an_audio_only_mp4_has_no_video_stream(tmp_path):
    path = write(tmp_path, audio_only())
    with pytest.raises(VideoRefusedError, match="no video stream .audio: aac.") as info:
        video.probe(path, video_sniff.sniff_file(path), max_pixels=MAX)
    assert info.value.code == "video.no_video_stream"


def test_frame_size_over_the_limit_is_refused_from_the_headers(tmp_path):
    path = write(tmp_path, with_mpeg_frame_size(make_video("mpeg2video", "mpeg2video"), 4095, 4095))
    with pytest.raises(VideoRefusedError, match="4095×4095 = 16769025 pixels") as info:
        video.probe(path, video_sniff.sniff_file(path), max_pixels=MAX)
    assert info.value.code == "video.too_many_pixels"


NOISE = bytes((i * 37 + 11) % 256 for i in range(3000))


@pytest.mark.parametrize("data", [
    make_video("webm", "libvpx")[:40] + b"\x01" + b"\xff" * 7 + NOISE,  # EBML + segment of unknown size + noise
    make_video()[:32] + struct.pack(">I", 8 + len(NOISE)) + b"moov" + NOISE,  # well-formed boxes, noise inside
])
def test_garbage_behind_a_magic_is_refused_by_the_demuxer(tmp_path, data):
    path = write(tmp_path, data)
    container = video_sniff.sniff_file(path)
    video_sniff.check_structure(path, container)  # the sizes add up: only reading the content tells
    with pytest.raises(VideoRefusedError, match="cannot be read|damaged") as info:
        video.probe(path, container, max_pixels=MAX)
    assert info.value.code == "video.corrupt" and str(tmp_path) not in info.value.message


# ---- poster -----------------------------------------------------------------------------------------------


def poster_of(tmp_path, data: bytes, time_ms: int, max_pixels: int = MAX) -> tuple[video.Poster, float]:
    path = write(tmp_path, data)
    container = video_sniff.sniff_file(path)
    streams = video.probe(path, container, max_pixels=max_pixels)
    found = video.poster(path, container, str(tmp_path / "poster.tif"), time_ms=time_ms,
                         duration_ms=streams.duration_ms, max_pixels=max_pixels)
    return found, pyvips.Image.new_from_file(found.path).avg()


@pytest.mark.parametrize(("fmt", "codec"), [("mp4", "libx264"), ("webm", "libvpx"), ("ogg", "libvpx"),
                                            ("avi", "mpeg4"), ("mpegts", "mpeg2video"), ("mpeg", "mpeg1video")])
def test_the_poster_is_the_frame_shown_at_the_time_asked(tmp_path, fmt, codec):
    data = make_video(fmt, codec)
    first, level = poster_of(tmp_path, data, 0)
    assert first.time_ms == 0 and abs(level - shade(0)) < 4 and not first.beyond_end
    at, level = poster_of(tmp_path, data, 500)  # frame 12 is shown from 480 to 520 ms
    assert (at.time_ms, at.beyond_end, at.capped) == (480, False, False)
    assert abs(level - shade(12)) < 4, level
    assert (at.width, at.height) == (64, 48)


def test_a_time_past_the_end_falls_back_to_the_first_frame(tmp_path):
    found, level = poster_of(tmp_path, make_video(), 60_000)
    assert found.beyond_end and found.time_ms == 0 and abs(level - shade(0)) < 4


def test_decoding_stops_at_its_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(video, "MAX_DECODED_FRAMES", 3)
    found, level = poster_of(tmp_path, make_video(), 400)  # keyframes every 12 frames: decoding starts at 0
    assert found.capped and found.time_ms == 80 and abs(level - shade(2)) < 4


def test_the_display_rotation_turns_the_poster(tmp_path):
    found, _ = poster_of(tmp_path, make_video(width=64, height=48, rotation=90), 0)
    assert (found.width, found.height) == (48, 64)


def test_a_frame_over_the_limit_is_never_converted(tmp_path):
    path = write(tmp_path, make_video(width=64, height=48))
    container = video_sniff.sniff_file(path)
    with pytest.raises(VideoRefusedError, match="64×48 = 3072 pixels, more than the limit of 1000") as info:
        video.poster(path, container, str(tmp_path / "p.tif"), time_ms=0, duration_ms=None, max_pixels=1000)
    assert info.value.code == "video.too_many_pixels" and not (tmp_path / "p.tif").exists()


def test_a_frame_larger_than_its_headers_said_is_refused(tmp_path, monkeypatch):
    """The decoded frame is checked again: a stream may change its frame size after the headers."""
    path = write(tmp_path, make_video(width=64, height=48))
    container = video_sniff.sniff_file(path)
    monkeypatch.setattr(video, "_video_stream", lambda input_, max_pixels: input_.streams.video[0])
    with pytest.raises(VideoRefusedError, match="it decodes to frames of 64×48") as info:
        video.poster(path, container, str(tmp_path / "p.tif"), time_ms=0, duration_ms=None, max_pixels=1000)
    assert info.value.code == "video.too_many_pixels" and not (tmp_path / "p.tif").exists()


# ---- what the asset is (services.ingest.videos) -----------------------------------------------------------


def streams(label: str, codec: str, audio: str | None = None) -> video.VideoStreams:
    container = video_sniff.Container(label, "mov")
    return video.VideoStreams(container, "x", 1000, 64, 48, codec, True, 25.0, 1000, audio)


@pytest.mark.parametrize(("label", "codec", "audio", "expected"), [
    ("MP4", "h264", "aac", "Video"), ("MOV", "h264", None, "Video"), ("M4V", "h264", "mp3", "Video"),
    ("WebM", "vp9", "opus", "Video"), ("WebM", "av1", None, "Video"), ("Ogg", "vp8", "vorbis", "Video"),
    ("Ogg", "theora", None, "Video"),
    ("MP4", "hevc", "aac", "MasterVideo"), ("MP4", "h264", "pcm_s16le", "MasterVideo"),
    ("AVI", "h264", None, "MasterVideo"), ("Matroska", "vp9", None, "MasterVideo"),
    ("MPEG-TS", "h264", "aac", "MasterVideo"), ("3GP", "h264", None, "MasterVideo"),
    ("WebM", "h264", None, "MasterVideo"),
])
def test_video_when_browsers_play_it_as_it_is(label, codec, audio, expected):
    kind, why = videos.classify(streams(label, codec, audio))
    assert kind == expected and (why is None) == (expected == "Video")


@pytest.mark.parametrize(("options", "expected"), [
    (None, 0), ({}, 0), ({"generateThumbnail": True}, 0), ({"generateThumbnail": False}, None),
    ({"generateThumbnail": False, "thumbnailOptions": {"thumbnailTime": 1500}}, 1500),
    ({"thumbnailOptions": {}}, 0), ({"thumbnailOptions": {"thumbnailTime": 0}}, 0),
])
def test_poster_time_from_media_options(options, expected):
    parsed = MediaOptions.model_validate(options) if options is not None else None
    assert videos.poster_time(parsed) == expected


def test_codecs_are_named_by_format_not_by_decoder_library(tmp_path):
    """FFmpeg decodes AV1 with libdav1d; the asset says av1, and an AV1 WebM is a Video."""
    path = write(tmp_path, make_video("webm", "libsvtav1", width=64, height=64, frames=3))
    found = video.probe(path, video_sniff.sniff_file(path), max_pixels=MAX)
    assert found.video_codec == "av1" and found.decodable
    assert videos.classify(found) == ("Video", None)
