"""AssetRepository and ProjectRepository: company-unique asset IDs, set members, listings, the word index, projects."""

from __future__ import annotations

import base64
import json

import pytest

from openips.adapters.dynamodb import keys
from openips.adapters.paging import InvalidPageToken
from openips.adapters.ports import ConditionFailed
from openips.models.projects import Project
from tests.unit.repository_contract.builders import T0, asset


def _key_of(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))["k"]


def test_an_asset_id_is_unique_in_its_company_and_a_creation_links_the_asset_to_its_job(repos):
    chair = asset("a-one", "chair", metadata={"price": 12.5, "count": 3})
    assert repos.assets.create(chair) is True
    assert repos.assets.get("a-one") == chair
    assert repos.assets.find_by_name("c-acme", "chair") == chair
    assert repos.assets.create(asset("a-two", "chair", folder="elsewhere/")) is False  # the ID is taken
    assert repos.assets.get("a-two") is None and repos.assets.list_for_job("j-one") == [chair]
    assert repos.assets.create(asset("a-one", "stool")) is False  # the handle exists
    assert repos.assets.find_by_name("c-acme", "stool") is None
    assert repos.assets.create(asset("a-three", "chair", company_handle="c-other")) is True
    assert repos.assets.find_by_name("c-other", "chair").asset_handle == "a-three"
    assert repos.assets.find_by_name("c-acme", "Chair") is None  # IDs are case-sensitive
    assert sorted(repos.assets.get_many({"a-one", "a-three", "a-none"})) == ["a-one", "a-three"]


def test_a_replacement_needs_the_asset_and_links_it_to_the_job_that_wrote_it(repos):
    with pytest.raises(ConditionFailed):
        repos.assets.replace(asset())
    assert repos.assets.get("a-one") is None
    repos.assets.create(asset())
    updated = asset(width=500, folder="moved/").model_copy(update={"updated_job_handle": "j-two"})
    repos.assets.replace(updated)
    assert repos.assets.get("a-one") == updated
    assert [a.asset_handle for a in repos.assets.list_for_job("j-one")] == ["a-one"]
    assert [a.asset_handle for a in repos.assets.list_for_job("j-two")] == ["a-one"]
    assert [a.asset_handle for a, _ in repos.assets.iter_in_folder("c-acme", "moved/", None, 5)] == ["a-one"]
    assert list(repos.assets.iter_in_folder("c-acme", "", None, 5)) == []


def test_set_members_change_only_if_they_are_still_what_the_writer_read(repos):
    members = ["a-1", "a-2"]
    repos.assets.create(asset("a-set", "shoe_set", type="ImageSet", members=members))
    read = repos.assets.get("a-set")
    mine = read.model_copy(update={"members": [*members, "a-3"], "updated_job_handle": "j-two"})
    theirs = read.model_copy(update={"members": [*members, "a-4"]})
    assert repos.assets.update_set_members(theirs, members) is True
    assert repos.assets.update_set_members(mine, members) is False  # lost: read again
    assert repos.assets.get("a-set").members == ["a-1", "a-2", "a-4"]
    assert repos.assets.update_set_members(mine, ["a-1", "a-2", "a-4"]) is True
    assert repos.assets.get("a-set").members == ["a-1", "a-2", "a-3"]
    assert [a.asset_handle for a in repos.assets.list_for_job("j-two")] == ["a-set"]
    assert repos.assets.update_set_members(asset("a-none"), []) is False


def test_folder_listings_by_name_in_pages_whose_tokens_are_checked(repos):
    names = ["e", "a", "d", "b", "c"]
    for n, name in enumerate(names):
        repos.assets.create(asset(f"a-{n}", name, folder="bulk/"))
    repos.assets.create(asset("a-x", "x", folder="bulk/", company_handle="c-other"))
    listed = list(repos.assets.iter_in_folder("c-acme", "bulk/", None, 2))
    assert [a.name for a, _ in listed] == ["a", "b", "c", "d", "e"]
    first = listed[0][0]
    assert _key_of(listed[0][1].token()) == {**keys.asset_key(first.asset_handle), **keys.asset_index(first)}
    assert [a.name for a, _ in repos.assets.iter_in_folder("c-acme", "bulk/", listed[2][1].token(), 2)] == ["d", "e"]
    theirs = list(repos.assets.iter_in_folder("c-other", "bulk/", None, 2))[0][1].token()
    for token in (theirs, "!!", list(repos.assets.iter_for_job("j-one", None, 2))[0][1].token()):
        with pytest.raises(InvalidPageToken):
            list(repos.assets.iter_in_folder("c-acme", "bulk/", token, 2))


def test_job_listings_page_through_links_and_show_a_gone_asset_as_none(repos):
    for n in range(3):
        repos.assets.create(asset(f"a-{n}", f"n{n}"))
    listed = list(repos.assets.iter_for_job("j-one", None, 2))
    assert [a.asset_handle for a, _ in listed] == ["a-0", "a-1", "a-2"]
    assert _key_of(listed[0][1].token()) == {"pk": "J#j-one", "sk": "A#a-0"}
    assert [a.asset_handle for a, _ in repos.assets.iter_for_job("j-one", listed[0][1].token(), 2)] == ["a-1", "a-2"]
    repos.assets.index_words("c-acme", "a-gone", [], ["red"])  # a word entry whose asset does not exist
    repos.assets.index_words("c-acme", "a-1", [], ["red"])
    assert [(a.asset_handle if a else None) for a, _ in repos.assets.iter_with_word("c-acme", "red", None, 5)] == [
        "a-1", None]


def test_the_word_index_holds_exactly_each_assets_words(repos):
    for n in range(3):
        repos.assets.create(asset(f"a-{n}", f"n{n}"))
    repos.assets.index_words("c-acme", "a-0", [], ["red", "shoe"])
    repos.assets.index_words("c-acme", "a-1", [], ["red"])
    repos.assets.index_words("c-acme", "a-2", [], ["red"])
    repos.assets.index_words("c-acme", "a-0", ["red", "shoe"], ["shoe", "blue"])
    assert [a.asset_handle for a, _ in repos.assets.iter_with_word("c-acme", "red", None, 5)] == ["a-1", "a-2"]
    assert [a.asset_handle for a, _ in repos.assets.iter_with_word("c-acme", "blue", None, 5)] == ["a-0"]
    assert list(repos.assets.iter_with_word("c-other", "shoe", None, 5)) == []
    first = list(repos.assets.iter_with_word("c-acme", "red", None, 1))[0][1].token()
    assert _key_of(first) == {"pk": "C#c-acme#W#red", "sk": "A#a-1"}
    assert [a.asset_handle for a, _ in repos.assets.iter_with_word("c-acme", "red", first, 1)] == ["a-2"]
    with pytest.raises(InvalidPageToken):
        list(repos.assets.iter_with_word("c-acme", "blue", first, 1))


def _project(handle: str, name: str, company_handle: str = "c-acme") -> Project:
    return Project(project_handle=handle, company_handle=company_handle, name=name, created=T0, created_by="u-1")


def test_a_project_name_is_unique_in_its_company_whatever_its_case(repos):
    assert repos.projects.create(_project("p-1", "Sale")) is True
    assert repos.projects.create(_project("p-2", "SALE")) is False
    assert repos.projects.get("p-2") is None
    assert repos.projects.create(_project("p-3", "sale", company_handle="c-other")) is True
    assert repos.projects.create(_project("p-4", "archive")) is True
    assert [p.name for p in repos.projects.list_for_company("c-acme")] == ["archive", "Sale"]
    assert repos.projects.get("p-1") == _project("p-1", "Sale")


def test_a_project_lists_its_assets_and_deleting_it_frees_its_name_and_its_assets(repos):
    repos.projects.create(_project("p-1", "Sale"))
    for n in range(3):
        repos.assets.create(asset(f"a-{n}", f"n{n}", project_handles=["p-1", "p-other"]))
        repos.projects.link_assets(["p-1", "p-other"], f"a-{n}")
    repos.projects.link_assets(["p-1"], "a-0")  # idempotent
    assert repos.projects.asset_handles("p-1") == ["a-0", "a-1", "a-2"]
    listed = list(repos.projects.iter_assets("p-1", None, 2))
    assert [a.asset_handle for a, _ in listed] == ["a-0", "a-1", "a-2"]
    assert _key_of(listed[1][1].token()) == {"pk": "P#p-1", "sk": "A#a-1"}
    assert [a.asset_handle for a, _ in repos.projects.iter_assets("p-1", listed[1][1].token(), 2)] == ["a-2"]
    with pytest.raises(InvalidPageToken):
        list(repos.projects.iter_assets("p-other", listed[1][1].token(), 2))

    repos.projects.delete(repos.projects.get("p-1"))
    assert repos.projects.get("p-1") is None and repos.projects.asset_handles("p-1") == []
    assert all(repos.assets.get(f"a-{n}").project_handles == ["p-other"] for n in range(3))
    assert repos.projects.asset_handles("p-other") == ["a-0", "a-1", "a-2"]
    assert repos.projects.create(_project("p-5", "sale")) is True
