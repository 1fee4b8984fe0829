"""The sparse active-jobs index, and the sweeper's timeouts (with a clock the test controls)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from openips.adapters.dynamodb import items
from openips.models.domain import Job, JobState, utcnow
from openips.models.upload_job import UploadPostJob
from openips.services import auth, jobs, sweep
from openips.services.deps import get_deps


def test_active_jobs_query_reads_only_active_items(stack):
    deps = get_deps()
    options = UploadPostJob.model_validate({"overwrite": True, "readyForPublish": True, "createMask": False,
                                            "emailSetting": "None"})
    now = utcnow()
    with deps.jobs.table.resource.batch_writer() as batch:
        for i in range(2000):
            finished = Job(job_handle=f"j-old{i:05d}", company_handle=stack.company, name=f"old-{i}",
                           original_name=f"old-{i}", submit_user_handle="u-x", submit_user_email="x@x",
                           options=options, state=JobState.DONE, closed=True, finalized=True,
                           start_date=now - timedelta(days=1), last_activity=now, end_date=now)
            batch.put_item(Item=items.job_item(finished))
    active = [stack.open_job(f"live-{i}").body["jobHandle"] for i in range(3)]
    user = deps.accounts.get_user_by_key_hash(auth.hash_key(stack.key))

    found, scanned = jobs.active_jobs(deps, user, None, None, None, utcnow())

    assert sorted(j.job_handle for j in found) == sorted(active)
    assert scanned <= 3
    # and the history is still there for getJobLogs
    logs = stack.call("GET", "/v1/jobs/logs", query={"numRows": "5000"}).body["jobLogArray"]
    assert len(logs) == 2003


def test_idle_job_times_out_and_ends(stack):
    job = stack.open_job().body["jobHandle"]
    deps = get_deps()
    assert sweep.sweep(deps, utcnow()) == {}
    later = utcnow() + timedelta(seconds=deps.settings.job_idle_timeout_seconds + 1)
    assert sweep.sweep(deps, later) == {"timed_out": 1}
    stack.drain()
    log = stack.job_log(job)
    assert log["logType"] == "EndUpload"
    assert "idle timeout" in log["detailArray"][-1]["logMessage"]
    assert stack.call("GET", "/v1/jobs/active").body["jobArray"] == []


def test_activity_keeps_a_job_open(stack):
    job = stack.open_job().body["jobHandle"]
    deps = get_deps()
    almost = utcnow() + timedelta(seconds=deps.settings.job_idle_timeout_seconds - 60)
    deps.jobs.touch(job, almost)
    assert sweep.sweep(deps, almost + timedelta(seconds=120)) == {}


def _lose_notifications(stack) -> None:
    import boto3

    sqs = boto3.client("sqs")
    for message in stack.receive("ProcessQueue"):
        sqs.delete_message(QueueUrl=stack.resources.names["ProcessQueue"], ReceiptHandle=message["ReceiptHandle"])


def test_a_lost_upload_event_is_sent_again_after_the_grace_and_the_job_ends_with_the_file(stack):
    opened = stack.open_job()
    job = opened.body["jobHandle"]
    stack.post_file(opened.body["upload"], "lost.jpg", b"\xff\xd8 not really")
    _lose_notifications(stack)
    stack.call("POST", f"/v1/upload-jobs/{job}/end")
    deps = get_deps()
    assert deps.jobs.get(job).state != JobState.DONE  # waiting for the expected file
    later = utcnow() + timedelta(seconds=deps.settings.missing_file_grace_seconds + 1)
    assert sweep.sweep(deps, later) == {"repaired": 1}
    stack.drain()
    log = stack.job_log(job)
    assert (log["logType"], log["totalFileCount"], log["fileErrorCount"]) == ("EndUpload", 1, 1)
    messages = {d["logType"]: d["logMessage"] for d in log["detailArray"]}
    assert "sent for processing again (lost.jpg)" in messages["UploadWarning"]
    assert "never produced an upload event" not in messages["EndUpload"]


def test_a_closed_job_whose_upload_vanished_is_ended_after_the_grace_with_the_shortfall(stack):
    import boto3

    opened = stack.open_job()
    job = opened.body["jobHandle"]
    stack.post_file(opened.body["upload"], "gone.jpg", b"\xff\xd8 not really")
    _lose_notifications(stack)
    stack.call("POST", f"/v1/upload-jobs/{job}/end")  # counts the object, then it is deleted
    boto3.client("s3").delete_object(Bucket=stack.resources.names["IncomingBucket"],
                                     Key=opened.body["upload"]["keyPrefix"] + "gone.jpg")
    deps = get_deps()
    later = utcnow() + timedelta(seconds=deps.settings.missing_file_grace_seconds + 1)
    assert sweep.sweep(deps, later) == {"forced_finish": 1}
    stack.drain()
    log = stack.job_log(job)
    assert log["logType"] == "EndUpload"
    assert "never produced an upload event" in log["detailArray"][-1]["logMessage"]


def test_lost_finalize_event_is_redriven(stack):
    import boto3

    job = stack.open_job().body["jobHandle"]
    stack.call("POST", f"/v1/upload-jobs/{job}/end")
    boto3.client("sqs").purge_queue(QueueUrl=stack.resources.names["JobEventsQueue"])
    deps = get_deps()
    assert deps.jobs.get(job).finalized is False
    assert sweep.sweep(deps, utcnow() + timedelta(minutes=6)) == {"finalize_redriven": 1}
    stack.drain()
    assert deps.jobs.get(job).finalized is True


@pytest.mark.parametrize("page_size", [1, 2, 3])
def test_log_detail_paging_covers_every_row_once(stack, page_size):
    job = stack.open_job(imsOrg="x@AdobeOrg", mediaOptions={"cmafConformance": True},
                         cssOptions={"forceStaticImages": True}).body["jobHandle"]
    total = stack.job_log(job)["detailTotalRows"]
    assert total == 4  # BeginUpload + three not-yet-applied warnings
    seen = []
    for page in range(1, total // page_size + 2):
        body = stack.job_log(job, recordsPerPage=str(page_size), resultsPage=str(page))
        assert body["detailTotalRows"] == total
        seen += [d["logMessage"] for d in body["detailArray"]]
    assert len(seen) == total == len(set(seen))
    newest = stack.job_log(job, sortDirection="Descending")["detailArray"]
    assert [d["logMessage"] for d in newest] == list(reversed([d["logMessage"] for d in stack.job_log(job)["detailArray"]]))
    only = stack.job_log(job, logTypeArray="BeginUpload")
    assert [d["logType"] for d in only["detailArray"]] == ["BeginUpload"] and only["detailTotalRows"] == 1


def test_sweep_handler_takes_the_scheduled_event(stack, lambda_context):
    from openips.handlers import sweep as sweep_handler
    from tests.conftest import load_event

    stack.open_job()
    assert sweep_handler.lambda_handler(load_event("schedule_sweep"), lambda_context) == {}


def test_bootstrap_command_mints_a_working_admin_key(stack, capsys):
    from openips_cli import bootstrap

    names = stack.resources.names
    assert bootstrap.main(["--table", names["JobsTable"], "--accounts-table", names["AccountsTable"],
                           "--email", "root@example.com"]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("oips_")
    created = stack.call("POST", "/v1/admin/companies", {"name": "Fresh"}, key=key)
    assert created.status == 201
    stored = get_deps().accounts.table.resource.get_item(Key={"pk": f"K#{key}", "sk": "KEY"}).get("Item")
    assert stored is None  # only the hash of the key is stored
    assert get_deps().accounts.get_user_by_key_hash(auth.hash_key(key)).role == "IpsAdmin"
