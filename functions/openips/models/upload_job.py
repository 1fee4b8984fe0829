"""``UploadPostJob`` and its option types (spec §4–§6), with the XSD element names.

Python attributes are snake_case; the wire names are the XSD's camelCase aliases.
Unknown elements are refused (``extra="forbid"``), enum values are case-sensitive
literals, and the four elements the XSD requires are required here too. Arrays that
IPS wraps in ``{items: [...]}`` are plain JSON arrays (http-api.md).
"""

from typing import Annotated, Literal, Self
from urllib.parse import urlsplit, urlunsplit

from pydantic import AwareDatetime, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from openips.models.base import Model
from openips.models.keywords import check_xmp_keywords
from openips.models.metadata import MAX_TAGS, MAX_UPDATES, MAX_VALUE_CHARS, SCALAR_KINDS, TAG_KINDS


class IpsModel(Model):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


Corner = Literal["UpperLeft", "BottomLeft", "UpperRight", "BottomRight"]
Tolerance = float
EmailSetting = Literal["All", "Error", "ErrorAndWarning", "JobCompletion", "None"]
ColorspaceMode = Literal["Auto", "Rgb", "Cmyk", "Gray"]


class KnockoutBackgroundOptions(IpsModel):
    corner: Corner
    tolerance: float = Field(default=0.0, ge=0.0, le=1.0)
    fill_method: Literal["FloodFill", "MatchPixel"]


class ManualCropOptions(IpsModel):
    """Pixels trimmed from each edge (spec §5.2: per-edge trim amounts)."""

    left: int = Field(ge=0)
    right: int = Field(ge=0)
    top: int = Field(ge=0)
    bottom: int = Field(ge=0)


class AutoColorCropOptions(IpsModel):
    corner: Corner
    tolerance: float = Field(ge=0.0, le=1.0)


class AutoTransparentCropOptions(IpsModel):
    tolerance: float = Field(ge=0.0, le=1.0)


class AutoSmartCropOptions(IpsModel):
    name: str
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    type: str


class PhotoshopLayerOptions(IpsModel):
    layer_naming: Literal["LayerName", "AppendNumber", "AppendName", "Folders"] | None = None
    anchor: (
        Literal[
            "Center", "North", "Northwest", "West", "Southwest",
            "South", "Southeast", "East", "Northeast",
        ]
        | None
    ) = None
    create_template: bool | None = None
    extract_text: bool | None = None
    extend_layers: bool | None = None


class PhotoshopOptions(IpsModel):
    process: Literal["None", "MaintainLayers"] | None = None
    layer_options: PhotoshopLayerOptions | None = None


class PostScriptOptions(IpsModel):
    process: Literal["None", "Rasterize"] | None = None
    resolution: float | None = Field(default=None, gt=0, le=2400)
    colorspace: ColorspaceMode | None = None
    alpha: bool | None = None
    extract_search_words: bool | None = None


class PdfOptions(IpsModel):
    process: Literal["None", "Rasterize", "Thumbnail"] | None = None
    resolution: float | None = Field(default=None, gt=0, le=2400)
    colorspace: ColorspaceMode | None = None
    pdf_catalog: bool | None = None
    extract_search_words: bool | None = None
    extract_links: bool | None = None


class IllustratorOptions(IpsModel):
    process: Literal["None", "Rasterize"] | None = None
    resolution: float | None = Field(default=None, gt=0, le=2400)
    colorspace: ColorspaceMode | None = None
    alpha: bool | None = None


class CssOptions(IpsModel):
    force_static_images: bool | None = None


class ColorManagementOptions(IpsModel):
    color_management: Literal["Default", "MaintainOriginal", "Convert"]
    source_profile_handle: str | None = None
    output_profile_handle: str | None = None


class AutoSetCreationOptions(IpsModel):
    auto_sets_array: list[str] = Field(default_factory=list)


class Property(IpsModel):
    name: str
    value: str


class VideoEncoding(IpsModel):
    name: str
    file_suffix: str
    playback_target: str | None = None
    width: int | None = None
    height: int | None = None
    video_codec: str | None = None
    video_bitrate: int
    min_bitrate: int | None = None
    max_bitrate: int | None = None
    constant_bitrate: bool | None = None
    frame_rate: float | None = None
    keyframe_interval: int | None = None
    h264_profile: str | None = None
    h264_level: str | None = None
    two_pass: bool | None = None
    audio_codec: str | None = None
    audio_bitrate: int
    audio_sample_rate: int | None = None
    advanced_settings: list[Property] | None = None


class VideoSmartCropAspectRatio(IpsModel):
    width: int | None = None
    height: int | None = None


class AvsEncoding(IpsModel):
    name: str
    aspect_ratio: str | None = None
    video_encoding_array: list[VideoEncoding]


class ThumbnailOptions(IpsModel):
    thumbnail_time: int | None = Field(default=None, ge=0)


class MediaOptions(IpsModel):
    video_encoding_presets_array: list[str] | None = None
    video_encoding_array: list[VideoEncoding] | None = None
    video_smart_crop_array: list[VideoSmartCropAspectRatio] | None = None
    video_smart_crop_sample_rate: int | None = None
    avs_encoding_array: list[AvsEncoding] | None = None
    generate_thumbnail: bool | None = None
    thumbnail_options: ThumbnailOptions | None = None
    cmaf_conformance: bool | None = None


class InDesignOptions(IpsModel):
    process: str | None = None


class UnsharpMaskOptions(IpsModel):
    amount: float = Field(default=0.0, ge=0.0, le=5.0)
    radius: float | None = Field(default=None, ge=0.0, le=250.0)
    threshold: int = Field(default=6, ge=0, le=255)
    # Not Literal[0, 1]: pydantic would take true/false for them (False == 0).
    monochrome: Annotated[int, Field(ge=0, le=1)] | None = None


class UnCompressOptions(IpsModel):
    process: Literal["None", "UnCompress"]


TagValues = Annotated[list[Annotated[str, Field(min_length=1, max_length=MAX_VALUE_CHARS)]],
                      Field(max_length=MAX_TAGS)]


class MetadataUpdate(IpsModel):
    """One field update (spec §5.17); exactly one kind of value, or tag operations."""

    field_handle: str = Field(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f]+$")
    value: str | None = Field(default=None, max_length=MAX_VALUE_CHARS)
    bool_val: bool | None = None
    long_val: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)  # xsd:long
    double_val: float | None = Field(default=None, allow_inf_nan=False)
    date_val: AwareDatetime | None = None
    add_tag_value_array: TagValues | None = None
    set_tag_value_array: TagValues | None = None
    delete_tag_value_array: TagValues | None = None

    @model_validator(mode="after")
    def _one_kind_of_value(self) -> Self:
        scalars = [to_camel(k) for k in SCALAR_KINDS if getattr(self, k) is not None]
        tags = [to_camel(k) for k in TAG_KINDS if getattr(self, k) is not None]
        if len(scalars) > 1 or (scalars and tags):
            given = ", ".join(scalars + tags)
            raise ValueError(f"field {self.field_handle} gives more than one kind of value: {given}")
        if not scalars and not tags:
            raise ValueError(f"field {self.field_handle} gives no value (value, boolVal, longVal, doubleVal, "
                             "dateVal or a tag array)")
        return self


class MetadataOptions(IpsModel):
    update_array: list[MetadataUpdate] | None = Field(default=None, max_length=MAX_UPDATES)


class AudioCaptionsMetadata(IpsModel):
    label: str | None = None
    language: str | None = None
    language_code: str | None = None
    role: str | None = None
    is_default: bool | None = None


# Undocumented credential-like elements: stored, never echoed, never logged.
SECRET_FIELDS = frozenset({"jwtToken", "apikey"})


class UploadPostJob(IpsModel):
    """Processing options of one upload job (XSD sequence order, spec §4)."""

    overwrite: bool
    ready_for_publish: bool
    preserve_publish_state: bool | None = None
    synchronization_complete: bool | None = None
    create_mask: bool
    preserve_crop: bool = True
    knockout_background_options: KnockoutBackgroundOptions | None = None
    manual_crop_options: ManualCropOptions | None = None
    auto_color_crop_options: AutoColorCropOptions | None = None
    auto_transparent_crop_options: AutoTransparentCropOptions | None = None
    # Bounded for hostile payloads only: a file makes the first 100 (services/smart_crops.py warns of the rest).
    auto_smart_crop_options_array: list[AutoSmartCropOptions] | None = Field(default=None, max_length=1000)
    photoshop_options: PhotoshopOptions | None = None
    post_script_options: PostScriptOptions | None = None
    pdf_options: PdfOptions | None = None
    illustrator_options: IllustratorOptions | None = None
    css_options: CssOptions | None = None
    color_management_options: ColorManagementOptions | None = None
    auto_set_creation_options: AutoSetCreationOptions | None = None
    project_handle_array: list[str] | None = None
    email_setting: EmailSetting
    post_http_url: str | None = Field(default=None, max_length=2048)
    media_options: MediaOptions | None = None
    in_design_options: InDesignOptions | None = None
    xmp_keywords: str | None = None
    unsharp_mask_options: UnsharpMaskOptions | None = None
    un_compress_options: UnCompressOptions | None = None
    exclude_master_video_from_avs: bool | None = Field(
        default=None, alias="excludeMasterVideoFromAVS"
    )
    metadata_options: MetadataOptions | None = None
    jwt_token: str | None = None
    ims_org: str | None = None
    apikey: str | None = None
    ignore_smart_crop_generation: bool | None = None
    preserve_smart_crop: bool | None = None
    source_video_asset_handle: str | None = None
    audio_captions_metadata: AudioCaptionsMetadata | None = None

    @field_validator("xmp_keywords")
    @classmethod
    def _keyword_limits(cls, value: str | None) -> str | None:
        # Stored as given (echoed in ActiveJob); parsed again where it is applied.
        if value is not None:
            check_xmp_keywords(value)
        return value

    @field_validator("post_http_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        # Syntax only; the addresses it may reach are checked at delivery (docs/notifications.md).
        if value is None:
            return value
        from urllib.parse import urlsplit

        if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
            raise ValueError("must not contain spaces or control characters")
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError as exc:
            raise ValueError(f"is not a valid URL ({exc})") from exc
        if parts.scheme.lower() not in ("http", "https"):
            raise ValueError("must be an http or https URL")
        if not parts.hostname:
            raise ValueError("must name a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not carry credentials (user:password@)")
        return value

    @model_validator(mode="after")
    def _one_crop_block(self) -> Self:
        crops = [
            name
            for name, value in (
                ("manualCropOptions", self.manual_crop_options),
                ("autoColorCropOptions", self.auto_color_crop_options),
                ("autoTransparentCropOptions", self.auto_transparent_crop_options),
            )
            if value is not None
        ]
        if len(crops) > 1:
            # Spec §4.1: the crop blocks are mutually exclusive.
            raise ValueError(f"at most one crop block may be given, got {', '.join(crops)}")
        return self

    def public_dump(self, webhook_in_full: bool = True) -> dict:
        """The options as echoed in ``ActiveJob.uploadPostJob``: wire names, no secrets.

        Without ``webhook_in_full`` (a read-only reader), ``postHttpUrl`` loses its query and
        user info, where webhook receivers put their tokens.
        """
        dumped = self.model_dump(by_alias=True, exclude_none=True, mode="json")
        shown = {k: v for k, v in dumped.items() if k not in SECRET_FIELDS}
        if not webhook_in_full and shown.get("postHttpUrl"):
            url = urlsplit(shown["postHttpUrl"])
            host = url.hostname or ""
            shown["postHttpUrl"] = urlunsplit((url.scheme, host + (f":{url.port}" if url.port else ""), url.path,
                                               "…" if url.query else "", ""))
        return shown


# Elements this version validates and stores but whose processing is not built yet.
# A job that sets one gets an UploadWarning row saying so (never a silent skip).
NOT_YET_APPLIED: tuple[str, ...] = (
    "cssOptions",
    "audioCaptionsMetadata", "sourceVideoAssetHandle",
    # Undocumented elements (spec §4 #4, #27, #29–#31): stored and echoed (secrets excepted).
    # Smart crops and their two flags are applied (services/smart_crops.py, docs/smart-crops.md).
    "synchronizationComplete", "excludeMasterVideoFromAVS", "jwtToken", "imsOrg", "apikey",
)
# mediaOptions makes the poster and the renditions (docs/formats-video.md); these parts ask for
# work on the video not built yet (adaptive sets, smart crop, CMAF).
MEDIA_NOT_YET_APPLIED: tuple[str, ...] = (
    "avsEncodingArray", "videoSmartCropArray",
    "videoSmartCropSampleRate", "cmafConformance",
)


def options_not_yet_applied(job: UploadPostJob) -> list[str]:
    """Wire names of the options set on ``job`` that this version does not apply yet."""
    dumped = job.model_dump(by_alias=True, exclude_none=True)
    names = [name for name in NOT_YET_APPLIED if name in dumped]
    media = dumped.get("mediaOptions", {})
    names += [f"mediaOptions.{name}" for name in MEDIA_NOT_YET_APPLIED if media.get(name)]
    return names
