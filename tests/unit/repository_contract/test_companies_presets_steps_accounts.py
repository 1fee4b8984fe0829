"""CompanyRepository, PresetRepository, StepRepository and AccountRepository."""

from __future__ import annotations

from datetime import timedelta

import pytest

from openips.adapters.ports import ConditionFailed
from openips.models.domain import LogType, User
from openips.models.set_presets import SetPreset
from tests.unit.repository_contract.builders import T0, company, open_job, row


def test_companies_are_created_once_replaced_when_they_exist_and_listed_by_handle(repos):
    acme = company("c-b", max_file_size=100, allowed_file_types=["jpg"])
    repos.companies.create(acme)
    repos.companies.create(company("c-a", name="Other"))
    with pytest.raises(ConditionFailed):
        repos.companies.create(company("c-b", name="Taken"))
    assert repos.companies.get("c-b") == acme
    changed = acme.model_copy(update={"overwrite_mode": "OverwriteAnyExt", "max_file_size": None})
    repos.companies.replace(changed)
    assert repos.companies.get("c-b") == changed
    with pytest.raises(ConditionFailed):
        repos.companies.replace(company("c-none"))
    assert repos.companies.get("c-none") is None
    assert repos.companies.list_handles() == ["c-a", "c-b"]


def test_companies_are_found_by_their_exact_name_all_of_them(repos):
    # Given names that differ only in case, and one name two companies share
    repos.companies.create(company("c-2", name="Acme"))
    repos.companies.create(company("c-1", name="Acme"))
    repos.companies.create(company("c-3", name="acme"))

    # Then the lookup is case-sensitive and returns every match, in handle order
    assert [c.company_handle for c in repos.companies.find_by_name("Acme")] == ["c-1", "c-2"]
    assert [c.company_handle for c in repos.companies.find_by_name("acme")] == ["c-3"]
    assert repos.companies.find_by_name("ACME") == []
    assert repos.companies.find_by_name("Acm") == []


def _preset(handle: str, company_handle: str = "c-acme") -> SetPreset:
    return SetPreset.model_validate({"presetHandle": handle, "companyHandle": company_handle, "created": T0.isoformat(),
                                     "createdBy": "u-1", "name": f"sets {handle}", "setType": "ImageSet",
                                     "matchPattern": "(?P<base>.+?)_(front|back)"})


def test_presets_are_stored_listed_per_company_and_deleted_once(repos):
    for handle in ("p-2", "p-1"):
        repos.presets.create(_preset(handle))
    repos.presets.create(_preset("p-3", "c-other"))
    with pytest.raises(ConditionFailed):
        repos.presets.create(_preset("p-1"))
    assert repos.presets.get("p-1") == _preset("p-1") and repos.presets.get("p-none") is None
    assert [p.preset_handle for p in repos.presets.list_for_company("c-acme")] == ["p-1", "p-2"]
    assert repos.presets.delete(_preset("p-1")) is True and repos.presets.delete(_preset("p-1")) is False
    assert [p.preset_handle for p in repos.presets.list_for_company("c-acme")] == ["p-2"]
    assert repos.presets.get("p-1") is None


def test_a_preset_run_logs_its_row_once_and_answers_reruns_with_it(repos):
    open_job(repos)
    first = row(LogType.UPLOAD_SUCCESS, text="set created", asset_handle="a-set")
    assert repos.presets.get_run("j-one", "p-1#shoe_set") is None
    assert repos.presets.record_run("j-one", "p-1#shoe_set", first) == first
    assert repos.presets.record_run("j-one", "p-1#shoe_set", row(text="again")) == first
    assert repos.presets.get_run("j-one", "p-1#shoe_set") == first
    assert repos.jobs.get("j-one").counts.log_rows == 1
    assert [r.log_message for r in repos.logs.query("j-one", None, False)] == ["set created"]


def test_a_step_is_claimed_with_a_lease_finished_once_with_its_rows_and_taken_over_after_a_crash(repos):
    open_job(repos)
    assert repos.steps.get("j-one", "email:Completion") is None
    assert repos.steps.claim("j-one", "email:Completion", T0, 60) == "new"
    assert repos.steps.get("j-one", "email:Completion")["status"] == "Running"
    assert repos.steps.claim("j-one", "email:Completion", T0 + timedelta(seconds=59), 60) == "busy"
    assert repos.steps.claim("j-one", "email:Completion", T0 + timedelta(seconds=61), 60) == "new"  # lease over
    assert repos.steps.finish("j-one", "email:Completion", [row(text="sent")], outcome="Sent", attempts=2,
                              message_id=None) is True
    assert repos.steps.finish("j-one", "email:Completion", [row(text="twice")], outcome="Sent") is False
    item = repos.steps.get("j-one", "email:Completion")
    assert (item["status"], item["outcome"], item["attempts"], "message_id" in item) == ("Done", "Sent", 2, False)
    assert not {"pk", "sk"} & set(item)
    assert repos.steps.claim("j-one", "email:Completion", T0 + timedelta(days=1), 60) == "done"
    assert repos.jobs.get("j-one").counts.log_rows == 1
    assert [r.log_message for r in repos.logs.query("j-one", None, False)] == ["sent"]


def test_a_step_can_be_finished_without_a_claim_and_given_fields_later(repos):
    open_job(repos)
    assert repos.steps.finish("j-one", "webhook:end", [], outcome="Queued") is True
    repos.steps.set_fields("j-one", "webhook:end", next="queued", next_not_before="12.5")
    item = repos.steps.get("j-one", "webhook:end")
    assert (item["status"], item["outcome"], item["next"], item["next_not_before"]) == (
        "Done", "Queued", "queued", "12.5")
    assert repos.jobs.get("j-one").counts.log_rows == 0 and repos.logs.count("j-one") == 0


def _user(handle: str = "u-1", email: str = "ops@acme.example", company_handle: str = "c-acme") -> User:
    return User(user_handle=handle, company_handle=company_handle, email=email, role="IpsCompanyAdmin")


def test_a_users_one_live_key_finds_it_until_it_is_replaced_or_revoked(repos):
    user = _user()
    repos.accounts.put_user(user, "hash-1")
    with pytest.raises(ConditionFailed):
        repos.accounts.put_user(_user("u-2"), "hash-1")  # the key exists: nothing written
    assert repos.accounts.get_user("u-2") is None
    assert repos.accounts.get_user("u-1") == (user, "hash-1")
    assert repos.accounts.get_user_by_key_hash("hash-1") == user
    assert repos.accounts.find_user_by_email("c-acme", "ops@acme.example") == user
    assert repos.accounts.find_user_by_email("c-other", "ops@acme.example") is None
    repos.accounts.replace_user_key(user, "hash-1", "hash-2")
    assert repos.accounts.get_user_by_key_hash("hash-1") is None
    assert repos.accounts.get_user_by_key_hash("hash-2") == user
    repos.accounts.replace_user_key(user, "hash-2", None)
    assert repos.accounts.get_user("u-1") == (user, "") and repos.accounts.get_user_by_key_hash("hash-2") is None
    with pytest.raises(ConditionFailed):
        repos.accounts.replace_user_key(_user("u-none"), None, "hash-3")
    repos.accounts.replace_user_key(user, None, "hash-3")
    repos.accounts.delete_user(user, "hash-3")
    assert repos.accounts.get_user("u-1") is None and repos.accounts.get_user_by_key_hash("hash-3") is None


def test_webhook_secrets_first_writer_wins_and_rotation_keeps_the_previous_one(repos):
    assert repos.accounts.get_webhook_secret("c-acme") is None
    first = repos.accounts.create_webhook_secret("c-acme", "whsec_1", T0)
    assert first == {"secret": "whsec_1", "created_at": "2024-05-01T12:00:00.123000Z"}
    assert repos.accounts.create_webhook_secret("c-acme", "whsec_2", T0 + timedelta(seconds=1)) == first
    rotated = repos.accounts.rotate_webhook_secret("c-acme", "whsec_3", T0, T0 + timedelta(days=1))
    assert rotated == {"secret": "whsec_3", "created_at": "2024-05-01T12:00:00.123000Z",
                       "previous_secret": "whsec_1", "previous_valid_until": "2024-05-02T12:00:00.123000Z"}
    assert repos.accounts.get_webhook_secret("c-acme") == rotated
    fresh = repos.accounts.rotate_webhook_secret("c-other", "whsec_4", T0, T0)
    assert fresh == {"secret": "whsec_4", "created_at": "2024-05-01T12:00:00.123000Z"}
