"""The HTTP contract: faults, authentication, roles, tenant isolation, the presigned form."""

from __future__ import annotations

import base64
import json
from datetime import datetime

import pytest

from openips.models.api import CreateUserRequest
from openips.services import auth
from openips.services.deps import get_deps


def new_user(stack, role: str, company: str | None = None) -> str:
    admin = get_deps().accounts.get_user_by_key_hash(auth.hash_key(stack.admin_key))
    _, key = auth.create_user(get_deps().companies, get_deps().accounts, admin, CreateUserRequest(
        company_handle=company or stack.company, email=f"{role.lower()}@x.example", role=role))
    return key


def other_company_key(stack) -> str:
    created = stack.call("POST", "/v1/admin/companies", {"name": "Rival"}, key=stack.admin_key)
    assert created.status == 201, created.body
    user = stack.call("POST", "/v1/admin/users", {"companyHandle": created.body["companyHandle"],
                                                  "email": "spy@rival.example", "role": "IpsCompanyAdmin"},
                      key=stack.admin_key)
    assert user.status == 201, user.body
    return user.body["apiKey"]


# ---- authentication ------------------------------------------------------------------


@pytest.mark.parametrize(("key", "code"), [(None, 10000), ("oips_wrong", 10001), ("", 10000)])
def test_missing_or_wrong_key_is_an_authentication_fault(stack, key, code):
    response = stack.call("GET", "/v1/jobs/active", key=key)
    assert response.status == 401
    assert response.body["fault"] == {"type": "authenticationFault", "code": code,
                                      "reason": response.body["fault"]["reason"]}


def test_openapi_document_needs_no_key_and_lists_every_route(stack):
    response = stack.call("GET", "/v1/openapi.json", key=None)
    assert response.status == 200
    assert response.body["openapi"].startswith("3.1")
    assert {"/v1/upload-jobs", "/v1/jobs/active", "/v1/jobs/{jobHandle}/log-details",
            "/v1/assets/{assetHandle}"} <= set(response.body["paths"])
    upload_post_job = response.body["components"]["schemas"]["UploadPostJob"]
    assert {"overwrite", "readyForPublish", "createMask", "emailSetting"} <= set(upload_post_job["required"])


def test_unknown_route_is_a_fault_not_a_crash(stack):
    response = stack.call("GET", "/v1/nothing-here")
    assert response.status == 404 and response.fault_code == 30003


# ---- validation of the job request ----------------------------------------------------------


def test_unknown_upload_param_is_refused_naming_the_field(stack):
    response = stack.open_job(bogusOption=True)
    assert response.status == 400 and response.fault_code == 30001
    assert "uploadParams.bogusOption" in response.body["fault"]["reason"]


def test_missing_required_upload_param_is_30002(stack):
    body = {"jobName": "x", "uploadParams": {"overwrite": True, "readyForPublish": True, "createMask": False}}
    response = stack.call("POST", "/v1/upload-jobs", body)
    assert response.status == 400 and response.fault_code == 30002
    assert "emailSetting" in response.body["fault"]["reason"]


@pytest.mark.parametrize("params", [
    {"emailSetting": "all"},  # enum values are case-sensitive
    {"overwrite": "maybe"},
    {"manualCropOptions": {"left": 1, "right": 1, "top": 1, "bottom": 1},
     "autoTransparentCropOptions": {"tolerance": 0.1}},  # crop blocks are exclusive
    {"unsharpMaskOptions": {"amount": 9}},
])
def test_invalid_upload_params_are_30001(stack, params):
    response = stack.open_job(**params)
    assert response.status == 400 and response.fault_code == 30001, response.body


def test_body_that_is_not_json_is_30003(stack):
    response = stack.call("POST", "/v1/upload-jobs", raw_body="{not json")
    assert response.status == 400 and response.fault_code == 30003


def test_oversized_body_is_413(stack):
    response = stack.call("POST", "/v1/upload-jobs", raw_body=json.dumps({"jobName": "x" * 300_000}))
    assert response.status == 413


def test_hostile_dest_folder_is_refused(stack):
    body = {"jobName": "x", "destFolder": "../../other",
            "uploadParams": {"overwrite": True, "readyForPublish": True, "createMask": False, "emailSetting": "None"}}
    response = stack.call("POST", "/v1/upload-jobs", body)
    assert response.status == 400 and response.fault_code == 30001


def test_options_not_built_yet_are_flagged_in_the_job_log(stack):
    opened = stack.open_job(cssOptions={"forceStaticImages": True}, unsharpMaskOptions={"amount": 1.5},
                            pdfOptions={"process": "Rasterize"})
    log = stack.job_log(opened.body["jobHandle"])
    warnings = [d["logMessage"] for d in log["detailArray"] if d["logType"] == "UploadWarning"]
    assert any("cssOptions" in w for w in warnings)
    assert not any("unsharpMaskOptions" in w or "pdfOptions" in w for w in warnings)  # built: applied, not flagged


def test_secret_options_are_never_echoed(stack):
    opened = stack.open_job(jwtToken="secret-jwt", apikey="secret-key", imsOrg="org@AdobeOrg")
    active = stack.call("GET", "/v1/jobs/active").body["jobArray"][0]
    assert active["uploadPostJob"]["imsOrg"] == "org@AdobeOrg"
    assert "jwtToken" not in active["uploadPostJob"] and "apikey" not in active["uploadPostJob"]
    assert opened.status == 201


# ---- the presigned form -----------------------------------------------------------------


def test_upload_form_is_sigv4_scoped_to_the_job_prefix_with_size_range_and_expiry(stack):
    opened = stack.open_job()
    upload = opened.body["upload"]
    fields = upload["fields"]
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    assert {"x-amz-credential", "x-amz-date", "x-amz-signature", "policy"} <= set(fields)
    policy = json.loads(base64.b64decode(fields["policy"]))
    conditions = policy["conditions"]
    assert ["starts-with", "$key", upload["keyPrefix"]] in conditions
    assert ["content-length-range", 0, upload["maxFileSize"]] in conditions
    assert {"bucket": stack.resources.names["IncomingBucket"]} in conditions
    assert upload["keyPrefix"] == f"incoming/{stack.company}/{opened.body['jobHandle']}/"
    expiry = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    assert expiry == datetime.fromisoformat(upload["expiration"].replace("Z", "+00:00"))


def test_company_max_file_size_narrows_the_form(stack):
    created = stack.call("POST", "/v1/admin/companies", {"name": "Small", "maxFileSize": 1000}, key=stack.admin_key)
    user = stack.call("POST", "/v1/admin/users", {"companyHandle": created.body["companyHandle"],
                                                  "email": "a@small.example", "role": "IpsUser"}, key=stack.admin_key)
    opened = stack.open_job(key=user.body["apiKey"])
    policy = json.loads(base64.b64decode(opened.body["upload"]["fields"]["policy"]))
    assert ["content-length-range", 0, 1000] in policy["conditions"]


def test_form_can_be_renewed_while_open_and_not_after_end(stack):
    job = stack.open_job().body["jobHandle"]
    renewed = stack.call("POST", f"/v1/upload-jobs/{job}/upload-form")
    assert renewed.status == 200 and renewed.body["upload"]["keyPrefix"].endswith(f"{job}/")
    assert stack.call("POST", f"/v1/upload-jobs/{job}/end").status == 202
    again = stack.call("POST", f"/v1/upload-jobs/{job}/upload-form")
    assert again.status == 409 and again.fault_code == 30001
    twice = stack.call("POST", f"/v1/upload-jobs/{job}/end")
    assert twice.status == 409


def test_unknown_job_handle_is_404(stack):
    response = stack.call("POST", "/v1/upload-jobs/j-doesnotexistatall000/end")
    assert response.status == 404 and response.fault_code == 30001


# ---- roles and tenants ---------------------------------------------------------------------


def test_portal_user_reads_but_cannot_upload(stack):
    key = new_user(stack, "ImagePortalUser")
    assert stack.call("GET", "/v1/jobs/active", key=key).status == 200
    refused = stack.open_job(key=key)
    assert refused.status == 403 and refused.fault_code == 20003


def test_only_admins_create_companies_and_company_admins_stay_in_their_company(stack):
    refused = stack.call("POST", "/v1/admin/companies", {"name": "Nope"})
    assert refused.status == 403 and refused.fault_code == 20003
    rival_key = other_company_key(stack)
    foreign = stack.call("POST", "/v1/admin/users", {"companyHandle": stack.company,
                                                     "email": "mole@rival.example", "role": "IpsUser"}, key=rival_key)
    assert foreign.status == 403 and foreign.fault_code == 20006
    escalate = stack.call("POST", "/v1/admin/users", {"companyHandle": stack.company,
                                                      "email": "boss@acme.example", "role": "IpsAdmin"})
    assert escalate.status == 403 and escalate.fault_code == 20003


def test_another_companys_job_and_assets_are_forbidden(stack):
    job = stack.open_job().body["jobHandle"]
    rival = other_company_key(stack)
    for method, path in [("GET", f"/v1/jobs/{job}/log-details"), ("POST", f"/v1/upload-jobs/{job}/end"),
                         ("POST", f"/v1/upload-jobs/{job}/upload-form")]:
        response = stack.call(method, path, key=rival)
        assert response.status == 403 and response.fault_code == 20006, (path, response.body)
    listed = stack.call("GET", "/v1/assets", query={"jobHandle": job}, key=rival)
    assert listed.status == 403
    scoped = stack.call("GET", "/v1/jobs/active", query={"companyHandle": stack.company}, key=rival)
    assert scoped.status == 403 and scoped.fault_code == 20000
    assert stack.call("GET", "/v1/jobs/active", key=rival).body["jobArray"] == []
    assert stack.call("GET", "/v1/jobs/logs", key=rival).body["jobLogArray"] == []


def test_ips_admin_sees_any_company_when_it_names_one(stack):
    job = stack.open_job().body["jobHandle"]
    listed = stack.call("GET", "/v1/jobs/active", query={"companyHandle": stack.company}, key=stack.admin_key)
    assert [j["jobHandle"] for j in listed.body["jobArray"]] == [job]


# ---- reading jobs ---------------------------------------------------------------------------


def test_active_job_shape_and_filters(stack):
    first = stack.open_job("alpha").body["jobHandle"]
    stack.open_job("beta")
    jobs = stack.call("GET", "/v1/jobs/active").body["jobArray"]
    assert len(jobs) == 2
    alpha = next(j for j in jobs if j["jobHandle"] == first)
    assert alpha["state"] == "WaitingClient" and alpha["type"] == "UploadPost"
    assert alpha["submitUserEmail"] == "ops@acme.example" and alpha["progress"] == 0
    assert alpha["uploadPostJob"]["emailSetting"] == "None"
    assert alpha["taskProgressArray"][0]["progress"] == 0.0
    by_handle = stack.call("GET", "/v1/jobs/active", query={"jobHandle": first}).body["jobArray"]
    by_name = stack.call("GET", "/v1/jobs/active", query={"originalName": "beta"}).body["jobArray"]
    assert [j["jobHandle"] for j in by_handle] == [first]
    assert [j["originalName"] for j in by_name] == ["beta"]


def test_job_logs_sort_and_limit(stack):
    for name in ("c", "a", "b"):
        stack.open_job(name)
    names = [row["jobName"] for row in stack.call("GET", "/v1/jobs/logs").body["jobLogArray"]]
    assert names == ["b", "a", "c"]  # newest first
    by_name = stack.call("GET", "/v1/jobs/logs", query={"sortBy": "JobName", "sortDirection": "Ascending",
                                                        "numRows": "2"}).body["jobLogArray"]
    assert [row["jobName"] for row in by_name] == ["a", "b"]
    bad = stack.call("GET", "/v1/jobs/logs", query={"sortBy": "Colour"})
    assert bad.status == 400 and bad.fault_code == 30001
    naive = stack.call("GET", "/v1/jobs/logs", query={"startDate": "2026-01-01T00:00:00"})
    assert naive.status == 400  # IPS wants a time zone


@pytest.mark.parametrize("query", [{"recordsPerPage": "1001"}, {"recordsPerPage": "0"}, {"resultsPage": "0"},
                                   {"sortBy": "Size"}, {"sortDirection": "Sideways"}, {"recordsPerPage": "ten"}])
def test_log_detail_paging_parameters_are_checked(stack, query):
    job = stack.open_job().body["jobHandle"]
    response = stack.call("GET", f"/v1/jobs/{job}/log-details", query=query)
    assert response.status == 400 and response.fault_code == 30001
