"""Derived assets on the fakes: batch sets made at job end (docs/sets.md), and the asset-ID guard under a stale read."""

from __future__ import annotations

from openips.models.set_presets import CreateSetPresetRequest
from openips.services import set_presets
from tests.unit.service_rules.harness import World, icc_profile

PROFILE = icc_profile()
SHOES = {"name": "Shoes", "setType": "ImageSet",
         "matchPattern": r"^(?P<base>.+?)_(?P<suffix>front|back|side|swatch_.+)$",
         "memberOrder": "SuffixList", "suffixOrder": ["front", "side", "back", "swatch_*"]}


def _preset(world: World) -> str:
    return set_presets.create_preset(world.deps, world.user, CreateSetPresetRequest.model_validate(SHOES)).preset_handle


def _run_job(world: World, files: list[str], presets: list[str], name: str):
    job = world.open(name, autoSetCreationOptions={"autoSetsArray": presets})
    world.send(job, {path: PROFILE for path in files})
    world.end(job)
    return job, set_presets.run_presets_for_job(world.deps, world.job(job), world.tick())


def _members(world: World, name: str) -> list[str]:
    found = world.deps.assets.find_by_name(world.company.company_handle, name)
    return [world.deps.assets.get(handle).name for handle in found.members]


def test_a_job_with_a_preset_makes_ordered_sets_once_and_a_second_job_updates_them():
    world = World()
    preset = _preset(world)
    job, rows = _run_job(world, ["shoes/shoe_123_swatch_red.icc", "shoes/shoe_123_back.icc",
                                 "shoes/shoe_123_front.icc", "shoes/shoe_124_front.icc", "shoes/readme.icc"],
                         [preset], "first")
    assert [(r.log_type.value, r.asset_name, r.asset_type) for r in rows] == [
        ("UploadSuccess", "shoe_123_set", "ImageSet"), ("UploadSuccess", "shoe_124_set", "ImageSet")]
    shoe_set = world.deps.assets.find_by_name(world.company.company_handle, "shoe_123_set")
    assert (shoe_set.type, shoe_set.folder, shoe_set.master_key) == ("ImageSet", "shoes/", "")
    assert _members(world, "shoe_123_set") == ["shoe_123_front", "shoe_123_back", "shoe_123_swatch_red"]
    logged = world.log(job).detail_array
    assert "3 members: shoe_123_front, shoe_123_back, shoe_123_swatch_red" in rows[0].log_message

    # Re-running the presets of the same job (a duplicate JobFinished) changes nothing and logs nothing.
    assert set_presets.run_presets_for_job(world.deps, world.job(job), world.tick()) == rows
    assert len(world.log(job).detail_array) == len(logged)

    second, (row,) = _run_job(world, ["shoes/shoe_123_side.icc", "shoes/shoe_123_front.icc"], [preset], "second")
    assert (row.log_type.value, row.asset_handle) == ("FileUpdated", shoe_set.asset_handle)
    assert "4 members (1 new)" in row.log_message
    assert _members(world, "shoe_123_set") == ["shoe_123_front", "shoe_123_side", "shoe_123_back",
                                               "shoe_123_swatch_red"]
    updated = world.deps.assets.get(shoe_set.asset_handle)
    assert (updated.created_job_handle, updated.updated_job_handle) == (job.job_handle, second.job_handle)
    history = [r.log_type.value for _, r in world.deps.logs.query_for_asset(shoe_set.asset_handle)]
    assert history == ["FileUpdated", "UploadSuccess"]


def test_racing_finalizes_neither_duplicate_a_set_nor_lose_members():
    world = World()
    preset = _preset(world)
    _run_job(world, ["shoe_7_front.icc"], [preset], "first")
    existing = world.deps.assets.find_by_name(world.company.company_handle, "shoe_7_set")
    job = world.open("second", autoSetCreationOptions={"autoSetsArray": [preset]})
    world.send(job, {"shoe_7_back.icc": PROFILE})
    world.end(job)

    assets = world.deps.assets
    real_find, real_update = assets.find_by_name, assets.update_set_members
    calls = {"find": 0, "update": 0}

    def stale_find(company, name):  # the first look misses the set another finalize is creating
        calls["find"] += 1
        return None if calls["find"] == 1 else real_find(company, name)

    def contended_update(asset, old_members):  # another writer changes the members between read and write
        calls["update"] += 1
        if calls["update"] == 1:
            current = assets.get(asset.asset_handle)
            assets.replace(current.model_copy(update={"members": [*current.members, "a-elsewhere"]}))
        return real_update(asset, old_members)

    assets.find_by_name, assets.update_set_members = stale_find, contended_update  # type: ignore[method-assign]
    (row,) = set_presets.run_presets_for_job(world.deps, world.job(job), world.tick())
    assert (row.log_type.value, row.asset_handle) == ("FileUpdated", existing.asset_handle)
    assert calls["update"] >= 2  # the first conditional write lost and was retried
    sets = [a for a, _ in assets.iter_in_folder(world.company.company_handle, "", None, 50) if a.type == "ImageSet"]
    assert [s.asset_handle for s in sets] == [existing.asset_handle]
    del assets.find_by_name, assets.update_set_members
    assert _members(world, "shoe_7_set") == ["shoe_7_front", "shoe_7_back"]  # the unknown member is dropped


def test_a_stale_look_at_a_taken_asset_id_never_makes_a_second_asset_with_it():
    world = World()
    world.send(world.open("first"), {"chair.icc": PROFILE})
    existing = world.deps.assets.find_by_name(world.company.company_handle, "chair")
    assets, looks = world.deps.assets, []
    real_find = assets.find_by_name

    def stale(company, name):  # every first look at a name misses the asset (another file's create races it)
        looks.append(name)
        return None if looks.count(name) <= 2 else real_find(company, name)

    assets.find_by_name = stale  # type: ignore[method-assign]
    job = world.open("second")
    assert world.send(job, {"chair.icc": icc_profile(300)}) == ["FileUpdated"]
    assert world.rows(job, "FileUpdated")[0].asset_handle == existing.asset_handle
    assert world.deps.assets.get(existing.asset_handle).file_size == 300
