"""Job accounting: the finisher reports the final counts, audits recount them, repairs heal, every asset is found."""

from __future__ import annotations

from datetime import timedelta

import boto3
import pytest

from openips.models.domain import LogEntry, LogType, utcnow
from openips.services import accounting, jobs, views
from openips.services.deps import get_deps
from tests.integration.test_processing import jpeg, rows, upload_and_end
from tests.pdf_fixtures import pdf_bytes


def end_rows(stack, job: str) -> list[dict]:
    return rows(stack, job, "EndUpload")


def test_a_finisher_whose_read_went_stale_writes_nothing_and_the_row_reports_the_final_counts(stack, monkeypatch):
    """Chosen order: the sweeper reads, a late file lands whole, the sweeper commits its stale row."""
    from openips.services import processing

    job_repository = get_deps().jobs
    opened = stack.open_job()
    job, upload = opened.body["jobHandle"], opened.body["upload"]
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        stack.post_file(upload, name, jpeg())
    stack.drain()
    assert job_repository.close(job, 4, "endJob", utcnow())  # four objects were counted; one event is late
    stale = job_repository.get(job)
    assert stale.drained(force=True) and not stale.drained()

    # The late file is claimed and completed before the sweeper commits (its own finisher held back).
    monkeypatch.setattr(processing, "finish_if_complete", lambda *a, **k: False)
    stack.post_file(upload, "d.jpg", jpeg())
    stack.drain()
    monkeypatch.undo()

    now = utcnow()
    stale_row = LogEntry.localised(LogType.END_UPLOAD, "job.end", views.end_params(stale, True), now)
    # "3 files, 1 missing" is never written
    assert job_repository.try_finish(stale, now, stale_row, force=True) is False
    assert jobs.finish_if_complete(get_deps(), job, now, force=True) is True
    assert jobs.finish_if_complete(get_deps(), job, now, force=True) is False
    (end,) = end_rows(stack, job)
    assert "4 files, 4 new" in end["logMessage"] and "missing" not in end["logMessage"]
    log = stack.job_log(job)
    assert (log["totalFileCount"], log["fileSuccessCount"]) == (4, 4)


def test_every_asset_a_job_made_is_found_by_its_job(stack):
    job = upload_and_end(stack, {"brochure.pdf": pdf_bytes(2, size=(300, 150)), "x.jpg": jpeg()})
    found = stack.call("GET", "/v1/assets", query={"jobHandle": job})
    assert found.status == 200
    names = sorted(a["name"] for a in found.body["assetArray"])
    assert names == ["brochure", "brochure_1", "brochure_2", "brochure_catalog", "x"]
    logged = {r["assetHandle"] for r in rows(stack, job, "UploadSuccess")}
    assert logged == {a["assetHandle"] for a in found.body["assetArray"]}
    # A re-upload updates them all in place: the second job finds every one of them too.
    again = upload_and_end(stack, {"brochure.pdf": pdf_bytes(2, size=(300, 150))}, name="again")
    assert len(stack.call("GET", "/v1/assets", query={"jobHandle": again}).body["assetArray"]) == 4


def test_a_key_that_is_the_bare_prefix_is_a_row_and_the_job_ends(stack):
    opened = stack.open_job()
    job, upload = opened.body["jobHandle"], opened.body["upload"]
    fields = dict(upload["fields"], key=upload["keyPrefix"])
    import requests

    assert requests.post(upload["url"], data=fields, files={"file": ("x.jpg", jpeg())}, timeout=30).status_code == 204
    stack.post_file(upload, "ok.jpg", jpeg())
    assert stack.call("POST", f"/v1/upload-jobs/{job}/end").status == 202
    stack.drain()
    (error,) = rows(stack, job, "UploadError")
    assert "names no file" in error["logMessage"]
    log = stack.job_log(job)
    assert (log["logType"], log["totalFileCount"], log["fileSuccessCount"], log["fileErrorCount"]) == (
        "EndUpload", 2, 1, 1)


def lose_notifications(stack) -> int:
    """Receive and delete what ProcessQueue holds, as if the notifications had never come."""
    sqs, lost = boto3.client("sqs"), 0
    while messages := stack.receive("ProcessQueue"):
        for m in messages:
            sqs.delete_message(QueueUrl=stack.resources.names["ProcessQueue"], ReceiptHandle=m["ReceiptHandle"])
            lost += 1
    return lost


def _past_grace(seconds: int = 901):
    return utcnow() + timedelta(seconds=seconds)


def test_verify_finds_drift_and_a_lost_notification_and_the_sweeper_repairs_and_ends_the_job(stack):
    from openips.services.sweep import sweep

    deps = get_deps()
    opened = stack.open_job()
    job, upload = opened.body["jobHandle"], opened.body["upload"]
    stack.post_file(upload, "a.jpg", jpeg())
    stack.drain()
    # A doubled update (what moto's lost writes did: "numProcessing 1"), and a lost S3 notification.
    boto3.client("dynamodb").update_item(
        TableName=stack.resources.names["JobsTable"], Key={"pk": {"S": f"J#{job}"}, "sk": {"S": "JOB"}},
        UpdateExpression="ADD n_received :one",
        ExpressionAttributeValues={":one": {"N": "1"}})
    stack.post_file(upload, "lost.jpg", jpeg())
    assert lose_notifications(stack) == 1
    assert stack.call("POST", f"/v1/upload-jobs/{job}/end").status == 202
    stack.drain()
    assert stack.job_log(job)["logType"] == "BeginUpload"  # stuck: 2 received (one phantom), 1 done

    verified = stack.call("GET", f"/v1/jobs/{job}/accounting")
    assert verified.status == 200, verified.body
    body = verified.body
    assert body["healthy"] is False and body["unclaimedUploads"] == [upload["keyPrefix"] + "lost.jpg"]
    assert {d["counter"]: (d["stored"], d["recounted"]) for d in body["drift"]} == {"received": (2, 1)}

    # The sweeper, past the grace period: re-sends the lost file and fixes the counters.
    assert sweep(deps, _past_grace())["repaired"] == 1
    stack.drain()
    log = stack.job_log(job)
    assert (log["logType"], log["totalFileCount"], log["fileSuccessCount"]) == ("EndUpload", 2, 2)
    (repaired,) = rows(stack, job, "UploadWarning")
    assert "repaired (sweeper)" in repaired["logMessage"] and "received 2 → 1" in repaired["logMessage"]
    assert "lost.jpg" in repaired["logMessage"]
    (end,) = end_rows(stack, job)
    assert "2 files, 2 new" in end["logMessage"]
    assert stack.call("GET", f"/v1/jobs/{job}/accounting").body["healthy"] is True


def test_a_file_that_never_finishes_is_closed_as_an_error_after_the_last_repair(stack, monkeypatch):
    from openips.services.sweep import sweep

    deps = get_deps()
    opened = stack.open_job()
    job, upload = opened.body["jobHandle"], opened.body["upload"]
    stack.post_file(upload, "stuck.jpg", jpeg())
    (message,) = stack.receive("ProcessQueue")
    # An attempt that died without a word and whose message is gone (dead-lettered).
    from openips.handlers import process_file
    from openips.services.ingest import raster

    def killed(*args, **kwargs):
        raise SystemExit("worker killed")

    with monkeypatch.context() as m:
        m.setattr(raster, "optimize", killed)
        with pytest.raises(SystemExit):
            process_file.lambda_handler(stack.as_lambda_event([message], stack.resources.arns["ProcessQueue"]),
                                        stack.context)
    assert lose_notifications(stack) == 0  # the failed message is in flight: it will not come back
    assert stack.call("POST", f"/v1/upload-jobs/{job}/end").status == 202
    later = utcnow() + timedelta(seconds=deps.settings.file_lease_seconds) + accounting.STALL_AFTER * 2
    (stalled,) = stack.call("GET", f"/v1/jobs/{job}/accounting").body["stalledFiles"] or [None]
    assert stalled is None  # its lease is still live now: not stalled yet

    # Each sweep re-sends it; the file crashes again each time (it keeps its claim), up to the last repair.
    monkeypatch.setattr(deps.process_queue, "send", lambda body: None)  # the re-sent messages are lost too
    for n in range(accounting.MAX_REPAIRS):
        assert sweep(deps, later + timedelta(minutes=n))["repaired"] == 1
    assert deps.jobs.get(job).repairs == accounting.MAX_REPAIRS
    sweep(deps, later + timedelta(minutes=10))
    stack.drain()
    (error,) = rows(stack, job, "UploadError")
    assert "processing never finished" in error["logMessage"]
    log = stack.job_log(job)
    assert (log["logType"], log["totalFileCount"], log["fileErrorCount"]) == ("EndUpload", 1, 1)
    assert len(end_rows(stack, job)) == 1


def test_verify_is_scoped_to_the_owner_and_repair_to_admins(stack):
    from tests.integration.test_api import other_company_key

    job = upload_and_end(stack, {"a.jpg": jpeg()})
    assert stack.call("GET", f"/v1/jobs/{job}/accounting").body["healthy"] is True
    other = stack.call("GET", f"/v1/jobs/{job}/accounting", key=other_company_key(stack))
    assert other.status == 403
    repaired = stack.call("POST", f"/v1/jobs/{job}/accounting/repair")
    assert repaired.status == 200 and repaired.body["repaired"] == []
