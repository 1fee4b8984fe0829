"""The §8.1 operations upload jobs answer without a job-control effect: executeJob and the archived logs."""

from __future__ import annotations

import re

import pytest

from tests.integration.test_api import other_company_key
from tests.integration.test_processing import jpeg, upload_and_end

pytest.importorskip("pyvips")


def test_execute_job_is_a_clear_409_for_an_upload_job(stack):
    job = stack.open_job("now").body["jobHandle"]
    response = stack.call("POST", f"/v1/jobs/{job}/execute")
    assert response.status == 409 and response.fault_code == 30001
    assert "never scheduled" in response.body["fault"]["reason"]
    assert stack.call("POST", "/v1/jobs/j-nosuchjob/execute").status == 404
    foreign = stack.call("POST", f"/v1/jobs/{job}/execute", key=other_company_key(stack))
    assert foreign.status == 403 and foreign.fault_code == 20006
    # Nothing happened to the job.
    active = stack.call("GET", "/v1/jobs/active", query={"jobHandle": job}).body["jobArray"]
    assert [j["state"] for j in active] == ["WaitingClient"]


def test_archived_log_reads_answer_like_the_live_ones(stack):
    job = upload_and_end(stack, {"a.jpg": jpeg(), "b.jpg": jpeg()[:90]})
    query = {"logTypeArray": "UploadError", "locale": "ko-KR"}
    live = stack.call("GET", f"/v1/jobs/{job}/log-details", query=query)
    archived = stack.call("GET", f"/v1/jobs/{job}/archived-log-details", query=query)
    assert archived.status == 200 and archived.body == live.body
    assert [d["logType"] for d in archived.body["jobLogArray"][0]["detailArray"]] == ["UploadError"]

    asset = stack.call("GET", "/v1/assets", query={"name": "a"}).body["assetArray"][0]["assetHandle"]
    history = stack.call("GET", f"/v1/assets/{asset}/job-logs")
    assert stack.call("GET", f"/v1/assets/{asset}/archived-job-logs").body == history.body
    denied = stack.call("GET", f"/v1/jobs/{job}/archived-log-details", key=other_company_key(stack))
    assert denied.status == 403


def test_job_names_are_unique_in_the_company_and_original_names_kept(stack):
    first, second, third = (stack.open_job("spring") for _ in range(3))
    jobs = {j["jobHandle"]: j for j in stack.call("GET", "/v1/jobs/active", query={"originalName": "spring"})
            .body["jobArray"]}
    names = [jobs[o.body["jobHandle"]]["name"] for o in (first, second, third)]
    stamped = r"spring_\d{4}-\d\d-\d\d-\d\d:\d\d:\d\d"
    assert names[0] == "spring" and len(set(names)) == 3
    assert re.fullmatch(stamped, names[1])
    assert re.fullmatch(stamped + "(-2)?", names[2])  # "-2" when opened in the same second
    assert all(j["originalName"] == "spring" for j in jobs.values())
    log = stack.call("GET", f"/v1/jobs/{second.body['jobHandle']}/log-details").body["jobLogArray"][0]
    assert (log["jobName"], log["originalJobName"]) == (names[1], "spring")
    # Names are unique per company: another company's first "spring" is plain "spring".
    other_key = other_company_key(stack)
    other = stack.open_job("spring", key=other_key)
    found = stack.call("GET", "/v1/jobs/active", query={"jobHandle": other.body["jobHandle"]}, key=other_key)
    assert [j["name"] for j in found.body["jobArray"]] == ["spring"]


def test_log_details_by_original_name_answer_every_job_opened_under_it_newest_first(stack):
    # getJobLogDetails names the job by jobHandle or by originalName (spec §8.1); the answer is a JobLogArray.
    first, second = (stack.open_job("autumn").body["jobHandle"] for _ in range(2))
    alike = stack.open_job("autumn2").body["jobHandle"]  # a name that only starts the same
    assert stack.call("POST", f"/v1/jobs/{first}/stop").status == 200  # ended jobs are read too
    stack.drain()

    answer = stack.call("GET", "/v1/jobs/log-details", query={"originalName": "autumn", "logTypeArray": "BeginUpload"})
    assert answer.status == 200
    logs = answer.body["jobLogArray"]
    assert [log["jobHandle"] for log in logs] == [second, first]
    assert all(log["originalJobName"] == "autumn" for log in logs) and alike not in {log["jobHandle"] for log in logs}
    assert [[d["logType"] for d in log["detailArray"]] for log in logs] == [["BeginUpload"], ["BeginUpload"]]

    # Another company's "autumn" is its own; asking for this company's is refused; nothing is a 200 [].
    other_key = other_company_key(stack)
    theirs = stack.open_job("autumn", key=other_key).body["jobHandle"]
    mine = stack.call("GET", "/v1/jobs/log-details", query={"originalName": "autumn"}, key=other_key)
    assert [log["jobHandle"] for log in mine.body["jobLogArray"]] == [theirs]
    denied = stack.call("GET", "/v1/jobs/log-details", query={"originalName": "autumn", "companyHandle": stack.company},
                        key=other_key)
    assert denied.status == 403
    assert stack.call("GET", "/v1/jobs/log-details", query={"originalName": "winter"}).body == {"jobLogArray": []}
    missing = stack.call("GET", "/v1/jobs/log-details")
    assert (missing.status, missing.fault_code) == (400, 30002)


def test_log_details_by_an_original_name_too_many_names_start_with_is_a_clear_413(stack, monkeypatch):
    from openips.services import jobs

    monkeypatch.setattr(jobs, "NAMES_READ", 2)
    for name in ("fall", "fall-a", "fall-b"):
        stack.open_job(name)
    refused = stack.call("GET", "/v1/jobs/log-details", query={"originalName": "fall"})
    assert (refused.status, refused.fault_code) == (413, 30001)
    assert refused.body["fault"]["reason"] == ("More than 2 job names start with 'fall': ask by jobHandle "
                                               "(getJobLogs lists the jobs)")
