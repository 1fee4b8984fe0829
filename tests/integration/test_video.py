"""Video uploads end to end (docs/formats-video.md): ProcessFileFunction hands them to MediaFunction,
which makes a Video or MasterVideo asset with its poster; hostile videos are refused and kept.

Every upload goes through the presigned form and the S3 notification moto really sends; both
handlers are the real ones (``stack.drain`` feeds ProcessQueue and MediaQueue).
"""

from __future__ import annotations

import json
import time

import boto3
import pytest
import requests

from openips.services.deps import reset_caches
from tests.integration.test_options import asset
from tests.integration.test_processing import jpeg, rows, upload_and_end

pytest.importorskip("av")
pyvips = pytest.importorskip("pyvips")

from tests.video_files import audio_only, make_video, shade, with_mpeg_frame_size  # noqa: E402

DELAY = 1  # PAUSED_FILE_DELAY_SECONDS in the pause test


def handle(stack, queue: str, message: dict) -> dict:
    """Give one received message to the function the queue feeds, and acknowledge it as Lambda would."""
    from openips.handlers import process_file, process_media

    handler = process_file if queue == "ProcessQueue" else process_media
    result = handler.lambda_handler(stack.as_lambda_event([message], stack.resources.arns[queue]), stack.context)
    if not result["batchItemFailures"]:
        boto3.client("sqs").delete_message(QueueUrl=stack.resources.names[queue],
                                           ReceiptHandle=message["ReceiptHandle"])
    return result


def queued(stack, queue: str, attribute: str = "ApproximateNumberOfMessages") -> int:
    attrs = boto3.client("sqs").get_queue_attributes(QueueUrl=stack.resources.names[queue],
                                                     AttributeNames=[attribute])["Attributes"]
    return int(attrs[attribute])


def download(entry: dict) -> bytes:
    return requests.get(entry["url"], timeout=10).content


def counts(stack, job: str) -> tuple:
    log = stack.job_log(job)
    return (log["logType"], log["totalFileCount"], log["fileSuccessCount"], log["fileErrorCount"],
            log["fileWarningCount"])


def test_an_mp4_becomes_a_video_asset_with_its_streams_poster_and_requested_encodings(stack):
    data = make_video(width=96, height=64, audio="aac")
    media = {"videoEncodingPresetsArray": ["p-720"], "thumbnailOptions": {"thumbnailTime": 500},
             "videoEncodingArray": [{"name": "small", "fileSuffix": "_s", "videoBitrate": 800, "audioBitrate": 96}]}
    job = upload_and_end(stack, {"clips/launch.mp4": data}, mediaOptions=media)
    assert counts(stack, job) == ("EndUpload", 2, 2, 0, 1)  # the video and its rendition; p-720 warned
    row = next(r for r in rows(stack, job, "UploadSuccess") if "was processed into IPS" in r["logMessage"])
    assert row["assetType"] == "Video" and row["assetName"] == "launch"
    # p-720 is no openips preset: a warning (tests/integration/test_renditions.py has the renditions made).
    [aux] = row["auxArray"]
    assert "no video encoding preset 'p-720'" in aux["logMessage"]
    assert "clips/launch.mp4 was processed into IPS as asset launch (Video: MP4, h264 96×64, 25 fps" in \
        row["logMessage"]
    assert "audio aac; poster: the frame at 480 ms, 96×64, pyramid TIFF, jpeg" in row["logMessage"]
    assert "renditions queued for transcoding: small" in row["logMessage"]
    # Transcoding is built: the job no longer warns about these fields when it opens.
    opened = [w["logMessage"] for w in rows(stack, job, "UploadWarning")]
    assert not any("mediaOptions.videoEncoding" in w for w in opened)

    launch = asset(stack, "launch")
    assert (launch["type"], launch["folder"], launch["width"], launch["height"]) == ("Video", "clips/", 96, 64)
    info = launch["video"]
    assert {k: info[k] for k in ("container", "formatName", "videoCodec", "audioCodec", "frameRate", "width",
                                  "height", "posterTimeMs", "encodingPresets", "encodings", "avsEncodings")} == {
        "container": "MP4", "formatName": "mov", "videoCodec": "h264", "audioCodec": "aac", "frameRate": 25.0,
        "width": 96, "height": 64, "posterTimeMs": 480, "encodingPresets": ["p-720"], "encodings": ["small"],
        "avsEncodings": []}
    assert 950 <= info["durationMs"] <= 1100 and info["bitRate"] > 0
    assert download(launch["files"]["master"]) == data  # the upload, byte for byte
    poster = pyvips.Image.new_from_buffer(download(launch["files"]["optimized"]), "")
    assert (poster.width, poster.height, launch["files"]["optimized"]["format"]) == (96, 64, "ptiff")
    assert abs(poster.avg() - shade(12)) < 5  # frame 12 is the one shown at 500 ms
    assert poster.get_n_pages() >= 1 and poster.get("tile-width") == 256


def test_a_webm_is_a_video_and_options_shape_its_poster(stack):
    job = upload_and_end(stack, {"loop.webm": make_video("webm", "libvpx-vp9", width=200, height=100)},
                         manualCropOptions={"left": 10, "right": 10, "top": 0, "bottom": 0})
    [row] = rows(stack, job, "UploadSuccess")
    assert "Video: WebM, vp9 200×100" in row["logMessage"] and "poster: the frame at 0 ms, 180×100" in \
        row["logMessage"]
    loop = asset(stack, "loop")
    assert loop["type"] == "Video" and (loop["width"], loop["height"]) == (200, 100)  # the video's size
    poster = pyvips.Image.new_from_buffer(download(loop["files"]["optimized"]), "")
    assert (poster.width, poster.height) == (180, 100) and abs(poster.avg() - shade(0)) < 5


def test_what_browsers_cannot_play_is_a_master_video(stack):
    job = upload_and_end(stack, {"old.avi": make_video("avi", "mpeg4"), "hevc.mp4": make_video(codec="libx265"),
                                 "nothumb.mp4": make_video()},
                         mediaOptions={"generateThumbnail": False})
    assert counts(stack, job) == ("EndUpload", 3, 3, 0, 0)
    by_name = {r["assetName"]: r for r in rows(stack, job, "UploadSuccess")}
    assert {r["assetType"] for r in by_name.values()} == {"Video"}  # Job Log File Types have no MasterVideo
    old, hevc, plain = asset(stack, "old"), asset(stack, "hevc"), asset(stack, "nothumb")
    assert (old["type"], hevc["type"], plain["type"]) == ("MasterVideo", "MasterVideo", "Video")
    assert "MasterVideo: AVI, mpeg4 64×48" in by_name["old"]["logMessage"]
    assert "not played by web browsers (AVI files), so stored as it is and not previewable" in \
        by_name["old"]["logMessage"]
    assert "(hevc video in MP4)" in by_name["hevc"]["logMessage"]
    # generateThumbnail false, no thumbnailOptions: no poster, so no pyramid TIFF
    for name, entry in (("old", old), ("hevc", hevc), ("nothumb", plain)):
        assert "no poster (mediaOptions.generateThumbnail is false), so no pyramid TIFF" in \
            by_name[name]["logMessage"]
        assert entry["files"]["optimized"] is None and entry["video"]["posterTimeMs"] is None


def test_process_file_hands_videos_over_unclaimed_and_keeps_images(stack):
    opened = stack.open_job()
    job, upload = opened.body["jobHandle"], opened.body["upload"]
    stack.post_file(upload, "movie.mov", make_video("mov"))
    (message,) = stack.receive("ProcessQueue")
    assert handle(stack, "ProcessQueue", message) == {"batchItemFailures": []}
    assert queued(stack, "MediaQueue") == 1
    assert stack.job_log(job)["totalFileCount"] == 0  # not claimed: MediaFunction counts it
    (handed,) = stack.receive("MediaQueue")
    (record,) = json.loads(handed["Body"])["Records"]
    assert record["eventName"].startswith("ObjectCreated:") and record["s3"]["object"]["key"].endswith("movie.mov")
    assert handle(stack, "MediaQueue", handed) == {"batchItemFailures": []}
    assert stack.job_log(job)["totalFileCount"] == 1 and asset(stack, "movie")["type"] == "Video"

    # Content decides: a JPEG named .mp4 is an image, processed where it arrived.
    stack.post_file(upload, "photo.mp4", jpeg(120, 80))
    (message,) = stack.receive("ProcessQueue")
    assert handle(stack, "ProcessQueue", message) == {"batchItemFailures": []}
    assert queued(stack, "MediaQueue") == 0
    assert asset(stack, "photo")["type"] == "Image" and asset(stack, "photo")["video"] is None
    stack.call("POST", f"/v1/upload-jobs/{job}/end")
    stack.drain()
    assert counts(stack, job) == ("EndUpload", 2, 2, 0, 0)


@pytest.mark.parametrize(("data", "reason"), [
    (make_video()[:1500], "the video is truncated: its moov box"),
    (make_video()[:32] + bytes(range(256)) * 8, "the video is damaged: the bytes at 32 are not a box"),
    (make_video("webm", "libvpx")[:40] + b"\x01" + b"\xff" * 7 + bytes(range(256)) * 8, "the video cannot be read"),
    (audio_only(), "has no video stream (audio: aac); audio-only files are not processed in this version"),
])
def test_hostile_and_broken_videos_are_refused_once_and_kept(stack, data, reason):
    job = upload_and_end(stack, {"bad/upload.mp4": data, "good.webm": make_video("webm", "libvpx")})
    assert counts(stack, job) == ("EndUpload", 2, 1, 1, 0)  # the batch goes on
    [error] = rows(stack, job, "UploadError")
    assert error["logMessage"].startswith("bad/upload.mp4 could not be processed: ") and reason in error["logMessage"]
    assert "quarantine/" in error["logMessage"]
    kept = error["logMessage"].split("kept at s3://")[1].split("/", 1)[1].rstrip(".")
    body = boto3.client("s3").get_object(Bucket=stack.resources.names["IncomingBucket"], Key=kept)["Body"].read()
    assert body == data


def test_a_frame_size_over_the_pixel_limit_is_refused_from_the_header(stack, monkeypatch):
    monkeypatch.setenv("MAX_IMAGE_PIXELS", "1000000")
    reset_caches()
    bomb = with_mpeg_frame_size(make_video("mpeg2video", "mpeg2video"), 4095, 4095)
    job = upload_and_end(stack, {"bomb.m2v": bomb})
    [error] = rows(stack, job, "UploadError")
    assert "its headers declare frames of 4095×4095 = 16769025 pixels, more than the limit of 1000000" in \
        error["logMessage"]


def test_thumbnail_time_past_the_end_is_the_first_frame_with_a_warning(stack):
    job = upload_and_end(stack, {"late.mp4": make_video(), "later.mp4": make_video()},
                         mediaOptions={"thumbnailOptions": {"thumbnailTime": 90_000}})
    assert counts(stack, job) == ("EndUpload", 2, 2, 0, 2)
    for name in ("late", "later"):
        [row] = [r for r in rows(stack, job, "UploadSuccess") if r["assetName"] == name]
        [aux] = row["auxArray"]
        assert aux["logType"] == "UploadWarning"
        assert "thumbnailOptions.thumbnailTime 90000 ms is past the end of the video (1.00 s)" in aux["logMessage"]
        assert asset(stack, name)["video"]["posterTimeMs"] == 0


def test_thumbnail_time_zero_is_the_first_frame(stack):
    job = upload_and_end(stack, {"zero.mp4": make_video()}, mediaOptions={"thumbnailOptions": {"thumbnailTime": 0}},
                         locale="ko-KR")
    assert counts(stack, job) == ("EndUpload", 1, 1, 0, 0)
    [row] = rows(stack, job, "UploadSuccess")
    assert "포스터: 0 ms 지점의 프레임" in row["logMessage"]  # the job's language
    zero = asset(stack, "zero")
    poster = pyvips.Image.new_from_buffer(download(zero["files"]["optimized"]), "")
    assert zero["video"]["posterTimeMs"] == 0 and abs(poster.avg() - shade(0)) < 5


def test_duplicate_deliveries_to_both_functions_count_once(stack):
    opened = stack.open_job()
    job = opened.body["jobHandle"]
    stack.post_file(opened.body["upload"], "twice.mp4", make_video())
    sqs = boto3.client("sqs")
    (message,) = stack.receive("ProcessQueue")
    sqs.delete_message(QueueUrl=stack.resources.names["ProcessQueue"], ReceiptHandle=message["ReceiptHandle"])
    for queue in ("ProcessQueue", "ProcessQueue", "MediaQueue", "MediaQueue"):  # S3 and SQS may repeat themselves
        sqs.send_message(QueueUrl=stack.resources.names[queue], MessageBody=message["Body"])
    assert stack.drain() == {"ProcessQueue": [], "MediaQueue": [], "JobEventsQueue": []}
    stack.call("POST", f"/v1/upload-jobs/{job}/end")
    stack.drain()
    assert counts(stack, job) == ("EndUpload", 1, 1, 0, 0)
    assert len(rows(stack, job, "UploadSuccess")) == 1 and len(stack.call(
        "GET", "/v1/assets", query={"jobHandle": job}).body["assetArray"]) == 1


def test_a_paused_jobs_video_waits_on_media_queue(stack, monkeypatch):
    monkeypatch.setenv("PAUSED_FILE_DELAY_SECONDS", str(DELAY))
    reset_caches()
    opened = stack.open_job()
    job = opened.body["jobHandle"]
    stack.post_file(opened.body["upload"], "held.webm", make_video("webm", "libvpx"))
    (message,) = stack.receive("ProcessQueue")
    handle(stack, "ProcessQueue", message)  # handed over before the pause
    assert stack.call("POST", f"/v1/jobs/{job}/pause").status == 200
    (handed,) = stack.receive("MediaQueue")
    assert handle(stack, "MediaQueue", handed) == {"batchItemFailures": []}
    # Back on MediaQueue (not ProcessQueue), delayed, unclaimed and uncounted.
    assert queued(stack, "MediaQueue", "ApproximateNumberOfMessagesDelayed") == 1
    assert queued(stack, "ProcessQueue", "ApproximateNumberOfMessagesDelayed") == 0
    assert stack.job_log(job)["totalFileCount"] == 0
    assert stack.call("POST", f"/v1/jobs/{job}/resume").status == 200
    time.sleep(DELAY + 0.2)
    assert stack.drain() == {"ProcessQueue": [], "MediaQueue": [], "JobEventsQueue": []}
    stack.call("POST", f"/v1/upload-jobs/{job}/end")
    stack.drain()
    assert counts(stack, job) == ("EndUpload", 1, 1, 0, 0) and asset(stack, "held")["type"] == "Video"
