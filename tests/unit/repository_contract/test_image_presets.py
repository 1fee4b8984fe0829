"""ImagePresetRepository: a company's ``$name$`` presets, one per name in any case, counted."""

from __future__ import annotations

from openips.models.image_presets import ImagePreset
from tests.unit.repository_contract.builders import T0


def image_preset(name: str, company: str = "c-acme", modifiers: str = "wid=200&hei=200&fit=crop") -> ImagePreset:
    return ImagePreset(name=name, modifiers=modifiers, company_handle=company, created=T0, created_by="u-1")


def test_presets_are_stored_per_company_found_in_any_case_and_listed_by_name(repos):
    for name in ("Zoom", "thumb", "Hero.large"):
        assert repos.image_presets.create(image_preset(name), 10) == "created"
    assert repos.image_presets.create(image_preset("thumb", "c-other", "wid=50"), 10) == "created"

    assert repos.image_presets.get("c-acme", "THUMB") == image_preset("thumb")  # stored as given, found in any case
    assert repos.image_presets.get("c-other", "thumb").modifiers == "wid=50"
    assert repos.image_presets.get("c-acme", "nope") is None
    assert repos.image_presets.get("c-third", "thumb") is None
    assert [p.name for p in repos.image_presets.list_for_company("c-acme")] == ["Hero.large", "thumb", "Zoom"]
    assert repos.image_presets.list_for_company("c-none") == []


def test_a_name_is_taken_in_any_case_and_nothing_is_written_then(repos):
    assert repos.image_presets.create(image_preset("thumb"), 10) == "created"
    assert repos.image_presets.create(image_preset("THUMB", modifiers="wid=1"), 10) == "exists"
    assert repos.image_presets.get("c-acme", "thumb").modifiers == "wid=200&hei=200&fit=crop"
    assert len(repos.image_presets.list_for_company("c-acme")) == 1


def test_a_company_holds_at_most_the_limit_and_a_delete_frees_a_place(repos):
    for name in ("a", "b"):
        assert repos.image_presets.create(image_preset(name), 2) == "created"
    assert repos.image_presets.create(image_preset("c"), 2) == "full"
    assert repos.image_presets.create(image_preset("a", "c-other"), 2) == "created"  # per company
    assert repos.image_presets.get("c-acme", "c") is None

    assert repos.image_presets.delete("c-acme", "A") is True
    assert repos.image_presets.delete("c-acme", "a") is False
    assert repos.image_presets.get("c-acme", "a") is None
    assert repos.image_presets.create(image_preset("c"), 2) == "created"
    assert repos.image_presets.create(image_preset("d"), 2) == "full"
    assert repos.image_presets.delete("c-acme", "nope") is False
    assert repos.image_presets.create(image_preset("d"), 2) == "full"  # a failed delete freed nothing

