"""``make demo``: one upload job through the real handlers, start to finish, on this machine.

This version runs the stack in-process (moto's ``mock_aws``); the local server stack
(``openips local up``) replaces it once it exists.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

import boto3

OUTPUT = Path("demo-output")
OPTIONS = {"overwrite": True, "readyForPublish": True, "createMask": False, "emailSetting": "None",
           "xmpKeywords": "demo,spring\\, 2026"}


def main() -> int:
    for var, value in {"AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo",
                       "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true",
                       "POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_METRICS_DISABLED": "true",
                       "POWERTOOLS_SERVICE_NAME": "openips"}.items():
        os.environ[var] = value
    warnings.filterwarnings("ignore", message="No application metrics")
    from moto import mock_aws

    from openips_cli.samples import write_samples

    shutil.rmtree(OUTPUT, ignore_errors=True)
    started = time.monotonic()
    with mock_aws():
        return run(write_samples(OUTPUT / "uploads"), started)


def run(samples: dict[str, Path], started: float) -> int:
    from openips.models.api import CreateCompanyRequest, CreateUserRequest
    from openips.services import auth
    from openips.services.deps import get_deps, reset_caches
    from openips_cli.inprocess import InProcessStack
    from openips_cli.provision import provision

    resources = provision()
    os.environ.update(resources.env())
    reset_caches()
    store = get_deps().store
    admin, _ = auth.bootstrap_admin(store, "admin@example.com")
    company = auth.create_company(store, admin, CreateCompanyRequest(name="Demo Co"))
    _, key = auth.create_user(store, admin, CreateUserRequest(
        company_handle=company.company_handle, email="ops@demo.example", role="IpsCompanyAdmin"))
    stack = InProcessStack(resources=resources, key=key)

    opened = stack.call("POST", "/v1/upload-jobs", {"jobName": "demo", "uploadParams": OPTIONS})
    job = opened.body["jobHandle"]
    print(f"opened job {job}; uploading {len(samples)} files to the presigned form")
    for rel, path in samples.items():
        response = stack.post_file(opened.body["upload"], rel, path.read_bytes())
        print(f"  POST {rel:28} {path.stat().st_size:>9,} bytes → HTTP {response.status_code}")
    stack.call("POST", f"/v1/upload-jobs/{job}/end")
    stack.drain()

    log = stack.job_log(job)
    print(f"\njob {log['jobName']}: {log['logType']} — {log['fileSuccessCount']} new, "
          f"{log['fileUpdateCount']} updated, {log['fileErrorCount']} errors, {log['fileWarningCount']} warnings")
    for row in log["detailArray"]:
        print(f"  {row['logType']:16} {row['logMessage']}")

    s3 = boto3.client("s3")
    assets = stack.call("GET", "/v1/assets", query={"jobHandle": job}).body["assetArray"]
    for asset in assets:
        target = OUTPUT / asset["folder"] / asset["name"]
        target.mkdir(parents=True, exist_ok=True)
        for kind, name in (("master", asset["fileName"]), ("optimized", f"{asset['name']}.tif")):
            entry = asset["files"][kind]
            s3.download_file(resources.names["AssetsBucket"], entry["key"], str(target / name))
    (OUTPUT / "job-log.json").write_text(json.dumps(log, indent=2))
    print(f"\n{len(assets)} assets downloaded to {OUTPUT}/ (master + pyramid TIFF each); "
          f"job log in {OUTPUT}/job-log.json; {time.monotonic() - started:.1f} s")
    return 0 if log["logType"] == "EndUpload" else 1


if __name__ == "__main__":
    sys.exit(main())
