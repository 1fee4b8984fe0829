"""Upload rules on the fakes: overwrite modes (spec §9.2), duplicates, duplicate deliveries, late files, tenant checks.

ICC profiles stand in for uploads: they become assets without any decoding, so these tests run the
whole per-file flow (claim, decide, store, complete, finish) in milliseconds.
"""

from __future__ import annotations

import io

import pytest

from openips.models.domain import JobState
from openips.services import processing
from openips.services.keys import UPLOADED_FROM, incoming_prefix
from tests.fakes import ASSETS, INCOMING
from tests.unit.service_rules.harness import World, icc_profile

PROFILE = icc_profile()


def test_each_upload_becomes_an_asset_the_job_ends_once_with_its_counts():
    world = World()
    job = world.open()
    assert world.send(job, {"a.icc": PROFILE, "sub/b.icm": icc_profile(300)}) == ["UploadSuccess", "UploadSuccess"]
    world.end(job)
    log = world.log(job)
    assert (log.log_type, log.total_file_count, log.file_success_count) == ("EndUpload", 2, 2)
    assert world.job(job).state == JobState.DONE
    assert world.deps.events.finished == [job.job_handle]  # FinalizeJob woken once
    asset = world.deps.assets.find_by_name(world.company.company_handle, "b")
    assert (asset.type, asset.folder, asset.file_size) == ("IccProfile", "sub/", 300)
    assert world.storage.read(ASSETS, asset.master_key, 10_000) == icc_profile(300)  # the master is the upload


def test_duplicate_deliveries_of_one_object_are_counted_once():
    world = World()
    job = world.open()
    obj = world.upload(job, "a.icc", PROFILE)
    assert [world.deliver(obj) for _ in range(3)] == ["UploadSuccess", "DuplicateDelivery", "DuplicateDelivery"]
    world.end(job)
    log = world.log(job)
    assert (log.total_file_count, log.file_success_count, log.log_type) == (1, 1, "EndUpload")
    assert len(world.rows(job, "UploadSuccess")) == 1


def test_overwrite_true_updates_the_same_asset_and_false_skips_it():
    world = World()
    first = world.open("first")
    world.send(first, {"chair.icc": PROFILE})
    world.end(first)
    original = world.deps.assets.find_by_name(world.company.company_handle, "chair")

    second = world.open("second")
    assert world.send(second, {"chair.icc": icc_profile(400)}) == ["FileUpdated"]
    world.end(second)
    (updated,) = world.rows(second, "FileUpdated")
    assert updated.asset_handle == original.asset_handle and world.log(second).file_update_count == 1
    now = world.deps.assets.get(original.asset_handle)
    assert (now.file_size, now.updated_job_handle, now.created_job_handle) == (
        400, second.job_handle, first.job_handle)

    third = world.open("third", overwrite=False)
    assert world.send(third, {"chair.icc": PROFILE}) == ["DuplicateSkipped"]
    world.end(third)
    assert world.log(third).file_duplicate_count == 1
    assert "overwrite option is false" in world.rows(third, "DuplicateSkipped")[0].log_message
    assert world.deps.assets.get(original.asset_handle).file_size == 400


# existing asset: folder "a/", extension "icc"; the upload: its folder and extension → outcome, asset ID
MODES = {
    "OverwriteFullName": {("a/", "icc"): ("FileUpdated", "prof"), ("a/", "icm"): ("UploadSuccess", "prof-1"),
                          ("b/", "icc"): ("UploadSuccess", "prof-1"), ("b/", "icm"): ("UploadSuccess", "prof-1")},
    "OverwriteAnyExt": {("a/", "icc"): ("FileUpdated", "prof"), ("a/", "icm"): ("FileUpdated", "prof"),
                        ("b/", "icc"): ("UploadSuccess", "prof-1"), ("b/", "icm"): ("UploadSuccess", "prof-1")},
    "OverwriteFullNameAnyFolder": {("a/", "icc"): ("FileUpdated", "prof"), ("a/", "icm"): ("UploadSuccess", "prof-1"),
                                   ("b/", "icc"): ("FileUpdated", "prof"), ("b/", "icm"): ("UploadSuccess", "prof-1")},
    "OverwriteAnyExtAnyFolder": {("a/", "icc"): ("FileUpdated", "prof"), ("a/", "icm"): ("FileUpdated", "prof"),
                                 ("b/", "icc"): ("FileUpdated", "prof"), ("b/", "icm"): ("FileUpdated", "prof")},
}
CASES = [(mode, folder, ext, *expected) for mode, table in MODES.items() for (folder, ext), expected in table.items()]


@pytest.mark.parametrize(("mode", "folder", "extension", "outcome", "asset_id"), CASES)
def test_the_company_overwrite_mode_decides_between_update_and_a_numbered_id(mode, folder, extension, outcome,
                                                                             asset_id):
    world = World(company={"overwrite_mode": mode})
    first = world.open("first")
    world.send(first, {"a/prof.icc": PROFILE})
    existing = world.deps.assets.find_by_name(world.company.company_handle, "prof")
    job = world.open("second")
    assert world.send(job, {f"{folder}prof.{extension}": icc_profile(250)}) == [outcome]
    (row,) = world.rows(job, outcome)
    assert row.asset_name == asset_id
    if outcome == "FileUpdated":  # the AnyFolder modes move the asset to the upload's folder
        moved = world.deps.assets.get(existing.asset_handle)
        assert (moved.folder, moved.extension, row.asset_handle) == (folder, extension, existing.asset_handle)
    else:
        assert world.deps.assets.get(existing.asset_handle).file_size == len(PROFILE)


def test_taken_ids_are_numbered_in_turn_within_one_job():
    world = World()
    world.send(world.open("first"), {"a/chair.icc": PROFILE})
    job = world.open("second")
    assert world.send(job, {"b/chair.icc": PROFILE, "c/chair.icm": PROFILE}) == ["UploadSuccess"] * 2
    assert sorted(r.asset_name for r in world.rows(job, "UploadSuccess")) == ["chair-1", "chair-2"]


def test_publish_state_follows_ready_for_publish_and_preserve_and_the_company_setting():
    world = World()

    def state() -> str:
        return world.deps.assets.find_by_name(world.company.company_handle, "p").publish_state

    world.send(world.open("j1", readyForPublish=False), {"p.icc": PROFILE})
    assert state() == "NotMarkedForPublish"
    world.send(world.open("j2", readyForPublish=True, preservePublishState=True), {"p.icc": PROFILE})
    assert state() == "NotMarkedForPublish"
    world.send(world.open("j3", readyForPublish=True, preservePublishState=False), {"p.icc": PROFILE})
    assert state() == "MarkedForPublish"
    retained = World(company={"retain_publish_state": True})
    retained.send(retained.open("j1", readyForPublish=True), {"p.icc": PROFILE})
    retained.send(retained.open("j2", readyForPublish=False), {"p.icc": PROFILE})
    assert retained.deps.assets.find_by_name(retained.company.company_handle, "p").publish_state == "MarkedForPublish"


def test_forbidden_characters_are_stripped_from_the_asset_id():
    world = World()
    job = world.open()
    world.send(job, {"sale: 50% off+new.icc": PROFILE})
    assert world.rows(job, "UploadSuccess")[0].asset_name == "sale 50 offnew"


@pytest.mark.parametrize(("enforce", "outcome"), [(True, "UploadError"), (False, "UploadSuccess")])
def test_files_from_another_address_than_the_jobs_are_refused_unless_the_company_opts_out(enforce, outcome):
    world = World(company={"enforce_same_ip": enforce})
    job = world.open()
    obj = world.upload(job, "a.icc", PROFILE, source_ip="198.51.100.7")
    assert world.deliver(obj) == outcome
    if outcome == "UploadError":
        (row,) = world.rows(job, "UploadError")
        assert "198.51.100.7" in row.log_message and "192.0.2.10" in row.log_message


def test_a_file_the_upload_servlet_wrote_for_the_jobs_address_passes_the_same_ip_rule():
    """S3 sees IpsWireFunction's address for a file the servlet wrote; the caller's is in the
    object's metadata, which presigned POST forms cannot set (their policy allows no such field)."""
    world = World()
    job = world.open()
    for path, written_for in (("servlet.icc", job.source_ip), ("forged.icc", "198.51.100.9"), ("plain.icc", None)):
        key = incoming_prefix(job) + path
        world.storage.upload_stream(io.BytesIO(PROFILE), INCOMING, key,
                                    metadata={UPLOADED_FROM: written_for} if written_for else None)
    function_ip = "10.0.0.42"  # where the object came from, as S3's event says
    outcomes = [world.deliver(world.storage.put(INCOMING, incoming_prefix(job) + path,
                                                world.storage.objects[(INCOMING, incoming_prefix(job) + path)],
                                                function_ip))
                for path in ("servlet.icc", "forged.icc", "plain.icc")]
    assert outcomes == ["UploadSuccess", "UploadError", "UploadError"]


def test_blocked_and_not_allowed_file_types_are_refused_and_kept():
    world = World(company={"blocked_file_types": ["icm"]})
    job = world.open()
    assert world.send(job, {"a.icc": PROFILE, "b.icm": PROFILE}) == ["UploadSuccess", "UploadError"]
    assert world.storage.keys(INCOMING, f"quarantine/{world.company.company_handle}/{job.job_handle}/")
    allowed = World(company={"allowed_file_types": ["icm"]})
    job = allowed.open()
    assert allowed.send(job, {"a.icc": PROFILE, "b.icm": PROFILE}) == ["UploadError", "UploadSuccess"]


def test_a_file_arriving_after_the_job_ended_is_an_error_row_on_that_job():
    world = World()
    job = world.open()
    world.send(job, {"a.icc": PROFILE})
    world.end(job)
    assert world.send(job, {"late.icc": PROFILE}) == ["UploadError"]
    (late,) = world.rows(job, "UploadError")
    assert "after job" in late.log_message
    assert world.deps.assets.find_by_name(world.company.company_handle, "late") is None
    assert world.log(job).file_error_count == 1


def test_the_form_of_an_ended_job_cannot_fill_quarantine():
    """Its form stays valid until it expires: past a few late files, they are logged but no longer copied."""
    world = World()
    job = world.open()
    world.end(job)
    late = {f"late-{n}.icc": b"x" for n in range(processing.MAX_LATE_KEPT + 3)}
    assert world.send(job, late) == ["UploadError"] * len(late)
    rows = world.rows(job, "UploadError")
    assert len(rows) == len(late) and sum("It was not kept" in r.log_message for r in rows) == 3
    assert len(world.storage.keys(INCOMING, "quarantine/")) == processing.MAX_LATE_KEPT
    assert world.storage.keys(INCOMING, "incoming/") == []  # none left behind


def test_an_object_of_no_known_job_is_quarantined_not_lost():
    world = World()
    for key in ("incoming/c-nobody/j-nothing/x.icc", f"incoming/{world.company.company_handle}/j-forged/x.icc"):
        assert world.deliver(world.storage.put(INCOMING, key, PROFILE)) == "Unattributed"
    kept = world.storage.keys(INCOMING, "quarantine/")
    assert len(kept) == 2 and all(k.startswith("quarantine/unattributed/") and k.endswith("/x.icc") for k in kept)
    assert world.storage.keys(INCOMING, "incoming/") == []
