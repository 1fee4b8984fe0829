"""Who may call what: every published route × every role × own company / another company.

The route inventory is the published OpenAPI document (plus routes served but not yet
published, listed in ``UNPUBLISHED``), so a route added without a row in ``EXPECTED``
fails ``test_every_published_operation_has_a_row``: add the row (who may call it, and how
to call it on a real object of a given company) and the matrix covers it.

The world is built once per module: companies A and B, a user of every role in each, an
open job in each and an asset (a real upload) in each. Callers are always A's users;
the target is A ("own") or B ("other"). Expectations:

* role allowed, own company → the documented success status;
* role not allowed → 403 ``authorizationFault`` 20003;
* role allowed, other company → 403 ``authorizationFault`` 20000/20006 (never 200, never
  a 404 that leaks existence), except ``IpsAdmin``, which may act on every company;
* no key → 401 10000, bad key → 401 10001;
* a refused call changes nothing (the object's stored state is compared before/after).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from openips.models.api import CreateCompanyRequest, CreateUserRequest
from openips.models.domain import Job
from openips.services import auth
from openips.services.deps import get_deps
from openips.services.openapi import openapi_document
from openips_cli.inprocess import ApiResponse, InProcessStack, import_handler
from openips_cli.provision import http_routes, load_template
from tests.integration.conftest import module_stack

pyvips = pytest.importorskip("pyvips")

ROLES = ("IpsAdmin", "IpsCompanyAdmin", "IpsUser", "ImagePortalUser")
TARGETS = ("own", "other")

# Policies, written out here (not imported from the code they check).
EVERYONE = frozenset(ROLES)
UPLOADERS = frozenset({"IpsAdmin", "IpsCompanyAdmin", "IpsUser"})
ADMINS = frozenset({"IpsAdmin", "IpsCompanyAdmin"})
ROOT = frozenset({"IpsAdmin"})

ASSET_NAME = "shared"  # both companies have an asset of this name


# ---- the world --------------------------------------------------------------------------------------


@dataclass
class World:
    stack: InProcessStack
    company: dict[str, str]  # "A"/"B" → company handle
    keys: dict[tuple[str, str], str]  # (company letter, role) → API key
    user: dict[tuple[str, str], str]  # (company letter, role) → user handle
    job: dict[str, str]  # an open job of each company, never changed by the matrix
    done_job: dict[str, str]  # the ended job that made the asset
    asset: dict[str, str]  # the asset of each company
    presets: dict[str, str] = field(default_factory=dict)
    image_presets: dict[str, str] = field(default_factory=dict)
    projects: dict[str, str] = field(default_factory=dict)
    serial: Iterator[int] = field(default_factory=itertools.count)

    @property
    def deps(self):
        return get_deps()

    @property
    def accounts(self):
        return get_deps().accounts

    def key(self, role: str, letter: str = "A") -> str:
        return self.keys[(letter, role)]

    def call(self, method: str, path: str, body: Any = None, key: str | None = None,
             query: dict[str, str] | None = None, raw_body: str | None = None) -> ApiResponse:
        return self.stack.call(method, path, body, key=key, query=query, raw_body=raw_body)

    def open_job(self, letter: str, name: str = "matrix") -> str:
        opened = self.call("POST", "/v1/upload-jobs", {"jobName": name, "uploadParams": UPLOAD_PARAMS},
                           key=self.key("IpsUser", letter))
        assert opened.status == 201, opened.body
        return opened.body["jobHandle"]

    def job_state(self, job_handle: str) -> dict:
        return self.deps.jobs.get(job_handle).model_dump()

    def unique(self, stem: str) -> str:
        return f"{stem}-{next(self.serial)}"

    def new_preset(self, letter: str) -> str:
        created = self.call("POST", "/v1/set-presets", preset_body(self.unique("preset")),
                            key=self.key("IpsCompanyAdmin", letter))
        assert created.status == 201, created.body
        return created.body["presetHandle"]

    def new_project(self, letter: str) -> str:
        created = self.call("POST", "/v1/projects", {"name": self.unique("project")},
                            key=self.key("IpsCompanyAdmin", letter))
        assert created.status == 201, created.body
        return created.body["projectHandle"]

    def project(self, letter: str) -> str:
        if letter not in self.projects:
            self.projects[letter] = self.new_project(letter)
        return self.projects[letter]

    def preset(self, letter: str) -> str:
        """A set preset of the company, made on first use (set presets are younger than the world)."""
        if letter not in self.presets:
            self.presets[letter] = self.new_preset(letter)
        return self.presets[letter]


    def new_image_preset(self, letter: str) -> str:
        name = self.unique("ip")
        created = self.call("POST", "/v1/image-presets", {"name": name, "modifiers": "wid=100&fmt=png"},
                            key=self.key("IpsCompanyAdmin", letter))
        assert created.status == 201, created.body
        return name

    def image_preset(self, letter: str) -> str:
        """An image preset of the company, made on first use (its name, unique in both companies)."""
        if letter not in self.image_presets:
            self.image_presets[letter] = self.new_image_preset(letter)
        return self.image_presets[letter]


def preset_body(name: str, company: str | None = None) -> dict:
    body = {"name": name, "setType": "ImageSet", "matchPattern": r"(?P<base>.+?)_\d+"}
    return body | ({"companyHandle": company} if company else {})


UPLOAD_PARAMS = {"overwrite": True, "readyForPublish": True, "createMask": False, "emailSetting": "None"}


def small_jpeg() -> bytes:
    return (pyvips.Image.black(64, 48, bands=3) + [200, 120, 40]).cast("uchar") \
        .copy(interpretation="srgb").jpegsave_buffer()


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """The ``stack`` fixture of conftest.py, once per module, with two populated companies."""
    with module_stack() as base:
        resources, root_key = base.resources, base.admin_key
        companies = get_deps().companies
        root = get_deps().accounts.get_user_by_key_hash(auth.hash_key(root_key))
        company, keys, users = {}, {}, {}
        for letter in ("A", "B"):
            company[letter] = auth.create_company(companies, root, CreateCompanyRequest(
                name=f"Company {letter}")).company_handle
            for role in ROLES:
                user, key = auth.create_user(companies, get_deps().accounts, root, CreateUserRequest(
                    company_handle=company[letter], email=f"{role.lower()}@{letter.lower()}.example",
                    role=role))
                keys[(letter, role)], users[(letter, role)] = key, user.user_handle
        stack = InProcessStack(resources=resources, key=root_key)
        w = World(stack=stack, company=company, keys=keys, user=users, job={}, done_job={}, asset={})
        for letter in ("A", "B"):
            # A real upload: the asset, its job log rows (getAssetJobLogs) and an ended job.
            opened = w.call("POST", "/v1/upload-jobs", {"jobName": f"assets-{letter}", "uploadParams":
                                                        UPLOAD_PARAMS}, key=w.key("IpsUser", letter))
            assert opened.status == 201, opened.body
            job = opened.body["jobHandle"]
            assert stack.post_file(opened.body["upload"], f"{ASSET_NAME}.jpg", small_jpeg()).status_code \
                in (200, 204)
            assert w.call("POST", f"/v1/upload-jobs/{job}/end", key=w.key("IpsUser", letter)).status == 202
            assert stack.drain() == {"ProcessQueue": [], "MediaQueue": [], "JobEventsQueue": []}
            (asset,) = get_deps().assets.list_for_job(job)
            assert asset.company_handle == company[letter]
            w.done_job[letter], w.asset[letter] = job, asset.asset_handle
            w.job[letter] = w.open_job(letter, f"open-{letter}")
        yield w


# ---- how to call each operation on a company's objects -----------------------------------------------


@dataclass
class Case:
    method: str
    path: str
    body: Any = None
    query: dict[str, str] | None = None
    # The stored state a refused call must leave unchanged (read before and after the call).
    state: Callable[[], Any] | None = None
    # Checks of an accepted call's answer (that it acted on, and only showed, that company).
    accepted: Callable[[ApiResponse], None] | None = None


Builder = Callable[[World, str], Case]  # (world, company letter of the target) → the request


@dataclass(frozen=True)
class Expect:
    allowed: frozenset[str]
    build: Builder
    # False when the request names no company (createCompany): only the "own" column applies.
    company_scoped: bool = True
    # The answer an allowed role gets when it is not the documented success (executeJob: 409).
    status: int | None = None


def _all_in(w: World, letter: str, array: str, must_have: tuple[str, str] | None = None):
    def check(response: ApiResponse) -> None:
        items = response.body[array]
        assert {item["companyHandle"] for item in items} <= {w.company[letter]}, items
        if must_have:
            assert must_have[1] in [item[must_have[0]] for item in items], items
    return check


def _job_case(method: str, suffix: str, after: Callable[[Job], bool], paused: bool = False) -> Builder:
    """A call on a fresh open job of the target company (paused first, for resumeJob)."""
    def build(w: World, letter: str) -> Case:
        job = w.open_job(letter)
        if paused:
            assert w.call("POST", f"/v1/jobs/{job}/pause", key=w.key("IpsUser", letter)).status == 200
        return Case(method, suffix.format(job=job), state=lambda: w.job_state(job),
                    accepted=lambda r: _assert(after(w.deps.jobs.get(job)), w.deps.jobs.get(job)))
    return build


def _assert(condition: bool, detail: Any) -> None:
    assert condition, detail


def open_upload_job(w: World, letter: str) -> Case:
    company = w.company[letter]
    name = w.unique("opened")

    def jobs_named() -> list[str]:
        return [j.job_handle for j in w.deps.jobs.query_company(company, None, None, True) if j.name == name]

    def accepted(response: ApiResponse) -> None:
        assert w.deps.jobs.get(response.body["jobHandle"]).company_handle == company
    return Case("POST", "/v1/upload-jobs", {"jobName": name, "companyHandle": company, "uploadParams": UPLOAD_PARAMS},
                state=jobs_named, accepted=accepted)


def get_active_jobs(w: World, letter: str) -> Case:
    return Case("GET", "/v1/jobs/active", query={"companyHandle": w.company[letter]},
                accepted=_all_in(w, letter, "jobArray", ("jobHandle", w.job[letter])))


def get_job_logs(w: World, letter: str) -> Case:
    return Case("GET", "/v1/jobs/logs", query={"companyHandle": w.company[letter]},
                accepted=_all_in(w, letter, "jobLogArray", ("jobHandle", w.done_job[letter])))


def get_job_log_details(w: World, letter: str) -> Case:
    def accepted(response: ApiResponse) -> None:
        (log,) = response.body["jobLogArray"]
        assert log["jobHandle"] == w.done_job[letter] and log["companyHandle"] == w.company[letter]
        assert any(d["logType"] == "UploadSuccess" for d in log["detailArray"])
    return Case("GET", f"/v1/jobs/{w.done_job[letter]}/log-details", accepted=accepted)


def get_job_log_details_by_original_name(w: World, letter: str) -> Case:
    case = get_job_log_details(w, letter)
    name = w.deps.jobs.get(w.done_job[letter]).original_name
    return Case("GET", "/v1/jobs/log-details", query={"originalName": name, "companyHandle": w.company[letter]},
                accepted=case.accepted)


def get_upload_task_status(w: World, letter: str) -> Case:
    def accepted(response: ApiResponse) -> None:
        ((status,),) = [cluster["statusArray"] for cluster in response.body["uploadTaskStatusArray"]]
        assert status["jobHandle"] == w.done_job[letter] and status["taskTotal"] == 1, status
    return Case("GET", f"/v1/upload-jobs/{w.done_job[letter]}/task-status", accepted=accepted)


def get_archived_job_log_details(w: World, letter: str) -> Case:
    case = get_job_log_details(w, letter)
    return Case("GET", f"/v1/jobs/{w.done_job[letter]}/archived-log-details", accepted=case.accepted)


def execute_job(w: World, letter: str) -> Case:
    job = w.open_job(letter)
    return Case("POST", f"/v1/jobs/{job}/execute", state=lambda: w.job_state(job),
                accepted=lambda r: _assert(r.fault_code == 30001 and not w.deps.jobs.get(job).closed, r.body))


def get_scheduled_jobs(w: World, letter: str) -> Case:
    return Case("GET", "/v1/jobs/scheduled", query={"companyHandle": w.company[letter]},
                accepted=lambda r: _assert(r.body == {"jobArray": []}, r.body))


def get_asset(w: World, letter: str) -> Case:
    def accepted(response: ApiResponse) -> None:
        assert response.body["assetHandle"] == w.asset[letter]
        assert response.body["companyHandle"] == w.company[letter]
    return Case("GET", f"/v1/assets/{w.asset[letter]}", accepted=accepted)


def get_asset_job_logs(w: World, letter: str) -> Case:
    def accepted(response: ApiResponse) -> None:
        assert [row["jobHandle"] for row in response.body["jobLogArray"]] == [w.done_job[letter]]
    return Case("GET", f"/v1/assets/{w.asset[letter]}/job-logs", accepted=accepted)


def get_asset_archived_job_logs(w: World, letter: str) -> Case:
    case = get_asset_job_logs(w, letter)
    return Case("GET", f"/v1/assets/{w.asset[letter]}/archived-job-logs", accepted=case.accepted)


def find_assets(w: World, letter: str) -> Case:
    def accepted(response: ApiResponse) -> None:
        assert [a["assetHandle"] for a in response.body["assetArray"]] == [w.asset[letter]]
    return Case("GET", "/v1/assets", query={"companyHandle": w.company[letter], "name": ASSET_NAME},
                accepted=accepted)


def get_auto_crop_rect(w: World, letter: str) -> Case:
    return Case("GET", f"/v1/assets/{w.asset[letter]}/auto-crop-rect", query={"type": "Color", "corner": "UpperLeft"},
                accepted=lambda r: _assert(set(r.body) == {"xOffset", "yOffset", "width", "height"}, r.body))


def _with_smart_crop(w: World, letter: str) -> str:
    """The company's asset with a smart crop "square" (written once, as an upload would leave it)."""
    from openips.models.processing import NamedCrop

    asset = w.deps.assets.get(w.asset[letter])
    if not any(c.name == "square" for c in asset.smart_crops):
        asset.smart_crops = [NamedCrop(name="square", x=0, y=0, width=1, height=1, score=0.5)]
        assert w.deps.assets.set_smart_crops(asset)
    return asset.asset_handle


def get_smart_crops(w: World, letter: str) -> Case:
    handle = _with_smart_crop(w, letter)
    return Case("GET", f"/v1/assets/{handle}/smart-crops",
                accepted=lambda r: _assert(r.body["assetHandle"] == handle
                                           and [c["name"] for c in r.body["smartCrops"]] == ["square"], r.body))


def set_smart_crop(w: World, letter: str) -> Case:
    handle = _with_smart_crop(w, letter)
    return Case("PUT", f"/v1/assets/{handle}/smart-crops/square", {"x": 0, "y": 0, "width": 1, "height": 1},
                state=lambda: w.deps.assets.get(handle).smart_crops,
                accepted=lambda r: _assert(r.body["smartCrops"][0]["adjusted"] is True, r.body))


def get_company_settings(w: World, letter: str) -> Case:
    return Case("GET", f"/v1/admin/companies/{w.company[letter]}",
                accepted=lambda r: _assert(r.body["companyHandle"] == w.company[letter], r.body))


def set_company_settings(w: World, letter: str) -> Case:
    company = w.company[letter]
    mode = "OverwriteAnyExt" if w.deps.companies.get(company).overwrite_mode == "OverwriteFullName" \
        else "OverwriteFullName"

    def accepted(response: ApiResponse) -> None:
        assert response.body["companyHandle"] == company and response.body["overwriteMode"] == mode
        assert w.deps.companies.get(company).overwrite_mode == mode
    return Case("PATCH", f"/v1/admin/companies/{company}", {"overwriteMode": mode},
                state=lambda: w.deps.companies.get(company).model_dump(), accepted=accepted)


def create_company(w: World, letter: str) -> Case:
    return Case("POST", "/v1/admin/companies", {"name": w.unique("Created")},
                state=lambda: sorted(w.deps.companies.list_handles()),
                accepted=lambda r: _assert(w.deps.companies.get(r.body["companyHandle"]) is not None, r.body))


def create_user(w: World, letter: str) -> Case:
    company, email = w.company[letter], f"{w.unique('new')}@matrix.example"

    def accepted(response: ApiResponse) -> None:
        user = w.accounts.find_user_by_email(company, email)
        assert user is not None and user.user_handle == response.body["userHandle"]
        # and the key it returned works, for that company
        found = w.call("GET", "/v1/jobs/active", key=response.body["apiKey"])
        assert found.status == 200 and {j["companyHandle"] for j in found.body["jobArray"]} <= {company}
    return Case("POST", "/v1/admin/users", {"companyHandle": company, "email": email, "role": "IpsUser"},
                state=lambda: w.accounts.find_user_by_email(company, email), accepted=accepted)


def _fresh_user(w: World, letter: str) -> tuple[str, str]:
    """A new IpsUser of the company, and its key (made with the root key: never by the caller tried)."""
    body = {"companyHandle": w.company[letter], "email": f"{w.unique('managed')}@matrix.example", "role": "IpsUser"}
    created = w.call("POST", "/v1/admin/users", body, key=w.stack.key)
    assert created.status == 201, created.body
    return created.body["userHandle"], created.body["apiKey"]


def _key_works(w: World, key: str) -> bool:
    return w.call("GET", "/v1/jobs/active", key=key).status == 200


def issue_api_key(w: World, letter: str) -> Case:
    user, old = _fresh_user(w, letter)

    def accepted(response: ApiResponse) -> None:
        assert response.body["userHandle"] == user and _key_works(w, response.body["apiKey"])
        assert not _key_works(w, old)
    return Case("POST", f"/v1/admin/users/{user}/api-key", state=lambda: _key_works(w, old), accepted=accepted)


def revoke_api_key(w: World, letter: str) -> Case:
    user, key = _fresh_user(w, letter)
    return Case("DELETE", f"/v1/admin/users/{user}/api-key", state=lambda: _key_works(w, key),
                accepted=lambda r: _assert(not _key_works(w, key), "revoked key still works"))


def delete_user(w: World, letter: str) -> Case:
    user, key = _fresh_user(w, letter)
    return Case("DELETE", f"/v1/admin/users/{user}", state=lambda: w.accounts.get_user(user) is not None,
                accepted=lambda r: _assert(w.accounts.get_user(user) is None and not _key_works(w, key), user))


def create_set_preset(w: World, letter: str) -> Case:
    company, name = w.company[letter], w.unique("created-preset")

    def named() -> list[str]:
        return [p.preset_handle for p in w.deps.presets.list_for_company(company) if p.name == name]

    def accepted(response: ApiResponse) -> None:
        assert named() == [response.body["presetHandle"]]
    return Case("POST", "/v1/set-presets", preset_body(name, company), state=named, accepted=accepted)


def get_set_presets(w: World, letter: str) -> Case:
    return Case("GET", "/v1/set-presets", query={"companyHandle": w.company[letter]},
                accepted=_all_in(w, letter, "setPresetArray", ("presetHandle", w.preset(letter))))


def get_set_preset(w: World, letter: str) -> Case:
    preset = w.preset(letter)
    return Case("GET", f"/v1/set-presets/{preset}",
                accepted=lambda r: _assert((r.body["presetHandle"], r.body["companyHandle"])
                                           == (preset, w.company[letter]), r.body))


def create_image_preset(w: World, letter: str) -> Case:
    company, name = w.company[letter], w.unique("created-ip")

    def accepted(response: ApiResponse) -> None:
        assert (response.body["name"], response.body["companyHandle"]) == (name, company), response.body
        assert w.deps.image_presets.get(company, name) is not None
    return Case("POST", "/v1/image-presets", {"name": name, "modifiers": "wid=100", "companyHandle": company},
                state=lambda: w.deps.image_presets.get(company, name), accepted=accepted)


def get_image_presets(w: World, letter: str) -> Case:
    return Case("GET", "/v1/image-presets", query={"companyHandle": w.company[letter]},
                accepted=_all_in(w, letter, "imagePresetArray", ("name", w.image_preset(letter))))


def get_image_preset(w: World, letter: str) -> Case:
    name = w.image_preset(letter)
    return Case("GET", f"/v1/image-presets/{name}", query={"companyHandle": w.company[letter]},
                accepted=lambda r: _assert((r.body["name"], r.body["companyHandle"]) == (name, w.company[letter]),
                                           r.body))


def delete_image_preset(w: World, letter: str) -> Case:
    company, name = w.company[letter], w.new_image_preset(letter)
    return Case("DELETE", f"/v1/image-presets/{name}", query={"companyHandle": company},
                state=lambda: w.deps.image_presets.get(company, name),
                accepted=lambda r: _assert(w.deps.image_presets.get(company, name) is None, name))


def delete_set_preset(w: World, letter: str) -> Case:
    preset = w.new_preset(letter)

    def state():
        found = w.deps.presets.get(preset)
        return found.model_dump() if found else None
    return Case("DELETE", f"/v1/set-presets/{preset}", state=state,
                accepted=lambda r: _assert(w.deps.presets.get(preset) is None, preset))


def create_project(w: World, letter: str) -> Case:
    company, name = w.company[letter], w.unique("created-project")

    def named() -> list[str]:
        return [p.project_handle for p in w.deps.projects.list_for_company(company) if p.name == name]
    return Case("POST", "/v1/projects", {"name": name, "companyHandle": company}, state=named,
                accepted=lambda r: _assert(named() == [r.body["projectHandle"]], (named(), r.body)))


def get_projects(w: World, letter: str) -> Case:
    return Case("GET", "/v1/projects", query={"companyHandle": w.company[letter]},
                accepted=_all_in(w, letter, "projectArray", ("projectHandle", w.project(letter))))


def get_project(w: World, letter: str) -> Case:
    project = w.project(letter)
    return Case("GET", f"/v1/projects/{project}",
                accepted=lambda r: _assert((r.body["projectHandle"], r.body["companyHandle"])
                                           == (project, w.company[letter]), r.body))


def delete_project(w: World, letter: str) -> Case:
    project = w.new_project(letter)

    def state():
        found = w.deps.projects.get(project)
        return found.model_dump() if found else None
    return Case("DELETE", f"/v1/projects/{project}", state=state,
                accepted=lambda r: _assert(w.deps.projects.get(project) is None, project))


def get_webhook_secret(w: World, letter: str) -> Case:
    company = w.company[letter]
    return Case("GET", f"/v1/admin/companies/{company}/webhook-secret",
                state=lambda: w.accounts.get_webhook_secret(company),
                accepted=lambda r: _assert(r.body["companyHandle"] == company and r.body["webhookSecret"], r.body))


def rotate_webhook_secret(w: World, letter: str) -> Case:
    company = w.company[letter]

    def accepted(response: ApiResponse) -> None:
        assert response.body["companyHandle"] == company
        assert w.accounts.get_webhook_secret(company)["secret"] == response.body["webhookSecret"]
    return Case("POST", f"/v1/admin/companies/{company}/webhook-secret/rotate",
                state=lambda: w.accounts.get_webhook_secret(company), accepted=accepted)


def resend_job_notifications(w: World, letter: str) -> Case:
    job = w.done_job[letter]  # only an ended job's notifications can be re-sent (409 otherwise)
    return Case("POST", f"/v1/jobs/{job}/notifications/resend",
                accepted=lambda r: _assert(r.body["jobHandle"] == job and r.body["resendId"], r.body))


def verify_job_accounting(w: World, letter: str) -> Case:
    job = w.done_job[letter]
    return Case("GET", f"/v1/jobs/{job}/accounting",
                accepted=lambda r: _assert(r.body["jobHandle"] == job and r.body["healthy"], r.body))


def repair_job_accounting(w: World, letter: str) -> Case:
    job = w.done_job[letter]
    return Case("POST", f"/v1/jobs/{job}/accounting/repair", state=lambda: w.job_state(job),
                accepted=lambda r: _assert(r.body["jobHandle"] == job and r.body["repaired"] == [], r.body))


def _stopped(job: Job) -> bool:
    return job.closed and (job.stopping or job.finished)


EXPECTED: dict[str, Expect] = {
    # upload jobs
    "openUploadJob": Expect(UPLOADERS, open_upload_job),
    "renewUploadForm": Expect(UPLOADERS, _job_case("POST", "/v1/upload-jobs/{job}/upload-form",
                                                   lambda j: not j.closed)),
    "endJob": Expect(UPLOADERS, _job_case("POST", "/v1/upload-jobs/{job}/end", lambda j: j.closed)),
    # job monitoring (log reads allow ImagePortalUser) and control (spec §8.1)
    "getActiveJobs": Expect(EVERYONE, get_active_jobs),
    "getJobLogs": Expect(EVERYONE, get_job_logs),
    "getJobLogDetails": Expect(EVERYONE, get_job_log_details),
    "getJobLogDetailsByOriginalName": Expect(EVERYONE, get_job_log_details_by_original_name),
    "getScheduledJobs": Expect(EVERYONE, get_scheduled_jobs),
    "getUploadTaskStatus": Expect(EVERYONE, get_upload_task_status),  # a job status read, like getActiveJobs
    "getArchivedJobLogDetails": Expect(EVERYONE, get_archived_job_log_details),
    "executeJob": Expect(UPLOADERS, execute_job, status=409),  # allowed, and answered "never scheduled"
    "stopJob": Expect(UPLOADERS, _job_case("POST", "/v1/jobs/{job}/stop", _stopped)),
    "pauseJob": Expect(UPLOADERS, _job_case("POST", "/v1/jobs/{job}/pause", lambda j: j.paused)),
    "resumeJob": Expect(UPLOADERS, _job_case("POST", "/v1/jobs/{job}/resume", lambda j: not j.paused, paused=True)),
    "deleteJob": Expect(UPLOADERS, _job_case("DELETE", "/v1/jobs/{job}", lambda j: j.deleted and _stopped(j))),
    # assets (reads: every role)
    "getAsset": Expect(EVERYONE, get_asset),
    "getAssetJobLogs": Expect(EVERYONE, get_asset_job_logs),
    "getAssetArchivedJobLogs": Expect(EVERYONE, get_asset_archived_job_logs),
    "findAssets": Expect(EVERYONE, find_assets),
    "getAutoCropRect": Expect(EVERYONE, get_auto_crop_rect),
    "getSmartCrops": Expect(EVERYONE, get_smart_crops),
    "setSmartCrop": Expect(UPLOADERS, set_smart_crop),
    # administration (Scene7: get/setCompanySettings are IpsAdmin, IpsCompanyAdmin)
    "getCompanySettings": Expect(ADMINS, get_company_settings),
    "setCompanySettings": Expect(ADMINS, set_company_settings),
    "createCompany": Expect(ROOT, create_company, company_scoped=False),
    "createUser": Expect(ADMINS, create_user),
    "issueApiKey": Expect(ADMINS, issue_api_key),
    "revokeApiKey": Expect(ADMINS, revoke_api_key),
    "deleteUser": Expect(ADMINS, delete_user),
    # batch set presets (docs/sets.md): reads for every role, changes for admins
    "createSetPreset": Expect(ADMINS, create_set_preset),
    "getSetPresets": Expect(EVERYONE, get_set_presets),
    "getSetPreset": Expect(EVERYONE, get_set_preset),
    "deleteSetPreset": Expect(ADMINS, delete_set_preset),
    # image presets ($name$ of delivery URLs, docs/delivery.md): reads for every role, changes for admins
    "createImagePreset": Expect(ADMINS, create_image_preset),
    "getImagePresets": Expect(EVERYONE, get_image_presets),
    "getImagePreset": Expect(EVERYONE, get_image_preset),
    "deleteImagePreset": Expect(ADMINS, delete_image_preset),
    # projects: reads for every role, changes for admins
    "createProject": Expect(ADMINS, create_project),
    "getProjects": Expect(EVERYONE, get_projects),
    "getProject": Expect(EVERYONE, get_project),
    "deleteProject": Expect(ADMINS, delete_project),
    # notification administration (docs/notifications.md)
    "getWebhookSecret": Expect(ADMINS, get_webhook_secret),
    "rotateWebhookSecret": Expect(ADMINS, rotate_webhook_secret),
    "resendJobNotifications": Expect(ADMINS, resend_job_notifications),
    # job accounting (openips jobs verify): the audit is a read, the repair an admin's act
    "verifyJobAccounting": Expect(EVERYONE, verify_job_accounting),
    "repairJobAccounting": Expect(ADMINS, repair_job_accounting),
}

# Routes an HTTP function serves that the OpenAPI document does not list yet:
# (METHOD, path template) → operationId. An entry must go once the route is published.
UNPUBLISHED: dict[tuple[str, str], str] = {}
NOT_IN_MATRIX = {
    ("GET", "/v1/openapi.json"),  # public, as are the upload page and its files (docs/web-ui.md)
    ("GET", "/"),
    ("GET", "/ui/{file}"),
    # IPS wire (docs/ips-compatibility.md): not part of the JSON API's OpenAPI document; the caller is in
    # the body (authHeader) or HTTP Basic, its faults are XML. Roles and companies:
    # tests/integration/test_upload_servlet.py and test_ips_soap.py.
    ("POST", "/scene7/UploadFile"),
    ("POST", "/scene7/services/IpsApiService"),
    ("POST", "/scene7/api/IpsApiService"),
    ("GET", "/scene7/webservice/{document}"),  # the WSDL, public as IPS serves it
    # Image Serving URLs (docs/delivery.md): public renditions of published assets, answered in IS's text
    # errors; who sees what: tests/integration/test_delivery.py.
    ("GET", "/is/image/{company}/{asset}"),
}


# ---- route inventory --------------------------------------------------------------------------------


def published() -> dict[str, tuple[str, str, int]]:
    """operationId → (METHOD, path template, success status) from the published OpenAPI document."""
    found = {}
    for path, item in openapi_document()["paths"].items():
        for method, op in item.items():
            success = next(int(code) for code in op["responses"] if code != "default")
            found[op["operationId"]] = (method.upper(), path, success)
    return found


SUCCESS_OF_UNPUBLISHED: dict[str, int] = {}


def inventory() -> dict[str, tuple[str, str, int]]:
    routes = published()
    for (method, path), operation in UNPUBLISHED.items():
        routes.setdefault(operation, (method, path, SUCCESS_OF_UNPUBLISHED.get(operation, 200)))
    return routes


def _shape(path: str) -> str:
    return re.sub(r"\{[^}/]+\}|<[^>/]+>", "{}", path)


def served_routes() -> set[tuple[str, str]]:
    """(METHOD, path shape) of every route of every HTTP function of template.yaml."""
    served = set()
    for module in {route.handler.rpartition(".")[0] for route in http_routes(load_template())}:
        app = import_handler(module + ".app")
        for route in app.served_routes:
            served.add((route.method.upper(), _shape(route.path)))
    return served


def _matrix() -> list:
    routes = inventory()
    params = []
    for operation in sorted(EXPECTED):
        if operation not in routes:
            continue  # reported by test_every_row_names_a_published_operation
        targets = TARGETS if EXPECTED[operation].company_scoped else ("own",)
        params += [pytest.param(operation, role, target, id=f"{operation}-{role}-{target}")
                   for role in ROLES for target in targets]
    return params


def test_every_published_operation_has_a_row():
    missing = sorted(set(inventory()) - set(EXPECTED))
    assert not missing, (
        f"Operations without a row in EXPECTED of {__name__}: {missing}. Add one per operation: "
        "which roles may call it, and how to call it on an object of a given company.")


def test_every_row_names_a_published_operation():
    stale = sorted(set(EXPECTED) - set(inventory()))
    assert not stale, f"Rows of EXPECTED naming no published operation (renamed or removed?): {stale}"


def test_every_served_route_is_published_or_listed():
    published_shapes = {(m, _shape(p)) for m, p, _ in published().values()}
    unlisted = sorted(served_routes() - published_shapes - {(m, _shape(p)) for m, p in UNPUBLISHED}
                      - {(m, _shape(p)) for m, p in NOT_IN_MATRIX})
    assert not unlisted, f"Routes served but absent from the OpenAPI document and from UNPUBLISHED: {unlisted}"
    now_published = sorted(op for (m, p), op in UNPUBLISHED.items() if (m, _shape(p)) in published_shapes)
    assert not now_published, f"Published now, remove from UNPUBLISHED: {now_published}"
    # and every published operation needs a key
    for path, item in openapi_document()["paths"].items():
        for method, op in item.items():
            assert op.get("security") == [{"apiKey": []}], (method, path)


# ---- the matrix -------------------------------------------------------------------------------------


def _send(w: World, operation: str, case: Case, key: str | None, raw_body: str | None = None) -> ApiResponse:
    method, template, _ = inventory()[operation]
    assert case.method == method, f"{operation} is {method} {template}, the row builds {case.method}"
    pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
    assert re.match(pattern, case.path), f"{operation} is {template}, the row builds {case.path}"
    return w.call(case.method, case.path, case.body, key=key, query=case.query, raw_body=raw_body)


def _refused(response: ApiResponse, codes: set[int]) -> None:
    assert response.status == 403, (response.status, response.body)
    fault = response.body["fault"]
    assert fault["type"] == "authorizationFault" and fault["code"] in codes, fault


@pytest.mark.parametrize(("operation", "role", "target"), _matrix())
def test_role_matrix(world, operation, role, target):
    expect = EXPECTED[operation]
    letter = "A" if target == "own" else "B"
    case = expect.build(world, letter)
    before = case.state() if case.state else None

    response = _send(world, operation, case, world.key(role, "A"))

    if role not in expect.allowed:
        # the role check comes first; on another company's object 20000/20006 is as good
        _refused(response, {20003} if target == "own" else {20003, 20000, 20006})
    elif target == "other" and role != "IpsAdmin":
        _refused(response, {20000, 20006})
    else:
        assert response.status == (expect.status or inventory()[operation][2]), (response.status, response.body)
        if case.accepted:
            case.accepted(response)
        return
    if case.state:
        assert case.state() == before, f"refused {operation} by {role} changed the stored state"


@pytest.mark.parametrize("operation", sorted(EXPECTED))
def test_no_key_is_401_10000_and_a_bad_key_401_10001(world, operation):
    if operation not in inventory():
        pytest.skip(f"{operation} is not served yet")
    case = EXPECTED[operation].build(world, "A")
    before = case.state() if case.state else None
    for key, code in ((None, 10000), ("oips_not-a-key", 10001), ("", 10000)):
        response = _send(world, operation, case, key)
        assert response.status == 401, (key, response.status, response.body)
        assert response.body["fault"] == {"type": "authenticationFault", "code": code,
                                          "reason": response.body["fault"]["reason"]}
    if case.state:
        assert case.state() == before


def _body_operations() -> list[str]:
    with_body = {op["operationId"] for item in openapi_document()["paths"].values() for op in item.values()
                 if "requestBody" in op}
    return sorted(with_body & set(EXPECTED))


@pytest.mark.parametrize("operation", _body_operations())
def test_authentication_comes_before_the_body(world, operation):
    case = EXPECTED[operation].build(world, "A")
    response = _send(world, operation, case, None, raw_body='{"not": "valid"')
    assert (response.status, response.fault_code) == (401, 10000), (
        f"{operation} answers an unauthenticated caller about its body: authenticate (_caller()) before "
        f"parse_body(): {response.body}")


# ---- rules finer than one role set ------------------------------------------------------------------


def test_company_admin_cannot_create_ipsadmin_users_ipsadmin_can(world):
    for letter in ("A", "B"):
        email = f"{world.unique('root')}@matrix.example"
        body = {"companyHandle": world.company[letter], "email": email, "role": "IpsAdmin"}
        refused = world.call("POST", "/v1/admin/users", body, key=world.key("IpsCompanyAdmin"))
        _refused(refused, {20003} if letter == "A" else {20003, 20000, 20006})
        assert world.accounts.find_user_by_email(world.company[letter], email) is None
        created = world.call("POST", "/v1/admin/users", body, key=world.key("IpsAdmin"))
        assert created.status == 201, created.body
    # a company admin may create the roles below IpsAdmin in its own company
    for role in ("IpsCompanyAdmin", "IpsUser", "ImagePortalUser"):
        body = {"companyHandle": world.company["A"], "email": f"{world.unique(role)}@matrix.example", "role": role}
        assert world.call("POST", "/v1/admin/users", body, key=world.key("IpsCompanyAdmin")).status == 201


def test_keys_of_ipsadmins_are_theirs_to_manage_and_nobody_deletes_themselves(world):
    root = world.user[("A", "IpsAdmin")]
    for call in (("POST", f"/v1/admin/users/{root}/api-key"), ("DELETE", f"/v1/admin/users/{root}/api-key"),
                 ("DELETE", f"/v1/admin/users/{root}")):
        _refused(world.call(*call, key=world.key("IpsCompanyAdmin")), {20003})
    assert world.call("GET", "/v1/jobs/active", key=world.key("IpsAdmin")).status == 200  # untouched
    me = world.user[("A", "IpsCompanyAdmin")]
    refused = world.call("DELETE", f"/v1/admin/users/{me}", key=world.key("IpsCompanyAdmin"))
    assert (refused.status, refused.fault_code) == (409, 30001)


@pytest.mark.parametrize("change", [{"maxFileSize": 5 * 1024**3}, {"name": "Renamed by its admin"}])
def test_operator_settings_are_ipsadmin_only(world, change):
    """A company admin sets how its uploads behave, not its quota or its name (set by IpsAdmin)."""
    path = f"/v1/admin/companies/{world.company['A']}"
    before = world.deps.companies.get(world.company["A"]).model_dump()
    refused = world.call("PATCH", path, change, key=world.key("IpsCompanyAdmin"))
    _refused(refused, {20003})
    assert world.deps.companies.get(world.company["A"]).model_dump() == before
    mixed = world.call("PATCH", path, change | {"retainPublishState": not before["retain_publish_state"]},
                       key=world.key("IpsCompanyAdmin"))
    _refused(mixed, {20003})
    assert world.deps.companies.get(world.company["A"]).model_dump() == before  # all or nothing
    by_root = world.call("PATCH", path, change, key=world.key("IpsAdmin"))
    assert by_root.status == 200, by_root.body
    assert world.call("PATCH", path, {"name": before["name"]}, key=world.key("IpsAdmin")).status == 200


def test_queries_naming_another_companys_objects_show_nothing_of_it(world):
    """A's users probing B through query parameters: refused or empty, never B's data."""
    b_job, b_done, b_asset = world.job["B"], world.done_job["B"], world.asset["B"]
    for role in ROLES:
        key = world.key(role)
        active = world.call("GET", "/v1/jobs/active", key=key, query={"jobHandle": b_job})
        assert active.status == 200 and (role == "IpsAdmin" or active.body["jobArray"] == []), active.body
        assert all(j["companyHandle"] == world.company["A"] for j in active.body["jobArray"])
        logs = world.call("GET", "/v1/jobs/logs", key=key, query={"userHandle": world.user[("B", "IpsUser")]})
        assert logs.status == 200 and logs.body["jobLogArray"] == [], logs.body
        by_name = world.call("GET", "/v1/assets", key=key, query={"name": ASSET_NAME})
        assert [a["assetHandle"] for a in by_name.body["assetArray"]] == [world.asset["A"]]
        by_folder = world.call("GET", "/v1/assets", key=key, query={"folder": "/"})
        assert by_folder.status == 200, by_folder.body
        assert [a["assetHandle"] for a in by_folder.body["assetArray"]] == [world.asset["A"]]
        by_job = world.call("GET", "/v1/assets", key=key, query={"jobHandle": b_done})
        if role == "IpsAdmin":
            assert [a["assetHandle"] for a in by_job.body["assetArray"]] == [b_asset]
        else:
            _refused(by_job, {20000, 20006})
        # the job handle of another company, inside a body, or mixed with one's own company
        mixed = world.call("GET", "/v1/assets", key=key, query={"jobHandle": b_done,
                                                                 "companyHandle": world.company["A"]})
        if role != "IpsAdmin":
            _refused(mixed, {20000, 20006})
        else:
            assert mixed.status == 200 and mixed.body["assetArray"] == [], mixed.body


def test_unknown_handles_are_404_other_companies_403(world):
    """The contract (decisions.md): unknown handles 404 30001, other companies' objects 403."""
    key = world.key("IpsUser")
    for path in ("/v1/jobs/j-nosuchjob000000000000/log-details", "/v1/assets/a-nosuchasset0000000000"):
        response = world.call("GET", path, key=key)
        assert (response.status, response.fault_code) == (404, 30001), response.body
    for path in (f"/v1/jobs/{world.job['B']}/log-details", f"/v1/assets/{world.asset['B']}"):
        _refused(world.call("GET", path, key=key), {20000, 20006})
    # a company admin on an unknown company: refused like another company, no existence test
    response = world.call("GET", "/v1/admin/companies/c-nosuchcompany00000000", key=world.key("IpsCompanyAdmin"))
    _refused(response, {20000, 20006})


def test_a_refused_stop_leaves_the_job_running_and_uploadable(world):
    job = world.open_job("B")
    for role in ROLES[1:]:
        for verb in ("stop", "pause"):
            _refused(world.call("POST", f"/v1/jobs/{job}/{verb}", key=world.key(role)), {20000, 20003, 20006})
        _refused(world.call("DELETE", f"/v1/jobs/{job}", key=world.key(role)), {20000, 20003, 20006})
    active = world.call("GET", "/v1/jobs/active", key=world.key("IpsUser", "B"), query={"jobHandle": job})
    (state,) = active.body["jobArray"]
    assert state["state"] not in ("Stopping", "WaitingCoordinator")
    renewed = world.call("POST", f"/v1/upload-jobs/{job}/upload-form", key=world.key("IpsUser", "B"))
    assert renewed.status == 200
