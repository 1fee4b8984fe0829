"""Company settings (setCompanySettings): who may change them, and that uploads follow them."""

from __future__ import annotations

import pytest

from openips.models.api import CreateUserRequest
from openips.services import auth
from openips.services.deps import get_deps
from tests.integration.test_options import cmyk_jpeg, framed_jpeg, srgb_profile
from tests.integration.test_processing import rows, upload_and_end

pyvips = pytest.importorskip("pyvips")


def key_for(stack, role: str, company: str | None = None) -> str:
    admin = get_deps().store.get_user_by_key_hash(auth.hash_key(stack.admin_key))
    _, key = auth.create_user(get_deps().store, admin, CreateUserRequest(
        company_handle=company or stack.company, email=f"{role.lower()}@settings.example", role=role))
    return key


def test_company_admin_reads_and_changes_its_settings_and_uploads_follow(stack):
    path = f"/v1/admin/companies/{stack.company}"
    settings = stack.call("GET", path)
    assert settings.status == 200
    assert settings.body["overwriteMode"] == "OverwriteFullName" and settings.body["enforceSameIp"] is True

    upload_and_end(stack, {"chair.jpg": framed_jpeg()})
    # OverwriteFullName: another extension is another file → chair-1
    first = upload_and_end(stack, {"chair.png": framed_jpeg()})
    assert rows(stack, first, "UploadSuccess")[0]["assetName"] == "chair-1"

    changed = stack.call("PATCH", path, {"overwriteMode": "OverwriteAnyExt"})
    assert changed.status == 200 and changed.body["overwriteMode"] == "OverwriteAnyExt"
    assert changed.body["retainPublishState"] is False  # untouched fields keep their value
    second = upload_and_end(stack, {"chair.tif": framed_jpeg()})
    assert rows(stack, second, "FileUpdated")[0]["assetName"] == "chair"


def test_who_may_change_settings(stack):
    path = f"/v1/admin/companies/{stack.company}"
    user = key_for(stack, "IpsUser")
    refused = stack.call("PATCH", path, {"retainPublishState": True}, key=user)
    assert refused.status == 403 and refused.fault_code == 20003
    created = stack.call("POST", "/v1/admin/companies", {"name": "Other"}, key=stack.admin_key)
    other_admin = key_for(stack, "IpsCompanyAdmin", created.body["companyHandle"])
    foreign = stack.call("PATCH", path, {"retainPublishState": True}, key=other_admin)
    assert foreign.status == 403 and foreign.fault_code == 20006
    assert stack.call("GET", path, key=other_admin).status == 403
    by_admin = stack.call("PATCH", path, {"retainPublishState": True}, key=stack.admin_key)
    assert by_admin.status == 200 and by_admin.body["retainPublishState"] is True
    unknown = stack.call("PATCH", "/v1/admin/companies/c-nosuchcompany0000000", {"name": "x"}, key=stack.admin_key)
    assert unknown.status == 404 and unknown.fault_code == 30001


@pytest.mark.parametrize("body", [{"overwriteMode": "Sometimes"}, {"colour": "red"}, {"maxFileSize": 0}])
def test_bad_settings_are_30001(stack, body):
    response = stack.call("PATCH", f"/v1/admin/companies/{stack.company}", body)
    assert response.status == 400 and response.fault_code == 30001


def test_default_source_profile_must_be_a_profile_and_is_used_for_untagged_cmyk(stack):
    path = f"/v1/admin/companies/{stack.company}"
    upload_and_end(stack, {"picture.png": framed_jpeg(), "house-cmyk.icc": srgb_profile()})
    found = {name: stack.call("GET", "/v1/assets", query={"name": name}).body["assetArray"][0]
             for name in ("picture", "house-cmyk")}
    wrong = stack.call("PATCH", path, {"defaultSourceProfileHandle": found["picture"]["assetHandle"]})
    assert wrong.status == 400 and wrong.fault_code == 30001
    # An sRGB profile is not a CMYK profile: the colour step says so and falls back, visibly.
    ok = stack.call("PATCH", path, {"defaultSourceProfileHandle": found["house-cmyk"]["assetHandle"]})
    assert ok.status == 200
    job = upload_and_end(stack, {"print.jpg": cmyk_jpeg()})
    log = stack.job_log(job)
    text = " ".join(d["logMessage"] for d in log["detailArray"])
    assert "house-cmyk" in text


def test_a_default_profile_cannot_be_given_at_creation(stack):
    # It must be an IccProfile asset of the company, which cannot exist before the company.
    response = stack.call("POST", "/v1/admin/companies", {"name": "Early", "defaultSourceProfileHandle": "a-x"},
                          key=stack.admin_key)
    assert response.status == 400 and response.fault_code == 30001
