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
    admin = get_deps().accounts.get_user_by_key_hash(auth.hash_key(stack.admin_key))
    _, key = auth.create_user(get_deps().companies, get_deps().accounts, admin, CreateUserRequest(
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


def test_a_company_admin_lowers_the_video_rendition_limits_and_every_setting_still_reads(stack):
    # The company's own limits on video renditions are settings like the others (they can only lower
    # the deployment's): set, read back, and cleared with null; no other setting breaks over them.
    path = f"/v1/admin/companies/{stack.company}"
    assert stack.call("GET", path).body["maxRenditionsPerVideo"] is None
    changed = stack.call("PATCH", path, {"maxRenditionsPerVideo": 2, "maxTranscodeSeconds": 120})
    assert changed.status == 200, changed.body
    assert (changed.body["maxRenditionsPerVideo"], changed.body["maxTranscodeSeconds"]) == (2, 120)
    other = stack.call("PATCH", path, {"retainPublishState": False})
    assert other.status == 200 and other.body["maxRenditionsPerVideo"] == 2
    cleared = stack.call("PATCH", path, {"maxRenditionsPerVideo": None})
    assert cleared.status == 200 and cleared.body["maxRenditionsPerVideo"] is None
    assert stack.call("PATCH", path, {"maxRenditionsPerVideo": -1}).fault_code == 30001


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


def optimized_icc(stack, name: str) -> bytes:
    import requests

    found = stack.call("GET", "/v1/assets", query={"name": name}).body["assetArray"][0]
    tiff = requests.get(found["files"]["optimized"]["url"], timeout=10).content
    image = pyvips.Image.new_from_buffer(tiff, "")
    return image.get("icc-profile-data") if "icc-profile-data" in image.get_fields() else b""


def test_default_display_profile_replaces_srgb_for_cmyk_files(stack):
    path = f"/v1/admin/companies/{stack.company}"
    display = srgb_profile()  # Pillow's sRGB (lcms), not libvips' 480-byte built-in one
    upload_and_end(stack, {"display.icc": display, "print-cmyk.icc": pyvips.Image.profile_load("cmyk")})
    handles = {name: stack.call("GET", "/v1/assets", query={"name": name}).body["assetArray"][0]["assetHandle"]
               for name in ("display", "print-cmyk")}
    not_rgb = stack.call("PATCH", path, {"defaultDisplayProfileHandle": handles["print-cmyk"]})
    assert not_rgb.status == 400 and "not an RGB profile" in not_rgb.body["fault"]["reason"]
    assert stack.call("PATCH", path, {"defaultDisplayProfileHandle": "a-nosuchasset"}).fault_code == 30001

    before = upload_and_end(stack, {"before.jpg": cmyk_jpeg()})
    assert "converted CMYK to sRGB" in rows(stack, before, "UploadSuccess")[0]["logMessage"]
    changed = stack.call("PATCH", path, {"defaultDisplayProfileHandle": handles["display"]})
    assert changed.status == 200 and changed.body["defaultDisplayProfileHandle"] == handles["display"]

    after = upload_and_end(stack, {"after.jpg": cmyk_jpeg(), "rgb.jpg": framed_jpeg()})
    message = next(r["logMessage"] for r in rows(stack, after, "UploadSuccess") if r["assetName"] == "after")
    assert "to the company display profile" in message and "embeds the display profile" in message
    assert optimized_icc(stack, "after") == display
    assert optimized_icc(stack, "before") != display
    assert optimized_icc(stack, "rgb") == b""  # RGB files are not converted by Default


def test_allowed_and_blocked_file_types(stack):
    path = f"/v1/admin/companies/{stack.company}"
    blocked = stack.call("PATCH", path, {"blockedFileTypes": ["gif", "exe"]})
    assert blocked.status == 200 and blocked.body["blockedFileTypes"] == ["gif", "exe"]
    assert blocked.body["allowedFileTypes"] is None
    gif = pyvips.Image.black(8, 8).cast("uchar").gifsave_buffer()
    job = upload_and_end(stack, {"ok.jpg": framed_jpeg(), "no.gif": gif, "payload.exe": b"MZ\x90\x00"})
    log = stack.job_log(job)
    assert (log["fileSuccessCount"], log["fileErrorCount"]) == (1, 2)
    errors = sorted(r["logMessage"] for r in rows(stack, job, "UploadError"))
    assert errors[0].startswith("no.gif could not be processed: files .gif are blocked by the company's settings")
    assert "quarantine/" in errors[0] and errors[1].startswith("payload.exe could not be processed: files .exe")

    allowed = stack.call("PATCH", path, {"allowedFileTypes": ["png"], "blockedFileTypes": None})
    assert allowed.status == 200 and allowed.body["blockedFileTypes"] == []
    job = upload_and_end(stack, {"a.png": framed_jpeg(), "b.jpg": framed_jpeg(), "README": b"hello"})
    refused = sorted(r["logMessage"] for r in rows(stack, job, "UploadError"))
    assert len(refused) == 2 and "allowedFileTypes: png" in refused[0]
    assert any("files without an extension are not among" in m for m in refused)
    assert rows(stack, job, "UploadSuccess")[0]["assetName"] == "a"


@pytest.mark.parametrize("types", [[".jpg"], ["JPG"], ["j pg"], ["x" * 11], [""], "jpg", ["jpg"] * 201])
def test_bad_file_type_lists_are_30001(stack, types):
    for field in ("allowedFileTypes", "blockedFileTypes"):
        response = stack.call("PATCH", f"/v1/admin/companies/{stack.company}", {field: types})
        assert response.status == 400 and response.fault_code == 30001, response.body


def test_retain_publish_state_decides_when_the_job_does_not_say(stack):
    path = f"/v1/admin/companies/{stack.company}"

    def state() -> str:
        return stack.call("GET", "/v1/assets", query={"name": "shelf"}).body["assetArray"][0]["publishState"]

    upload_and_end(stack, {"shelf.jpg": framed_jpeg()}, readyForPublish=True)
    assert state() == "MarkedForPublish"
    assert stack.call("PATCH", path, {"retainPublishState": True}).status == 200
    upload_and_end(stack, {"shelf.jpg": framed_jpeg()}, readyForPublish=False)  # no preservePublishState
    assert state() == "MarkedForPublish"  # kept: the company retains publish state
    upload_and_end(stack, {"shelf.jpg": framed_jpeg()}, readyForPublish=False, preservePublishState=False)
    assert state() == "NotMarkedForPublish"  # the job's own word wins
    assert stack.call("PATCH", path, {"retainPublishState": False}).status == 200
    upload_and_end(stack, {"shelf.jpg": framed_jpeg()}, readyForPublish=True)
    assert state() == "MarkedForPublish"  # not retained: readyForPublish applies
