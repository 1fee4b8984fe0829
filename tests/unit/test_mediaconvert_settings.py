"""The MediaConvert job each rendition becomes (services/renditions.py encode_job → adapters/mediaconvert.py job_request).

Every shipped preset and an inline encoding are mapped, and each request is checked against
MediaConvert's own API model (botocore's CreateJob input shape: members, types, ranges, and the
enums, which botocore does not check by itself), so a
field MediaConvert would refuse fails here rather than at the first long video on AWS.
"""

from __future__ import annotations

from datetime import UTC, datetime

import botocore.session
import pytest
from botocore.validate import ParamValidator

from openips.adapters.mediaconvert import AUDIO_BITRATES, FRAME_SIDES, EncodeJob, job_request, job_state, refusal
from openips.models.domain import Asset, VideoInfo
from openips.models.upload_job import VideoEncoding
from openips.services.renditions import TranscodeTask, encode_job
from openips.services.video_presets import PRESETS, RenditionRequest, inline

ROLE = "arn:aws:iam::123456789012:role/openips-MediaConvertRole-X"
NOW = datetime(2026, 12, 5, tzinfo=UTC)


def asset(width: int = 1920, height: int = 1080, audio: str | None = "aac", rate: float | None = 29.97,
          duration_ms: int = 1_800_000) -> Asset:
    video = VideoInfo(container="MP4", format_name="mov", duration_ms=duration_ms, width=width, height=height,
                      video_codec="h264", frame_rate=rate, audio_codec=audio)
    return Asset(asset_handle="a|1", company_handle="c|1", name="keynote", type="Video", folder="f/",
                 file_name="keynote.mp4", extension="mp4", publish_state="NotMarkedForPublish", width=width, height=height,
                 file_size=10, master_key="c-1/a-1/master", created_job_handle="j|1", updated_job_handle="j|1",
                 created=NOW, updated=NOW, last_claim="k", video=video)


def task(request: RenditionRequest) -> TranscodeTask:
    spec = request.spec
    return TranscodeTask(job_handle="j|1", claim_id="k1.r0", path="talks/keynote.mp4", asset_handle="a|1",
                         asset_name="keynote", name=spec.name, preset=request.preset, suffix=request.suffix,
                         container=spec.container, video_encoder=spec.video_encoder, audio_encoder=spec.audio_encoder,
                         width=spec.width, height=spec.height, video_bitrate=spec.video_bitrate,
                         audio_bitrate=spec.audio_bitrate, frame_rate=spec.frame_rate)


def request_for(request: RenditionRequest, video: Asset | None = None, max_seconds: int = 7200) -> dict:
    job = encode_job("assets-bkt", "openips-prod", task(request), video or asset(), max_seconds, attempt=1)
    return job_request(job, ROLE)


def assert_valid(request: dict) -> None:
    model = botocore.session.get_session().get_service_model("mediaconvert")
    shape = model.operation_model("CreateJob").input_shape
    report = ParamValidator().validate(request, shape)
    assert not report.has_errors(), report.generate_report()
    assert not list(bad_enums(request, shape, "CreateJob"))


def bad_enums(value, shape, where: str):
    """Each string of the request that its shape's enum does not list."""
    if shape.type_name == "structure":
        for name, member in value.items():
            yield from bad_enums(member, shape.members[name], f"{where}.{name}")
    elif shape.type_name == "list":
        for item in value:
            yield from bad_enums(item, shape.member, f"{where}[]")
    elif shape.type_name == "map":
        for item in value.values():
            yield from bad_enums(item, shape.value, f"{where}{{}}")
    elif getattr(shape, "enum", None) and value not in shape.enum:
        yield f"{where}: {value!r} not in {shape.enum}"


def test_the_enum_check_can_fail() -> None:
    shape = botocore.session.get_session().get_service_model("mediaconvert").operation_model("CreateJob").input_shape
    assert list(bad_enums({"StatusUpdateInterval": "SECONDS_61"}, shape, "CreateJob"))


def output_of(request: dict) -> dict:
    [group] = request["Settings"]["OutputGroups"]
    assert group["OutputGroupSettings"]["Type"] == "FILE_GROUP_SETTINGS"
    [output] = group["Outputs"]
    return output


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_shipped_preset_is_a_valid_createjob_request(name: str) -> None:
    request = request_for(RenditionRequest(PRESETS[name], name, f"-{name}"))
    assert_valid(request)
    spec = PRESETS[name]
    output = output_of(request)
    video = output["VideoDescription"]
    # The source is 1920×1080: fitted to the box like PyAV does (aspect kept, even, never enlarged).
    assert (video["Width"], video["Height"]) == {1920: (1920, 1080), 1280: (1280, 720), 854: (854, 480),
                                                 640: (640, 360)}[spec.width]
    destination = request["Settings"]["OutputGroups"][0]["OutputGroupSettings"]["FileGroupSettings"]["Destination"]
    assert destination == f"s3://assets-bkt/c-1/a-1/renditions/{name}"
    assert output["Extension"] == spec.container
    assert request["Settings"]["Inputs"][0]["FileInput"] == "s3://assets-bkt/c-1/a-1/master"
    assert request["Role"] == ROLE
    assert request["UserMetadata"] == {"openipsStack": "openips-prod", "jobHandle": "j|1", "claimId": "k1.r0",
                                       "requestToken": "k1.r0.a1"}
    [audio] = output["AudioDescriptions"]
    if spec.container == "mp4":
        assert output["ContainerSettings"] == {"Container": "MP4", "Mp4Settings": {"MoovPlacement": "PROGRESSIVE_DOWNLOAD"}}
        h264 = video["CodecSettings"]["H264Settings"]
        assert (video["CodecSettings"]["Codec"], h264["Bitrate"], h264["CodecProfile"]) == ("H_264", spec.video_bitrate,
                                                                                            "HIGH")
        assert audio["CodecSettings"] == {"Codec": "AAC", "AacSettings": {
            "Bitrate": spec.audio_bitrate, "CodingMode": "CODING_MODE_2_0", "SampleRate": 48000}}
    else:
        assert output["ContainerSettings"] == {"Container": "WEBM"}
        vp9 = video["CodecSettings"]["Vp9Settings"]
        assert (video["CodecSettings"]["Codec"], vp9["Bitrate"]) == ("VP9", spec.video_bitrate)
        assert audio["CodecSettings"] == {"Codec": "OPUS", "OpusSettings": {
            "Bitrate": spec.audio_bitrate, "Channels": 2, "SampleRate": 48000}}


def test_the_whole_request_of_the_720p_preset() -> None:
    # 29.97 fps as the headers say is kept as 2997/100, exactly as PyAV keeps it (limit_denominator(1001)).
    assert request_for(RenditionRequest(PRESETS["mp4-h264-720p"], "mp4-h264-720p", "-mp4-h264-720p")) == {
        "Role": ROLE,
        "ClientRequestToken": "k1.r0.a1",
        "UserMetadata": {"openipsStack": "openips-prod", "jobHandle": "j|1", "claimId": "k1.r0",
                         "requestToken": "k1.r0.a1"},
        "StatusUpdateInterval": "SECONDS_60",
        "Settings": {
            "TimecodeConfig": {"Source": "ZEROBASED"},
            "Inputs": [{"FileInput": "s3://assets-bkt/c-1/a-1/master", "TimecodeSource": "ZEROBASED",
                        "VideoSelector": {}, "InputClippings": [{"EndTimecode": "02:00:00:00"}],
                        "AudioSelectors": {"Audio Selector 1": {"DefaultSelection": "DEFAULT"}}}],
            "OutputGroups": [{
                "Name": "File Group",
                "OutputGroupSettings": {"Type": "FILE_GROUP_SETTINGS", "FileGroupSettings": {
                    "Destination": "s3://assets-bkt/c-1/a-1/renditions/mp4-h264-720p"}},
                "Outputs": [{
                    "Extension": "mp4",
                    "ContainerSettings": {"Container": "MP4", "Mp4Settings": {"MoovPlacement": "PROGRESSIVE_DOWNLOAD"}},
                    "VideoDescription": {"Width": 1280, "Height": 720, "ScalingBehavior": "DEFAULT", "CodecSettings": {
                        "Codec": "H_264", "H264Settings": {
                            "RateControlMode": "VBR", "Bitrate": 2_500_000, "CodecProfile": "HIGH", "GopSize": 60.0,
                            "GopSizeUnits": "FRAMES", "FramerateControl": "SPECIFIED", "FramerateNumerator": 2997,
                            "FramerateDenominator": 100}}},
                    "AudioDescriptions": [{"AudioSourceName": "Audio Selector 1", "CodecSettings": {
                        "Codec": "AAC", "AacSettings": {"Bitrate": 128_000, "CodingMode": "CODING_MODE_2_0",
                                                        "SampleRate": 48000}}}]}]}],
        },
    }


def test_an_inline_vp9_encoding_of_a_silent_portrait_video_at_its_own_frame_rate() -> None:
    made = inline(VideoEncoding.model_validate({"name": "story", "fileSuffix": "_st", "videoCodec": "vp9",
                                                "width": 720, "height": 1280, "videoBitrate": 900,
                                                "audioBitrate": 64, "frameRate": 24}))
    assert isinstance(made, RenditionRequest)
    request = request_for(made, asset(width=1080, height=1920, audio=None, rate=59.94), max_seconds=90)
    assert_valid(request)
    output = output_of(request)
    video = output["VideoDescription"]
    assert (video["Width"], video["Height"]) == (720, 1280)
    vp9 = video["CodecSettings"]["Vp9Settings"]
    assert (vp9["Bitrate"], vp9["GopSize"], vp9["FramerateNumerator"], vp9["FramerateDenominator"]) == (
        900_000, 48.0, 24, 1)
    # No audio stream: no audio output nor selector (MediaConvert fails a job whose selector finds nothing).
    assert "AudioDescriptions" not in output and "AudioSelectors" not in request["Settings"]["Inputs"][0]
    assert request["Settings"]["Inputs"][0]["InputClippings"] == [{"EndTimecode": "00:01:30:00"}]
    assert output["Extension"] == "webm"


def test_a_source_smaller_than_the_box_is_not_enlarged_and_a_fast_one_is_capped_at_60_fps() -> None:
    spec = PRESETS["mp4-h264-1080p"]
    request = request_for(RenditionRequest(spec, spec.name, ""), asset(width=640, height=480, rate=120.0))
    video = output_of(request)["VideoDescription"]
    h264 = video["CodecSettings"]["H264Settings"]
    assert (video["Width"], video["Height"], h264["FramerateNumerator"], h264["FramerateDenominator"],
            h264["GopSize"]) == (640, 480, 60, 1, 120.0)


def test_a_job_of_any_length_is_clipped_within_a_timecode_day() -> None:
    job = EncodeJob(source_uri="s3://b/m", destination_uri="s3://b/r/x", container="mp4", width=64, height=48,
                    video_bitrate=1, audio_bitrate=1, has_audio=False, frame_rate=25.0, keyframe_seconds=2.0,
                    max_seconds=10**6, token="t")
    assert job_request(job, ROLE)["Settings"]["Inputs"][0]["InputClippings"] == [{"EndTimecode": "23:59:59:00"}]


def test_job_state_reads_a_complete_event_and_ignores_foreign_ones() -> None:
    event = {"source": "aws.mediaconvert", "detail-type": "MediaConvert Job State Change", "detail": {
        "jobId": "1700000000000-abc123", "status": "COMPLETE",
        "userMetadata": {"openipsStack": "s", "jobHandle": "j|1", "claimId": "k.r0"},
        "outputGroupDetails": [{"type": "FILE_GROUP", "outputDetails": [{
            "outputFilePaths": ["s3://bkt/c-1/a-1/renditions/x.mp4"], "durationInMs": 61000,
            "videoDetails": {"widthInPx": 640, "heightInPx": 360}}]}]}}
    state = job_state(event)
    assert state is not None
    assert (state.output_key, state.width, state.height, state.duration_ms, state.claim_id) == (
        "c-1/a-1/renditions/x.mp4", 640, 360, 61000, "k.r0")
    assert job_state({**event, "detail": {**event["detail"], "status": "PROGRESSING"}}) is None
    assert job_state({**event, "detail": {**event["detail"], "userMetadata": {"other": "x"}}}) is None
    assert job_state({"detail": "nonsense"}) is None


def test_the_line_counts_seconds_of_720p_output_and_only_when_mediaconvert_is_on() -> None:
    from openips.services.renditions import beyond_the_line
    from openips.settings import Settings

    on = Settings(jobs_table="t", incoming_bucket="i", assets_bucket="a", mediaconvert_role_arn=ROLE,
                  stack_name="s", pyav_max_seconds=600)
    five_minutes = asset(duration_ms=300_000)
    assert not beyond_the_line(on, five_minutes, PRESETS["mp4-h264-720p"])  # 300 s of 720p
    assert beyond_the_line(on, five_minutes, PRESETS["mp4-h264-1080p"])  # 300 × 2.25 = 675 s of 720p
    assert beyond_the_line(on, asset(width=640, height=360), PRESETS["mp4-h264-360p"])  # 30 minutes of 360p
    off = on.model_copy(update={"mediaconvert_role_arn": ""})
    assert not beyond_the_line(off, asset(), PRESETS["mp4-h264-360p"])


def test_the_bounds_openips_checks_are_mediaconverts_own() -> None:
    # botocore's service model is what CreateJob is validated against: a change there fails here first.
    model = botocore.session.get_session().get_service_model("mediaconvert")

    def bounds(shape: str, member: str) -> tuple[int, int]:
        metadata = model.shape_for(shape).members[member].metadata
        return metadata["min"], metadata["max"]

    assert bounds("VideoDescription", "Width") == bounds("VideoDescription", "Height") == FRAME_SIDES
    assert AUDIO_BITRATES == {"mp4": bounds("AacSettings", "Bitrate"), "webm": bounds("OpusSettings", "Bitrate")}


def test_a_frame_mediaconvert_cannot_make_is_refused_and_an_opus_bitrate_is_brought_into_its_range() -> None:
    small = inline(VideoEncoding.model_validate({"name": "tiny", "fileSuffix": "", "videoCodec": "vp9",
                                                 "videoBitrate": 300, "audioBitrate": 16}))
    assert isinstance(small, RenditionRequest)
    job = encode_job("assets-bkt", "openips-prod", task(small), asset(width=48, height=32), 7200, 1)
    assert (job.width, job.height) == (48, 32) and refusal(job) is None
    # 16 kbit/s is fine for PyAV's libopus; MediaConvert's Opus starts at 32.
    request = job_request(job, ROLE)
    assert_valid(request)
    assert output_of(request)["AudioDescriptions"][0]["CodecSettings"]["OpusSettings"]["Bitrate"] == 32_000
    narrow = encode_job("assets-bkt", "openips-prod", task(small), asset(width=40, height=24), 7200, 1)
    assert (narrow.width, narrow.height) == (40, 24)
    assert refusal(narrow) == ("MediaConvert makes frames of 32 to 8192 pixels a side, and this rendition's "
                               "frame is 40×24")
