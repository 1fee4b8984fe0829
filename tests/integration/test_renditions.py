"""Video renditions end to end (docs/formats-video.md#renditions): MediaFunction queues them, TranscodeFunction
makes them for real with PyAV, each has its own row, and the job ends only after them.

The handlers are the real ones, fed by moto's queues (``stack.drain`` also feeds TranscodeQueue).
"""

from __future__ import annotations

import io

import pytest
import requests

from tests.integration.test_options import asset
from tests.integration.test_processing import rows, upload_and_end
from tests.integration.test_video import handle, queued

av = pytest.importorskip("av")
pytest.importorskip("pyvips")

from tests.video_files import make_video  # noqa: E402

TWO = {"videoEncodingPresetsArray": ["mp4-h264-360p"],
       "videoEncodingArray": [{"name": "small-vp9", "fileSuffix": "_s", "videoCodec": "vp9", "width": 48,
                               "height": 48, "videoBitrate": 300, "audioBitrate": 64}]}


def decoded(data: bytes) -> tuple[str, str, int, int, int]:
    """(muxer, video codec, width, height, frames) of a rendition's bytes."""
    with av.open(io.BytesIO(data)) as found:
        stream = found.streams.video[0]
        frames = sum(1 for _ in found.decode(stream))
        return found.format.name, stream.codec_context.name, stream.codec_context.width, \
            stream.codec_context.height, frames


def job_state(stack, job: str) -> str:
    return stack.job_log(job)["logType"]


def test_two_encodings_make_two_renditions_with_their_rows_and_the_job_waits_for_them(stack):
    opened = stack.open_job("clips", mediaOptions={**TWO, "videoEncodingPresetsArray": ["mp4-h264-360p", "p-720"]})
    assert stack.post_file(opened.body["upload"], "clips/launch.mp4",
                           make_video(width=96, height=64, frames=25, audio="aac")).status_code in (200, 204)
    job = opened.body["jobHandle"]
    assert stack.call("POST", f"/v1/upload-jobs/{job}/end").status == 202
    # Files and videos only: the video is done, its two renditions are queued, and the job waits.
    for queue in ("ProcessQueue", "MediaQueue", "ProcessQueue", "MediaQueue"):
        for message in stack.receive(queue):
            handle(stack, queue, message)
    assert queued(stack, "TranscodeQueue") == 2
    assert job_state(stack, job) != "EndUpload"
    assert not rows(stack, job, "EndUpload")

    assert stack.drain() == {"ProcessQueue": [], "MediaQueue": [], "JobEventsQueue": []}
    log = stack.job_log(job)
    assert log["logType"] == "EndUpload"
    assert (log["totalFileCount"], log["fileSuccessCount"], log["fileErrorCount"]) == (3, 3, 0)
    video_row, *made = rows(stack, job, "UploadSuccess")
    assert "renditions queued for transcoding: mp4-h264-360p, small-vp9" in video_row["logMessage"]
    [aux] = video_row["auxArray"]  # the unknown preset: a warning, not a failure
    assert aux["logType"] == "UploadWarning" and "no video encoding preset 'p-720'" in aux["logMessage"]
    assert sorted(r["logMessage"].split(" was made")[0] for r in made) == [
        "clips/launch.mp4: rendition mp4-h264-360p of asset launch", "clips/launch.mp4: rendition small-vp9 of asset launch"]
    assert all(r["assetType"] == "Video" and r["assetName"] == "launch" for r in made)

    launch = asset(stack, "launch")
    by_name = {r["name"]: r for r in launch["files"]["renditions"]}
    assert set(by_name) == {"mp4-h264-360p", "small-vp9"}
    h264, vp9 = by_name["mp4-h264-360p"], by_name["small-vp9"]
    assert (h264["fileName"], h264["preset"], h264["container"], h264["audioCodec"]) == (
        "launch-mp4-h264-360p.mp4", "mp4-h264-360p", "mp4", "aac")
    assert (vp9["fileName"], vp9["preset"], vp9["container"], vp9["audioCodec"]) == ("launch_s.webm", None, "webm", "opus")
    assert decoded(requests.get(h264["url"], timeout=10).content) == ("mov,mp4,m4a,3gp,3g2,mj2", "h264", 96, 64, 25)
    assert decoded(requests.get(vp9["url"], timeout=10).content) == ("matroska,webm", "vp9", 48, 32, 25)
    # Beside the video's master, in the assets bucket.
    master_prefix = launch["files"]["master"]["key"].rsplit("/", 1)[0]
    assert h264["key"] == f"{master_prefix}/renditions/mp4-h264-360p.mp4"


def test_hostile_and_unsupported_encodings_are_warnings_and_nothing_is_queued(stack):
    media = {"videoEncodingArray": [
        {"name": "huge", "fileSuffix": "_h", "width": 100000, "height": 100000, "videoBitrate": 500, "audioBitrate": 64},
        {"name": "prores", "fileSuffix": "_p", "videoCodec": "prores", "videoBitrate": 500, "audioBitrate": 64},
        {"name": "../../etc", "fileSuffix": "/x", "videoBitrate": 500, "audioBitrate": 64},
        {"name": "fast", "fileSuffix": "_f", "videoBitrate": 10**9, "audioBitrate": 64}]}
    job = upload_and_end(stack, {"clip.mp4": make_video(width=64, height=48)}, mediaOptions=media)
    log = stack.job_log(job)
    assert (log["logType"], log["totalFileCount"], log["fileSuccessCount"], log["fileWarningCount"]) == (
        "EndUpload", 1, 1, 1)
    [row] = rows(stack, job, "UploadSuccess")
    warned = [a["logMessage"] for a in row["auxArray"]]
    assert len(warned) == 4
    assert "100000×100000 is outside" in warned[0] and "videoCodec 'prores' is not encoded" in warned[1]
    assert "the name must be" in warned[2] and "videoBitrate 1000000000 kbit/s is outside" in warned[3]
    assert asset(stack, "clip")["files"]["renditions"] == []
    assert queued(stack, "TranscodeQueue") == 0


def test_a_failing_transcode_is_an_error_row_and_the_job_still_ends(stack, monkeypatch):
    from openips.handlers import transcode
    from openips.imaging.transcoding import TranscodeRefusedError

    real = transcode.transcoder

    class Failing:
        def transcode(self, source, container, spec, out_path, limits):
            if spec.name == "small-vp9":
                raise TranscodeRefusedError("the encoder gave up")
            return real.transcode(source, container, spec, out_path, limits)

    monkeypatch.setattr(transcode, "transcoder", Failing())
    job = upload_and_end(stack, {"clip.mp4": make_video(width=64, height=48, audio="aac")}, mediaOptions=TWO)
    log = stack.job_log(job)
    assert (log["logType"], log["totalFileCount"], log["fileSuccessCount"], log["fileErrorCount"]) == (
        "EndUpload", 3, 2, 1)
    [error] = rows(stack, job, "UploadError")
    assert error["logMessage"] == "clip.mp4: rendition small-vp9 was not made: the encoder gave up"
    assert error["assetName"] == "clip"
    assert [r["name"] for r in asset(stack, "clip")["files"]["renditions"]] == ["mp4-h264-360p"]


def test_a_video_longer_than_the_companys_limit_gets_no_rendition(stack):
    from openips.services.deps import get_deps

    deps = get_deps()
    company = deps.companies.get(stack.company)
    deps.companies.replace(company.model_copy(update={"max_transcode_seconds": 1, "max_renditions_per_video": 1}))
    job = upload_and_end(stack, {"long.mp4": make_video(width=64, height=48, frames=50)}, mediaOptions=TWO)
    [row] = rows(stack, job, "UploadSuccess")
    [aux] = row["auxArray"]
    assert "the video lasts 2.0 s, more than the limit of 1 s for transcoding" in aux["logMessage"]
    assert queued(stack, "TranscodeQueue") == 0
