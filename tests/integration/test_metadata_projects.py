"""metadataOptions applied to each asset; projects and projectHandleArray; autoSetsArray handle checks."""

from __future__ import annotations

import pytest

from tests.integration.test_options import asset as asset_named
from tests.integration.test_processing import jpeg, rows, upload_and_end

pyvips = pytest.importorskip("pyvips")

METADATA = {"updateArray": [
    {"fieldHandle": "Brand", "value": "Acme"},
    {"fieldHandle": "OnSale", "boolVal": True},
    {"fieldHandle": "Stock", "longVal": 9007199254740993},
    {"fieldHandle": "Weight", "doubleVal": 0.25},
    {"fieldHandle": "Launch", "dateVal": "2026-12-01T09:00:00+09:00"},
    {"fieldHandle": "Colours", "setTagValueArray": ["red", "blue"]},
    {"fieldHandle": "Colours", "addTagValueArray": ["green", "red"]},
]}



def other_company_key(stack) -> tuple[str, str]:
    made = stack.call("POST", "/v1/admin/companies", {"name": "Globex"}, key=stack.admin_key)
    company = made.body["companyHandle"]
    user = stack.call("POST", "/v1/admin/users", {"companyHandle": company, "email": "ops@globex.example",
                                                   "role": "IpsCompanyAdmin"}, key=stack.admin_key)
    return company, user.body["apiKey"]


def create_project(stack, name: str, key: str | None = "default") -> str:
    made = stack.call("POST", "/v1/projects", {"name": name}, key=key)
    assert made.status == 201, made.body
    return made.body["projectHandle"]


def test_metadata_updates_apply_to_every_asset_and_merge_on_reupload(stack):
    job = upload_and_end(stack, {"a.jpg": jpeg(), "shoes/b.jpg": jpeg(shade=10)}, metadataOptions=METADATA)
    for name in ("a", "b"):
        assert asset_named(stack, name)["metadata"] == {
            "Brand": "Acme", "OnSale": True, "Stock": 9007199254740993, "Weight": 0.25,
            "Launch": "2026-12-01T09:00:00+09:00", "Colours": ["red", "blue", "green"]}
    [row] = [r for r in rows(stack, job, "UploadSuccess") if r["assetName"] == "a"]
    assert "metadataOptions: 7 update(s) applied (Brand, OnSale, Stock, Weight, Launch, Colours)" in row["logMessage"]

    # A later job keeps what the asset has and applies its own updates on top.
    upload_and_end(stack, {"a.jpg": jpeg(shade=200)}, metadataOptions={"updateArray": [
        {"fieldHandle": "Colours", "deleteTagValueArray": ["blue", "purple"]},
        {"fieldHandle": "Brand", "addTagValueArray": ["Acme Outlet"]},  # a single value becomes a tag list
        {"fieldHandle": "OnSale", "boolVal": False},
    ]})
    metadata = asset_named(stack, "a")["metadata"]
    assert metadata["Colours"] == ["red", "green"]
    assert metadata["Brand"] == ["Acme", "Acme Outlet"]
    assert metadata["OnSale"] is False and metadata["Weight"] == 0.25
    assert asset_named(stack, "b")["metadata"]["Colours"] == ["red", "blue", "green"]  # not in the second job


@pytest.mark.parametrize(("update", "named"), [
    ({"fieldHandle": "Brand"}, "gives no value"),
    ({"fieldHandle": "Brand", "value": "x", "boolVal": True}, "more than one kind of value"),
    ({"fieldHandle": "Brand", "value": "x", "addTagValueArray": ["y"]}, "more than one kind of value"),
    ({"fieldHandle": "", "value": "x"}, "fieldHandle"),
    ({"fieldHandle": "a\nb", "value": "x"}, "fieldHandle"),
    ({"fieldHandle": "Launch", "dateVal": "2026-12-01T09:00:00"}, "dateVal"),
    ({"fieldHandle": "Stock", "longVal": 2**63}, "longVal"),
    ({"fieldHandle": "Brand", "value": "x" * 4097}, "value"),
    ({"fieldHandle": "Tags", "addTagValueArray": ["t"] * 101}, "addTagValueArray"),
    ({"fieldHandle": "Brand", "colour": "x"}, "colour"),
])
def test_bad_metadata_updates_are_refused_naming_the_field(stack, update, named):
    opened = stack.open_job(metadataOptions={"updateArray": [update]})
    assert opened.status == 400 and opened.fault_code == 30001, opened.body
    assert named in opened.body["fault"]["reason"]


def test_non_finite_doubles_and_too_many_updates_are_refused(stack):
    raw = ('{"jobName": "x", "uploadParams": {"overwrite": true, "readyForPublish": true, "createMask": false, '
           '"emailSetting": "None", "metadataOptions": {"updateArray": [{"fieldHandle": "W", "doubleVal": NaN}]}}}')
    response = stack.call("POST", "/v1/upload-jobs", raw_body=raw)
    assert response.status == 400 and response.body["fault"]["type"] == "ipsApiFault"
    many = {"updateArray": [{"fieldHandle": f"f{i}", "value": "x"} for i in range(101)]}
    assert stack.open_job(metadataOptions=many).fault_code == 30001


def test_projects_resource_and_job_assets_joining_projects(stack):
    sale = create_project(stack, "Winter sale")
    shoes = create_project(stack, "Shoes")
    duplicate = stack.call("POST", "/v1/projects", {"name": "winter SALE"})
    assert duplicate.status == 409 and duplicate.fault_code == 30001
    listed = stack.call("GET", "/v1/projects").body["projectArray"]
    assert [p["name"] for p in listed] == ["Shoes", "Winter sale"]
    got = stack.call("GET", f"/v1/projects/{sale}").body
    assert got["name"] == "Winter sale" and got["createdBy"] == "ops@acme.example"

    job = upload_and_end(stack, {"red.jpg": jpeg(), "blue.jpg": jpeg(shade=20)},
                         projectHandleArray=[sale, shoes, sale])
    red = asset_named(stack, "red")
    assert red["projectHandles"] == [sale, shoes]
    in_sale = stack.call("GET", "/v1/assets", query={"projectHandle": sale}).body["assetArray"]
    assert sorted(a["name"] for a in in_sale) == ["blue", "red"]
    assert "projectHandleArray: added to" in rows(stack, job, "UploadSuccess")[0]["logMessage"]

    # Deleting a project leaves its assets, which stop naming it.
    assert stack.call("DELETE", f"/v1/projects/{sale}").status == 200
    assert stack.call("GET", f"/v1/projects/{sale}").status == 404
    assert asset_named(stack, "red")["projectHandles"] == [shoes]
    assert stack.call("GET", "/v1/assets", query={"projectHandle": sale}).status == 404


def test_project_handles_are_checked_when_the_job_opens(stack):
    _, globex_key = other_company_key(stack)
    theirs = create_project(stack, "Theirs", key=globex_key)
    for handle in (theirs, "pj-doesnotexist", "../../etc"):
        opened = stack.open_job(projectHandleArray=[handle])
        assert opened.status == 400 and opened.fault_code == 30001
        # The same answer for another company's project and for none: nothing leaks.
        assert opened.body["fault"]["reason"] == f"projectHandleArray: no project {handle} in this company"


def test_projects_are_tenant_scoped_and_role_checked(stack):
    mine = create_project(stack, "Mine")
    globex, globex_key = other_company_key(stack)
    for method in ("GET", "DELETE"):
        response = stack.call(method, f"/v1/projects/{mine}", key=globex_key)
        assert response.status == 403 and response.fault_code == 20006
    assert stack.call("GET", "/v1/projects", query={"companyHandle": stack.company}, key=globex_key).status == 403
    assert stack.call("GET", "/v1/assets", query={"projectHandle": mine}, key=globex_key).status == 403
    portal = stack.call("POST", "/v1/admin/users", {"companyHandle": stack.company, "email": "viewer@acme.example",
                                                     "role": "ImagePortalUser"}).body["apiKey"]
    denied = stack.call("POST", "/v1/projects", {"name": "Nope"}, key=portal)
    assert denied.status == 403 and denied.fault_code == 20003
    assert stack.call("GET", "/v1/projects", key=portal).status == 200
    # IpsAdmin may act for any company.
    made = stack.call("POST", "/v1/projects", {"name": "Ops", "companyHandle": globex}, key=stack.admin_key)
    assert made.status == 201
    assert stack.call("GET", f"/v1/projects/{made.body['projectHandle']}", key=globex_key).status == 200
    for bad in ({}, {"name": ""}, {"name": "a/b"}, {"name": "x" * 129}, {"name": "ok", "extra": 1}):
        assert stack.call("POST", "/v1/projects", bad).fault_code in (30001, 30002)


def test_a_project_deleted_while_the_job_runs_is_a_warning_not_a_failure(stack):
    doomed = create_project(stack, "Doomed")
    opened = stack.open_job(projectHandleArray=[doomed])
    assert stack.call("DELETE", f"/v1/projects/{doomed}").status == 200
    assert stack.post_file(opened.body["upload"], "late.jpg", jpeg()).status_code in (200, 204)
    job = opened.body["jobHandle"]
    assert stack.call("POST", f"/v1/upload-jobs/{job}/end").status == 202
    stack.drain()
    log = stack.job_log(job)
    assert (log["fileSuccessCount"], log["fileWarningCount"]) == (1, 1)
    [row] = rows(stack, job, "UploadSuccess")
    assert f"project {doomed} was deleted" in row["auxArray"][0]["logMessage"]
    assert asset_named(stack, "late")["projectHandles"] == []


def test_auto_sets_array_handles_must_be_presets_of_the_company(stack):
    preset = stack.call("POST", "/v1/set-presets", {"name": "Spins", "setType": "SpinSet",
                                                     "matchPattern": r"(?P<base>.+)_(\d+)"})
    assert preset.status == 201, preset.body
    handle = preset.body["presetHandle"]
    assert stack.open_job(autoSetCreationOptions={"autoSetsArray": [handle]}).status == 201
    _, globex_key = other_company_key(stack)
    theirs = stack.call("POST", "/v1/set-presets", {"name": "Theirs", "setType": "ImageSet",
                                                     "matchPattern": r"(?P<base>.+)_(\d+)"}, key=globex_key)
    for bad in (theirs.body["presetHandle"], "p-nothere"):
        opened = stack.open_job(autoSetCreationOptions={"autoSetsArray": [handle, bad]})
        assert opened.status == 400 and opened.fault_code == 30001
        assert f"no set preset {bad} in this company" in opened.body["fault"]["reason"]
