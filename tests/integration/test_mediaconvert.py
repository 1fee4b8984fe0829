"""Video renditions beyond the line go to MediaConvert (docs/formats-video.md#renditions), end to end on moto.

moto 5.2.5 has no MediaConvert model, so ``RecordingMediaConvertClient`` stands in for boto3's
client inside the real ``MediaConvertTranscoder``: it records each ``CreateJob`` request and
answers a job ID, nothing else. What MediaConvert would then do is played by the test: it writes
the output object where the request said and feeds the real event handler EventBridge events of
the recorded shape (AWS's "MediaConvert Job State Change" examples, trimmed of unused fields).
Everything else is the real stack: queues, claims, rows, the asset record, the job's end.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.integration.test_options import asset
from tests.integration.test_processing import rows, upload_and_end
from tests.integration.test_video import queued

pytest.importorskip("av")
pytest.importorskip("pyvips")

from tests.video_files import make_video  # noqa: E402

ROLE = "arn:aws:iam::123456789012:role/openips-MediaConvertRole-TEST"
STACK_NAME = "openips-test"
TWO = {"videoEncodingPresetsArray": ["mp4-h264-360p"],
       "videoEncodingArray": [{"name": "small-vp9", "fileSuffix": "_s", "videoCodec": "vp9", "width": 48,
                               "height": 48, "videoBitrate": 300, "audioBitrate": 64}]}


class RecordingMediaConvertClient:
    """A fake boto3 ``mediaconvert`` client: records ``create_job`` and ``cancel_job`` calls (no encoding happens).

    ``create_job`` answers an ID; ``cancel_job`` answers as MediaConvert does: nothing for a running job,
    ``ConflictException`` for one that has ended (``ended``). ``on_create`` plays what happens meanwhile.
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.cancelled: list[str] = []
        self.ended: set[str] = set()
        self.on_create: Any = None
        self.failures: list[Exception] = []  # raised by the next create_job calls, one each
        self._ids = itertools.count(1)

    def create_job(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        if self.failures:
            raise self.failures.pop(0)
        if self.on_create is not None:
            self.on_create(request)
        return {"Job": {"Id": f"1733380000000-job{next(self._ids)}", "Status": "SUBMITTED"}}

    def cancel_job(self, Id: str) -> dict[str, Any]:  # noqa: N803 - boto3's parameter name
        if Id in self.ended or Id in self.cancelled:
            raise ClientError({"Error": {"Code": "ConflictException", "Message": f"Job {Id} has ended"}},
                              "CancelJob")
        self.cancelled.append(Id)
        return {}


@pytest.fixture
def mediaconvert(stack, monkeypatch) -> RecordingMediaConvertClient:
    """MediaConvert enabled as the template does it (role ARN, stack name), with a line of 1 s of video."""
    from openips.adapters.mediaconvert import MediaConvertTranscoder
    from openips.handlers import transcode
    from openips.settings import get_settings

    monkeypatch.setenv("MEDIACONVERT_ROLE_ARN", ROLE)
    monkeypatch.setenv("OPENIPS_STACK_NAME", STACK_NAME)
    monkeypatch.setenv("PYAV_MAX_SECONDS", "1")
    get_settings.cache_clear()
    client = RecordingMediaConvertClient()
    monkeypatch.setattr(transcode, "_mediaconvert", lambda role, endpoint: MediaConvertTranscoder(role, endpoint,
                                                                                                  client=client))
    yield client
    get_settings.cache_clear()


def state_change(request: dict[str, Any], job_id: str, status: str, **detail: Any) -> dict[str, Any]:
    """An EventBridge event as MediaConvert sends it for a job submitted with ``request``."""
    return {
        "version": "0", "id": "6f0a8a2c-0000-4000-8000-000000000000", "detail-type": "MediaConvert Job State Change",
        "source": "aws.mediaconvert", "account": "123456789012", "time": "2026-12-05T07:50:00Z",
        "region": "us-east-1", "resources": [f"arn:aws:mediaconvert:us-east-1:123456789012:jobs/{job_id}"],
        "detail": {"timestamp": 1733385000000, "accountId": "123456789012",
                   "queue": "arn:aws:mediaconvert:us-east-1:123456789012:queues/Default", "jobId": job_id,
                   "status": status, "userMetadata": dict(request["UserMetadata"]), **detail}}


def complete(request: dict[str, Any], job_id: str, width: int, height: int) -> dict[str, Any]:
    [group] = request["Settings"]["OutputGroups"]
    [output] = group["Outputs"]
    path = f"{group['OutputGroupSettings']['FileGroupSettings']['Destination']}.{output['Extension']}"
    return state_change(request, job_id, "COMPLETE", warnings=[{"code": 230005, "count": 1}], outputGroupDetails=[
        {"type": "FILE_GROUP", "outputDetails": [{"outputFilePaths": [path], "durationInMs": 2000,
                                                  "videoDetails": {"widthInPx": width, "heightInPx": height,
                                                                   "averageBitrate": 700000}}]}])


def write_output(request: dict[str, Any], body: bytes) -> str:
    """What MediaConvert does on success: the file at the group's destination plus the extension."""
    [group] = request["Settings"]["OutputGroups"]
    uri = f"{group['OutputGroupSettings']['FileGroupSettings']['Destination']}.{group['Outputs'][0]['Extension']}"
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
    return key


def deliver(stack, event: dict[str, Any]) -> dict[str, Any]:
    from openips.handlers import mediaconvert_events

    return mediaconvert_events.lambda_handler(event, stack.context)


def test_renditions_of_a_video_beyond_the_line_are_mediaconvert_jobs_completed_by_their_events(stack, mediaconvert):
    from openips.services.deps import get_deps

    job = upload_and_end(stack, {"clip.mp4": make_video(width=96, height=64, frames=50, audio="aac")},
                         mediaOptions=TWO)
    # The video is done, both renditions were submitted (not transcoded here), and the job waits for them.
    assert stack.job_log(job)["logType"] != "EndUpload"
    assert queued(stack, "TranscodeQueue") == 0
    by_name = {r["UserMetadata"]["claimId"]: r for r in mediaconvert.requests}
    assert len(mediaconvert.requests) == 2 and len(by_name) == 2
    h264, vp9 = sorted(mediaconvert.requests, key=lambda r: r["UserMetadata"]["claimId"])
    clip = asset(stack, "clip")
    master = clip["files"]["master"]["key"]
    bucket = get_deps().settings.assets_bucket
    for request in (h264, vp9):
        assert request["Role"] == ROLE
        assert request["UserMetadata"]["openipsStack"] == STACK_NAME and request["UserMetadata"]["jobHandle"] == job
        assert request["Settings"]["Inputs"][0]["FileInput"] == f"s3://{bucket}/{master}"
    prefix = master.rsplit("/", 1)[0]
    destination = h264["Settings"]["OutputGroups"][0]["OutputGroupSettings"]["FileGroupSettings"]["Destination"]
    assert destination == f"s3://{bucket}/{prefix}/renditions/mp4-h264-360p"
    assert vp9["Settings"]["OutputGroups"][0]["Outputs"][0]["ContainerSettings"] == {"Container": "WEBM"}
    # The source (96×64) already fits the 640×360 box: not enlarged; 48×48 box → 48×32.
    assert [r["Settings"]["OutputGroups"][0]["Outputs"][0]["VideoDescription"]["Width"] for r in (h264, vp9)] == [96, 48]

    # A second delivery of a submitted rendition's message makes no second job.
    from openips.handlers import transcode
    from openips.models.domain import utcnow
    from openips.models.outcomes import Handling
    from openips.services import renditions

    deps = get_deps()
    claim = deps.claims.get(job, h264["UserMetadata"]["claimId"])
    assert claim is not None and claim.status == "Processing"
    # The job's ID has a field of its own; last_error is for errors, and nothing failed.
    assert (claim.external_job, claim.last_error) == ("1733380000000-job1", None)
    assert renditions.run(deps, claim.task, utcnow(), transcode.transcoder,
                          transcode.rendition_jobs(deps.settings)) == Handling.DUPLICATE_DELIVERY
    assert len(mediaconvert.requests) == 2

    # MediaConvert's answers: the H.264 one is made, the VP9 one fails.
    key = write_output(h264, b"\x00" * 1234)
    assert deliver(stack, complete(h264, "1733380000000-job1", 96, 64)) == {"outcome": "UploadSuccess"}
    assert stack.job_log(job)["logType"] != "EndUpload"  # one rendition still out
    failed = state_change(vp9, "1733380000000-job2", "ERROR", errorCode=1040,
                          errorMessage="Invalid input: the audio track could not be decoded")
    assert deliver(stack, failed) == {"outcome": "UploadError"}
    assert stack.drain() == {"ProcessQueue": [], "MediaQueue": [], "JobEventsQueue": []}

    log = stack.job_log(job)
    assert (log["logType"], log["totalFileCount"], log["fileSuccessCount"], log["fileErrorCount"]) == (
        "EndUpload", 3, 2, 1)
    [error] = rows(stack, job, "UploadError")
    assert error["logMessage"] == ("clip.mp4: rendition small-vp9 was not made: MediaConvert job 1733380000000-job2 "
                                   "ended ERROR: 1040: Invalid input: the audio track could not be decoded")
    made = [r for r in rows(stack, job, "UploadSuccess") if r["logMessage"].startswith("clip.mp4: rendition")]
    assert [r["logMessage"].split(" (")[0] for r in made] == [
        "clip.mp4: rendition mp4-h264-360p of asset clip was made"]
    assert "MP4, h264 96×64, audio aac, 2.00 s, 1234 bytes" in made[0]["logMessage"]
    [entry] = asset(stack, "clip")["files"]["renditions"]
    assert (entry["name"], entry["key"], entry["size"], entry["width"], entry["height"], entry["durationMs"],
            entry["videoCodec"], entry["audioCodec"], entry["fileName"]) == (
        "mp4-h264-360p", key, 1234, 96, 64, 2000, "h264", "aac", "clip-mp4-h264-360p.mp4")
    assert {deps.claims.get(job, r["UserMetadata"]["claimId"]).status for r in (h264, vp9)} == {"Done"}

    # EventBridge delivers at least once: a repeated event changes nothing.
    assert deliver(stack, complete(h264, "1733380000000-job1", 96, 64)) == {"outcome": "DuplicateDelivery"}
    assert stack.job_log(job)["fileSuccessCount"] == 2


def test_a_canceled_job_is_an_error_row_and_a_foreign_event_is_ignored(stack, mediaconvert):
    job = upload_and_end(stack, {"clip.mp4": make_video(width=64, height=48, frames=50)},
                         mediaOptions={"videoEncodingPresetsArray": ["mp4-h264-360p"]})
    [request] = mediaconvert.requests
    # No audio in the source: no audio output asked of MediaConvert.
    assert "AudioDescriptions" not in request["Settings"]["OutputGroups"][0]["Outputs"][0]
    other = state_change(request, "1733380000000-job1", "CANCELED")
    other["detail"]["userMetadata"]["openipsStack"] = "someone-else"
    assert deliver(stack, other) == {"outcome": "Unattributed"}
    assert deliver(stack, {**other, "detail": {**other["detail"], "status": "PROGRESSING"}}) == {"outcome": "Ignored"}
    assert stack.job_log(job)["logType"] != "EndUpload"

    assert deliver(stack, state_change(request, "1733380000000-job1", "CANCELED")) == {"outcome": "UploadError"}
    assert stack.drain() == {"ProcessQueue": [], "MediaQueue": [], "JobEventsQueue": []}
    log = stack.job_log(job)
    assert (log["logType"], log["totalFileCount"], log["fileSuccessCount"], log["fileErrorCount"]) == (
        "EndUpload", 2, 1, 1)
    [error] = rows(stack, job, "UploadError")
    assert error["logMessage"].endswith("was not made: MediaConvert job 1733380000000-job1 ended CANCELED")
    assert asset(stack, "clip")["files"]["renditions"] == []


def test_a_short_video_stays_on_pyav_even_with_mediaconvert_enabled(stack, mediaconvert, monkeypatch):
    from openips.settings import get_settings

    monkeypatch.setenv("PYAV_MAX_SECONDS", "600")
    get_settings.cache_clear()
    job = upload_and_end(stack, {"clip.mp4": make_video(width=64, height=48, frames=25)},
                         mediaOptions={"videoEncodingPresetsArray": ["mp4-h264-360p"]})
    assert mediaconvert.requests == []
    assert stack.job_log(job)["fileSuccessCount"] == 2
    assert [r["name"] for r in asset(stack, "clip")["files"]["renditions"]] == ["mp4-h264-360p"]


def test_without_mediaconvert_a_video_beyond_the_line_gets_the_warning(stack, monkeypatch):
    from openips.handlers import transcode
    from openips.settings import get_settings

    monkeypatch.setenv("PYAV_MAX_SECONDS", "1")
    monkeypatch.setenv("MAX_TRANSCODE_SECONDS", "7200")
    get_settings.cache_clear()
    assert transcode.rendition_jobs(get_settings()) is None
    job = upload_and_end(stack, {"long.mp4": make_video(width=64, height=48, frames=50)}, mediaOptions=TWO)
    [row] = rows(stack, job, "UploadSuccess")
    [aux] = row["auxArray"]
    assert "the video lasts 2.0 s, more than the limit of 1 s for transcoding" in aux["logMessage"]
    assert queued(stack, "TranscodeQueue") == 0
    get_settings.cache_clear()


# ------------------------------------------------ stopJob, a crash mid-submission, what MediaConvert refuses


def _claim_of(request: dict[str, Any]):
    from openips.services.deps import get_deps

    metadata = request["UserMetadata"]
    return get_deps().claims.get(metadata["jobHandle"], metadata["claimId"])


def test_stopping_a_job_cancels_its_running_mediaconvert_jobs_and_ends_it_with_cancel_rows(stack, mediaconvert):
    job = upload_and_end(stack, {"clip.mp4": make_video(width=96, height=64, frames=50, audio="aac")},
                         mediaOptions=TWO)
    h264, vp9 = sorted(mediaconvert.requests, key=lambda r: r["UserMetadata"]["claimId"])
    mediaconvert.ended.add("1733380000000-job1")  # the H.264 job has just finished: its event is on its way
    assert stack.call("POST", f"/v1/jobs/{job}/stop").status == 200
    stack.drain()
    # One cancellation pass over the job's held claims: the running job is cancelled, the ended one is not.
    assert mediaconvert.cancelled == ["1733380000000-job2"] and queued(stack, "TranscodeQueue") == 0
    assert stack.job_log(job)["logType"] != "EndUpload"  # both renditions are still to be accounted for

    # Files in flight finish: the finished job's rendition is stored; the cancelled one is a FileCancel row.
    write_output(h264, b"\x00" * 100)
    assert deliver(stack, complete(h264, "1733380000000-job1", 96, 64)) == {"outcome": "UploadSuccess"}
    assert deliver(stack, state_change(vp9, "1733380000000-job2", "CANCELED")) == {"outcome": "FileCancel"}
    assert stack.drain() == {"ProcessQueue": [], "MediaQueue": [], "JobEventsQueue": []}
    log = stack.job_log(job)
    assert (log["logType"], log["totalFileCount"], log["fileSuccessCount"], log["fileErrorCount"]) == (
        "EndUpload", 3, 2, 1)
    [cancel] = rows(stack, job, "FileCancel")
    assert cancel["logMessage"] == ("clip.mp4: rendition small-vp9 was not made: job batch was stopped while "
                                    "MediaConvert made it (job 1733380000000-job2 cancelled)")
    assert [r["name"] for r in asset(stack, "clip")["files"]["renditions"]] == ["mp4-h264-360p"]


def test_a_rendition_submitted_while_its_job_stops_is_cancelled_by_the_submitter(stack, mediaconvert):
    from openips.services.deps import get_deps

    stopped: list[int] = []

    def stop_during_submission(request: dict[str, Any]) -> None:
        # stopJob lands between the job's stop check and the write of the new MediaConvert job's ID: its
        # cancellation pass finds the claim naming only its request, and cannot cancel what it cannot name.
        if not stopped:
            handle = request["UserMetadata"]["jobHandle"]
            assert stack.call("POST", f"/v1/jobs/{handle}/stop").status == 200
            stopped.append(1)

    mediaconvert.on_create = stop_during_submission
    job = upload_and_end(stack, {"clip.mp4": make_video(width=96, height=64, frames=50, audio="aac")},
                         mediaOptions={"videoEncodingPresetsArray": ["mp4-h264-360p", "webm-vp9-480p"]})
    # The first submission saw the stop after writing its ID and cancelled its own job; the second
    # rendition was never submitted: its task came after the stop, and a stopped job starts none.
    [request] = mediaconvert.requests
    assert mediaconvert.cancelled == ["1733380000000-job1"]
    assert _claim_of(request).external_job == "1733380000000-job1"
    assert deliver(stack, state_change(request, "1733380000000-job1", "CANCELED")) == {"outcome": "FileCancel"}
    stack.drain()
    log = stack.job_log(job)
    assert (log["logType"], log["totalFileCount"], log["fileSuccessCount"], log["fileErrorCount"]) == (
        "EndUpload", 3, 1, 2)
    assert len(rows(stack, job, "FileCancel")) == 2
    assert get_deps().claims.list_for_job(job, processing_only=True) == []


def test_a_createjob_error_is_retried_soon_with_a_new_token(stack, mediaconvert):
    from openips.handlers import transcode
    from openips.models.domain import utcnow
    from openips.models.outcomes import Handling
    from openips.services import renditions
    from openips.services.deps import get_deps

    mediaconvert.failures.append(ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "slow down"}},
                                             "CreateJob"))
    job = upload_and_end(stack, {"clip.mp4": make_video(width=96, height=64, frames=50)},
                         mediaOptions={"videoEncodingPresetsArray": ["mp4-h264-360p"]})
    [first] = mediaconvert.requests
    deps = get_deps()
    claim = _claim_of(first)
    # The failed attempt holds the claim for its retry delay (not for MediaConvert's hours) and names no job.
    delay = deps.settings.file_retry_delays[0]
    assert claim.external_job is None and claim.last_error.startswith("ClientError: An error occurred (TooMany")
    assert claim.lease_until <= utcnow() + timedelta(seconds=delay + 1)
    # The retry, once the delay is over, submits with the next attempt's token.
    later = utcnow() + timedelta(seconds=delay + 1)
    jobs = transcode.rendition_jobs(deps.settings)
    assert renditions.run(deps, claim.task, later, transcode.transcoder, jobs) == Handling.SUBMITTED
    [_, second] = mediaconvert.requests
    assert (first["ClientRequestToken"], second["ClientRequestToken"]) == (
        f"{claim.claim_id}.a1", f"{claim.claim_id}.a2")
    assert _claim_of(second).external_job == "1733380000000-job1"
    assert renditions.run(deps, claim.task, later, transcode.transcoder, jobs) == Handling.DUPLICATE_DELIVERY
    assert stack.job_log(job)["logType"] != "EndUpload"


class Killed(BaseException):
    """The function dying (timeout, out of memory): no ``except Exception`` runs."""


@pytest.mark.parametrize("status", ["COMPLETE", "ERROR"])
def test_a_crash_between_createjob_and_writing_its_id_submits_no_second_job(stack, mediaconvert, monkeypatch,
                                                                            status):
    from openips.handlers import transcode
    from openips.models.domain import utcnow
    from openips.models.outcomes import Handling
    from openips.services import renditions
    from openips.services.deps import get_deps

    deps = get_deps()
    real_hold = type(deps.claims).hold_for_job

    def dies_after_createjob(self, claim, until, external_job):
        if external_job.startswith("1733380000000-job"):  # the write of the created job's ID
            raise Killed()
        return real_hold(self, claim, until, external_job)

    monkeypatch.setattr(type(deps.claims), "hold_for_job", dies_after_createjob)
    opened = stack.open_job("batch", mediaOptions={"videoEncodingPresetsArray": ["mp4-h264-360p"]})
    assert stack.post_file(opened.body["upload"], "clip.mp4", make_video(width=96, height=64, frames=50)
                           ).status_code in (200, 204)
    job = opened.body["jobHandle"]
    assert stack.call("POST", f"/v1/upload-jobs/{job}/end").status == 202
    with pytest.raises(Killed):
        stack.drain()
    monkeypatch.setattr(type(deps.claims), "hold_for_job", real_hold)
    [request] = mediaconvert.requests
    claim = _claim_of(request)
    # SQS delivers the message again once the dead attempt's lease is over, and the sweeper may re-send it:
    # neither makes a second job.
    later = utcnow() + timedelta(seconds=deps.settings.file_lease_seconds + 1)
    for _ in range(2):
        assert renditions.run(deps, claim.task, later, transcode.transcoder,
                              transcode.rendition_jobs(deps.settings)) == Handling.DUPLICATE_DELIVERY
    assert len(mediaconvert.requests) == 1
    # The claim names the request that made the job, which the job's metadata names too.
    assert claim.external_job == f"{renditions.SUBMITTING}{request['ClientRequestToken']}"
    assert request["UserMetadata"]["requestToken"] == request["ClientRequestToken"]

    # The job the dead attempt created ends the rendition, success or failure, though the claim never named it.
    if status == "COMPLETE":
        write_output(request, b"\x00" * 10)
        event = complete(request, "1733380000000-job1", 96, 64)
    else:
        event = state_change(request, "1733380000000-job1", "ERROR", errorCode=1030, errorMessage="bad input")
    assert deliver(stack, event) == {"outcome": "UploadSuccess" if status == "COMPLETE" else "UploadError"}
    stack.drain()
    log = stack.job_log(job)
    assert (log["logType"], log["fileSuccessCount"], log["fileErrorCount"]) == (
        "EndUpload", 2 if status == "COMPLETE" else 1, 0 if status == "COMPLETE" else 1)


def test_a_rendition_smaller_than_mediaconvert_makes_is_an_error_row_not_a_submission(stack, mediaconvert):
    job = upload_and_end(stack, {"tiny.mp4": make_video(width=24, height=16, frames=50)},
                         mediaOptions={"videoEncodingPresetsArray": ["mp4-h264-360p"]})
    assert mediaconvert.requests == []
    [error] = rows(stack, job, "UploadError")
    assert error["logMessage"] == ("tiny.mp4: rendition mp4-h264-360p was not made: MediaConvert makes frames of "
                                   "32 to 8192 pixels a side, and this rendition's frame is 24×16")
    assert stack.job_log(job)["logType"] == "EndUpload"
