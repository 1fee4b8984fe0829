"""Job control and the job-monitoring reads added with it: stopJob, pauseJob, resumeJob,
deleteJob, getScheduledJobs and getAssetJobLogs."""

from __future__ import annotations

import time
from datetime import timedelta

import boto3
import pytest

from openips.models.domain import utcnow
from openips.services import sweep
from openips.services.deps import get_deps, reset_caches
from tests.integration.test_api import new_user, other_company_key

pyvips = pytest.importorskip("pyvips")

DELAY = 1  # PAUSED_FILE_DELAY_SECONDS in these tests


@pytest.fixture(autouse=True)
def short_delay(stack, monkeypatch):
    monkeypatch.setenv("PAUSED_FILE_DELAY_SECONDS", str(DELAY))
    reset_caches()


def jpeg(width: int = 120, height: int = 80) -> bytes:
    return (pyvips.Image.black(width, height, bands=3) + [30, 140, 220]).cast("uchar") \
        .copy(interpretation="srgb").jpegsave_buffer()


def active(stack, job: str) -> dict | None:
    found = stack.call("GET", "/v1/jobs/active", query={"jobHandle": job}).body["jobArray"]
    return found[0] if found else None


def rows(stack, job: str, log_type: str) -> list[dict]:
    return [d for d in stack.job_log(job)["detailArray"] if d["logType"] == log_type]


def control(stack, job: str, action: str, key: str | None = "default"):
    if action == "delete":
        return stack.call("DELETE", f"/v1/jobs/{job}", key=key)
    return stack.call("POST", f"/v1/jobs/{job}/{action}", key=key)


def queue_attribute(stack, queue: str, name: str) -> int:
    attrs = boto3.client("sqs").get_queue_attributes(QueueUrl=stack.resources.names[queue], AttributeNames=[name])
    return int(attrs["Attributes"][name])


def process_one(stack, message: dict) -> dict:
    """Hand one received ProcessQueue message to ProcessFileFunction and acknowledge it as Lambda would."""
    from openips.handlers import process_file

    result = process_file.lambda_handler(stack.as_lambda_event([message], stack.resources.arns["ProcessQueue"]),
                                         stack.context)
    if not result["batchItemFailures"]:
        boto3.client("sqs").delete_message(QueueUrl=stack.resources.names["ProcessQueue"],
                                           ReceiptHandle=message["ReceiptHandle"])
    return result


def while_processing(monkeypatch, action) -> None:
    """Run ``action`` once, in the middle of the next file's processing (after its claim)."""
    from openips.services.ingest import raster

    original = raster.optimize
    pending = [action]

    def optimize(*args, **kwargs):
        if pending:
            pending.pop()()
        return original(*args, **kwargs)

    monkeypatch.setattr(raster, "optimize", optimize)


def quarantined(stack) -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=stack.resources.names["IncomingBucket"], Prefix="quarantine/")
    return sorted(o["Key"].rsplit("/", 1)[-1] for o in listed.get("Contents", []))


# ---- stopJob -------------------------------------------------------------------------------


def test_stop_lets_the_file_in_flight_finish_and_cancels_the_files_not_started(stack, monkeypatch):
    # Given a job with one file being processed and two uploaded but not started
    opened = stack.open_job("stopme")
    job, upload = opened.body["jobHandle"], opened.body["upload"]
    stack.post_file(upload, "first.jpg", jpeg())
    (first,) = stack.receive("ProcessQueue")
    for name in ("second.jpg", "third.jpg"):
        stack.post_file(upload, name, jpeg())

    # When the job is stopped while the first file is in flight
    stopped = []
    while_processing(monkeypatch, lambda: stopped.append(control(stack, job, "stop")))
    assert process_one(stack, first) == {"batchItemFailures": []}
    assert [r.status for r in stopped] == [200] and stopped[0].body == {}

    # Then the job reports Stopping until the rest is accounted for
    state = active(stack, job)
    assert state["state"] == "Stopping" and "Stopping (stopJob)" in state["progressMessage"]
    assert state["taskProgressArray"][0]["taskState"] == "Stopping"
    assert stack.drain() == {"ProcessQueue": [], "MediaQueue": [], "JobEventsQueue": []}

    # and ends normally: the file in flight is an asset, the others cancelled and kept
    log = stack.job_log(job)
    assert log["logType"] == "EndUpload"
    assert (log["totalFileCount"], log["fileSuccessCount"], log["fileErrorCount"]) == (3, 1, 2)
    assert [r["logMessage"].split(" ")[0] for r in rows(stack, job, "UploadSuccess")] == ["first.jpg"]
    cancelled = rows(stack, job, "FileCancel")
    assert sorted(r["logMessage"].split(" ")[0] for r in cancelled) == ["second.jpg", "third.jpg"]
    assert all("stopped by stopJob before its processing started" in r["logMessage"] for r in cancelled)
    assert all("kept at s3://" in r["logMessage"] for r in cancelled)
    assert quarantined(stack) == ["second.jpg", "third.jpg"]
    end = log["detailArray"][-1]["logMessage"]
    assert "stopped by stopJob" in end and "2 errors (2 cancelled, not started)" in end
    assert active(stack, job) is None
    assert stack.call("GET", "/v1/assets", query={"name": "second"}).body["assetArray"] == []


def test_stop_is_idempotent_until_the_job_ends_then_every_control_is_409(stack):
    opened = stack.open_job()
    job = opened.body["jobHandle"]
    stack.post_file(opened.body["upload"], "a.jpg", jpeg())
    assert control(stack, job, "stop").status == 200
    assert control(stack, job, "stop").status == 200  # still stopping: nothing changes
    assert active(stack, job)["state"] == "Stopping"
    for action in ("pause", "resume"):
        refused = control(stack, job, action)
        assert (refused.status, refused.fault_code) == (409, 30001)
        assert "stopping" in refused.body["fault"]["reason"]
    # endJob: stopping closed the job
    assert stack.call("POST", f"/v1/upload-jobs/{job}/end").status == 409
    stack.drain()
    assert stack.job_log(job)["logType"] == "EndUpload"
    for action in ("stop", "pause", "resume", "delete"):
        refused = control(stack, job, action)
        assert (refused.status, refused.fault_code) == (409, 30001), action
        assert "ended" in refused.body["fault"]["reason"] or action == "resume"


def test_stopping_an_empty_open_job_ends_it_at_once(stack):
    job = stack.open_job().body["jobHandle"]
    assert control(stack, job, "stop").status == 200
    stack.drain()
    log = stack.job_log(job)
    assert log["logType"] == "EndUpload" and log["totalFileCount"] == 0
    assert "stopped by stopJob" in log["detailArray"][-1]["logMessage"]
    assert stack.call("GET", "/v1/jobs/active").body["jobArray"] == []


# ---- pauseJob / resumeJob --------------------------------------------------------------------------


def test_paused_files_wait_in_the_queue_and_proceed_after_resume(stack, monkeypatch):
    opened = stack.open_job()
    job, upload = opened.body["jobHandle"], opened.body["upload"]
    stack.post_file(upload, "inflight.jpg", jpeg())
    (inflight,) = stack.receive("ProcessQueue")

    # A file in flight when the job is paused finishes
    paused = []
    while_processing(monkeypatch, lambda: paused.append(control(stack, job, "pause")))
    assert process_one(stack, inflight) == {"batchItemFailures": []}
    assert paused[0].status == 200 and paused[0].body == {}
    assert len(rows(stack, job, "UploadSuccess")) == 1

    # A file uploaded while paused is acknowledged, not failed, and sent back with a delay
    stack.post_file(upload, "waiting.jpg", jpeg())
    (waiting,) = stack.receive("ProcessQueue")
    assert process_one(stack, waiting) == {"batchItemFailures": []}
    assert queue_attribute(stack, "ProcessQueue", "ApproximateNumberOfMessagesDelayed") == 1
    assert stack.drain() == {"ProcessQueue": [], "MediaQueue": [], "JobEventsQueue": []}  # nothing visible yet
    state = active(stack, job)
    assert state["state"] == "WaitingCoordinator" and state["progressMessage"].startswith("Paused (pauseJob)")
    assert stack.job_log(job)["totalFileCount"] == 1  # the waiting file is neither counted nor an error

    # Waiting again and again costs no receives: each turn is a new message
    time.sleep(DELAY + 0.2)
    (again,) = stack.receive("ProcessQueue")
    assert again["Body"] == waiting["Body"] and again["Attributes"]["ApproximateReceiveCount"] == "1"
    assert process_one(stack, again) == {"batchItemFailures": []}
    assert queue_attribute(stack, "ProcessQueue", "ApproximateNumberOfMessagesDelayed") == 1
    assert queue_attribute(stack, "ProcessDLQ", "ApproximateNumberOfMessages") == 0

    refused = control(stack, job, "pause")
    assert (refused.status, refused.fault_code) == (409, 30001) and "paused" in refused.body["fault"]["reason"]

    # Resume: the waiting file proceeds
    assert control(stack, job, "resume").status == 200
    assert active(stack, job)["state"] in ("WaitingClient", "Running")
    refused = control(stack, job, "resume")
    assert (refused.status, refused.fault_code) == (409, 30001) and "not paused" in refused.body["fault"]["reason"]
    time.sleep(DELAY + 0.2)
    assert stack.drain() == {"ProcessQueue": [], "MediaQueue": [], "JobEventsQueue": []}
    assert stack.call("POST", f"/v1/upload-jobs/{job}/end").status == 202
    stack.drain()
    log = stack.job_log(job)
    assert (log["logType"], log["fileSuccessCount"], log["fileErrorCount"], log["totalFileCount"]) == \
        ("EndUpload", 2, 0, 2)


def test_a_closed_draining_job_can_be_paused_and_the_sweeper_leaves_it_alone(stack):
    opened = stack.open_job()
    job = opened.body["jobHandle"]
    stack.post_file(opened.body["upload"], "a.jpg", jpeg())
    assert stack.call("POST", f"/v1/upload-jobs/{job}/end").status == 202
    assert control(stack, job, "pause").status == 200
    stack.drain()
    assert active(stack, job)["state"] == "WaitingCoordinator"

    deps = get_deps()
    long_after = utcnow() + timedelta(seconds=deps.settings.job_idle_timeout_seconds
                                      + deps.settings.missing_file_grace_seconds + 60)
    assert sweep.sweep(deps, long_after) == {}  # neither idle nor stalled: paused
    assert stack.job_log(job)["logType"] == "BeginUpload"

    assert control(stack, job, "resume").status == 200
    time.sleep(DELAY + 0.2)
    stack.drain()
    log = stack.job_log(job)
    assert (log["logType"], log["fileSuccessCount"]) == ("EndUpload", 1)


def test_the_idle_timeout_skips_a_paused_job_and_restarts_on_resume(stack):
    job = stack.open_job().body["jobHandle"]
    deps = get_deps()
    idle = timedelta(seconds=deps.settings.job_idle_timeout_seconds)
    assert control(stack, job, "pause").status == 200
    assert sweep.sweep(deps, utcnow() + idle * 3) == {}
    assert active(stack, job)["state"] == "WaitingCoordinator"

    assert control(stack, job, "resume").status == 200
    resumed = utcnow()
    assert sweep.sweep(deps, resumed + idle - timedelta(seconds=60)) == {}
    assert sweep.sweep(deps, resumed + idle + timedelta(seconds=60)) == {"timed_out": 1}
    stack.drain()
    assert "idle timeout" in stack.job_log(job)["detailArray"][-1]["logMessage"]


def test_stopping_a_paused_job_cancels_the_files_that_were_waiting(stack):
    opened = stack.open_job()
    job = opened.body["jobHandle"]
    assert control(stack, job, "pause").status == 200
    stack.post_file(opened.body["upload"], "waiting.jpg", jpeg())
    stack.drain()
    assert control(stack, job, "stop").status == 200
    assert active(stack, job)["state"] == "Stopping"  # the waiting upload is still to be accounted for
    time.sleep(DELAY + 0.2)
    stack.drain()
    log = stack.job_log(job)
    assert (log["logType"], log["fileErrorCount"], log["totalFileCount"]) == ("EndUpload", 1, 1)
    assert len(rows(stack, job, "FileCancel")) == 1
    assert quarantined(stack) == ["waiting.jpg"]


# ---- deleteJob -------------------------------------------------------------------------------------


def test_delete_stops_the_job_hides_it_from_job_logs_and_keeps_details_and_assets(stack):
    kept = stack.open_job("kept").body["jobHandle"]
    opened = stack.open_job("doomed")
    job, upload = opened.body["jobHandle"], opened.body["upload"]
    stack.post_file(upload, "done.jpg", jpeg())
    stack.drain()
    stack.post_file(upload, "late.jpg", jpeg())

    deleted = control(stack, job, "delete")
    assert (deleted.status, deleted.body) == (200, {})
    listed = [j["jobHandle"] for j in stack.call("GET", "/v1/jobs/logs").body["jobLogArray"]]
    assert listed == [kept]
    assert active(stack, job)["state"] == "Stopping"  # work still running is shown until it ends
    assert control(stack, job, "delete").status == 200  # still stopping: idempotent

    stack.drain()
    assert active(stack, job) is None
    log = stack.job_log(job)  # the details stay readable by handle
    assert log["logType"] == "EndUpload" and "stopped by deleteJob" in log["detailArray"][-1]["logMessage"]
    assert [r["logMessage"].split(" ")[0] for r in rows(stack, job, "FileCancel")] == ["late.jpg"]
    asset = stack.call("GET", "/v1/assets", query={"name": "done"}).body["assetArray"][0]
    assert asset["createdJobHandle"] == job  # assets are never deleted with their job
    history = stack.call("GET", f"/v1/assets/{asset['assetHandle']}/job-logs").body["jobLogArray"]
    assert [h["jobHandle"] for h in history] == [job]

    refused = control(stack, job, "delete")
    assert (refused.status, refused.fault_code) == (409, 30001) and "ended" in refused.body["fault"]["reason"]


def test_deleting_an_ended_job_is_refused(stack):
    job = stack.open_job().body["jobHandle"]
    stack.call("POST", f"/v1/upload-jobs/{job}/end")
    stack.drain()
    refused = control(stack, job, "delete")
    assert (refused.status, refused.fault_code) == (409, 30001)
    assert [j["jobHandle"] for j in stack.call("GET", "/v1/jobs/logs").body["jobLogArray"]] == [job]


# ---- getScheduledJobs -------------------------------------------------------------------------------


def test_scheduled_jobs_are_always_empty_for_any_role_within_its_company(stack):
    stack.open_job()
    for key in ("default", new_user(stack, "ImagePortalUser"), new_user(stack, "IpsUser"), stack.admin_key):
        response = stack.call("GET", "/v1/jobs/scheduled", key=key)
        assert (response.status, response.body) == (200, {"jobArray": []})
    own = stack.call("GET", "/v1/jobs/scheduled", query={"companyHandle": stack.company})
    assert own.status == 200
    foreign = stack.call("GET", "/v1/jobs/scheduled", query={"companyHandle": stack.company},
                         key=other_company_key(stack))
    assert (foreign.status, foreign.fault_code) == (403, 20000)
    assert stack.call("GET", "/v1/jobs/scheduled", key=None).status == 401


# ---- getAssetJobLogs --------------------------------------------------------------------------------


def upload_and_end(stack, name: str, files: dict[str, bytes]) -> str:
    opened = stack.open_job(name)
    for rel, data in files.items():
        stack.post_file(opened.body["upload"], rel, data)
    stack.call("POST", f"/v1/upload-jobs/{opened.body['jobHandle']}/end")
    stack.drain()
    return opened.body["jobHandle"]


def test_asset_job_logs_list_every_row_that_named_the_asset_newest_first(stack):
    first = upload_and_end(stack, "first", {"chair.jpg": jpeg(), "table.jpg": jpeg()})
    second = upload_and_end(stack, "second", {"chair.jpg": jpeg(200, 100)})
    asset = stack.call("GET", "/v1/assets", query={"name": "chair"}).body["assetArray"][0]

    response = stack.call("GET", f"/v1/assets/{asset['assetHandle']}/job-logs", key=new_user(stack, "ImagePortalUser"))

    assert response.status == 200
    history = response.body["jobLogArray"]
    assert [(h["jobHandle"], h["jobName"], h["logType"]) for h in history] == \
        [(second, "second", "FileUpdated"), (first, "first", "UploadSuccess")]
    assert all(h["submitUserEmail"] == "ops@acme.example" and "chair" in h["logMessage"] for h in history)
    assert history[0]["logDate"] >= history[1]["logDate"]
    assert set(history[0]) == {"jobHandle", "jobName", "logMessage", "logType", "submitUserEmail", "logDate"}


def test_asset_job_logs_are_tenant_scoped(stack):
    upload_and_end(stack, "mine", {"lamp.jpg": jpeg()})
    asset = stack.call("GET", "/v1/assets", query={"name": "lamp"}).body["assetArray"][0]["assetHandle"]
    foreign = stack.call("GET", f"/v1/assets/{asset}/job-logs", key=other_company_key(stack))
    assert (foreign.status, foreign.fault_code) == (403, 20006)
    unknown = stack.call("GET", "/v1/assets/a-doesnotexistatall000/job-logs")
    assert (unknown.status, unknown.fault_code) == (404, 30001)
    assert stack.call("GET", f"/v1/assets/{asset}/job-logs", key=stack.admin_key).status == 200


# ---- roles, tenants, unknown handles for the control routes --------------------------------------------


@pytest.mark.parametrize("action", ["stop", "pause", "resume", "delete"])
def test_control_needs_an_upload_role_the_owning_company_and_a_known_job(stack, action):
    job = stack.open_job().body["jobHandle"]
    portal = control(stack, job, action, key=new_user(stack, "ImagePortalUser"))
    assert (portal.status, portal.fault_code) == (403, 20003)
    rival = control(stack, job, action, key=other_company_key(stack))
    assert (rival.status, rival.fault_code) == (403, 20006)
    unknown = control(stack, "j-doesnotexistatall000", action)
    assert (unknown.status, unknown.fault_code) == (404, 30001)
    assert control(stack, job, action, key=None).status == 401
    assert active(stack, job)["state"] == "WaitingClient"  # none of these changed anything


def test_the_openapi_document_lists_the_control_and_history_routes(stack):
    document = stack.call("GET", "/v1/openapi.json", key=None).body
    paths = document["paths"]
    assert {"post"} <= set(paths["/v1/jobs/{jobHandle}/stop"]) and "delete" in paths["/v1/jobs/{jobHandle}"]
    assert paths["/v1/jobs/scheduled"]["get"]["operationId"] == "getScheduledJobs"
    schema = paths["/v1/assets/{assetHandle}/job-logs"]["get"]["responses"]["200"]["content"]["application/json"]
    assert schema["schema"] == {"$ref": "#/components/schemas/AssetJobLogsResponse"}
    assert {"jobHandle", "logDate", "submitUserEmail"} <= set(document["components"]["schemas"]["AssetJobLog"]["required"])
    empty = document["components"]["schemas"]["EmptyResponse"]
    assert (empty["type"], empty["properties"]) == ("object", {})
