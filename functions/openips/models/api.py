"""HTTP request and response shapes (http-api.md), with IPS element names on the wire."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from openips.models.domain import ImageMapArea, OverwriteMode, PsdLayer, PsdTemplate, Role
from openips.models.processing import CropRect, NamedCrop
from openips.models.text import PlainName, PlainText, name_schema
from openips.models.upload_job import IpsModel, UploadPostJob


class CreateUploadJobRequest(IpsModel):
    company_handle: str | None = None
    job_name: PlainName = Field(min_length=1, max_length=256)
    description: PlainText = Field(default="", max_length=4096)
    locale: str = Field(default="en-US", pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    dest_folder: str = Field(default="", max_length=1024)
    upload_params: UploadPostJob


class UploadForm(IpsModel):
    """A presigned S3 POST covering every file of one job."""

    url: str
    fields: dict[str, str]
    key_prefix: str
    expiration: datetime
    max_file_size: int


class UploadJobResponse(IpsModel):
    job_handle: str
    upload: UploadForm


class JobHandleResponse(IpsModel):
    job_handle: str


class EmptyResponse(IpsModel):
    """The empty answer of stopJob, pauseJob, resumeJob and deleteJob."""


class TaskItemProgress(IpsModel):
    item_name: str
    progress: float
    progress_message: str
    last_progress_update: datetime


class TaskProgress(IpsModel):
    task_type: str = "FileProcessing"
    task_state: Literal["Unknown", "New", "Processing", "Stopping", "Done", "Failed"]
    num_processed: int
    num_processing: int
    num_pending: int
    progress: float
    progress_message: str
    last_progress_update: datetime
    task_item_progress_array: list[TaskItemProgress] = Field(default_factory=list)


class ActiveJob(IpsModel):
    company_handle: str
    job_handle: str
    name: str
    original_name: str
    type: str = "UploadPost"
    state: str
    submit_user_email: str
    locale: str
    description: str
    server_name: str = "openips"
    start_date: datetime
    trigger_time: datetime
    total_size: int
    progress: int
    progress_message: str
    last_progress_update: datetime
    task_progress_array: list[TaskProgress]
    upload_post_job: dict


class ActiveJobsResponse(IpsModel):
    job_array: list[ActiveJob]


class ScheduledJob(IpsModel):
    """Spec §8.4 (an upload job is never one; the shape is published for completeness)."""

    company_handle: str
    job_handle: str
    name: str
    original_name: str
    type: str
    submit_user_email: str
    locale: str | None = None
    description: str | None = None
    exec_schedule: str | None = None
    next_fire_time: datetime | None = None
    time_zone: str | None = None
    trigger_state: str | None = None


class ScheduledJobsResponse(IpsModel):
    job_array: list[ScheduledJob]


class JobLogDetailAux(IpsModel):
    log_message: str
    log_type: str
    date_created: datetime | None = None


class JobLogDetail(IpsModel):
    log_message: str
    log_type: str
    date_created: datetime
    asset_name: str | None = None
    asset_type: str | None = None
    asset_handle: str | None = None
    aux_array: list[JobLogDetailAux] | None = None


class JobLog(IpsModel):
    company_handle: str
    job_handle: str
    job_name: str
    original_job_name: str
    submit_user_email: str
    log_type: str
    job_sub_type: str = ""
    start_date: datetime | None = None
    end_date: datetime | None = None
    description: str
    file_success_count: int
    file_error_count: int
    file_warning_count: int
    file_duplicate_count: int
    file_update_count: int
    total_file_count: int
    transfer_success_count: int
    transfer_error_count: int
    transfer_warning_count: int
    fatal_error: bool
    detail_total_rows: int | None = None
    detail_array: list[JobLogDetail] | None = None


class JobLogsResponse(IpsModel):
    job_log_array: list[JobLog]


class JobLogsPageResponse(JobLogsResponse):
    """getJobLogs: one page of summary rows."""

    # Pass it as ``nextToken`` for the next page; absent on the last one.
    next_token: str | None = None


class AssetJobLog(IpsModel):
    """Spec §8.7: one job-log row that named an asset."""

    job_handle: str
    job_name: str
    log_message: str
    log_type: str
    submit_user_email: str
    log_date: datetime
    aux_array: list[JobLogDetailAux] | None = None


class AssetJobLogsResponse(IpsModel):
    job_log_array: list[AssetJobLog]


class AssetFile(IpsModel):
    url: str
    key: str
    format: str | None = None


class AssetRendition(IpsModel):
    """One transcoded rendition of a video asset: a presigned GET ``url`` (one hour) and what it holds."""

    name: str
    preset: str | None = None
    url: str
    key: str
    file_name: str
    container: str
    video_codec: str
    audio_codec: str | None = None
    width: int
    height: int
    duration_ms: int
    video_bitrate: int
    size: int
    job_handle: str


class AssetFiles(IpsModel):
    master: AssetFile | None  # None for set assets (ImageSet, SpinSet, SwatchSet), which have no file
    optimized: AssetFile | None = None
    mask: AssetFile | None = None
    # A JPEG or WebP of at most 256 px (docs/formats.md#thumbnails), shown inline; null when the
    # asset has no pyramid TIFF, was stored before previews existed, or making it failed.
    thumbnail: AssetFile | None = None
    # Video renditions (docs/formats-video.md#renditions), by name, each downloadable at its url.
    renditions: list[AssetRendition] = Field(default_factory=list)


class AssetVideo(IpsModel):
    """A Video or MasterVideo asset's streams (docs/formats-video.md); codec names are FFmpeg's.

    ``posterTimeMs``: the frame that became the pyramid TIFF (null: no poster). The encodings
    are those the job asked for; the renditions made are in ``files.renditions``.
    """

    container: str
    format_name: str
    duration_ms: int | None = None
    width: int
    height: int
    video_codec: str
    frame_rate: float | None = None
    bit_rate: int | None = None
    audio_codec: str | None = None
    poster_time_ms: int | None = None
    encoding_presets: list[str] = Field(default_factory=list)
    encodings: list[str] = Field(default_factory=list)
    avs_encodings: list[str] = Field(default_factory=list)


class AssetResponse(IpsModel):
    asset_handle: str
    company_handle: str
    name: str
    type: str
    folder: str
    file_name: str
    publish_state: str
    width: int | None
    height: int | None
    orientation: int | None = None  # EXIF 1-8: 5-8 show the image height×width (docs/delivery.md)
    file_size: int
    created_job_handle: str
    updated_job_handle: str
    created: datetime
    updated: datetime
    xmp_keywords: list[str]
    project_handles: list[str]
    metadata: dict[str, str | bool | int | float | list[str]] = Field(default_factory=dict)
    crop_rect: CropRect | None
    smart_crops: list[NamedCrop] = Field(default_factory=list)
    files: AssetFiles
    children: list[str] = Field(default_factory=list)
    parent_handle: str | None = None
    # PDF and Illustrator files (docs/formats.md): pages, extracted words, a page's links.
    page_count: int | None = None
    search_words: list[str] = Field(default_factory=list)
    image_map: list[ImageMapArea] = Field(default_factory=list)
    # Photoshop files with MaintainLayers (docs/formats.md#photoshop-layers).
    psd_layer: PsdLayer | None = None
    template: PsdTemplate | None = None
    video: AssetVideo | None = None  # Video and MasterVideo assets


class AssetsResponse(IpsModel):
    asset_array: list[AssetResponse]
    # Pass it as ``nextToken`` for the next page; absent on the last one.
    next_token: str | None = None

    @model_serializer(mode="wrap")
    def _no_token_on_the_last_page(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Assets are answered with their nulls, but a null token would read as "a token".
        data = handler(self)
        if self.next_token is None:
            data.pop("nextToken", None)
            data.pop("next_token", None)
        return data


class CreateCompanyRequest(IpsModel):
    name: PlainName = Field(min_length=1, max_length=256)
    overwrite_mode: OverwriteMode = "OverwriteFullName"
    retain_publish_state: bool = False
    max_file_size: int | None = Field(default=None, gt=0, le=5 * 1024**3)
    enforce_same_ip: bool = True
    # No defaultSourceProfileHandle here: it must name an IccProfile asset of the company,
    # which cannot exist yet. setCompanySettings (PATCH) sets it, checked.


class CreateCompanyResponse(IpsModel):
    company_handle: str


FileType = Annotated[str, Field(pattern=r"^[a-z0-9]{1,10}$", description="A file extension, lower case, no dot")]


def _drop_default(schema: dict) -> None:
    schema.pop("default", None)


def _unchanged_if_absent(schema_also: Any = None, **constraints) -> Any:
    """A field that may be left out (default None, not in the document) but never sent as null."""
    def extra(schema: dict) -> None:
        _drop_default(schema)
        if schema_also:  # this Field's extra replaces the one its annotated type brings
            schema_also(schema)
    return Field(default=None, json_schema_extra=extra, **constraints)


class UpdateCompanyRequest(IpsModel):
    """Company settings (IPS setCompanySettings subset); absent fields stay as they are."""

    # Absent: unchanged; these have no null value (a null here would reach the company record).
    name: PlainName = _unchanged_if_absent(name_schema, min_length=1, max_length=256)
    overwrite_mode: OverwriteMode = _unchanged_if_absent()
    retain_publish_state: bool = _unchanged_if_absent()
    max_file_size: int | None = Field(default=None, gt=0, le=5 * 1024**3)
    enforce_same_ip: bool = _unchanged_if_absent()
    default_source_profile_handle: str | None = None
    default_display_profile_handle: str | None = None
    allowed_file_types: list[FileType] | None = Field(default=None, max_length=200)
    blocked_file_types: list[FileType] | None = Field(default=None, max_length=200)
    # Cache-Control max-age of the company's renditions (docs/delivery.md), at most a year.
    delivery_cache_max_age: int = _unchanged_if_absent(ge=0, le=31_536_000)
    # Video renditions (docs/formats-video.md): they can only lower the deployment's limits; null = those.
    max_renditions_per_video: int | None = Field(default=None, ge=0, le=100)
    max_transcode_seconds: int | None = Field(default=None, gt=0, le=86_400)


class CompanySettings(IpsModel):
    company_handle: str
    name: str
    overwrite_mode: OverwriteMode
    retain_publish_state: bool
    max_file_size: int | None
    enforce_same_ip: bool
    default_source_profile_handle: str | None
    default_display_profile_handle: str | None
    allowed_file_types: list[str] | None
    blocked_file_types: list[str]
    delivery_cache_max_age: int
    max_renditions_per_video: int | None
    max_transcode_seconds: int | None


class CreateUserRequest(IpsModel):
    company_handle: str
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    role: Role


class CreateUserResponse(IpsModel):
    user_handle: str
    api_key: str


# ---- getUploadTaskStatus (spec §8.8, XSD only) ----


class UploadRenditionTask(IpsModel):
    rendition: str
    workflow_state: str
    progress: float


class UploadTask(IpsModel):
    file: str
    processing_status: Literal["Processing", "Done"]
    workflow_state: str  # the file's outcome once done (UploadSuccess, FileUpdated, …), else Processing
    progress: float
    renditions: list[UploadRenditionTask]


class UploadTaskStatus(IpsModel):
    job_handle: str
    is_job_stopped: bool
    last_added: datetime
    last_completed: datetime | None = None
    task_array: list[UploadTask]
    task_total: int  # openips: every file of the job; taskArray holds at most 1000 (in-flight first)


class ClusterUploadTaskStatus(IpsModel):
    status_array: list[UploadTaskStatus]
    error: str | None = None


class UploadTaskStatusResponse(IpsModel):
    upload_task_status_array: list[ClusterUploadTaskStatus]


# ---- notifications (docs/notifications.md) ----


class WebhookSecretResponse(IpsModel):
    """A company's webhook signing secret (IpsAdmin, or the company's IpsCompanyAdmin)."""

    company_handle: str
    webhook_secret: str
    created_at: datetime
    # After a rotation, the old secret still signs (a second ``v1=``) until this time.
    previous_secret_valid_until: datetime | None = None


class ResendNotificationsResponse(IpsModel):
    job_handle: str
    resend_id: str


class CounterDrift(IpsModel):
    counter: str  # received, done, success, error, warning, duplicate, update, cancelled, total_size, log_rows
    stored: int
    recounted: int


class StalledFile(IpsModel):
    path: str
    attempts: int
    lease_until: datetime
    last_error: str | None = None


class JobAccountingResponse(IpsModel):
    """``openips jobs verify``: a job's counters against their recount from its claims and rows."""

    job_handle: str
    state: str
    healthy: bool
    counters: dict[str, int]
    recounted: dict[str, int]
    expected_files: int
    files_claimed: int
    files_in_flight: int
    drift: list[CounterDrift]
    stalled_files: list[StalledFile]
    unclaimed_uploads: list[str]  # keys under the job's prefix that no claim names
    repairs: int  # repairs made so far (the sweeper's, and requested ones)
    repaired: list[str]  # what this request repaired (POST …/accounting/repair)
