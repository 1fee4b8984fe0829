"""Video uploads (``mediaOptions``, spec §5.13, §9.6): a ``Video`` or ``MasterVideo`` asset with its poster.

MediaFunction (handlers/process_media.py) runs this (``media_options`` registers it), inside the
same ``process_object`` path as every file (claim, job checks, pause, refusals, counts,
completion); ProcessFileFunction hands videos over without claiming them. The decisions, in docs/formats-video.md:

* **Asset type.** The master is the uploaded file, byte for byte. ``Video`` when web browsers
  play it as it is (``PLAYABLE``: H.264 in MP4/M4V/MOV, VP8/VP9/AV1 in WebM, Theora/VP8 in
  Ogg, with browser audio or none); otherwise ``MasterVideo``: stored, not previewable.
* **Poster.** The first frame by default (``generateThumbnail`` unset counts as true), the
  frame shown at ``thumbnailOptions.thumbnailTime`` when given (past the end: the first frame
  and an ``UploadWarning``), none with ``generateThumbnail: false`` and no ``thumbnailOptions``.
  The frame goes through the job's raster pipeline (crops, colour, sharpening) like an EPS or
  PSD preview and becomes the asset's pyramid TIFF. ``createMask`` does not apply: a video
  frame has no clipping path.
* **Renditions** (``videoEncodingPresetsArray``, ``videoEncodingArray``): each encoding that can
  be made (``services.video_presets``) is queued to TranscodeQueue once the asset is stored, and
  the video completes with that many more files expected, so the job waits for them
  (``services.renditions``); each one asked for that cannot be made is a warning in this row.
  ``avsEncodingArray`` is stored only.

PyAV is only touched through ``openips.imaging.video``.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from openips.imaging import video, video_sniff
from openips.models import errors
from openips.models.domain import VideoInfo
from openips.models.messages import message
from openips.models.outcomes import FileOutcome
from openips.models.upload_job import MediaOptions
from openips.services.ingest.context import Upload
from openips.services.ingest.outcome import Content, FileResult, finish_file
from openips.services.ingest.raster import image_content
from openips.services import renditions, video_presets

# What web browsers play as it is: container → (video codecs, audio codecs); FFmpeg's codec names.
# HEVC is left out: Firefox and Chrome without hardware support do not play it.
_MP4_FAMILY = (frozenset({"h264"}), frozenset({"aac", "mp3"}))
PLAYABLE: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "MP4": _MP4_FAMILY, "M4V": _MP4_FAMILY, "MOV": _MP4_FAMILY,
    "WebM": (frozenset({"vp8", "vp9", "av1"}), frozenset({"vorbis", "opus"})),
    "Ogg": (frozenset({"theora", "vp8"}), frozenset({"vorbis", "opus"})),
}


def ingest(upload: Upload) -> FileResult:
    """One video upload → its asset (master, poster pyramid TIFF, ``video`` info), its row, its renditions queued."""
    content, requests = video_content(upload)
    result = finish_file(upload, content)
    stored = result.outcome in (FileOutcome.UPLOAD_SUCCESS, FileOutcome.FILE_UPDATED)
    asset = upload.deps.assets.get(result.asset_handle) if requests and stored and result.asset_handle else None
    if asset is not None:
        sent = renditions.enqueue(upload.deps, upload.job, upload.claim.claim_id, upload.target.path,
                                  asset.asset_handle, asset.name, requests)
        result = replace(result, more_expected=result.more_expected + sent)
    return result


def video_content(upload: Upload) -> tuple[Content, list[video_presets.RenditionRequest]]:
    deps, job, source, tmp = upload.deps, upload.job, upload.source, upload.tmp
    container = upload.sniff.video  # the routing's answer: the same function on the same first bytes
    if container is None:  # only a hand-made MediaQueue message can get here
        raise errors.UnsupportedFormatError("the file reached the media function but is not a video container")
    video_sniff.check_structure(source, container)
    max_pixels = deps.settings.max_image_pixels
    streams = video.probe(source, container, max_pixels=max_pixels)
    options = job.options.media_options
    asset_type, why = classify(streams)
    time_ms = poster_time(options)
    warnings: list[Any] = []
    raster: Content | None = None
    poster: video.Poster | None = None
    if time_ms is not None and not streams.decodable:
        warnings.append(message("video.no_decoder", codec=streams.video_codec))
    elif time_ms is not None:
        poster = video.poster(source, container, os.path.join(tmp, "poster.tif"), time_ms=time_ms,
                              duration_ms=streams.duration_ms, max_pixels=max_pixels)
        if poster.beyond_end:
            warnings.append(message("video.time_beyond_end", time=time_ms, duration=_duration(streams.duration_ms)))
        if poster.capped:
            warnings.append(message("video.poster_capped", time=time_ms, frames=video.MAX_DECODED_FRAMES,
                                    used=poster.time_ms))
        # createMask: a video frame carries no clipping path, so it would only ever warn.
        frame_job = job.model_copy(update={"options": job.options.model_copy(update={"create_mask": False})})
        raster = image_content(deps, frame_job, upload.company, upload.target, poster.path, tmp, upload.replacing)
    presets, encodings, avs = requested_encodings(options)
    max_renditions, max_seconds = renditions.limits_for(deps, upload.company)
    plan = video_presets.plan(options, streams.duration_ms, max_renditions, max_seconds)
    if plan.requests and not streams.decodable:
        warnings.append(f"no rendition was made: openips has no decoder for the {streams.video_codec} video codec")
        plan = video_presets.Plan([], plan.warnings)
    warnings.extend(plan.warnings)
    info = VideoInfo(container=container.label, format_name=streams.format_name, duration_ms=streams.duration_ms,
                     width=streams.width, height=streams.height, video_codec=streams.video_codec,
                     frame_rate=streams.frame_rate, bit_rate=streams.bit_rate, audio_codec=streams.audio_codec,
                     poster_time_ms=poster.time_ms if poster else None, encoding_presets=presets,
                     encodings=encodings, avs_encodings=avs)
    summary = message(
        "video.summary", type=asset_type, streams=_streams_text(streams),
        playable=message("video.not_playable", why=why) if why else "",
        poster=(message("video.poster", time=poster.time_ms, raster=raster.summary) if poster and raster
                else message("video.no_poster") if time_ms is None else ""),
        encodings=message("video.encodings", names=", ".join(r.spec.name for r in plan.requests))
        if plan.requests else "")
    base = raster or Content(type=asset_type, summary="")
    return replace(base, type=asset_type, summary=summary, width=streams.width, height=streams.height,
                   warnings=(*warnings, *base.warnings), video=info), plan.requests


def classify(streams: video.VideoStreams) -> tuple[str, str | None]:
    """``("Video", None)`` when browsers play the file as it is, else ``("MasterVideo", why not)``."""
    playable = PLAYABLE.get(streams.container.label)
    if playable is None:
        return "MasterVideo", f"{streams.container.label} files"
    video_codecs, audio_codecs = playable
    if streams.video_codec not in video_codecs:
        return "MasterVideo", f"{streams.video_codec} video in {streams.container.label}"
    if streams.audio_codec is not None and streams.audio_codec not in audio_codecs:
        return "MasterVideo", f"{streams.audio_codec} audio in {streams.container.label}"
    return "Video", None


def poster_time(options: MediaOptions | None) -> int | None:
    """Milliseconds from the start of the frame to use as the poster; None: no poster."""
    if options is not None and options.thumbnail_options is not None:
        return options.thumbnail_options.thumbnail_time or 0
    if options is not None and options.generate_thumbnail is False:
        return None
    return 0  # spec §5.13: generateThumbnail true is the first frame; unset counts as true


def requested_encodings(options: MediaOptions | None) -> tuple[list[str], list[str], list[str]]:
    """Preset handles, ``videoEncodingArray`` names and ``avsEncodingArray`` names, as asked."""
    if options is None:
        return [], [], []
    return (list(options.video_encoding_presets_array or []),
            [e.name for e in options.video_encoding_array or []],
            [e.name for e in options.avs_encoding_array or []])


def _streams_text(streams: video.VideoStreams) -> str:
    """``MP4, h264 1920×1080, 25 fps, 12.48 s, audio aac`` — technical, so English in every language."""
    parts = [streams.container.label, f"{streams.video_codec} {streams.width}×{streams.height}"]
    if streams.frame_rate:
        parts.append(f"{streams.frame_rate:g} fps")
    parts.append(_duration(streams.duration_ms))
    parts.append(f"audio {streams.audio_codec}" if streams.audio_codec else "no audio")
    return ", ".join(parts)


def _duration(duration_ms: int | None) -> str:
    return f"{duration_ms / 1000:.2f} s" if duration_ms is not None else "duration unknown"
