"""Files in flight: ActiveJob.taskItemProgressArray, getUploadTaskStatus, includeWaitingJobs."""

from __future__ import annotations

import pytest

from tests.integration.test_api import other_company_key
from tests.integration.test_job_control import active, control, jpeg, process_one, while_processing

pyvips = pytest.importorskip("pyvips")


def task_status(stack, job: str, key: str | None = "default"):
    return stack.call("GET", f"/v1/upload-jobs/{job}/task-status", key=key)


def test_a_file_in_flight_is_a_task_item_and_every_file_a_task(stack, monkeypatch):
    opened = stack.open_job("inflight")
    job, upload = opened.body["jobHandle"], opened.body["upload"]
    stack.post_file(upload, "shoes/first.jpg", jpeg())
    (first,) = stack.receive("ProcessQueue")
    stack.post_file(upload, "broken.jpg", jpeg()[:100])

    seen: list[tuple[dict, dict]] = []
    while_processing(monkeypatch, lambda: seen.append((active(stack, job), task_status(stack, job).body)))
    assert process_one(stack, first) == {"batchItemFailures": []}

    during, status = seen[0]
    task = during["taskProgressArray"][0]
    assert task["numProcessing"] == 1
    [item] = task["taskItemProgressArray"]
    assert item["itemName"] == "shoes/first.jpg" and item["progress"] == 0.0
    assert item["progressMessage"] == "Processing" and item["lastProgressUpdate"]
    [[in_flight]] = [s["statusArray"] for s in status["uploadTaskStatusArray"]]
    assert in_flight["taskTotal"] == 1 and in_flight["isJobStopped"] is False
    assert in_flight["taskArray"] == [{"file": "shoes/first.jpg", "processingStatus": "Processing",
                                       "workflowState": "Processing", "progress": 0.0, "renditions": []}]
    assert "lastCompleted" not in in_flight

    # Once both are done: no item in flight, and each task says how its file ended.
    assert stack.drain()["ProcessQueue"] == []
    after = active(stack, job)
    assert after["taskProgressArray"][0]["taskItemProgressArray"] == []
    done = task_status(stack, job).body["uploadTaskStatusArray"][0]["statusArray"][0]
    assert {t["file"]: (t["processingStatus"], t["workflowState"], t["progress"]) for t in done["taskArray"]} == {
        "shoes/first.jpg": ("Done", "UploadSuccess", 1.0), "broken.jpg": ("Done", "UploadError", 1.0)}
    assert done["lastCompleted"] >= done["lastAdded"][:10]


def test_task_status_after_stop_and_for_the_wrong_company(stack):
    opened = stack.open_job("stopped")
    job = opened.body["jobHandle"]
    assert control(stack, job, "stop").status == 200
    status = task_status(stack, job).body["uploadTaskStatusArray"][0]["statusArray"][0]
    assert status["isJobStopped"] is True and status["taskArray"] == [] and status["taskTotal"] == 0
    foreign = other_company_key(stack)
    denied = task_status(stack, job, key=foreign)
    assert denied.status == 403 and denied.fault_code == 20006
    assert task_status(stack, "j-nosuchjob").status == 404
    assert task_status(stack, job, key=None).status == 401


def test_include_waiting_jobs_false_leaves_out_idle_and_paused_jobs(stack):
    idle = stack.open_job("idle").body["jobHandle"]
    paused = stack.open_job("paused").body["jobHandle"]
    assert control(stack, paused, "pause").status == 200
    closing = stack.open_job("closing")
    stack.post_file(closing.body["upload"], "a.jpg", jpeg())
    assert stack.call("POST", f"/v1/upload-jobs/{closing.body['jobHandle']}/end").status == 202  # Running

    def listed(**query) -> set[str]:
        response = stack.call("GET", "/v1/jobs/active", query=query or None)
        assert response.status == 200, response.body
        return {j["jobHandle"] for j in response.body["jobArray"]}

    assert listed() == listed(includeWaitingJobs="true") == {idle, paused, closing.body["jobHandle"]}
    assert listed(includeWaitingJobs="false") == {closing.body["jobHandle"]}
    bad = stack.call("GET", "/v1/jobs/active", query={"includeWaitingJobs": "yes"})
    assert bad.status == 400 and bad.fault_code == 30001
