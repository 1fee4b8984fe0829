"""Per-file processing driven by the S3 notifications moto really sends."""

from __future__ import annotations

import json

import boto3
import pytest

from tests.conftest import load_event

pyvips = pytest.importorskip("pyvips")


def jpeg(width: int = 400, height: int = 300, shade: int = 90) -> bytes:
    image = (pyvips.Image.black(width, height, bands=3) + [shade, 120, 200]).cast("uchar")
    return image.copy(interpretation="srgb").jpegsave_buffer()


def upload_and_end(stack, files: dict[str, bytes], name: str = "batch", locale: str | None = None, **params) -> str:
    opened = stack.open_job(name, locale=locale, **params)
    assert opened.status == 201, opened.body
    for rel, data in files.items():
        assert stack.post_file(opened.body["upload"], rel, data).status_code in (200, 204)
    assert stack.call("POST", f"/v1/upload-jobs/{opened.body['jobHandle']}/end").status == 202
    assert stack.drain() == {"ProcessQueue": [], "MediaQueue": [], "JobEventsQueue": []}
    return opened.body["jobHandle"]


def rows(stack, job: str, log_type: str) -> list[dict]:
    return [d for d in stack.job_log(job)["detailArray"] if d["logType"] == log_type]


def test_s3_test_event_is_ignored(stack, lambda_context):
    from openips.handlers import process_file

    result = process_file.lambda_handler(load_event("sqs_s3_test_event"), lambda_context)
    assert result == {"batchItemFailures": []}


def test_overwrite_true_updates_the_same_asset_and_false_skips_it(stack):
    first = upload_and_end(stack, {"chair.jpg": jpeg(shade=10)})
    asset = stack.call("GET", "/v1/assets", query={"name": "chair"}).body["assetArray"][0]

    second = upload_and_end(stack, {"chair.jpg": jpeg(500, 200, shade=200)})
    updated = rows(stack, second, "FileUpdated")
    assert len(updated) == 1 and updated[0]["assetHandle"] == asset["assetHandle"]
    assert stack.job_log(second)["fileUpdateCount"] == 1
    now = stack.call("GET", f"/v1/assets/{asset['assetHandle']}").body
    assert (now["width"], now["height"], now["updatedJobHandle"]) == (500, 200, second)
    assert now["createdJobHandle"] == first

    third = upload_and_end(stack, {"chair.jpg": jpeg()}, overwrite=False)
    assert stack.job_log(third)["fileDuplicateCount"] == 1
    assert "overwrite option is false" in rows(stack, third, "DuplicateSkipped")[0]["logMessage"]
    assert stack.call("GET", f"/v1/assets/{asset['assetHandle']}").body["width"] == 500


def test_same_name_in_another_folder_gets_a_numbered_id(stack):
    upload_and_end(stack, {"a/chair.jpg": jpeg()})
    job = upload_and_end(stack, {"b/chair.jpg": jpeg(), "b/chair.png": jpeg()})
    names = sorted(r["assetName"] for r in rows(stack, job, "UploadSuccess"))
    assert names == ["chair-1", "chair-2"]
    assert stack.call("GET", "/v1/assets", query={"folder": "b"}).body["assetArray"][0]["folder"] == "b/"


def test_publish_state_follows_ready_for_publish_and_preserve(stack):
    upload_and_end(stack, {"p.jpg": jpeg()}, readyForPublish=False)
    assert stack.call("GET", "/v1/assets", query={"name": "p"}).body["assetArray"][0]["publishState"] == \
        "NotMarkedForPublish"
    upload_and_end(stack, {"p.jpg": jpeg()}, readyForPublish=True, preservePublishState=True)
    assert stack.call("GET", "/v1/assets", query={"name": "p"}).body["assetArray"][0]["publishState"] == \
        "NotMarkedForPublish"
    upload_and_end(stack, {"p.jpg": jpeg()}, readyForPublish=True, preservePublishState=False)
    assert stack.call("GET", "/v1/assets", query={"name": "p"}).body["assetArray"][0]["publishState"] == \
        "MarkedForPublish"


def test_forbidden_characters_are_stripped_from_the_asset_id(stack):
    job = upload_and_end(stack, {"sale: 50% off+new.jpg": jpeg()})
    assert rows(stack, job, "UploadSuccess")[0]["assetName"] == "sale 50 offnew"


def test_hostile_paths_are_logged_and_kept(stack):
    s3 = boto3.client("s3")
    opened = stack.open_job()
    job, prefix = opened.body["jobHandle"], opened.body["upload"]["keyPrefix"]
    bucket = stack.resources.names["IncomingBucket"]
    for rel in ("../../c-other/j-x/evil.jpg", "a/./b.jpg", "%$@.jpg", "dir//x.jpg"):
        s3.put_object(Bucket=bucket, Key=prefix + rel, Body=jpeg())
    stack.call("POST", f"/v1/upload-jobs/{job}/end")
    stack.drain()
    errors = rows(stack, job, "UploadError")
    assert len(errors) == 4 and stack.job_log(job)["fileErrorCount"] == 4
    kept = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="quarantine/")["Contents"]]
    assert len(kept) == 4
    assert all("kept at" in e["logMessage"] for e in errors)
    # Kept under the job that received them, never under a name that resolves elsewhere.
    owner = f"quarantine/{stack.company}/{job}/"
    assert all(k.startswith(owner) and ".." not in k and "c-other" not in k for k in kept), kept


def test_a_file_arriving_after_the_job_ended_is_an_error_on_that_job(stack):
    opened = stack.open_job()
    job = opened.body["jobHandle"]
    stack.call("POST", f"/v1/upload-jobs/{job}/end")
    stack.drain()
    assert stack.job_log(job)["logType"] == "EndUpload"
    # The form is still within its expiry, so S3 accepts the POST.
    stack.post_file(opened.body["upload"], "late.jpg", jpeg())
    stack.drain()
    late = rows(stack, job, "UploadError")
    assert len(late) == 1 and "after job" in late[0]["logMessage"]
    assert stack.job_log(job)["fileErrorCount"] == 1
    bucket = stack.resources.names["IncomingBucket"]
    assert boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix="quarantine/")["KeyCount"] == 1


def test_an_object_of_no_known_job_is_quarantined_not_lost(stack):
    bucket = stack.resources.names["IncomingBucket"]
    s3 = boto3.client("s3")
    s3.put_object(Bucket=bucket, Key="incoming/c-nobody/j-nothing/x.jpg", Body=b"abc")
    s3.put_object(Bucket=bucket, Key=f"incoming/{stack.company}/j-forged/x.jpg", Body=b"abc")
    assert stack.drain()["ProcessQueue"] == []
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    # Kept apart from every company's prefix (the path named no real job), the key in the copy's metadata.
    assert len(keys) == 2 and all(k.startswith("quarantine/unattributed/") and k.endswith("/x.jpg") for k in keys)
    originals = {s3.head_object(Bucket=bucket, Key=k)["Metadata"]["original-key"] for k in keys}
    assert originals == {"incoming/c-nobody/j-nothing/x.jpg", f"incoming/{stack.company}/j-forged/x.jpg"}


def test_a_file_of_another_tenants_job_prefix_cannot_be_attributed_to_it(stack):
    # A file forged under another company's prefix with a real job handle is not processed
    # into that job: the company in the key must be the job's company.
    job = stack.open_job().body["jobHandle"]
    bucket = stack.resources.names["IncomingBucket"]
    boto3.client("s3").put_object(Bucket=bucket, Key=f"incoming/c-intruder/{job}/x.jpg", Body=jpeg())
    stack.drain()
    assert stack.job_log(job)["totalFileCount"] == 0


def test_too_many_pixels_is_refused_before_decoding(stack, monkeypatch):
    monkeypatch.setenv("MAX_IMAGE_PIXELS", "10000")
    from openips.services.deps import reset_caches

    reset_caches()
    job = upload_and_end(stack, {"huge.jpg": jpeg(200, 100)})
    (error,) = rows(stack, job, "UploadError")
    assert "20000" in error["logMessage"] and "10000" in error["logMessage"]


def test_multi_page_file_is_processed_with_a_warning(stack):
    frames = [(pyvips.Image.black(64, 64) + i * 40).cast("uchar") for i in range(3)]
    gif = pyvips.Image.arrayjoin(frames, across=1).copy()
    gif.set_type(pyvips.GValue.gint_type, "page-height", 64)
    job = upload_and_end(stack, {"anim.gif": gif.gifsave_buffer()})
    log = stack.job_log(job)
    assert (log["fileSuccessCount"], log["fileWarningCount"]) == (1, 1)
    [row] = rows(stack, job, "UploadSuccess")  # one row per file; the warning is in its auxArray
    assert row["auxArray"][0]["logType"] == "UploadWarning" and "page" in row["auxArray"][0]["logMessage"]


def test_a_file_whose_code_keeps_raising_is_retried_then_an_error_row_naming_the_error(stack, monkeypatch):
    """Whatever a format raises, the file comes back (a delayed message, no batch failure) and ends in a row."""
    import zlib

    from openips.handlers import process_file
    from openips.services import processing
    from openips.services.deps import reset_caches
    from openips.services.ingest import raster

    monkeypatch.setenv("FILE_RETRY_DELAYS_SECONDS", "0,0,0")
    reset_caches()
    calls = []

    def crash(*args, **kwargs):
        calls.append(1)
        raise zlib.error("Error -3 while decompressing data: invalid block type")

    monkeypatch.setattr(raster, "optimize", crash)
    opened = stack.open_job()
    job = opened.body["jobHandle"]
    stack.post_file(opened.body["upload"], "x.jpg", jpeg())
    outcomes = []
    for _ in range(processing.MAX_ATTEMPTS):
        (message,) = stack.receive("ProcessQueue")
        result = process_file.lambda_handler(stack.as_lambda_event([message], stack.resources.arns["ProcessQueue"]),
                                             stack.context)
        assert result == {"batchItemFailures": []}  # never a failed receive: the claim's attempts count
        boto3.client("sqs").delete_message(QueueUrl=stack.resources.names["ProcessQueue"],
                                           ReceiptHandle=message["ReceiptHandle"])
        outcomes.append(stack.job_log(job)["totalFileCount"])
    assert len(calls) == processing.MAX_ATTEMPTS and stack.receive("ProcessQueue") == []
    stack.call("POST", f"/v1/upload-jobs/{job}/end")
    stack.drain()
    (error,) = rows(stack, job, "UploadError")
    assert "failed 4 times" in error["logMessage"]
    assert "error: Error -3 while decompressing" in error["logMessage"]
    log = stack.job_log(job)
    assert (log["logType"], log["totalFileCount"], log["fileErrorCount"]) == ("EndUpload", 1, 1)


def test_a_crashed_attempt_is_taken_over_when_its_lease_ends_without_spending_receives(stack, monkeypatch):
    """A killed invocation never releases its claim: the redelivery waits for the lease, then takes over."""
    from openips.handlers import process_file
    from openips.services.deps import get_deps, reset_caches
    from openips.services.ingest import raster

    monkeypatch.setenv("FILE_LEASE_SECONDS", "600")
    reset_caches()
    opened = stack.open_job()
    job = opened.body["jobHandle"]
    stack.post_file(opened.body["upload"], "x.jpg", jpeg())
    (message,) = stack.receive("ProcessQueue")
    event = stack.as_lambda_event([message], stack.resources.arns["ProcessQueue"])

    def killed(*args, **kwargs):
        raise SystemExit("worker killed")  # not an Exception: nothing in the function may catch it

    with monkeypatch.context() as m:
        m.setattr(raster, "optimize", killed)
        with pytest.raises(SystemExit):
            process_file.lambda_handler(event, stack.context)
    (claim,) = get_deps().claims.list_for_job(job)
    assert claim.status == "Processing" and claim.attempts == 1
    deferred = []
    monkeypatch.setattr(get_deps().process_queue, "defer", lambda body, delay: deferred.append(delay))
    # Redelivered while the lease (600 s) is live: acknowledged and deferred until it ends.
    assert process_file.lambda_handler(event, stack.context) == {"batchItemFailures": []}
    assert len(deferred) == 1 and 590 <= deferred[0] <= 602
    assert stack.job_log(job)["totalFileCount"] == 1  # counted once
    # The lease ends (here: made to end now); the next delivery is attempt 2 and finishes the file.
    get_deps().claims.hold(claim, claim.claimed, "test: lease ended")
    assert process_file.lambda_handler(event, stack.context) == {"batchItemFailures": []}
    stack.call("POST", f"/v1/upload-jobs/{job}/end")
    stack.drain()
    (row,) = rows(stack, job, "UploadSuccess")
    log = stack.job_log(job)
    assert (log["logType"], log["totalFileCount"], log["fileSuccessCount"]) == ("EndUpload", 1, 1)
    assert get_deps().claims.list_for_job(job)[0].attempts == 2


def test_finalize_runs_once_under_duplicate_job_events(stack, lambda_context):
    from openips.handlers import finalize_job

    job = upload_and_end(stack, {"a.jpg": jpeg()})
    event = json.loads(json.dumps(load_event("sqs_job_finished")))
    event["Records"][0]["body"] = json.dumps({"type": "JobFinished", "jobHandle": job, "companyHandle": stack.company})
    assert finalize_job.lambda_handler(event, lambda_context) == {"batchItemFailures": []}
    from openips.services.deps import get_deps

    assert get_deps().jobs.get(job).finalized is True
    assert get_deps().jobs.mark_finalized(job) is False


def _aws_event_for(stack, key: str, source_ip: str) -> str:
    """An AWS-shaped notification (with requestParameters.sourceIPAddress) for an existing object."""
    body = json.loads(load_event("sqs_s3_object_created")["Records"][0]["body"])
    record = body["Records"][0]
    record["requestParameters"]["sourceIPAddress"] = source_ip
    record["s3"]["bucket"]["name"] = stack.resources.names["IncomingBucket"]
    record["s3"]["object"]["key"] = key.replace("/", "%2F")
    record["s3"]["object"]["sequencer"] = "00" + source_ip.replace(".", "")
    return json.dumps(body)


@pytest.mark.parametrize(("enforce", "outcome"), [(True, "UploadError"), (False, "UploadSuccess")])
def test_files_from_another_ip_than_the_job_opener_are_refused(stack, enforce, outcome):
    key = stack.admin_key
    if not enforce:
        created = stack.call("POST", "/v1/admin/companies", {"name": "Roaming", "enforceSameIp": False}, key=key)
        user = stack.call("POST", "/v1/admin/users", {"companyHandle": created.body["companyHandle"],
                                                      "email": "r@roaming.example", "role": "IpsUser"}, key=key)
        key = user.body["apiKey"]
    opened = stack.open_job(key=key)  # opened from 203.0.113.7 (the stack's default source IP)
    job, prefix = opened.body["jobHandle"], opened.body["upload"]["keyPrefix"]
    bucket = stack.resources.names["IncomingBucket"]
    boto3.client("s3").put_object(Bucket=bucket, Key=prefix + "elsewhere.jpg", Body=jpeg())
    for message in stack.receive("ProcessQueue"):  # replace moto's IP-less event by AWS's shape
        boto3.client("sqs").delete_message(QueueUrl=stack.resources.names["ProcessQueue"],
                                           ReceiptHandle=message["ReceiptHandle"])
    boto3.client("sqs").send_message(QueueUrl=stack.resources.names["ProcessQueue"],
                                     MessageBody=_aws_event_for(stack, prefix + "elsewhere.jpg", "198.51.100.9"))
    stack.call("POST", f"/v1/upload-jobs/{job}/end", key=key)
    stack.drain()
    details = stack.call("GET", f"/v1/jobs/{job}/log-details", key=key).body["jobLogArray"][0]["detailArray"]
    row = next(d for d in details if d["logType"] in ("UploadError", "UploadSuccess"))
    assert row["logType"] == outcome
    if enforce:
        assert "198.51.100.9" in row["logMessage"] and "203.0.113.7" in row["logMessage"]
        assert "kept at" in row["logMessage"]
