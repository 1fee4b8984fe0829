"""A whole upload job over the API, the presigned form and the real queue consumers."""

from __future__ import annotations


import boto3
import pytest

pyvips = pytest.importorskip("pyvips")

from openips.imaging.pyramid import read_pyramid_levels  # noqa: E402


def jpeg_bytes(width: int, height: int) -> bytes:
    image = pyvips.Image.xyz(width, height).extract_band(0).cast("uchar").bandjoin([128, 64])
    return image.copy(interpretation="srgb").jpegsave_buffer(Q=80)


def png_rgba_bytes(width: int, height: int) -> bytes:
    rgb = pyvips.Image.black(width, height, bands=3) + [200, 30, 30]
    return rgb.bandjoin(128).cast("uchar").copy(interpretation="srgb").pngsave_buffer()


def test_job_with_good_and_bad_files_ends_with_assets_errors_and_counts(stack, tmp_path):
    # Given an open job
    opened = stack.open_job("spring")
    assert opened.status == 201, opened.body
    job = opened.body["jobHandle"]
    upload = opened.body["upload"]
    assert upload["keyPrefix"].endswith(f"/{job}/")

    # When good and bad files are POSTed to the presigned form and the job is closed
    good = jpeg_bytes(1200, 700)
    for rel, data in [("shoes/red.jpg", good), ("logo.png", png_rgba_bytes(300, 300)),
                      ("broken.jpg", good[: len(good) // 3]), ("empty.jpg", b""),
                      ("notes.txt", b"not an image at all")]:
        assert stack.post_file(upload, rel, data).status_code in (200, 204)
    ended = stack.call("POST", f"/v1/upload-jobs/{job}/end")
    assert ended.status == 202
    failures = stack.drain()

    # Then every file is accounted for and the job has ended
    assert failures == {"ProcessQueue": [], "MediaQueue": [], "JobEventsQueue": []}
    log = stack.job_log(job)
    assert log["logType"] == "EndUpload"
    assert (log["fileSuccessCount"], log["fileErrorCount"], log["totalFileCount"]) == (2, 3, 5)
    types = [d["logType"] for d in log["detailArray"]]
    assert types[0] == "BeginUpload" and types[-1] == "EndUpload"
    assert types.count("UploadSuccess") == 2 and types.count("UploadError") == 3
    errors = {d["logMessage"].split(" ")[0]: d["logMessage"] for d in log["detailArray"] if d["logType"] == "UploadError"}
    assert set(errors) == {"broken.jpg", "empty.jpg", "notes.txt"}
    assert "empty" in errors["empty.jpg"]

    # and the bad files' bytes are kept in quarantine, named in their rows
    s3 = boto3.client("s3")
    incoming = stack.resources.names["IncomingBucket"]
    for rel, message in errors.items():
        key = message.split(f"s3://{incoming}/")[1].rstrip(".")
        assert key.startswith("quarantine/") and key.endswith(rel.rsplit("/", 1)[-1])
        s3.head_object(Bucket=incoming, Key=key)
    # and nothing is left under incoming/
    assert s3.list_objects_v2(Bucket=incoming, Prefix="incoming/")["KeyCount"] == 0

    # and the job has left the active list
    active = stack.call("GET", "/v1/jobs/active")
    assert active.status == 200 and active.body["jobArray"] == []

    # and each good file is an asset with its master and a valid pyramid TIFF
    assets = stack.call("GET", "/v1/assets", query={"jobHandle": job}).body["assetArray"]
    assert sorted(a["name"] for a in assets) == ["logo", "red"]
    red = next(a for a in assets if a["name"] == "red")
    assert (red["folder"], red["fileName"], red["width"], red["height"]) == ("shoes/", "red.jpg", 1200, 700)
    assert red["publishState"] == "MarkedForPublish"
    assets_bucket = stack.resources.names["AssetsBucket"]
    master = s3.get_object(Bucket=assets_bucket, Key=red["files"]["master"]["key"])["Body"].read()
    assert master == good
    tiff = tmp_path / "red.tif"
    tiff.write_bytes(s3.get_object(Bucket=assets_bucket, Key=red["files"]["optimized"]["key"])["Body"].read())
    levels = read_pyramid_levels(str(tiff))
    assert levels[0] == (1200, 700)
    assert max(levels[-1]) <= 256
    for (w1, h1), (w2, h2) in zip(levels, levels[1:]):
        assert w2 in (w1 // 2, (w1 + 1) // 2) and h2 in (h1 // 2, (h1 + 1) // 2)


def test_a_job_closed_after_some_files_were_processed_waits_for_the_rest(stack):
    # Files processed before the job is closed must not make the close count come out low.
    opened = stack.open_job("late-close")
    job, upload = opened.body["jobHandle"], opened.body["upload"]
    for rel in ("a.jpg", "b.jpg"):
        stack.post_file(upload, rel, jpeg_bytes(300, 200))
    stack.drain()
    stack.post_file(upload, "c.jpg", jpeg_bytes(300, 200))
    assert stack.call("POST", f"/v1/upload-jobs/{job}/end").status == 202
    assert stack.job_log(job)["logType"] == "BeginUpload"  # c.jpg is still on its way
    stack.drain()
    log = stack.job_log(job)
    assert (log["logType"], log["fileSuccessCount"], log["fileErrorCount"]) == ("EndUpload", 3, 0)
    incoming = stack.resources.names["IncomingBucket"]
    assert boto3.client("s3").list_objects_v2(Bucket=incoming, Prefix="incoming/")["KeyCount"] == 0
