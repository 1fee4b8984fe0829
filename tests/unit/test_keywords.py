"""The xmpKeywords string format (spec §5.19) and its limits at job creation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from openips.models.keywords import MAX_KEYWORD_LENGTH, MAX_KEYWORDS, merge_keywords, parse_xmp_keywords
from openips.models.upload_job import UploadPostJob
from openips.services.params import fault_from_validation

REQUIRED = {"overwrite": True, "readyForPublish": False, "createMask": False, "emailSetting": "None"}


@pytest.mark.parametrize(("text", "keywords"), [
    ("sale,red\\, blue,shoes", ["sale", "red, blue", "shoes"]),
    ("a\\\\b", ["a\\b"]),
    ("a\\\\,b", ["a\\", "b"]),  # an escaped backslash does not escape the comma after it
    ("a\\\\\\,b", ["a\\,b"]),
    ("  a , b\t,\n c  ", ["a", "b", "c"]),
    (",,a,, ,b,", ["a", "b"]),
    ("", []),
    ("a,b,a,A,b", ["a", "b", "A"]),  # exact repeats only: case matters
    ("a\\b", ["a\\b"]),  # unknown escape: kept literally
    ("a,b\\", ["a", "b\\"]),  # trailing lone backslash: kept literally
    ("\\,", [","]),
    ("été, 日本", ["été", "日本"]),
])
def test_parse(text, keywords):
    assert parse_xmp_keywords(text) == keywords


def test_merge_keeps_order_and_drops_repeats_and_empties():
    assert merge_keywords(["old", "b"], ["b", "", "c", "old"]) == ["old", "b", "c"]


def test_the_limits_are_inclusive():
    at_limit = ",".join(f"k{i}" for i in range(MAX_KEYWORDS - 1)) + "," + "x" * MAX_KEYWORD_LENGTH
    job = UploadPostJob.model_validate({**REQUIRED, "xmpKeywords": at_limit})
    assert len(parse_xmp_keywords(job.xmp_keywords or "")) == MAX_KEYWORDS


def test_the_string_is_stored_as_given():
    job = UploadPostJob.model_validate({**REQUIRED, "xmpKeywords": " a\\,b ,a"})
    assert job.public_dump()["xmpKeywords"] == " a\\,b ,a"


@pytest.mark.parametrize(("text", "reason"), [
    (",".join(f"k{i}" for i in range(MAX_KEYWORDS + 1)), "at most 1000 keywords"),
    ("ok," + "x" * (MAX_KEYWORD_LENGTH + 1), "the limit is 256"),
    ("bell\x07", "control character"),
])
def test_limits_are_refused_with_30001(text, reason):
    with pytest.raises(ValidationError) as info:
        UploadPostJob.model_validate({**REQUIRED, "xmpKeywords": text})
    fault = fault_from_validation(info.value)
    assert fault.code == 30001 and "xmpKeywords" in fault.reason and reason in fault.reason


def test_repeats_and_padding_do_not_count_against_the_limits():
    text = ",".join(["same"] * (MAX_KEYWORDS + 5)) + ", " + " " * 300 + "y"
    assert parse_xmp_keywords(UploadPostJob.model_validate({**REQUIRED, "xmpKeywords": text}).xmp_keywords or "") == [
        "same", "y"]
