"""Video renditions (``mediaOptions`` encodings; docs/formats-video.md#renditions): queued by the video, made one by one.

MediaFunction, once a video's asset is stored, sends one ``TranscodeTask`` per rendition to
TranscodeQueue and completes the video with ``more_expected`` = that many: the job cannot end
before each rendition is done. TranscodeFunction (``handlers/transcode.py``) runs ``run``: it
claims the rendition like a file (a claim per rendition, counted as one file of the job), makes
it with the ``Transcoder`` (PyAV), stores it beside the video's master, adds it to the asset,
and completes the claim with its own row: ``UploadSuccess``, or ``UploadError`` naming why.
A crash is retried (the claim's attempts bound it); a lost message leaves a stalled claim that
the accounting sweep re-sends from the claim's ``task`` and, at last, closes as an error row.

The line between engines: a rendition of more than ``pyav_max_seconds`` of 720p-equivalent output
(measured: 0.75 s per second of 720p, so 600 s takes about 450 s of the function's 780 s wall
budget) goes to MediaConvert when it is enabled: ``run`` submits the job and holds the claim; ``finish_submitted``, fed by the job's
state-change event, completes the claim exactly as a PyAV rendition is completed. Without
MediaConvert, ``limits_for`` caps renditions at the line and longer videos get a warning.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from datetime import datetime, timedelta
from typing import Protocol

from openips.adapters.mediaconvert import CLAIM_KEY, JOB_KEY, STACK_KEY, TOKEN_KEY, EncodeJob, JobState, refusal
from openips.imaging import video_sniff
from openips.imaging.transcoding import (
    CODEC_NAMES,
    MAX_FRAME_RATE,
    EncodingSpec,
    RenditionFile,
    TranscodeLimits,
    Transcoder,
    fit,
)
from openips.models import errors
from openips.models.base import Model
from openips.models.domain import Asset, Company, FileClaim, Job, LogEntry, LogType, VideoRendition, utcnow
from openips.models.log_file_types import LogFileType
from openips.models.outcomes import FileOutcome, Handling, Outcome
from openips.observability import logger
from openips.services.control import CANCEL_RENDITIONS
from openips.services.deps import Deps
from openips.services.jobs import finish_if_complete
from openips.services.video_presets import RenditionRequest
from openips.settings import Settings

# A claim held while its MediaConvert job is being created names the request, not yet the job: should this
# attempt die before the job's ID is written, no later delivery submits another, and the job's event ends it.
SUBMITTING = "submitting:"
MAX_ATTEMPTS = 3  # a crash (timeout, memory) is retried twice; the third failure is the rendition's error row
_KEY_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
LINE_PIXELS = 1280 * 720  # pyav_max_seconds counts seconds of 720p output (docs: 0.75 s per second)


class RenditionJobs(Protocol):
    """An engine that makes a rendition as a job of its own, ended later by an event (``MediaConvertTranscoder``)."""

    def submit(self, job: EncodeJob) -> str: ...

    def cancel(self, job_id: str) -> bool: ...


class TranscodeTask(Model):
    """One TranscodeQueue message: which rendition of which stored video, for which job."""

    job_handle: str
    claim_id: str  # the rendition's claim: the video's claim and the rendition's position
    path: str  # the video's path in the job (its rows' filePath)
    asset_handle: str
    asset_name: str
    name: str
    preset: str | None = None
    suffix: str
    container: str
    video_encoder: str
    audio_encoder: str
    width: int
    height: int
    video_bitrate: int
    audio_bitrate: int
    frame_rate: float | None = None

    @property
    def spec(self) -> EncodingSpec:
        return EncodingSpec(self.name, self.container, self.video_encoder, self.audio_encoder, self.width,
                            self.height, self.video_bitrate, self.audio_bitrate, frame_rate=self.frame_rate)


def limits_for(deps: Deps, company: Company | None) -> tuple[int, int]:
    """(renditions per video, seconds of video per rendition): the settings, lowered by the company's own.

    Without MediaConvert the seconds stop at the line too: PyAV alone cannot make longer ones in time.
    """
    settings = deps.settings
    count, seconds = settings.max_renditions_per_video, settings.max_transcode_seconds
    if not settings.mediaconvert_enabled:
        seconds = min(seconds, settings.pyav_max_seconds)
    if company is not None and company.max_renditions_per_video is not None:
        count = min(count, company.max_renditions_per_video)
    if company is not None and company.max_transcode_seconds is not None:
        seconds = min(seconds, company.max_transcode_seconds)
    return count, seconds


def rendition_key(master_key: str, spec: EncodingSpec) -> str:
    """Beside the master (``<asset>/master``), one object per rendition name: a re-upload remakes it in place."""
    return f"{master_key.rsplit('/', 1)[0]}/renditions/{_KEY_SAFE.sub('_', spec.name)}.{spec.extension}"


def beyond_the_line(settings: Settings, asset: Asset, spec: EncodingSpec) -> bool:
    """True when this rendition goes to MediaConvert rather than to PyAV in TranscodeFunction.

    The line is in seconds of 720p output (as measured); a larger output weighs its pixels (x264's
    work grows with them: 1080p counts 2.25×), so a 1080p rendition of 5 minutes is already beyond it.
    """
    video = asset.video
    if not settings.mediaconvert_enabled or video is None or video.duration_ms is None:
        return False
    width, height = fit(video.width, video.height, spec.width, spec.height)
    weight = max(1.0, width * height / LINE_PIXELS)
    return video.duration_ms * weight > settings.pyav_max_seconds * 1000


def enqueue(deps: Deps, job: Job, video_claim: str, path: str, asset_handle: str, asset_name: str,
            requests: list[RenditionRequest]) -> int:
    """Send one task per rendition (before the video completes: a retried video sends the same claims again)."""
    for index, request in enumerate(requests):
        spec = request.spec
        task = TranscodeTask(
            job_handle=job.job_handle, claim_id=f"{video_claim}.r{index}", path=path, asset_handle=asset_handle,
            asset_name=asset_name, name=spec.name, preset=request.preset, suffix=request.suffix,
            container=spec.container, video_encoder=spec.video_encoder, audio_encoder=spec.audio_encoder,
            width=spec.width, height=spec.height, video_bitrate=spec.video_bitrate,
            audio_bitrate=spec.audio_bitrate, frame_rate=spec.frame_rate)
        deps.transcode_queue.send(task.model_dump_json())
    return len(requests)


def run(deps: Deps, body: str, now: datetime, transcoder: Transcoder, jobs: RenditionJobs | None = None) -> Outcome:
    """Make one rendition and write its row (or submit its MediaConvert job); ``RetryLater`` when it must come back."""
    message = json.loads(body)
    if message.get("type") == CANCEL_RENDITIONS:
        cancel_submitted(deps, str(message.get("jobHandle", "")), jobs)
        return Handling.CANCELLED_JOBS
    task = TranscodeTask.model_validate(message)
    job = deps.jobs.get(task.job_handle)
    if job is None or job.finished:  # deleted, or ended by the sweeper long after this message was due
        logger.error("rendition of an ended or unknown job dropped", job_handle=task.job_handle, claim=task.claim_id)
        return Handling.UNATTRIBUTED
    if job.paused:
        raise errors.RetryLater(deps.settings.paused_file_delay_seconds, Handling.PAUSED)
    lease = timedelta(seconds=deps.settings.file_lease_seconds)
    claim = FileClaim(job_handle=job.job_handle, claim_id=task.claim_id, path=task.path, lease_until=now + lease,
                      claimed=now, attempt_started=now, task=body)
    claimed = deps.claims.claim_file(claim, now)
    if claimed.status == "done":
        return Handling.DUPLICATE_DELIVERY
    if claimed.status == "busy":
        if claimed.claim.external_job:  # its MediaConvert job's event will end it
            return Handling.DUPLICATE_DELIVERY
        raise errors.RetryLater(max(1, int((claimed.claim.lease_until - now).total_seconds()) + 1), Handling.BUSY)
    claim = claimed.claim
    try:
        made = _made(deps, job, task, claim, claimed.status == "new", now, transcoder, jobs)
        if made is None:
            return Handling.SUBMITTED
        outcome, row = made
    except Exception as exc:  # noqa: BLE001 - retried, then a row: a rendition never vanishes
        if claim.attempts < MAX_ATTEMPTS:
            logger.warning("rendition failed; it will be retried", attempts=claim.attempts, exc_info=True)
            delay = deps.settings.file_retry_delays[0] if deps.settings.file_retry_delays else 0
            deps.claims.hold(claim, now + timedelta(seconds=delay), f"{type(exc).__name__}: {exc}"[:500])
            raise errors.RetryLater(delay, Handling.RETRYING) from exc
        logger.exception("rendition failed on its last attempt", claim=task.claim_id)
        outcome, row = _error(task, f"it failed {claim.attempts} times; the last error was "
                                    f"{type(exc).__name__}: {str(exc)[:300]}", "video.rendition_failed", now)
    return _complete(deps, job, task, claim, outcome, row, now)


def finish_submitted(deps: Deps, state: JobState, now: datetime) -> Outcome:
    """A MediaConvert job ended: the rendition's claim is completed as ``run`` completes it (row, counts, job end)."""
    if state.stack != deps.settings.stack_name:
        logger.warning("MediaConvert event of another stack ignored", mediaconvert_job=state.job_id)
        return Handling.UNATTRIBUTED
    claim = deps.claims.get(state.job_handle, state.claim_id)
    if claim is None or claim.task is None:
        logger.error("MediaConvert event names no rendition claim", mediaconvert_job=state.job_id)
        return Handling.UNATTRIBUTED
    if claim.status == "Done":
        return Handling.DUPLICATE_DELIVERY
    # An earlier attempt's job failing while a later one runs says nothing about the later one. The claim names
    # its job, or, when the attempt that submitted it died before writing its ID, the request that made it.
    submitted_by = f"{SUBMITTING}{state.token}" if state.token else None
    if state.status != "COMPLETE" and claim.external_job not in (state.job_id, submitted_by):
        logger.warning("MediaConvert event of a superseded job ignored", mediaconvert_job=state.job_id)
        return Handling.DUPLICATE_DELIVERY
    task = TranscodeTask.model_validate_json(claim.task)
    job = deps.jobs.get(task.job_handle)
    if job is None or job.finished:
        logger.error("rendition of an ended or unknown job dropped", job_handle=task.job_handle, claim=task.claim_id)
        return Handling.UNATTRIBUTED
    if state.status == "COMPLETE":
        outcome, row = _stored_by_mediaconvert(deps, job, task, claim, state, now)
    elif state.status == "CANCELED" and job.stopping:
        outcome, row = _error(task, f"job {job.name} was stopped while MediaConvert made it (job {state.job_id} "
                                    "cancelled)", "job.stopped", now, log_type=LogType.FILE_CANCEL)
    else:
        why = f": {state.error}" if state.error else ""
        outcome, row = _error(task, f"MediaConvert job {state.job_id} ended {state.status}{why}",
                              "video.rendition_failed", now)
    return _complete(deps, job, task, claim, outcome, row, now)


def _complete(deps: Deps, job: Job, task: TranscodeTask, claim: FileClaim, outcome: FileOutcome, row: LogEntry,
              now: datetime) -> Outcome:
    """The rendition's row, its counts and its claim at once; then the job may end (both engines)."""
    counts = {"success": 1} if outcome == FileOutcome.UPLOAD_SUCCESS else {"error": 1}
    if row.code == "job.stopped":
        counts["cancelled"] = 1
    written = max(now, utcnow())
    deps.claims.complete(claim, counts, [row.model_copy(update={"date_created": written})],
                         task.asset_handle if outcome == FileOutcome.UPLOAD_SUCCESS else None,
                         completed=written, result=outcome)
    finish_if_complete(deps, job.job_handle, now)
    return outcome


def _made(deps: Deps, job: Job, task: TranscodeTask, claim: FileClaim, first: bool, now: datetime,
          transcoder: Transcoder, jobs: RenditionJobs | None) -> tuple[FileOutcome, LogEntry] | None:
    """The rendition's outcome and row; None when its MediaConvert job was submitted (its event ends it)."""
    if job.stopping and first:
        return _error(task, f"job {job.name} was stopped before it started", "job.stopped", now,
                      log_type=LogType.FILE_CANCEL)
    asset = deps.assets.get(task.asset_handle)
    if asset is None or asset.video is None:
        return _error(task, "the video asset no longer exists", "video.rendition_failed", now)
    _, max_seconds = limits_for(deps, deps.companies.get(job.company_handle))
    if jobs is not None and beyond_the_line(deps.settings, asset, task.spec):
        if job.stopping:  # a retry of a stopped job's rendition starts no job that stopJob would have cancelled
            return _error(task, f"job {job.name} was stopped before its MediaConvert job was submitted",
                          "job.stopped", now, log_type=LogType.FILE_CANCEL)
        if claim.attempts > MAX_ATTEMPTS:  # each attempt's job ended without an event reaching us
            return _error(task, f"MediaConvert did not report {claim.attempts - 1} jobs in time", "video.rendition_failed",
                          now)
        request = encode_job(deps.settings.assets_bucket, deps.settings.stack_name, task, asset, max_seconds,
                             claim.attempts)
        why = refusal(request)
        if why is not None:
            return _error(task, why, "video.rendition_failed", now)
        _submit(deps, task, claim, request, jobs, now)
        return None
    limits = TranscodeLimits(max_pixels=deps.settings.max_image_pixels,
                             max_seconds_of_video=min(max_seconds, deps.settings.pyav_max_seconds),
                             max_wall_seconds=deps.settings.transcode_wall_seconds)
    bucket = deps.settings.assets_bucket
    spec = task.spec
    with tempfile.TemporaryDirectory(prefix="openips-rendition-") as tmp:
        source = os.path.join(tmp, "master")
        deps.storage.download(bucket, asset.master_key, source)
        with open(source, "rb") as fh:
            container = video_sniff.sniff(fh.read(65536), os.path.getsize(source))
        if container is None:
            return _error(task, "the stored master is not a video container", "video.rendition_failed", now)
        try:
            made = transcoder.transcode(source, container, spec, os.path.join(tmp, f"out.{spec.extension}"), limits)
        except errors.FileRejectedError as exc:
            return _error(task, exc.message, exc.code, now)
        key = rendition_key(asset.master_key, spec)
        deps.storage.upload(made.path, bucket, key, spec.content_type)
    return _recorded(deps, job, task, asset, key, made, now)


def _submit(deps: Deps, task: TranscodeTask, claim: FileClaim, request: EncodeJob, jobs: RenditionJobs,
            now: datetime) -> None:
    """One MediaConvert job for this rendition; the claim is held for it, naming the job (``external_job``).

    The claim is held, naming the request, before ``CreateJob``: a crash between the job's creation and
    the write of its ID leaves a claim that later deliveries leave alone and the job's event completes.
    A job that stopJob's cancellation pass could not see yet (its ID not written) is cancelled here.
    """
    until = now + timedelta(seconds=deps.settings.mediaconvert_wait_seconds)
    if not deps.claims.hold_for_job(claim, until, f"{SUBMITTING}{request.token}"):
        logger.warning("the rendition's claim changed before its MediaConvert job was submitted", claim=task.claim_id)
        return
    held = claim.model_copy(update={"lease_until": until})
    try:
        job_id = jobs.submit(request)
    except Exception:
        # CreateJob answered an error (botocore's own retries kept the token): no job. The claim gets its
        # lease back, so ``run`` fails this attempt and retries it as any other.
        deps.claims.hold(held, claim.lease_until, "CreateJob failed")
        raise
    logger.info("rendition submitted to MediaConvert", rendition=task.name, mediaconvert_job=job_id)
    try:
        written = deps.claims.hold_for_job(held, until, job_id)
    except Exception:  # noqa: BLE001 - the job exists: never retried into a second one; its event ends the claim
        logger.exception("the MediaConvert job's ID was not written to its claim", mediaconvert_job=job_id)
        return
    if not written:
        logger.warning("the rendition's claim changed while its MediaConvert job was submitted", claim=task.claim_id)
    current = deps.jobs.get(task.job_handle)
    if current is not None and current.stopping and jobs.cancel(job_id):
        logger.info("MediaConvert job of a stopped job cancelled", mediaconvert_job=job_id)


def cancel_submitted(deps: Deps, job_handle: str, jobs: RenditionJobs | None) -> int:
    """stopJob, deleteJob and an expired pause: cancel the job's running MediaConvert jobs (how many were).

    Each cancelled job's CANCELED event then writes its rendition's ``FileCancel`` row, and the job ends.
    A claim still naming its request (its job being created) is cancelled by ``_submit`` itself, which
    reads the job after writing the ID.
    """
    if jobs is None or not job_handle:
        return 0
    cancelled = 0
    for claim in deps.claims.list_for_job(job_handle, processing_only=True):
        if claim.external_job and not claim.external_job.startswith(SUBMITTING) and jobs.cancel(claim.external_job):
            cancelled += 1
    logger.info("MediaConvert jobs of a stopped job cancelled", job_handle=job_handle, cancelled=cancelled)
    return cancelled


def encode_job(bucket: str, stack: str, task: TranscodeTask, asset: Asset, max_seconds: int,
               attempt: int) -> EncodeJob:
    """The MediaConvert job of one rendition: the PyAV path's choices (fit, frame rate, keyframes) in its terms."""
    if asset.video is None:
        raise ValueError("only a video asset has renditions")
    spec, video = task.spec, asset.video
    width, height = fit(video.width, video.height, spec.width, spec.height)
    key = rendition_key(asset.master_key, spec)
    token = f"{task.claim_id}.a{attempt}"
    return EncodeJob(
        source_uri=f"s3://{bucket}/{asset.master_key}", destination_uri=f"s3://{bucket}/{key.rsplit('.', 1)[0]}",
        container="webm" if spec.container == "webm" else "mp4", width=width, height=height,
        video_bitrate=spec.video_bitrate, audio_bitrate=spec.audio_bitrate, has_audio=video.audio_codec is not None,
        frame_rate=spec.frame_rate or min(video.frame_rate or 25.0, MAX_FRAME_RATE),
        keyframe_seconds=spec.keyframe_seconds, max_seconds=max_seconds, token=token,
        metadata={STACK_KEY: stack, JOB_KEY: task.job_handle, CLAIM_KEY: task.claim_id, TOKEN_KEY: token})


def _stored_by_mediaconvert(deps: Deps, job: Job, task: TranscodeTask, claim: FileClaim, state: JobState,
                            now: datetime) -> tuple[FileOutcome, LogEntry]:
    asset = deps.assets.get(task.asset_handle)
    if asset is None or asset.video is None:
        return _error(task, "the video asset no longer exists", "video.rendition_failed", now)
    spec = task.spec
    key = rendition_key(asset.master_key, spec)
    size = deps.storage.head_size(deps.settings.assets_bucket, key)
    if size is None or (state.output_key is not None and state.output_key != key):
        return _error(task, f"MediaConvert job {state.job_id} reported no file at the rendition's key",
                      "video.rendition_failed", now)
    width, height = fit(asset.video.width, asset.video.height, spec.width, spec.height)
    started = claim.attempt_started or claim.claimed or now
    made = RenditionFile(
        path=key, width=state.width or width, height=state.height or height,
        duration_ms=state.duration_ms or asset.video.duration_ms or 0, frames=0,
        video_codec=CODEC_NAMES.get(spec.video_encoder, spec.video_encoder),
        audio_codec=CODEC_NAMES.get(spec.audio_encoder, spec.audio_encoder) if asset.video.audio_codec else None,
        size=size, seconds=max(0.0, (now - started).total_seconds()))
    return _recorded(deps, job, task, asset, key, made, now)


def _recorded(deps: Deps, job: Job, task: TranscodeTask, asset: Asset, key: str, made: RenditionFile,
              now: datetime) -> tuple[FileOutcome, LogEntry]:
    """A stored rendition (either engine) added to its asset, and its success row."""
    spec = task.spec
    rendition = VideoRendition(
        name=spec.name, preset=task.preset, key=key, file_name=f"{asset.name}{task.suffix}.{spec.extension}",
        container=spec.container, video_codec=made.video_codec, audio_codec=made.audio_codec, width=made.width,
        height=made.height, duration_ms=made.duration_ms, video_bitrate=spec.video_bitrate, size=made.size,
        job_handle=job.job_handle, created=now)
    if not deps.assets.add_rendition(asset.asset_handle, rendition):
        return _error(task, "the video asset was deleted while it was transcoded", "video.rendition_failed", now)
    audio = f"audio {made.audio_codec}" if made.audio_codec else "no audio"
    params = {"path": task.path, "name": spec.name, "asset": task.asset_name, "container": spec.container.upper(),
              "codec": made.video_codec, "width": made.width, "height": made.height, "audio": audio,
              "seconds": f"{made.duration_ms / 1000:.2f}", "size": made.size, "took": f"{made.seconds:.2f}"}
    logger.info("rendition made", rendition=spec.name, seconds=made.seconds, size=made.size)
    return FileOutcome.UPLOAD_SUCCESS, LogEntry.localised(
        LogType.UPLOAD_SUCCESS, "video.rendition_made", params, now, file_path=task.path,
        asset_handle=task.asset_handle, asset_name=task.asset_name, asset_type=LogFileType.VIDEO)


def _error(task: TranscodeTask, reason: str, code: str, now: datetime,
           log_type: LogType = LogType.UPLOAD_ERROR) -> tuple[FileOutcome, LogEntry]:
    outcome = FileOutcome.FILE_CANCEL if log_type == LogType.FILE_CANCEL else FileOutcome.UPLOAD_ERROR
    row = LogEntry.localised(log_type, "video.rendition_error", {"path": task.path, "name": task.name,
                                                                  "reason": reason}, now,
                             file_path=task.path, asset_handle=task.asset_handle, asset_name=task.asset_name,
                             asset_type=LogFileType.VIDEO, code=code)
    return outcome, row
