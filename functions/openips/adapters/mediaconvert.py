"""AWS Elemental MediaConvert: one job per video rendition too long for TranscodeFunction (docs/formats-video.md#renditions).

``MediaConvertTranscoder.submit`` turns an ``EncodeJob`` (plain data: openips' preset already
resolved to sizes, bitrates and codecs by ``services.renditions``) into ``CreateJob``: the
master in the assets bucket as the input, one File group output at the rendition's key, the
service role from the settings and ``UserMetadata`` naming the stack, job and claim. The job's
end comes back as an EventBridge "MediaConvert Job State Change" event; ``job_state`` reads
the fields openips uses from it. MediaConvert encodes MP4 (H.264 + AAC) and WebM (VP9 + Opus),
which are exactly the two families openips ships, so every rendition can take either engine.
No PyAV, no openips.imaging: this module only speaks MediaConvert's JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, Literal

import boto3
from botocore.exceptions import ClientError

# Metadata keys: the EventBridge rule matches openipsStack; the handler finds the claim with the next two,
# and the submission (its ClientRequestToken) with the last: a job whose ID never reached the claim.
STACK_KEY, JOB_KEY, CLAIM_KEY, TOKEN_KEY = "openipsStack", "jobHandle", "claimId", "requestToken"
AUDIO_SELECTOR = "Audio Selector 1"
FINAL_STATES = ("COMPLETE", "ERROR", "CANCELED")
# MediaConvert's bounds (botocore's model; tests/unit/test_mediaconvert_request.py compares them with it).
FRAME_SIDES = (32, 8192)  # VideoDescription Width and Height
AUDIO_BITRATES = {"mp4": (6_000, 1_024_000), "webm": (32_000, 192_000)}  # AAC, Opus
# CancelJob's answers for a job that has already ended (or never existed): nothing left to cancel.
_NOTHING_TO_CANCEL = ("ConflictException", "BadRequestException", "NotFoundException")


@dataclass(frozen=True, slots=True)
class EncodeJob:
    """One rendition for MediaConvert, in its terms: where from, where to, and how."""

    source_uri: str  # s3://assets/<asset>/master
    destination_uri: str  # s3://assets/<asset>/renditions/<name> (MediaConvert appends ".<extension>")
    container: Literal["mp4", "webm"]
    width: int  # the output frame, already fitted to the box (even, aspect kept, never enlarged)
    height: int
    video_bitrate: int  # bits per second
    audio_bitrate: int
    has_audio: bool  # the source has an audio stream (MediaConvert fails a job whose selector finds none)
    frame_rate: float  # output frames per second
    keyframe_seconds: float
    max_seconds: int  # the input is clipped here: a header that lies about the length cannot run up the bill
    token: str  # ClientRequestToken: a retried submission of one attempt makes one job
    metadata: dict[str, str] = field(default_factory=dict)


def refusal(job: EncodeJob) -> str | None:
    """Why MediaConvert cannot make this rendition (a frame smaller than it encodes), or None."""
    low, high = FRAME_SIDES
    if not (low <= job.width <= high and low <= job.height <= high):
        return (f"MediaConvert makes frames of {low} to {high} pixels a side, and this rendition's frame "
                f"is {job.width}×{job.height}")
    return None


def job_request(job: EncodeJob, role_arn: str) -> dict[str, Any]:
    """The ``CreateJob`` arguments for one rendition (pure: the unit tests read it).

    The audio bitrate is brought into the codec's range (Opus: 32–192 kbit/s), where PyAV takes 16–320.
    """
    low, high = AUDIO_BITRATES[job.container]
    audio_bitrate = min(max(job.audio_bitrate, low), high)
    rate = Fraction(job.frame_rate).limit_denominator(1001)
    gop_frames = max(1, round(job.frame_rate * job.keyframe_seconds))
    if job.container == "mp4":
        codec: dict[str, Any] = {"Codec": "H_264", "H264Settings": {
            "RateControlMode": "VBR", "Bitrate": job.video_bitrate, "CodecProfile": "HIGH",
            "GopSize": float(gop_frames), "GopSizeUnits": "FRAMES", "FramerateControl": "SPECIFIED",
            "FramerateNumerator": rate.numerator, "FramerateDenominator": rate.denominator}}
        audio: dict[str, Any] = {"Codec": "AAC", "AacSettings": {
            "Bitrate": audio_bitrate, "CodingMode": "CODING_MODE_2_0", "SampleRate": 48000}}
        # PROGRESSIVE_DOWNLOAD puts the moov atom first: the PyAV path's +faststart.
        container: dict[str, Any] = {"Container": "MP4", "Mp4Settings": {"MoovPlacement": "PROGRESSIVE_DOWNLOAD"}}
    else:
        codec = {"Codec": "VP9", "Vp9Settings": {
            "RateControlMode": "VBR", "Bitrate": job.video_bitrate, "GopSize": float(gop_frames),
            "FramerateControl": "SPECIFIED", "FramerateNumerator": rate.numerator,
            "FramerateDenominator": rate.denominator}}
        audio = {"Codec": "OPUS", "OpusSettings": {"Bitrate": audio_bitrate, "Channels": 2, "SampleRate": 48000}}
        container = {"Container": "WEBM"}
    output: dict[str, Any] = {
        "Extension": job.container, "ContainerSettings": container,
        "VideoDescription": {"Width": job.width, "Height": job.height, "ScalingBehavior": "DEFAULT",
                             "CodecSettings": codec}}
    hours, rest = divmod(min(job.max_seconds, 86_399), 3600)  # a timecode stops at 23:59:59
    end = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}:00"
    source: dict[str, Any] = {"FileInput": job.source_uri, "TimecodeSource": "ZEROBASED", "VideoSelector": {},
                              "InputClippings": [{"EndTimecode": end}]}
    if job.has_audio:
        output["AudioDescriptions"] = [{"AudioSourceName": AUDIO_SELECTOR, "CodecSettings": audio}]
        source["AudioSelectors"] = {AUDIO_SELECTOR: {"DefaultSelection": "DEFAULT"}}
    return {
        "Role": role_arn,
        "ClientRequestToken": job.token,
        "UserMetadata": dict(job.metadata),
        "StatusUpdateInterval": "SECONDS_60",
        "Settings": {
            "TimecodeConfig": {"Source": "ZEROBASED"},
            "Inputs": [source],
            "OutputGroups": [{
                "Name": "File Group",
                "OutputGroupSettings": {"Type": "FILE_GROUP_SETTINGS",
                                        "FileGroupSettings": {"Destination": job.destination_uri}},
                "Outputs": [output]}],
        },
    }


class MediaConvertTranscoder:
    """Submits rendition jobs to MediaConvert (the client is made on first use: cold starts stay light)."""

    def __init__(self, role_arn: str, endpoint_url: str | None = None, client: Any = None) -> None:
        self.role_arn = role_arn
        self.endpoint_url = endpoint_url or None  # None: the regional endpoint (account endpoints are optional)
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.client("mediaconvert", endpoint_url=self.endpoint_url)
        return self._client

    def submit(self, job: EncodeJob) -> str:
        """Create the job; its ID. Raises botocore's errors (the caller retries, then writes an error row)."""
        answer = self.client.create_job(**job_request(job, self.role_arn))
        return str(answer["Job"]["Id"])

    def cancel(self, job_id: str) -> bool:
        """Cancel a job; False when it had already ended (its final event is on its way, or came)."""
        try:
            self.client.cancel_job(Id=job_id)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _NOTHING_TO_CANCEL:
                return False
            raise
        return True


@dataclass(frozen=True, slots=True)
class JobState:
    """What openips reads of one "MediaConvert Job State Change" event."""

    job_id: str
    status: str  # COMPLETE, ERROR, CANCELED (the rule sends no others)
    stack: str
    job_handle: str
    claim_id: str
    token: str | None = None  # the submission's ClientRequestToken (``UserMetadata``)
    output_key: str | None = None  # COMPLETE: the file written, as a key of its bucket
    width: int | None = None
    height: int | None = None
    duration_ms: int | None = None
    error: str | None = None  # ERROR: MediaConvert's code and message


def job_state(event: dict[str, Any]) -> JobState | None:
    """The event's state; None for an event that is not a final state of an openips job."""
    detail = event.get("detail")
    if not isinstance(detail, dict) or detail.get("status") not in FINAL_STATES:
        return None
    metadata = detail.get("userMetadata") or {}
    names = (metadata.get(STACK_KEY), metadata.get(JOB_KEY), metadata.get(CLAIM_KEY))
    if not all(isinstance(name, str) and name for name in names):
        return None
    stack, job_handle, claim_id = (str(name) for name in names)
    token = metadata.get(TOKEN_KEY)
    state = JobState(job_id=str(detail.get("jobId", "")), status=str(detail["status"]), stack=stack,
                     job_handle=job_handle, claim_id=claim_id, token=token if isinstance(token, str) else None)
    if state.status == "ERROR":
        message = str(detail.get("errorMessage") or "no message")[:300]
        return replace(state, error=f"{detail.get('errorCode', 'unknown code')}: {message}")
    if state.status != "COMPLETE":
        return state
    for group in detail.get("outputGroupDetails") or []:
        for output in group.get("outputDetails") or []:
            paths = output.get("outputFilePaths") or []
            video = output.get("videoDetails") or {}
            if paths and str(paths[0]).startswith("s3://"):
                return replace(state, output_key=str(paths[0]).split("/", 3)[3],
                                width=_int(video.get("widthInPx")), height=_int(video.get("heightInPx")),
                                duration_ms=_int(output.get("durationInMs")))
    return state


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
