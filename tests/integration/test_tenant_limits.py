"""Issue 13 item 1: one tenant cannot kill the sweeper: bounded strings and options, a cap on open
jobs per company, a sweeper that reads no options and survives one company's failure."""

from __future__ import annotations

from datetime import timedelta

from openips.adapters.dynamodb import jobs as dynamodb_jobs
from openips.models.domain import utcnow
from openips.services import sweep
from openips.services.deps import get_deps
from openips.services.params import MAX_STRING_CHARS
from tests.integration.test_api import other_company_key

PARAMS = {"overwrite": True, "readyForPublish": True, "createMask": False, "emailSetting": "None"}


def open_job(stack, key="default", **params):
    return stack.call("POST", "/v1/upload-jobs", {"jobName": "j", "uploadParams": {**PARAMS, **params}}, key=key)


def test_a_string_option_of_250_kb_is_a_clear_fault(stack):
    refused = open_job(stack, jwtToken="x" * 250_000)
    assert (refused.status, refused.fault_code) == (400, 30001)
    assert refused.body["fault"]["reason"] == (
        f"Invalid value for uploadParams.jwtToken: longer than {MAX_STRING_CHARS} characters")


def test_options_over_their_total_size_are_refused(stack):
    updates = [{"fieldHandle": f"f{n}", "value": "v" * 4000} for n in range(40)]  # each string fits
    refused = open_job(stack, metadataOptions={"updateArray": updates})
    assert (refused.status, refused.fault_code) == (413, 30001)
    assert "uploadParams is" in refused.body["fault"]["reason"] and "the limit is 65536" in refused.body["fault"]["reason"]


def test_the_sweeper_reads_no_options_and_one_companys_failure_stops_no_other(stack, monkeypatch):
    deps = get_deps()
    mine = open_job(stack).body["jobHandle"]
    theirs_key = other_company_key(stack)
    theirs = open_job(stack, key=theirs_key).body["jobHandle"]
    job_repository = deps.jobs

    def no_options(*args, **kwargs):
        raise AssertionError("the sweeper read a whole job item")

    original = job_repository.iter_active_clocks

    def broken_for_mine(company_handle):
        if company_handle == stack.company:
            raise RuntimeError("this company's items cannot be read")
        return original(company_handle)

    monkeypatch.setattr(job_repository, "iter_active_clocks", broken_for_mine)
    monkeypatch.setattr(dynamodb_jobs, "job_from_item", no_options)
    later = utcnow() + timedelta(seconds=deps.settings.job_idle_timeout_seconds + 1)
    monkeypatch.setattr(job_repository, "get", lambda handle: None if handle == theirs else no_options())
    # Only reading is checked here; the idle job of the other company is found and acted on.
    done = sweep.sweep(deps, later)
    assert done["company_failed"] == 1 and "timed_out" not in done  # get_job answered None: nothing closed
    monkeypatch.undo()
    done = sweep.sweep(deps, later)
    assert done == {"timed_out": 2}
    assert deps.jobs.get(mine).closed and deps.jobs.get(theirs).closed


def test_read_only_users_do_not_see_webhook_tokens(stack):
    hook = "https://hooks.example.com/in?token=s3cr3t"
    job = open_job(stack, postHttpUrl=hook).body["jobHandle"]
    portal = stack.call("POST", "/v1/admin/users", {"companyHandle": stack.company, "email": "viewer@acme.example",
                                                   "role": "ImagePortalUser"}, key=stack.admin_key).body["apiKey"]

    def shown(key):
        (found,) = stack.call("GET", "/v1/jobs/active", query={"jobHandle": job}, key=key).body["jobArray"]
        return found["uploadPostJob"]["postHttpUrl"]

    assert shown("default") == hook  # the uploaders set it and see it
    assert shown(portal) == "https://hooks.example.com/in?…"
