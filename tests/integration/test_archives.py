"""unCompressOptions end to end: archives stored whole, or extracted back into the job."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from urllib.parse import unquote_plus

import boto3
import pytest

from tests.integration.test_job_control import process_one
from tests.integration.test_options import asset
from tests.integration.test_processing import _aws_event_for, jpeg, rows, upload_and_end

pyvips = pytest.importorskip("pyvips")
UNCOMPRESS = {"unCompressOptions": {"process": "UnCompress"}}


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def tgz_bytes(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buffer.getvalue()


def keys(stack, bucket: str, prefix: str) -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=stack.resources.names[bucket], Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))



def test_without_uncompress_an_archive_is_one_zip_asset(stack):
    for options in ({}, {"unCompressOptions": {"process": "None"}}):
        job = upload_and_end(stack, {"kits/pack.zip": zip_bytes({"a.jpg": jpeg()})}, **options)
        [row] = rows(stack, job, "UploadSuccess") or rows(stack, job, "FileUpdated")
        assert row["assetType"] == "Zip" and "ZIP archive, stored whole" in row["logMessage"]
    stored = asset(stack, "pack")
    assert stored["type"] == "Zip" and stored["folder"] == "kits/" and stored["files"]["optimized"] is None
    assert stack.call("GET", "/v1/assets", query={"name": "a"}).body["assetArray"] == []


def test_uncompress_processes_every_member_like_an_upload(stack):
    archive = zip_bytes({"shoes/red.jpg": jpeg(), "shoes/blue.jpg": jpeg(shade=20), "broken.jpg": jpeg()[:150],
                         "__MACOSX/shoes/._red.jpg": b"junk", "../../escape.jpg": jpeg()})
    job = upload_and_end(stack, {"spring/pack.zip": archive, "loose.jpg": jpeg(shade=60)}, **UNCOMPRESS)
    log = stack.job_log(job)
    # pack.zip (extracted) + loose.jpg + red + blue new; broken.jpg and the escaping member in error
    assert log["logType"] == "EndUpload"
    assert (log["fileSuccessCount"], log["fileErrorCount"], log["totalFileCount"]) == (4, 2, 6)
    extracted = next(r for r in rows(stack, job, "UploadSuccess") if r["logMessage"].startswith("spring/pack.zip"))
    message = extracted["logMessage"]
    assert "(ZIP archive) was extracted: 3 files queued for processing" in message
    assert "1 macOS metadata entries skipped" in message and "1 members refused" in message
    assert "kept at s3://" in message  # an archive with a refused member is kept for inspection
    errors = {r["logMessage"].split(" ")[0]: r["logMessage"] for r in rows(stack, job, "UploadError")}
    assert "climbs out of the archive" in errors["../../escape.jpg"]
    assert errors["spring/broken.jpg"].startswith("spring/broken.jpg could not be processed")
    # Members land in the archive's folder, with their own sub-folders.
    assert asset(stack, "red")["folder"] == "spring/shoes/" and asset(stack, "blue")["folder"] == "spring/shoes/"
    # Nothing is left under extracted/ once the job has ended; the archive sits in quarantine.
    assert keys(stack, "IncomingBucket", "extracted/") == []
    assert any(k.endswith("/pack.zip") for k in keys(stack, "IncomingBucket", "quarantine/"))


def test_an_archive_processed_before_the_job_closes_still_holds_the_job_open_for_its_members(stack):
    opened = stack.open_job("early", **UNCOMPRESS)
    job = opened.body["jobHandle"]
    stack.post_file(opened.body["upload"], "pack.tgz", tgz_bytes({"a.jpg": jpeg(), "b/c.jpg": jpeg(shade=5)},
                                                                 links={"evil.jpg": "/etc/passwd"}))
    # Only the archive itself is processed: its members are queued but not handled yet.
    (message,) = stack.receive("ProcessQueue")
    assert process_one(stack, message) == {"batchItemFailures": []}
    assert stack.call("POST", f"/v1/upload-jobs/{job}/end").status == 202
    active = stack.call("GET", "/v1/jobs/active", query={"jobHandle": job}).body["jobArray"]
    assert [j["state"] for j in active] == ["Running"]  # two members still expected
    assert active[0]["taskProgressArray"][0]["numPending"] == 2
    assert stack.drain() == {"ProcessQueue": [], "MediaQueue": [], "JobEventsQueue": []}
    log = stack.job_log(job)
    assert (log["logType"], log["fileSuccessCount"], log["fileErrorCount"]) == ("EndUpload", 3, 1)
    assert "(TAR.GZ archive) was extracted: 2 files" in rows(stack, job, "UploadSuccess")[0]["logMessage"]
    assert "it is a link" in rows(stack, job, "UploadError")[0]["logMessage"]


def test_archives_nest_three_levels_at_most(stack):
    level = zip_bytes({"deep.jpg": jpeg()})
    for depth in range(3):
        level = zip_bytes({f"level{depth}.zip": level, f"photo{depth}.jpg": jpeg(shade=depth * 30)})
    job = upload_and_end(stack, {"top.zip": level}, **UNCOMPRESS)
    names = {r["assetName"] for r in rows(stack, job, "UploadSuccess") if r.get("assetName")}
    assert names == {"photo0", "photo1", "photo2"}
    [refused] = rows(stack, job, "UploadError")
    assert refused["logMessage"].startswith("level0.zip could not be processed: it is an archive inside 3 archives")


@pytest.mark.parametrize(("data", "reason"), [
    (zip_bytes({f"z{i}.raw": bytes(4 * 1024**2) for i in range(3)}), "decompression bomb"),
    (zip_bytes({"a.jpg": jpeg()})[:-30], "damaged"),
])
def test_hostile_archives_are_refused_whole_and_kept(stack, data, reason):
    job = upload_and_end(stack, {"hostile.zip": data}, **UNCOMPRESS)
    [row] = rows(stack, job, "UploadError")
    assert row["logMessage"].startswith("hostile.zip could not be processed") and reason in row["logMessage"]
    assert keys(stack, "IncomingBucket", "extracted/") == []
    assert any(k.endswith("/hostile.zip") for k in keys(stack, "IncomingBucket", "quarantine/"))
    assert stack.job_log(job)["logType"] == "EndUpload"


def test_members_written_by_the_service_are_not_held_to_the_same_ip_rule(stack):
    opened = stack.open_job("ip", **UNCOMPRESS)  # opened from 203.0.113.7
    job, prefix = opened.body["jobHandle"], opened.body["upload"]["keyPrefix"]
    bucket, queue = stack.resources.names["IncomingBucket"], stack.resources.names["ProcessQueue"]
    sqs = boto3.client("sqs")

    def resend_as_from(ip: str) -> None:
        """Replace moto's IP-less events by AWS-shaped ones naming the writer's address."""
        for message in stack.receive("ProcessQueue"):
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
            key = json.loads(message["Body"])["Records"][0]["s3"]["object"]["key"]
            sqs.send_message(QueueUrl=queue, MessageBody=_aws_event_for(stack, unquote_plus(key), ip))

    boto3.client("s3").put_object(Bucket=bucket, Key=prefix + "pack.zip", Body=zip_bytes({"m.jpg": jpeg()}))
    resend_as_from("203.0.113.7")  # the archive, from the job's opener
    (message,) = stack.receive("ProcessQueue")
    assert process_one(stack, message) == {"batchItemFailures": []}
    resend_as_from("10.0.0.12")  # its member, written by ProcessFileFunction from inside AWS
    assert stack.call("POST", f"/v1/upload-jobs/{job}/end").status == 202
    stack.drain()
    log = stack.job_log(job)
    assert (log["logType"], log["fileSuccessCount"], log["fileErrorCount"]) == ("EndUpload", 2, 0)
    assert asset(stack, "m")["type"] == "Image"
