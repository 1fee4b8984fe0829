"""Batch set presets over HTTP, and the sets they make at job end (docs/sets.md)."""

from __future__ import annotations

import pytest

from openips.models.domain import utcnow
from openips.models.upload_job import AutoSetCreationOptions
from openips.services.deps import get_deps
from openips.services.set_presets import run_presets_for_job

pyvips = pytest.importorskip("pyvips")

SHOES = {"name": "Shoes", "setType": "ImageSet",
         "matchPattern": r"^(?P<base>.+?)_(?P<suffix>front|back|side|swatch_.+)$",
         "memberOrder": "SuffixList", "suffixOrder": ["front", "side", "back", "swatch_*"]}


def small_jpeg() -> bytes:
    return (pyvips.Image.black(32, 24, bands=3) + [10, 120, 200]).cast("uchar") \
        .copy(interpretation="srgb").jpegsave_buffer()


def user_key(stack, role: str, company: str | None = None) -> str:
    email = f"{role.lower()}-{utcnow().timestamp()}@acme.example"
    made = stack.call("POST", "/v1/admin/users", {"companyHandle": company or stack.company, "email": email,
                                                   "role": role}, key=stack.admin_key)
    assert made.status == 201, made.body
    return made.body["apiKey"]


def other_company(stack) -> tuple[str, str]:
    made = stack.call("POST", "/v1/admin/companies", {"name": "Globex"}, key=stack.admin_key)
    assert made.status == 201, made.body
    company = made.body["companyHandle"]
    return company, user_key(stack, "IpsCompanyAdmin", company)


def create_preset(stack, body: dict | None = None, key: str | None = "default") -> str:
    created = stack.call("POST", "/v1/set-presets", body or SHOES, key=key)
    assert created.status == 201, created.body
    assert created.body["presetHandle"].startswith("p-")
    return created.body["presetHandle"]


def run_job(stack, files: list[str], presets: list[str], name: str = "batch", before_end=None) -> str:
    opened = stack.open_job(name, autoSetCreationOptions={"autoSetsArray": presets})
    assert opened.status == 201, opened.body
    job, upload = opened.body["jobHandle"], opened.body["upload"]
    if before_end:
        before_end()
    data = small_jpeg()
    for rel in files:
        assert stack.post_file(upload, rel, data).status_code in (200, 204)
    assert stack.call("POST", f"/v1/upload-jobs/{job}/end").status == 202
    assert stack.drain() == {"ProcessQueue": [], "MediaQueue": [], "JobEventsQueue": []}
    return job


def run_presets(job: str):
    deps = get_deps()
    return run_presets_for_job(deps, deps.jobs.get(job), utcnow())


def asset_named(stack, name: str) -> dict | None:
    found = stack.call("GET", "/v1/assets", query={"name": name})
    assert found.status == 200, found.body
    return found.body["assetArray"][0] if found.body["assetArray"] else None


def member_names(stack, set_asset: dict) -> list[str]:
    names = []
    for handle in set_asset["children"]:
        got = stack.call("GET", f"/v1/assets/{handle}")
        assert got.status == 200, got.body
        names.append(got.body["name"])
    return names


# ---- the resource ------------------------------------------------------------------------------------

def test_create_read_list_delete(stack):
    handle = create_preset(stack)
    got = stack.call("GET", f"/v1/set-presets/{handle}")
    assert got.status == 200
    assert got.body | SHOES == got.body  # every field as given
    assert (got.body["companyHandle"], got.body["setFolder"], got.body["setNameTemplate"]) == (
        stack.company, "{sourceFolder}", "{base}_set")
    second = create_preset(stack, {"name": "Spins", "setType": "SpinSet", "matchPattern": r"(?P<base>.+)_\d+"})
    listed = stack.call("GET", "/v1/set-presets")
    assert [p["presetHandle"] for p in listed.body["setPresetArray"]] == [handle, second]

    assert stack.call("DELETE", f"/v1/set-presets/{handle}").status == 200
    assert stack.call("GET", f"/v1/set-presets/{handle}").status == 404
    gone = stack.call("DELETE", f"/v1/set-presets/{handle}")
    assert (gone.status, gone.body["fault"]["code"]) == (404, 30001)
    assert [p["presetHandle"] for p in stack.call("GET", "/v1/set-presets").body["setPresetArray"]] == [second]


def test_roles_and_companies(stack):
    handle = create_preset(stack)
    for role in ("IpsUser", "ImagePortalUser"):
        key = user_key(stack, role)
        assert stack.call("GET", f"/v1/set-presets/{handle}", key=key).status == 200
        assert stack.call("GET", "/v1/set-presets", key=key).status == 200
        refused = stack.call("POST", "/v1/set-presets", SHOES, key=key)
        assert (refused.status, refused.body["fault"]["type"]) == (403, "authorizationFault")
        assert stack.call("DELETE", f"/v1/set-presets/{handle}", key=key).status == 403

    globex, globex_key = other_company(stack)
    for method in ("GET", "DELETE"):
        refused = stack.call(method, f"/v1/set-presets/{handle}", key=globex_key)
        assert (refused.status, refused.body["fault"]["type"]) == (403, "authorizationFault"), refused.body
    foreign = stack.call("GET", "/v1/set-presets", query={"companyHandle": stack.company}, key=globex_key)
    assert foreign.status == 403
    assert stack.call("POST", "/v1/set-presets", SHOES | {"companyHandle": stack.company},
                      key=globex_key).status == 403
    assert stack.call("GET", "/v1/set-presets", key=globex_key).body["setPresetArray"] == []
    assert stack.call("GET", f"/v1/set-presets/{handle}").status == 200  # the refused DELETE changed nothing

    # IpsAdmin acts on any company, with ?companyHandle= / companyHandle
    made = create_preset(stack, SHOES | {"companyHandle": globex}, key=stack.admin_key)
    listed = stack.call("GET", "/v1/set-presets", query={"companyHandle": globex}, key=stack.admin_key)
    assert [p["presetHandle"] for p in listed.body["setPresetArray"]] == [made]
    assert stack.call("GET", f"/v1/set-presets/{made}", key=globex_key).body["companyHandle"] == globex


@pytest.mark.parametrize(("body", "code", "named"), [
    ({k: v for k, v in SHOES.items() if k != "matchPattern"}, 30002, "matchPattern"),
    ({k: v for k, v in SHOES.items() if k != "setType"}, 30002, "setType"),
    (SHOES | {"matchPattern": r"^(?P<base>(a+)+)$"}, 30001, "matchPattern"),
    (SHOES | {"matchPattern": r"(?P<stem>.+)_front"}, 30001, "matchPattern"),
    (SHOES | {"matchPattern": "(?P<base>" + "x" * 300 + ")"}, 30001, "matchPattern"),
    (SHOES | {"setType": "ColorSwatch"}, 30001, "setType"),
    (SHOES | {"suffixOrder": []}, 30001, "suffixOrder"),
    (SHOES | {"setNameTemplate": "set"}, 30001, "setNameTemplate"),
    (SHOES | {"setFolder": "a/../../b"}, 30001, "setFolder"),
    (SHOES | {"colour": "red"}, 30001, "colour"),
])
def test_bad_bodies_name_the_field(stack, body, code, named):
    refused = stack.call("POST", "/v1/set-presets", body)
    assert (refused.status, refused.body["fault"]["code"]) == (400, code), refused.body
    assert named in refused.body["fault"]["reason"]


def test_unknown_preset_and_bad_json(stack):
    assert stack.call("GET", "/v1/set-presets/p-nope").status == 404
    assert stack.call("POST", "/v1/set-presets", raw_body="{not json").body["fault"]["code"] == 30003
    assert stack.call("POST", "/v1/set-presets", raw_body="").body["fault"]["code"] == 30002


# ---- sets at job end ---------------------------------------------------------------------------------

def test_a_job_with_a_preset_makes_ordered_sets_and_a_second_job_updates_them(stack):
    preset = create_preset(stack)
    job = run_job(stack, ["shoes/shoe_123_swatch_red.jpg", "shoes/shoe_123_back.jpg", "shoes/shoe_123_front.jpg",
                          "shoes/shoe_124_front.jpg", "shoes/readme.jpg"], [preset])
    rows = run_presets(job)
    assert [(r.log_type.value, r.asset_name, r.asset_type) for r in rows] == [
        ("UploadSuccess", "shoe_123_set", "ImageSet"), ("UploadSuccess", "shoe_124_set", "ImageSet")]

    shoe_set = asset_named(stack, "shoe_123_set")
    assert (shoe_set["type"], shoe_set["folder"], shoe_set["files"]["master"]) == ("ImageSet", "shoes/", None)
    assert member_names(stack, shoe_set) == ["shoe_123_front", "shoe_123_back", "shoe_123_swatch_red"]
    assert stack.call("GET", f"/v1/assets/{shoe_set['assetHandle']}").body["children"] == shoe_set["children"]

    # the rows are in the job log, each naming its set
    log = stack.job_log(job)
    set_rows = [d for d in log["detailArray"] if d.get("assetName", "").endswith("_set")]
    assert sorted((d["logType"], d["assetHandle"]) for d in set_rows) == sorted([
        ("UploadSuccess", shoe_set["assetHandle"]),
        ("UploadSuccess", asset_named(stack, "shoe_124_set")["assetHandle"])])
    assert log["detailArray"][-3]["logType"] == "EndUpload"  # sets are made after the job ended
    (message,) = [d["logMessage"] for d in set_rows if d["assetName"] == "shoe_123_set"]
    assert "3 members: shoe_123_front, shoe_123_back, shoe_123_swatch_red" in message

    # Re-running the same job changes nothing and writes no new rows.
    again = run_presets(job)
    assert again == rows
    assert len(stack.job_log(job)["detailArray"]) == len(log["detailArray"])
    assert asset_named(stack, "shoe_123_set") == shoe_set | {"files": asset_named(stack, "shoe_123_set")["files"]}

    # A second job adds a side view and re-uploads the front: the set is updated, not duplicated.
    second = run_job(stack, ["shoes/shoe_123_side.jpg", "shoes/shoe_123_front.jpg"], [preset], name="again")
    (row,) = run_presets(second)
    assert (row.log_type.value, row.asset_handle) == ("FileUpdated", shoe_set["assetHandle"])
    assert "4 members (1 new)" in row.log_message
    updated = asset_named(stack, "shoe_123_set")
    assert member_names(stack, updated) == ["shoe_123_front", "shoe_123_side", "shoe_123_back",
                                            "shoe_123_swatch_red"]
    assert (updated["createdJobHandle"], updated["updatedJobHandle"]) == (job, second)
    sets = stack.call("GET", "/v1/assets", query={"folder": "shoes/", "type": "ImageSet"}).body["assetArray"]
    assert sorted(a["name"] for a in sets) == ["shoe_123_set", "shoe_124_set"]
    # getAssetJobLogs of the set shows both jobs' rows
    history = stack.call("GET", f"/v1/assets/{shoe_set['assetHandle']}/job-logs").body["jobLogArray"]
    assert [h["logType"] for h in history] == ["FileUpdated", "UploadSuccess"]


def test_name_taken_by_an_image_deleted_preset_and_two_presets(stack):
    spins = create_preset(stack, {"name": "Spins", "setType": "SpinSet", "matchPattern": r"(?P<base>.+)_(\d+)",
                                  "setFolder": "spins/", "setNameTemplate": "{base}"})
    gone = create_preset(stack)

    def delete_gone():  # after the job was opened with it, before the job ends
        assert stack.call("DELETE", f"/v1/set-presets/{gone}").status == 200

    job = run_job(stack, ["car_1.jpg", "car_2.jpg", "car_10.jpg", "car.jpg"], [spins, gone, spins],
                  before_end=delete_gone)
    rows = run_presets(job)
    assert [(r.log_type.value, r.asset_name) for r in rows] == [("UploadError", "car"), ("UploadWarning", None)]
    assert "taken by Image asset" in rows[0].log_message
    assert gone in rows[1].log_message
    assert asset_named(stack, "car")["type"] == "Image"  # the image is untouched

    other = create_preset(stack, {"name": "Spins2", "setType": "SpinSet", "matchPattern": r"(?P<base>.+)_(\d+)",
                                  "setFolder": "spins/"})
    job2 = run_job(stack, ["bike_3.jpg", "bike_1.jpg"], [other], name="bikes")
    (row,) = run_presets(job2)
    spin = asset_named(stack, "bike_set")
    assert (row.log_type.value, spin["type"], spin["folder"]) == ("UploadSuccess", "SpinSet", "spins/")
    assert member_names(stack, spin) == ["bike_1", "bike_3"]


def test_a_preset_of_another_company_is_not_run(stack):
    globex, globex_key = other_company(stack)
    foreign = create_preset(stack, SHOES, key=globex_key)
    refused = stack.open_job("foreign", autoSetCreationOptions={"autoSetsArray": [foreign]})
    assert (refused.status, refused.body["fault"]["code"]) == (400, 30001)  # checked at job creation
    # and at job end too, should a job name one anyway
    job = run_job(stack, ["shoe_1_front.jpg"], [])
    deps = get_deps()
    stored = deps.jobs.get(job)
    options = stored.options.model_copy(update={"auto_set_creation_options": AutoSetCreationOptions(
        auto_sets_array=[foreign])})
    (row,) = run_presets_for_job(deps, stored.model_copy(update={"options": options}), utcnow())
    assert row.log_type.value == "UploadWarning" and foreign in row.log_message
    assert asset_named(stack, "shoe_1_set") is None
    globex_sets = stack.call("GET", "/v1/assets", query={"name": "shoe_1_set", "companyHandle": globex},
                             key=stack.admin_key)
    assert globex_sets.body["assetArray"] == []


def test_a_job_without_presets_writes_nothing(stack):
    opened = stack.open_job("plain")
    job = opened.body["jobHandle"]
    assert stack.call("POST", f"/v1/upload-jobs/{job}/end").status == 202
    stack.drain()
    before = len(stack.job_log(job)["detailArray"])
    assert run_presets(job) == []
    assert len(stack.job_log(job)["detailArray"]) == before


