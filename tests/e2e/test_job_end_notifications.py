"""Issue 6 on the real local stack: one e-mail, one signed webhook and the sets of a job's presets."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.e2e.conftest import run_cli
from tests.e2e.test_local_stack import api, jpeg, post, wait_until_ended

pytest.importorskip("pyvips")


class Receiver(BaseHTTPRequestHandler):
    """A webhook endpoint on loopback (the local stack allows loopback; AWS would refuse it)."""

    received: list[tuple[dict, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(500 if len(type(self).received) == 1 else 204)  # the first try fails
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_a_job_that_ends_sends_one_mail_one_signed_webhook_and_makes_its_sets(local_stack):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Receiver.received = []
    try:
        preset = api(local_stack, "POST", "/v1/set-presets", json={
            "name": "E2E spins", "setType": "SpinSet", "matchPattern": r"(?P<base>e2eshoe)_(\d+)"})
        assert preset.status_code == 201, preset.text
        body = {"jobName": "notify-e2e", "uploadParams": {
            "overwrite": True, "readyForPublish": True, "createMask": False, "emailSetting": "All",
            "postHttpUrl": f"http://127.0.0.1:{server.server_port}/hook",
            "autoSetCreationOptions": {"autoSetsArray": [preset.json()["presetHandle"]]}}}
        opened = api(local_stack, "POST", "/v1/upload-jobs", json=body)
        assert opened.status_code == 201, opened.text
        job, upload = opened.json()["jobHandle"], opened.json()["upload"]
        for name in ("e2eshoe_2.jpg", "e2eshoe_1.jpg", "e2eshoe_10.jpg"):
            assert post(upload, name, jpeg(160, 120)).status_code in (200, 204)
        assert api(local_stack, "POST", f"/v1/upload-jobs/{job}/end").status_code == 202
        assert wait_until_ended(local_stack, job)["fileSuccessCount"] == 3

        # The set its preset defines, members in natural order.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = api(local_stack, "GET", "/v1/assets", params={"name": "e2eshoe_set"}).json()["assetArray"]
            if found:
                break
            time.sleep(0.3)
        [spin] = found
        members = [api(local_stack, "GET", f"/v1/assets/{h}").json()["name"] for h in spin["children"]]
        assert spin["type"] == "SpinSet" and members == ["e2eshoe_1", "e2eshoe_2", "e2eshoe_10"]

        # The webhook: refused once with a 500, delivered on the retry (the e2e stack retries
        # after 1 s), each attempt signed and logged.
        deadline = time.monotonic() + 60
        while len(Receiver.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.3)
        time.sleep(2)  # nothing more may come
        assert len(Receiver.received) == 2
        secret = api(local_stack, "GET", f"/v1/admin/companies/{local_stack['companyHandle']}/webhook-secret")
        for headers, raw in Receiver.received:
            payload = json.loads(raw)
            assert payload["jobHandle"] == job and payload["fileSuccessCount"] == 3
            expected = hmac.new(secret.json()["webhookSecret"].encode(),
                                headers["X-Openips-Timestamp"].encode() + b"." + raw, hashlib.sha256).hexdigest()
            assert headers["X-Openips-Signature"] == f"v1={expected}"
        log = api(local_stack, "GET", f"/v1/jobs/{job}/log-details").json()["jobLogArray"][0]["detailArray"]
        hooks = [(r["logType"], r["logMessage"]) for r in log if "Webhook" in r["logMessage"]]
        assert [t for t, _ in hooks] == ["UploadWarning", "NotificationSent"], hooks
        assert "attempt 1 of 3" in hooks[0][1] and "next attempt in 1 s" in hooks[0][1]

        # Exactly one mail, to the submitter, shown by `openips local mail`.
        mails = run_cli(local_stack, "--json", "local", "mail", "--to", local_stack["userEmail"])
        assert mails.returncode == 0, mails.stderr
        ours = [m for m in json.loads(mails.stdout) if job in m["body"]]
        assert len(ours) == 1 and "notify-e2e" in ours[0]["subject"]
    finally:
        server.shutdown()
