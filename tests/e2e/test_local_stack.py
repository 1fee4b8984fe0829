"""End to end over real HTTP: the local stack, the S3 front, and the ``openips`` client."""

from __future__ import annotations

import base64
import json
import time

import boto3
import pytest
import requests
from botocore.config import Config
from requests.adapters import HTTPAdapter

from tests.e2e.conftest import run_cli

pyvips = pytest.importorskip("pyvips")


def jpeg(width: int = 640, height: int = 480) -> bytes:
    return (pyvips.Image.black(width, height, bands=3) + [180, 90, 40]).cast("uchar") \
        .copy(interpretation="srgb").jpegsave_buffer()


def api(local_stack: dict, method: str, path: str, key: str | None = None, **kwargs) -> requests.Response:
    headers = {"authorization": f"Bearer {key or local_stack['apiKey']}"}
    return requests.request(method, local_stack["apiUrl"] + path, headers=headers, timeout=120, **kwargs)


def open_job(local_stack: dict, key: str | None = None, name: str = "e2e") -> dict:
    body = {"jobName": name, "uploadParams": {"overwrite": True, "readyForPublish": True, "createMask": False,
                                              "emailSetting": "None"}}
    response = api(local_stack, "POST", "/v1/upload-jobs", key=key, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def post(upload: dict, relative: str, data: bytes, fields: dict | None = None,
         session: requests.Session | None = None) -> requests.Response:
    form = dict(fields or upload["fields"])
    form["key"] = upload["keyPrefix"] + relative
    return (session or requests).post(upload["url"], data=form, files={"file": (relative, data)}, timeout=120)


def wait_until_ended(local_stack: dict, job: str, key: str | None = None, seconds: float = 240) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        log = api(local_stack, "GET", f"/v1/jobs/{job}/log-details", key=key).json()["jobLogArray"][0]
        if log["logType"] == "EndUpload":
            return log
        time.sleep(0.3)
    pytest.fail(f"job {job} did not end: {log}")


def s3_error(response: requests.Response) -> str:
    assert response.headers["content-type"].startswith("application/xml"), response.text
    return response.text.split("<Code>")[1].split("</Code>")[0]


# ---- the main job, through the client ---------------------------------------------------------


def test_upload_follow_log_and_download_with_the_client(local_stack, tmp_path):
    uploads = tmp_path / "batch"
    (uploads / "shoes").mkdir(parents=True)
    (uploads / "shoes" / "red.jpg").write_bytes(jpeg(1600, 1200))
    (uploads / "logo.png").write_bytes((pyvips.Image.black(300, 300, bands=4) + [0, 200, 0, 128]).cast("uchar")
                                       .copy(interpretation="srgb").pngsave_buffer())
    good = jpeg()
    (uploads / "broken.jpg").write_bytes(good[: len(good) // 3])
    options = tmp_path / "options.json"
    options.write_text(json.dumps({"overwrite": True, "readyForPublish": True, "createMask": False,
                                   "emailSetting": "None"}))

    result = run_cli(local_stack, "upload", str(uploads), "--options", str(options), "--job-name", "client",
                     "--json")

    assert result.returncode == 1, result.stderr  # one file failed
    report = json.loads(result.stdout)
    log = report["jobLog"]
    assert (log["fileSuccessCount"], log["fileErrorCount"], log["totalFileCount"]) == (2, 1, 3)
    job = report["jobHandle"]

    details = run_cli(local_stack, "jobs", "details", job, "--type", "UploadError")
    assert details.returncode == 0 and "broken.jpg" in details.stdout

    listed = json.loads(run_cli(local_stack, "--json", "assets", "list", "--job", job).stdout)
    red = next(a for a in listed["assetArray"] if a["name"] == "red")
    target = tmp_path / "out"
    downloaded = run_cli(local_stack, "assets", "download", red["assetHandle"], "--to", str(target))
    assert downloaded.returncode == 0, downloaded.stderr
    assert (target / "red.jpg").read_bytes() == (uploads / "shoes" / "red.jpg").read_bytes()
    tiff = pyvips.Image.new_from_file(str(target / "red.tif"))
    assert (tiff.width, tiff.height, tiff.get("n-pages")) == (1600, 1200, 4)

    active = json.loads(run_cli(local_stack, "--json", "jobs", "active").stdout)
    assert all(j["jobHandle"] != job for j in active["jobArray"])


def test_a_video_goes_through_the_media_poller(local_stack, tmp_path):
    """The local stack maps MediaQueue to MediaFunction from the template, like Lambda would."""
    from tests.video_files import make_video

    (tmp_path / "clip.mp4").write_bytes(make_video())
    options = tmp_path / "o.json"
    options.write_text(json.dumps({"overwrite": True, "readyForPublish": False, "createMask": False,
                                   "emailSetting": "None"}))
    result = run_cli(local_stack, "upload", str(tmp_path / "clip.mp4"), "--options", str(options), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["jobLog"]["fileSuccessCount"], report["jobLog"]["totalFileCount"]) == (1, 1)
    listed = json.loads(run_cli(local_stack, "--json", "assets", "list", "--job", report["jobHandle"]).stdout)
    [clip] = listed["assetArray"]
    assert clip["type"] == "Video" and clip["video"]["videoCodec"] == "h264" and clip["files"]["optimized"]


def test_no_wait_returns_the_job_handle_at_once(local_stack, tmp_path):
    (tmp_path / "a.jpg").write_bytes(jpeg())
    options = tmp_path / "o.json"
    options.write_text(json.dumps({"overwrite": True, "readyForPublish": False, "createMask": False,
                                   "emailSetting": "None"}))
    result = run_cli(local_stack, "upload", str(tmp_path / "a.jpg"), "--options", str(options), "--no-wait")
    assert result.returncode == 0, result.stderr
    job = result.stdout.strip().split()[-1]
    assert job.startswith("j-")
    assert wait_until_ended(local_stack, job)["fileSuccessCount"] == 1


def test_pause_and_resume_with_the_client_over_the_local_pollers(local_stack, aws):
    opened = open_job(local_stack, name="paused")
    job = opened["jobHandle"]
    paused = run_cli(local_stack, "jobs", "pause", job)
    assert paused.returncode == 0 and f"paused job {job}" in paused.stdout, paused.stderr
    assert post(opened["upload"], "waiting.jpg", jpeg()).status_code == 204
    time.sleep(3)  # the file goes round the queue, with its delay, a few times
    (state,) = api(local_stack, "GET", "/v1/jobs/active", params={"jobHandle": job}).json()["jobArray"]
    assert state["state"] == "WaitingCoordinator"
    log = api(local_stack, "GET", f"/v1/jobs/{job}/log-details").json()["jobLogArray"][0]
    assert log["totalFileCount"] == 0
    assert run_cli(local_stack, "jobs", "resume", job).returncode == 0
    assert run_cli(local_stack, "jobs", "end", job).returncode == 0
    log = wait_until_ended(local_stack, job)
    assert (log["fileSuccessCount"], log["fileErrorCount"]) == (1, 0)
    attrs = aws("sqs").get_queue_attributes(QueueUrl=local_stack["resources"]["ProcessDLQ"],
                                            AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"


# ---- the S3 front refuses what S3 refuses -----------------------------------------------------


def _nothing_reached(local_stack: dict, aws, job: str, prefix: str) -> None:
    assert api(local_stack, "POST", f"/v1/upload-jobs/{job}/end").status_code == 202
    log = wait_until_ended(local_stack, job)
    assert log["totalFileCount"] == 0
    bucket = local_stack["resources"]["IncomingBucket"]
    assert aws("s3").list_objects_v2(Bucket=bucket, Prefix=prefix).get("KeyCount", 0) == 0


def test_tampered_and_out_of_prefix_forms_are_refused_like_s3(local_stack, aws):
    opened = open_job(local_stack)
    upload = opened["upload"]
    policy = json.loads(base64.b64decode(upload["fields"]["policy"]))
    for condition in policy["conditions"]:
        if isinstance(condition, list) and condition[0] == "starts-with":
            condition[2] = "incoming/"  # widen the prefix to every tenant
    tampered = dict(upload["fields"], policy=base64.b64encode(json.dumps(policy).encode()).decode())
    refused = post(upload, "a.jpg", jpeg(), fields=tampered)
    assert refused.status_code == 403 and s3_error(refused) == "SignatureDoesNotMatch"

    outside = dict(upload["fields"])
    outside_key = upload["keyPrefix"].replace(opened["jobHandle"], "j-someoneelse") + "x.jpg"
    response = requests.post(upload["url"], data={**outside, "key": outside_key},
                             files={"file": ("x.jpg", jpeg())}, timeout=30)
    assert response.status_code == 403 and s3_error(response) == "AccessDenied"
    _nothing_reached(local_stack, aws, opened["jobHandle"], upload["keyPrefix"])


def test_oversized_file_is_refused_like_s3(local_stack, aws):
    admin = local_stack["adminApiKey"]
    company = api(local_stack, "POST", "/v1/admin/companies", key=admin,
                  json={"name": "Tiny", "maxFileSize": 2000}).json()["companyHandle"]
    key = api(local_stack, "POST", "/v1/admin/users", key=admin,
              json={"companyHandle": company, "email": "t@tiny.example", "role": "IpsUser"}).json()["apiKey"]
    opened = open_job(local_stack, key=key)
    response = post(opened["upload"], "big.jpg", b"x" * 5000)
    assert response.status_code == 400 and s3_error(response) == "EntityTooLarge"
    assert api(local_stack, "POST", f"/v1/upload-jobs/{opened['jobHandle']}/end", key=key).status_code == 202
    assert wait_until_ended(local_stack, opened["jobHandle"], key=key)["totalFileCount"] == 0


def test_expired_form_is_refused_like_s3(local_stack, aws):
    opened = open_job(local_stack)
    prefix = opened["upload"]["keyPrefix"]
    # A form signed exactly as the API signs it (same local credentials), but with a 1 s life.
    s3 = boto3.client("s3", endpoint_url=local_stack["s3Url"], region_name="us-east-1",
                      aws_access_key_id=local_stack["awsAccessKeyId"],
                      aws_secret_access_key=local_stack["awsSecretAccessKey"],
                      config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    form = s3.generate_presigned_post(local_stack["resources"]["IncomingBucket"], prefix + "${filename}",
                                      Conditions=[["starts-with", "$key", prefix]], ExpiresIn=1)
    time.sleep(2)
    response = post({"fields": form["fields"], "keyPrefix": prefix, "url": form["url"]}, "late.jpg", jpeg())
    assert response.status_code == 403 and s3_error(response) == "AccessDenied"
    assert "expired" in response.text.lower()
    _nothing_reached(local_stack, aws, opened["jobHandle"], prefix)


# ---- the same-IP rule, with a real second address -------------------------------------------------


class _FromAddress(HTTPAdapter):
    """Connect from another loopback address (Linux routes all of 127/8 to lo)."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        return super().init_poolmanager(*args, **kwargs)


def test_a_file_from_another_ip_is_refused_and_kept(local_stack, aws):
    opened = open_job(local_stack)  # from 127.0.0.1
    session = requests.Session()
    session.mount("http://", _FromAddress("127.0.0.2"))
    assert post(opened["upload"], "elsewhere.jpg", jpeg(), session=session).status_code == 204
    assert post(opened["upload"], "here.jpg", jpeg()).status_code == 204
    api(local_stack, "POST", f"/v1/upload-jobs/{opened['jobHandle']}/end")
    log = wait_until_ended(local_stack, opened["jobHandle"])
    assert (log["fileSuccessCount"], log["fileErrorCount"]) == (1, 1)
    details = api(local_stack, "GET", f"/v1/jobs/{opened['jobHandle']}/log-details",
                  params={"logTypeArray": "UploadError"}).json()["jobLogArray"][0]["detailArray"]
    assert "127.0.0.2" in details[0]["logMessage"] and "127.0.0.1" in details[0]["logMessage"]
    bucket = local_stack["resources"]["IncomingBucket"]
    kept = aws("s3").list_objects_v2(Bucket=bucket, Prefix="quarantine/")["Contents"]
    assert any(o["Key"].startswith(f"quarantine/{local_stack['companyHandle']}/{opened['jobHandle']}/")
               and o["Key"].endswith("/elsewhere.jpg") for o in kept)


def test_api_faults_travel_over_http(local_stack):
    response = requests.get(local_stack["apiUrl"] + "/v1/jobs/active", timeout=10)
    assert response.status_code == 401 and response.json()["fault"]["code"] == 10000
    assert requests.get(local_stack["apiUrl"] + "/v1/openapi.json", timeout=10).status_code == 200


def test_test_event_from_provisioning_went_nowhere(local_stack, aws):
    # The s3:TestEvent sent when the notification was configured was dropped by the filter.
    attrs = aws("sqs").get_queue_attributes(QueueUrl=local_stack["resources"]["ProcessDLQ"],
                                            AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"

