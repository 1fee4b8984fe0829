"""Batch set presets: grouping, ordering, naming, limits and the naming-rule guard (pure)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from pydantic.alias_generators import to_camel

from openips.models.domain import Asset
from openips.models.set_presets import (
    MAX_MATCH_NAME,
    CreateSetPresetRequest,
    PatternError,
    SetPreset,
    check_match_pattern,
)
from openips.services import set_presets as sp

NOW = datetime(2026, 3, 1, tzinfo=UTC)
SHOES = r"^(?P<base>.+?)_(?P<suffix>front|back|side|swatch_.+)$"


def preset(**fields) -> SetPreset:
    data = {"name": "Shoes", "set_type": "ImageSet", "match_pattern": SHOES} | fields
    return SetPreset(preset_handle="p-test", company_handle="c-1", created=NOW, created_by="u-1", **data)


def asset(name: str, folder: str = "shoes/", company: str = "c-1", type_: str = "Image") -> Asset:
    return Asset(asset_handle=f"a-{name}", company_handle=company, name=name, type=type_, folder=folder,
                 file_name=f"{name}.jpg", extension="jpg", publish_state="MarkedForPublish", file_size=1,
                 master_key=f"k/{name}", created_job_handle="j-1", updated_job_handle="j-1",
                 created=NOW, updated=NOW, last_claim="x")


PRODUCT_NAMES = ["shoe_123_front", "shoe_123_back", "shoe_123_swatch_red", "shoe_124_front",
                 "shoe_123", "readme", "SHOE_125_FRONT", "shoe_126_top", "_front"]


def test_realistic_product_names_group_by_base_and_unmatched_names_stay_out():
    plans = sp.plan_sets(preset(), [asset(n) for n in PRODUCT_NAMES])
    assert [(p.name, [m.name for m in p.members]) for p in plans] == [
        ("shoe_123_set", ["shoe_123_back", "shoe_123_front", "shoe_123_swatch_red"]),
        ("shoe_124_set", ["shoe_124_front"]),
    ]
    # The suffix group is what the explicit order looks at.
    assert {m.name: m.suffix for m in plans[0].members}["shoe_123_swatch_red"] == "swatch_red"
    assert all(p.folder == "shoes/" and p.refused is None for p in plans)


def test_explicit_suffix_order_with_prefix_entries_then_the_rest_alphanumerically():
    rule = preset(member_order="SuffixList", suffix_order=["front", "side", "back", "swatch_*"],
                  match_pattern=r"(?P<base>shoe_\d+)_(?P<suffix>[a-z_]+)")
    names = ["shoe_1_swatch_red", "shoe_1_back", "shoe_1_zoom", "shoe_1_front", "shoe_1_swatch_blue",
             "shoe_1_detail", "shoe_1_side"]
    (plan,) = sp.plan_sets(rule, [asset(n) for n in names])
    assert [m.suffix for m in plan.members] == ["front", "side", "back", "swatch_blue", "swatch_red",
                                                "detail", "zoom"]


def test_alphanumeric_order_is_natural_and_case_insensitive():
    rule = preset(set_type="SpinSet", match_pattern=r"(?P<base>spin)_(?P<suffix>\d+)")
    names = ["spin_10", "spin_2", "spin_1", "spin_24", "spin_3"]
    (plan,) = sp.plan_sets(rule, [asset(n) for n in names])
    assert [m.name for m in plan.members] == ["spin_1", "spin_2", "spin_3", "spin_10", "spin_24"]
    assert sorted(["b", "A", "a10", "a9"], key=sp.natural_key) == ["A", "a9", "a10", "b"]


def test_pattern_must_match_the_whole_name_without_a_suffix_group_the_rest_is_the_suffix():
    rule = preset(match_pattern=r"(?P<base>[a-z]+)-\d")
    plans = sp.plan_sets(rule, [asset("red-1"), asset("red-2x"), asset("blue-3")])
    assert [(p.base, [m.suffix for m in p.members]) for p in plans] == [("blue", ["3"]), ("red", ["1"])]


def test_sets_other_companies_and_overlong_names_never_join():
    names = [asset("shoe_9_front"), asset("shoe_9_back", company="c-2"),
             asset("shoe_9_side", type_="ImageSet"), asset("x" * (MAX_MATCH_NAME + 1) + "_front")]
    (plan,) = sp.plan_sets(preset(), names)
    assert [m.name for m in plan.members] == ["shoe_9_front"]


def test_folder_and_name_templates():
    rule = preset(set_folder="{sourceFolder}sets/", set_name_template="set-{base}")
    (plan,) = sp.plan_sets(rule, [asset("shoe_1_front", folder="men/shoes/")])
    assert (plan.name, plan.folder) == ("set-shoe_1", "men/shoes/sets/")
    (plan,) = sp.plan_sets(preset(set_folder="/catalog//sets"), [asset("shoe_1_front", folder="men/")])
    assert plan.folder == "catalog/sets/"
    # With members in several folders, {sourceFolder} is the first member's folder.
    (plan,) = sp.plan_sets(preset(), [asset("shoe_1_front", folder="b/"), asset("shoe_1_back", folder="a/")])
    assert plan.folder == "a/"


def test_more_than_1000_members_is_refused_naming_the_count():
    rule = preset(match_pattern=r"(?P<base>big)_(?P<suffix>\d+)")
    (plan,) = sp.plan_sets(rule, [asset(f"big_{i}") for i in range(1001)])
    assert plan.refused == "1001 members; a set holds at most 1000"
    (plan,) = sp.plan_sets(rule, [asset(f"big_{i}") for i in range(1000)])
    assert plan.refused is None and len(plan.members) == 1000


def test_duplicate_limit_of_spec_3_5():
    assert sp.check_member_limits(["a-1"] * 20 + ["a-2"]) is None
    assert sp.check_member_limits(["a-1"] * 21) == "asset a-1 is in it 21 times; at most 20"
    # Grouping itself never puts one asset in a set twice.
    same = asset("shoe_1_front")
    (plan,) = sp.plan_sets(preset(), [same, same])
    assert plan.handles == ["a-shoe_1_front"]


@pytest.mark.parametrize(("pattern", "why"), [
    (r"(?P<base>(a+)+)b", "nested quantifiers"),
    (r"(?P<base>(a|aa)*)c", "alternation inside a repeated group"),
    (r"(?P<base>(?:x*y?)*)$", "nested quantifiers"),
    (r"(?P<base>.*)(.*)(.*)(.*)_z", "too ambiguous"),
    ("(?P<base>" + "a?" * 21 + "a" * 21 + ")", "too ambiguous"),
    (r"(?P<base>(?:a?){30}a{30})", "nested quantifiers"),
    (r"(?P<base>.+)_(.+)_(.+)_(ab|cd|ef|gh|ij)", "too ambiguous"),
    (r"(?P<base>\w+)_(?P=base)", "backreferences"),
    (r"(?P<stem>.+)_front", "no named group 'base'"),
    (r"(?P<base>.+", "not a valid regular expression"),
    ("(?P<base>a)" + "b" * 300, "at most 256"),
    ("", "empty"),
])
def test_dangerous_or_useless_patterns_are_refused(pattern, why):
    with pytest.raises(PatternError, match=why):
        check_match_pattern(pattern)


def test_accepted_patterns_stay_fast_on_hostile_names():
    # The most expensive shapes accepted, each on the name that makes it work hardest.
    worst = [(r"(?P<base>.*)_(.*)_(.*)_(?:q|r|s|t)", "_" * MAX_MATCH_NAME),
             (r"(?P<base>\w*)\w*\w*!", "a" * MAX_MATCH_NAME),
             ("(?P<base>" + "a?" * 20 + "a" * 20 + ")", "a" * 19 + "b"),
             (r"^(?P<base>.+?)_(?P<view>\d+)_(?P<suffix>front|back|side|swatch_.+)$", "1_" * 128)]
    for pattern, hostile in worst:
        rule = check_match_pattern(pattern)
        started = time.perf_counter()
        assert sp.match_member(rule, hostile) is None
        assert time.perf_counter() - started < 1.0, pattern
    # The classic catastrophic pattern is refused before it can run.
    with pytest.raises(PatternError):
        check_match_pattern(r"^(?P<base>(a+)+)$")


@pytest.mark.parametrize(("fields", "field"), [
    ({"match_pattern": r"(?P<base>(a+)+)$"}, "matchPattern"),
    ({"set_type": "ColorSwatch"}, "setType"),
    ({"member_order": "SuffixList"}, "suffixOrder is required"),
    ({"suffix_order": ["fr*ont"]}, "suffixOrder"),
    ({"suffix_order": ["a", "a"]}, "suffixOrder"),
    ({"set_name_template": "no_base"}, "setNameTemplate"),
    ({"set_name_template": "{base}_{color}"}, "setNameTemplate"),
    ({"set_name_template": "{base}/set"}, "setNameTemplate"),
    ({"set_folder": "../elsewhere/"}, "setFolder"),
    ({"set_folder": "sets/{sourceFolder}"}, "setFolder"),
    ({"name": ""}, "name"),
])
def test_request_validation_names_the_problem(fields, field):
    body = {to_camel(k): v for k, v in ({"name": "Shoes", "set_type": "ImageSet", "match_pattern": SHOES}
                                        | fields).items()}
    with pytest.raises(ValidationError) as caught:
        CreateSetPresetRequest.model_validate(body)
    error = caught.value.errors()[0]
    assert field in ".".join(str(p) for p in error["loc"]) + " " + error["msg"]


def test_wire_names_are_camel_case():
    request = CreateSetPresetRequest.model_validate({
        "name": "Shoes", "setType": "SwatchSet", "matchPattern": SHOES, "memberOrder": "SuffixList",
        "suffixOrder": ["swatch_*"], "setFolder": "{sourceFolder}", "setNameTemplate": "{base}_swatches"})
    assert request.set_type == "SwatchSet"
    dumped = preset().model_dump(by_alias=True)
    assert {"presetHandle", "companyHandle", "setType", "matchPattern", "memberOrder", "suffixOrder",
            "setFolder", "setNameTemplate"} <= set(dumped)
