"""The UploadPostJob model: XSD names, required fields, enums, cross-field rules."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from openips.models.upload_job import UploadPostJob, options_not_yet_applied
from openips.services.params import fault_from_validation, parse_body, query_date, query_int, query_list
from openips.models.api import CreateUploadJobRequest
from openips.models.errors import IpsApiFault

REQUIRED = {"overwrite": True, "readyForPublish": False, "createMask": False, "emailSetting": "None"}


def test_minimal_job_has_ips_defaults():
    job = UploadPostJob.model_validate(REQUIRED)
    assert job.preserve_crop is True and job.preserve_publish_state is None
    assert job.public_dump() == {**REQUIRED, "preserveCrop": True}


def test_xsd_names_round_trip_including_the_irregular_one():
    data = {**REQUIRED, "excludeMasterVideoFromAVS": True, "unCompressOptions": {"process": "UnCompress"},
            "inDesignOptions": {"process": "x"}, "postScriptOptions": {"process": "None"},
            "mediaOptions": {"videoEncodingArray": [{"name": "n", "fileSuffix": "_s", "videoBitrate": 1,
                                                     "audioBitrate": 2, "h264Profile": "main"}]}}
    dumped = UploadPostJob.model_validate(data).public_dump()
    assert dumped["excludeMasterVideoFromAVS"] is True
    assert dumped["mediaOptions"]["videoEncodingArray"][0]["h264Profile"] == "main"


@pytest.mark.parametrize(("patch", "code", "field"), [
    ({"emailSetting": None}, 30002, "emailSetting"),
    ({"knockoutBackground": {}}, 30001, "knockoutBackground"),  # the doc page's wrong name
    ({"emailSetting": "none"}, 30001, "emailSetting"),
    ({"unCompressOptions": {"process": "uncompress"}}, 30001, "unCompressOptions.process"),
    ({"knockoutBackgroundOptions": {"corner": "Middle", "fillMethod": "FloodFill"}}, 30001, "corner"),
    ({"manualCropOptions": {"left": -1, "right": 0, "top": 0, "bottom": 0}}, 30001, "left"),
    ({"autoColorCropOptions": {"corner": "UpperLeft"}}, 30002, "tolerance"),
    ({"unsharpMaskOptions": {"threshold": 256}}, 30001, "threshold"),
])
def test_faults_name_the_field(patch, code, field):
    data = {k: v for k, v in {**REQUIRED, **patch}.items() if v is not None}
    with pytest.raises(ValidationError) as info:
        UploadPostJob.model_validate(data)
    fault = fault_from_validation(info.value)
    assert fault.code == code and field in fault.reason


def test_two_crop_blocks_are_refused():
    with pytest.raises(ValidationError, match="at most one crop block"):
        UploadPostJob.model_validate({**REQUIRED, "manualCropOptions": {"left": 1, "right": 1, "top": 1, "bottom": 1},
                                      "autoColorCropOptions": {"corner": "UpperLeft", "tolerance": 0.1}})


def test_options_not_yet_applied_are_listed():
    job = UploadPostJob.model_validate({**REQUIRED, "createMask": True, "emailSetting": "All",
                                        "cssOptions": {"forceStaticImages": True}, "xmpKeywords": "a,b"})
    assert options_not_yet_applied(job) == ["cssOptions"]  # emailSetting: sent at job end (#6)
    assert options_not_yet_applied(UploadPostJob.model_validate(REQUIRED)) == []
    # mediaOptions: the poster is made and encodings are stored; only transcoding and its kin are not built.
    poster = UploadPostJob.model_validate({**REQUIRED, "mediaOptions": {
        "generateThumbnail": True, "thumbnailOptions": {"thumbnailTime": 500}, "videoEncodingPresetsArray": []}})
    assert options_not_yet_applied(poster) == []
    transcode = UploadPostJob.model_validate({**REQUIRED, "mediaOptions": {
        "videoEncodingPresetsArray": ["p-1"], "cmafConformance": True, "videoSmartCropArray": [{"width": 1}],
        "avsEncodingArray": [{"name": "avs", "videoEncodingArray": []}]}})
    assert options_not_yet_applied(transcode) == [
        "mediaOptions.avsEncodingArray",
        "mediaOptions.videoSmartCropArray", "mediaOptions.cmafConformance"]
    undocumented = UploadPostJob.model_validate({**REQUIRED, "preserveSmartCrop": False, "imsOrg": "x@AdobeOrg",
                                                 "metadataOptions": {"updateArray": []}})
    assert options_not_yet_applied(undocumented) == ["imsOrg"]  # metadataOptions, preserveSmartCrop: applied


def test_secrets_are_not_in_the_public_dump():
    job = UploadPostJob.model_validate({**REQUIRED, "jwtToken": "t", "apikey": "k", "imsOrg": "o"})
    assert "jwtToken" not in job.public_dump() and "apikey" not in job.public_dump()


@pytest.mark.parametrize(("body", "code"), [(None, 30002), ("[1]", 30003), ("{", 30003), ('{"jobName": ""}', 30001)])
def test_parse_body_faults(body, code):
    with pytest.raises(IpsApiFault) as info:
        parse_body(CreateUploadJobRequest, body)
    assert info.value.code == code


def test_query_helpers():
    assert query_int("5", "n", 1, 10) == 5 and query_int(None, "n", 1, 10) is None
    assert query_list("A,B,,C") == ["A", "B", "C"] and query_list(None) is None
    assert query_date("2026-11-28T10:00:00Z", "d").tzinfo is not None
    for bad in ("11", "x"):
        with pytest.raises(IpsApiFault):
            query_int(bad, "n", 1, 10)
    with pytest.raises(IpsApiFault):
        query_date("2026-11-28T10:00:00", "d")


@pytest.mark.parametrize(("value", "ok"), [("0", True), ("1", True), ("true", False), ("false", False), ("2", False),
                                           ("0.5", False)])
def test_usm_monochrome_is_0_or_1_never_a_boolean(value, ok):
    from openips.models.api import CreateUploadJobRequest
    from openips.models.errors import Fault
    from openips.services.params import parse_body

    body = ('{"jobName": "j", "uploadParams": {"overwrite": true, "readyForPublish": true, "createMask": false, '
            f'"emailSetting": "None", "unsharpMaskOptions": {{"amount": 1, "monochrome": {value}}}}}}}')
    if ok:
        assert parse_body(CreateUploadJobRequest, body).upload_params.unsharp_mask_options.monochrome == int(value)
    else:
        with pytest.raises(Fault) as refused:
            parse_body(CreateUploadJobRequest, body)
        assert refused.value.code == 30001 and "monochrome" in refused.value.reason
