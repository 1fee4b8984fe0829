"""Video renditions (``mediaOptions`` encodings; docs/formats-video.md#renditions): queued by the video, made one by one.

MediaFunction, once a video's asset is stored, sends one ``TranscodeTask`` per rendition to
TranscodeQueue and completes the video with ``more_expected`` = that many: the job cannot end
before each rendition is done. TranscodeFunction (``handlers/transcode.py``) runs ``run``: it
claims the rendition like a file (a claim per rendition, counted as one file of the job), makes
it with the ``Transcoder`` (PyAV), stores it beside the video's master, adds it to the asset,
and completes the claim with its own row: ``UploadSuccess``, or ``UploadError`` naming why.
A crash is retried (the claim's attempts bound it); a lost message leaves a stalled claim that
the accounting sweep re-sends from the claim's ``task`` and, at last, closes as an error row.
"""

from __future__ import annotations

import os
import re
import tempfile
from datetime import datetime, timedelta

from openips.imaging import video_sniff
from openips.imaging.transcoding import EncodingSpec, TranscodeLimits, Transcoder
from openips.models import errors
from openips.models.base import Model
from openips.models.domain import Company, FileClaim, Job, LogEntry, LogType, VideoRendition, utcnow
from openips.models.log_file_types import LogFileType
from openips.models.outcomes import FileOutcome, Handling, Outcome
from openips.observability import logger
from openips.services.deps import Deps
from openips.services.jobs import finish_if_complete
from openips.services.video_presets import RenditionRequest

MAX_ATTEMPTS = 3  # a crash (timeout, memory) is retried twice; the third failure is the rendition's error row
_KEY_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


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
    """(renditions per video, seconds of video per rendition): the settings, lowered by the company's own."""
    settings = deps.settings
    count, seconds = settings.max_renditions_per_video, settings.max_transcode_seconds
    if company is not None and company.max_renditions_per_video is not None:
        count = min(count, company.max_renditions_per_video)
    if company is not None and company.max_transcode_seconds is not None:
        seconds = min(seconds, company.max_transcode_seconds)
    return count, seconds


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


def run(deps: Deps, body: str, now: datetime, transcoder: Transcoder) -> Outcome:
    """Make one rendition and write its row; ``RetryLater`` when it must come back (paused job, busy claim)."""
    task = TranscodeTask.model_validate_json(body)
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
        raise errors.RetryLater(max(1, int((claimed.claim.lease_until - now).total_seconds()) + 1), Handling.BUSY)
    claim = claimed.claim
    try:
        outcome, row = _made(deps, job, task, claim, claimed.status == "new", now, transcoder)
    except Exception as exc:  # noqa: BLE001 - retried, then a row: a rendition never vanishes
        if claim.attempts < MAX_ATTEMPTS:
            logger.warning("rendition failed; it will be retried", attempts=claim.attempts, exc_info=True)
            delay = deps.settings.file_retry_delays[0] if deps.settings.file_retry_delays else 0
            deps.claims.hold(claim, now + timedelta(seconds=delay), f"{type(exc).__name__}: {exc}"[:500])
            raise errors.RetryLater(delay, Handling.RETRYING) from exc
        logger.exception("rendition failed on its last attempt", claim=task.claim_id)
        outcome, row = _error(task, f"it failed {claim.attempts} times; the last error was "
                                    f"{type(exc).__name__}: {str(exc)[:300]}", "video.rendition_failed", now)
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
          transcoder: Transcoder) -> tuple[FileOutcome, LogEntry]:
    if job.stopping and first:
        return _error(task, f"job {job.name} was stopped before it started", "job.stopped", now,
                      log_type=LogType.FILE_CANCEL)
    asset = deps.assets.get(task.asset_handle)
    if asset is None or asset.video is None:
        return _error(task, "the video asset no longer exists", "video.rendition_failed", now)
    _, max_seconds = limits_for(deps, deps.companies.get(job.company_handle))
    limits = TranscodeLimits(max_pixels=deps.settings.max_image_pixels, max_seconds_of_video=max_seconds,
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
        # Beside the master (``<asset>/master``), one object per rendition name: a re-upload remakes it in place.
        key = f"{asset.master_key.rsplit('/', 1)[0]}/renditions/{_KEY_SAFE.sub('_', spec.name)}.{spec.extension}"
        deps.storage.upload(made.path, bucket, key, spec.content_type)
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
