"""Domain records: companies, users, jobs, files, assets and job-log rows.

These are what the store persists; the API answers with the shapes in ``api.py``.
"""

import secrets
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import Field

from openips.models.base import Model
from openips.models.messages import MESSAGES, render
from openips.models.outcomes import FileOutcome
from openips.models.processing import CropRect, NamedCrop
from openips.models.upload_job import IpsModel, UploadPostJob

Role = Literal[
    "IpsAdmin", "IpsCompanyAdmin", "IpsUser", "ImagePortalUser",
]
OverwriteMode = Literal[
    "OverwriteFullName", "OverwriteAnyExt", "OverwriteFullNameAnyFolder", "OverwriteAnyExtAnyFolder"
]
PublishState = Literal["MarkedForPublish", "NotMarkedForPublish"]

_HANDLE_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


def new_handle(prefix: str) -> str:
    """An opaque, URL-safe handle with a readable prefix (``c-``, ``u-``, ``j-``, ``a-``)."""
    return f"{prefix}-" + "".join(secrets.choice(_HANDLE_ALPHABET) for _ in range(20))


def utcnow() -> datetime:
    """Now, in UTC, to the millisecond (what the store and the API show)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class JobState(StrEnum):
    """``ActiveJob/state`` values (spec §8.5) plus our terminal ``Done``."""

    WAITING_CLIENT = "WaitingClient"
    RUNNING = "Running"
    WAITING_COORDINATOR = "WaitingCoordinator"
    STOPPING = "Stopping"
    DONE = "Done"


class LogType(StrEnum):
    BEGIN_UPLOAD = "BeginUpload"
    END_UPLOAD = "EndUpload"
    UPLOAD_SUCCESS = "UploadSuccess"
    FILE_UPDATED = "FileUpdated"
    DUPLICATE_SKIPPED = "DuplicateSkipped"
    UPLOAD_WARNING = "UploadWarning"
    UPLOAD_ERROR = "UploadError"
    FILE_CANCEL = "FileCancel"
    FATAL_ERROR = "FatalError"
    PDF_RIP_ERROR = "PdfRipError"  # a page of a PDF, Illustrator or InDesign file that could not be rendered
    # openips extension: a job-end e-mail or webhook that was delivered (docs/notifications.md);
    # failed notifications are UploadWarning rows.
    NOTIFICATION_SENT = "NotificationSent"


class Company(Model):
    company_handle: str
    name: str
    overwrite_mode: OverwriteMode = "OverwriteFullName"
    retain_publish_state: bool = False
    max_file_size: int | None = None
    # Spec §3.3: every file of a job must come from the IP address that opened it.
    enforce_same_ip: bool = True
    # Spec §5.11: the source profile for CMYK files without one (an IccProfile asset handle).
    default_source_profile_handle: str | None = None
    # The RGB profile ``Default`` converts CMYK files to, instead of sRGB (an IccProfile asset handle).
    default_display_profile_handle: str | None = None
    # File types by extension (lower case, no dot): blocked ones are refused; when the allowed
    # list is set, only those are processed. Refused files are kept and logged (UploadError).
    allowed_file_types: list[str] | None = None
    blocked_file_types: list[str] = Field(default_factory=list)
    # Cache-Control max-age (seconds) of its renditions (GET /is/image/…, docs/delivery.md), unless a
    # request's ``cache=`` modifier says otherwise; 10 hours, as Dynamic Media's default cache TTL.
    delivery_cache_max_age: int = Field(default=36000, ge=0, le=31_536_000)
    # Video renditions (docs/formats-video.md#renditions): lower than the deployment's settings only.
    max_renditions_per_video: int | None = Field(default=None, ge=0)
    max_transcode_seconds: int | None = Field(default=None, gt=0)


class User(Model):
    user_handle: str
    company_handle: str
    email: str
    role: Role


class JobCounts(Model):
    received: int = 0
    done: int = 0
    success: int = 0
    error: int = 0
    warning: int = 0
    duplicate: int = 0
    update: int = 0
    cancelled: int = 0  # by stopJob/deleteJob; also counted in ``error``
    total_size: int = 0
    log_rows: int = 0


class JobClock(Model):
    """The few fields of an active job the sweeper decides on (its options are never read)."""

    job_handle: str
    company_handle: str
    state: JobState
    closed: bool = False
    last_activity: datetime
    closed_at: datetime | None = None
    end_date: datetime | None = None
    paused_at: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.state == JobState.DONE

    @property
    def paused(self) -> bool:
        return self.state == JobState.WAITING_COORDINATOR


class Job(Model):
    job_handle: str
    company_handle: str
    name: str
    original_name: str
    description: str = ""
    locale: str = "en-US"
    dest_folder: str = ""
    submit_user_handle: str
    submit_user_email: str
    source_ip: str | None = None
    options: UploadPostJob
    state: JobState = JobState.WAITING_CLIENT
    closed: bool = False
    close_reason: str | None = None
    expected_files: int = 0
    repairs: int = 0  # accounting repairs made (services.accounting); bounded before a forced end
    fatal_error: bool = False
    start_date: datetime
    last_activity: datetime
    closed_at: datetime | None = None
    end_date: datetime | None = None
    finalized: bool = False
    # When pauseJob last paused it (kept after resumeJob; the state says whether it is paused).
    paused_at: datetime | None = None
    stopped_by: str | None = None  # "stopJob", "deleteJob", or MaxPauseSeconds (services.control)
    deleted: bool = False
    counts: JobCounts = Field(default_factory=JobCounts)

    @property
    def finished(self) -> bool:
        return self.state == JobState.DONE

    def drained(self, force: bool = False) -> bool:
        """Every received file is done, and (unless ``force``) every expected one was received."""
        counts = self.counts
        return counts.done == counts.received and (force or counts.received >= self.expected_files)

    @property
    def paused(self) -> bool:
        return self.state == JobState.WAITING_COORDINATOR

    @property
    def stopping(self) -> bool:
        return self.state == JobState.STOPPING


class LogAux(Model):
    """A supplementary warning or error of the same file (``JobLogDetailAux``, spec §8.7)."""

    log_type: LogType
    log_message: str
    date_created: datetime | None = None
    message_id: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def warning(cls, message_id: str, params: dict[str, Any], date_created: datetime) -> Self:
        return cls(log_type=LogType.UPLOAD_WARNING, date_created=date_created, message_id=message_id, params=params,
                   log_message=render(message_id, params))

    def text(self, locale: str | None) -> str:
        return render(self.message_id, self.params, locale) if self.message_id in MESSAGES else self.log_message


class LogEntry(Model):
    """One ``JobLogDetail`` row (spec §8.7).

    ``log_message`` is the English text; ``message_id`` and ``params`` let a reader get the
    same message in another language (``models.messages``).
    """

    log_type: LogType
    log_message: str
    date_created: datetime
    asset_name: str | None = None
    asset_type: str | None = None
    asset_handle: str | None = None
    file_path: str | None = None
    code: str | None = None
    message_id: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    aux: list[LogAux] = Field(default_factory=list)

    @classmethod
    def localised(cls, log_type: LogType, message_id: str, params: dict[str, Any], date_created: datetime,
                  **fields: Any) -> Self:
        return cls(log_type=log_type, message_id=message_id, params=params, date_created=date_created,
                   log_message=render(message_id, params), **fields)

    def text(self, locale: str | None) -> str:
        return render(self.message_id, self.params, locale) if self.message_id in MESSAGES else self.log_message

    @property
    def aux_types(self) -> list[str]:
        return sorted({a.log_type.value for a in self.aux})


class ImageMapArea(Model):
    """One link of a rasterised PDF page (``href``: a URI, or ``#page=N`` for a page of the same PDF)."""

    x: int
    y: int
    width: int
    height: int
    href: str


class PsdLayer(IpsModel):
    """A Photoshop layer made an asset (``MaintainLayers``): where its image sits in the document.

    ``x``/``y``/``width``/``height`` place the stored image on the canvas (after any crop the
    job's options applied); ``opacity`` is in percent; ``text`` only with ``extractText``.
    """

    number: int  # Photoshop's layer number, bottom to top
    name: str  # the layer's own name
    kind: str
    groups: list[str] = Field(default_factory=list)  # enclosing layer groups, outermost first
    visible: bool
    opacity: int
    blend_mode: str
    x: int
    y: int
    width: int
    height: int
    text: str | None = None
    asset_handle: str | None = None  # set in a template's layer list


class PsdTemplate(IpsModel):
    """``createTemplate``: the layer stack of a Photoshop document, bottom to top, and its anchor."""

    width: int
    height: int
    anchor: str
    layers: list[PsdLayer]


class VideoInfo(Model):
    """A video asset's streams as its headers say (docs/formats-video.md), and the encodings asked for.

    Codec names are FFmpeg's (``h264``, ``vp9``, ``aac``). ``poster_time_ms`` is the time of
    the frame that became the pyramid TIFF, None when no poster was made. The encodings asked for are
    listed here; each one made is in the asset's ``renditions``.
    """

    container: str  # "MP4", "MOV", "WebM", "MPEG-TS", …
    format_name: str  # FFmpeg's demuxer: "mov", "matroska", "mpegts", …
    duration_ms: int | None = None
    width: int
    height: int
    video_codec: str
    frame_rate: float | None = None
    bit_rate: int | None = None  # bits per second, whole file
    audio_codec: str | None = None  # None: no audio stream
    poster_time_ms: int | None = None
    encoding_presets: list[str] = Field(default_factory=list)  # mediaOptions.videoEncodingPresetsArray
    encodings: list[str] = Field(default_factory=list)  # names of mediaOptions.videoEncodingArray items
    avs_encodings: list[str] = Field(default_factory=list)  # names of mediaOptions.avsEncodingArray items


class VideoRendition(Model):
    """One transcoded rendition of a video asset (docs/formats-video.md#renditions), beside its master."""

    name: str  # the preset's or the videoEncodingArray item's name
    preset: str | None = None  # the openips preset it was made with; None for an inline encoding
    key: str  # in the assets bucket
    file_name: str  # offered on download: asset name + fileSuffix + extension
    container: str  # "mp4", "webm"
    video_codec: str
    audio_codec: str | None = None
    width: int
    height: int
    duration_ms: int
    video_bitrate: int  # asked for, bits per second
    size: int
    job_handle: str
    created: datetime


class Asset(Model):
    asset_handle: str
    company_handle: str
    name: str
    type: str = "Image"
    folder: str
    file_name: str
    extension: str
    publish_state: PublishState
    width: int | None = None  # as stored (level 0's pixels); a viewer turns them by ``orientation``
    height: int | None = None
    # Level 0's EXIF orientation (1-8) when the asset was made; None on records older than it.
    orientation: int | None = Field(default=None, ge=1, le=8)
    file_size: int
    master_key: str
    optimized_key: str | None = None
    optimized_format: str | None = None
    created_job_handle: str
    updated_job_handle: str
    created: datetime
    updated: datetime
    last_claim: str
    mask_key: str | None = None
    # The browser preview (imaging/thumbnail.py): "jpeg" or "webp"; None for assets without a
    # pyramid, for items written before previews existed, and when making it failed.
    thumbnail_key: str | None = None
    thumbnail_format: str | None = None
    crop_rect: CropRect | None = None
    # autoSmartCropOptionsArray: named rectangles of the master (docs/smart-crops.md); [] for older items.
    smart_crops: list[NamedCrop] = Field(default_factory=list)
    xmp_keywords: list[str] = Field(default_factory=list)
    project_handles: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)  # field handle → value (models.metadata)
    # Set assets (ImageSet, SpinSet, SwatchSet; docs/sets.md): member asset handles, in
    # order. A set has no files of its own: ``master_key`` is "" and ``file_size`` 0.
    # The same list holds a Pdf/Illustrator asset's page images and a Catalog's pages
    # (docs/formats.md); page images and catalogs name their Pdf asset in ``parent_handle``.
    members: list[str] = Field(default_factory=list)
    parent_handle: str | None = None
    page_count: int | None = None  # Pdf and Illustrator assets
    # pdfOptions.extractSearchWords (models.words); indexed for GET /v1/assets?text=.
    search_words: list[str] = Field(default_factory=list)
    # pdfOptions.extractLinks: a page image's links, in its pixels: {x, y, width, height, href}.
    image_map: list[ImageMapArea] = Field(default_factory=list)
    psd_layer: PsdLayer | None = None  # a Photoshop layer asset (docs/formats.md#photoshop-layers)
    template: PsdTemplate | None = None  # a Photoshop document's Template asset
    video: VideoInfo | None = None  # Video and MasterVideo assets (docs/formats-video.md)
    # Transcoded renditions by name; written one at a time (AssetRepository.add_rendition), never by replace.
    renditions: dict[str, VideoRendition] = Field(default_factory=dict)

    @property
    def displayed_size(self) -> tuple[int | None, int | None]:
        """Width and height as a viewer shows the image (EXIF 5-8 transpose the stored pixels)."""
        if self.orientation is not None and self.orientation >= 5:
            return self.height, self.width
        return self.width, self.height


class FileClaim(Model):
    """Per-S3-object processing record: the idempotency key of a file."""

    job_handle: str
    claim_id: str
    path: str
    status: Literal["Processing", "Done"] = "Processing"
    lease_until: datetime
    attempts: int = 1
    outcome: FileOutcome | None = None  # the naming decision, once taken (a retry repeats it)
    asset_handle: str | None = None
    claimed: datetime | None = None  # first attempt (getUploadTaskStatus)
    attempt_started: datetime | None = None  # the current attempt (getActiveJobs' task items)
    completed: datetime | None = None
    result: FileOutcome | None = None  # the log type of the file's row, once done
    # What the file added to the job's counters, once done (``openips jobs verify`` sums them).
    counts: dict[str, int] | None = None
    last_error: str | None = None  # why the last attempt failed, while a retry waits
    # The MediaConvert job the current attempt submitted (a rendition beyond the PyAV line): its
    # job-state event ends the claim; an event of any other job of this claim is a superseded attempt's.
    external_job: str | None = None
    key: str | None = None  # the object's bucket key and version (ETag): what the sweeper re-sends
    # A rendition's claim (no object of its own): its TranscodeQueue message, what the sweeper re-sends.
    task: str | None = None
    version: str | None = None
