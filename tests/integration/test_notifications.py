"""Job-end notifications (docs/notifications.md): e-mail through moto's SES, the signed
``postHttpUrl`` webhook against a real HTTP server on 127.0.0.1, exactly-once under duplicate
deliveries, SSRF refusals, and the admin routes."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from openips.models.api import CreateCompanyRequest, CreateUserRequest
from openips.models.errors import TransientError
from openips.services import auth
from openips.services.deps import get_deps

pyvips = pytest.importorskip("pyvips")

SENDER = "openips@notify.example"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "notifications.md"


# ---- helpers ---------------------------------------------------------------------------------


def jpeg(shade: int = 90) -> bytes:
    image = (pyvips.Image.black(64, 48, bands=3) + [shade, 120, 200]).cast("uchar")
    return image.copy(interpretation="srgb").jpegsave_buffer()


BROKEN = b"\xff\xd8\xff\xe0 this is not really a jpeg"


def sent_mail() -> list:
    return list(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)


def drain_notifications(stack, rounds: int = 30) -> list[str]:
    """Feed NotificationQueue to NotificationFunction until it is empty; the receipt handles of
    the messages it failed (they stay in flight, as on AWS, until their visibility timeout)."""
    from openips.handlers import notify

    sqs = boto3.client("sqs")
    url = stack.resources.names["NotificationQueue"]
    failed_all: list[str] = []
    for _ in range(rounds):
        messages = stack.receive("NotificationQueue")
        if not messages:
            break
        result = notify.lambda_handler(stack.as_lambda_event(messages, stack.resources.arns["NotificationQueue"]),
                                       stack.context)
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        failed_all += [m["ReceiptHandle"] for m in messages if m["MessageId"] in failed]
        for m in messages:
            if m["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return failed_all


def run_job(stack, files: dict[str, bytes], **params) -> str:
    opened = stack.open_job("notify-job", **params)
    assert opened.status == 201, opened.body
    for rel, data in files.items():
        assert stack.post_file(opened.body["upload"], rel, data).status_code in (200, 204)
    job = opened.body["jobHandle"]
    assert stack.call("POST", f"/v1/upload-jobs/{job}/end").status == 202
    assert stack.drain() == {"ProcessQueue": [], "MediaQueue": [], "JobEventsQueue": []}
    return job


def log_rows(stack, job: str, log_type: str | None = None) -> list[dict]:
    rows = stack.job_log(job, recordsPerPage="1000")["detailArray"]
    return [r for r in rows if log_type is None or r["logType"] == log_type]


def job_finished_event(stack, job: str, copies: int = 1) -> dict:
    body = json.dumps({"type": "JobFinished", "jobHandle": job, "companyHandle": stack.company})
    return {"Records": [{
        "messageId": f"dup-{i}", "receiptHandle": f"r-{i}", "body": body, "attributes": {}, "messageAttributes": {},
        "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": stack.resources.arns["JobEventsQueue"],
        "awsRegion": "us-east-1"} for i in range(copies)]}


def documented_verifier():
    """The verification snippet of docs/notifications.md, executed as written."""
    text = DOCS.read_text(encoding="utf-8")
    block = re.search(r"<!-- verify-snippet[^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert block, "docs/notifications.md lost its verification snippet"
    namespace: dict = {}
    exec(compile(block.group(1), str(DOCS), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace["verify_openips_signature"]


class Receiver:
    """An HTTP server on 127.0.0.1 that records webhook POSTs and answers from a script."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.script: list = []  # per request: int status, or ("sleep", seconds, status)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - stdlib name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                action = receiver.script.pop(0) if receiver.script else 200
                if isinstance(action, tuple):
                    time.sleep(action[1])
                    action = action[2]
                try:
                    self.send_response(action)
                    if 300 <= action < 400:
                        self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the client gave up (timeout test)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks/openips?token=s3cr3t"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def notify_stack(stack, monkeypatch):
    from openips.adapters.mail import get_mailer
    from openips.adapters.notification_queue import get_notification_queue
    from openips.services.deps import reset_caches

    monkeypatch.setenv("SENDER_EMAIL", SENDER)
    monkeypatch.setenv("MAIL_ALLOWED_DOMAINS", "*")  # the users are elsewhere than the sender's domain
    monkeypatch.setenv("NOTIFICATION_QUEUE_URL", stack.resources.names["NotificationQueue"])
    monkeypatch.setenv("API_BASE_URL", "https://api.openips.example/")
    monkeypatch.setenv("EMAIL_RETRY_BASE_SECONDS", "0")
    monkeypatch.setenv("WEBHOOK_TIMEOUT_SECONDS", "0.5")
    monkeypatch.setenv("WEBHOOK_RETRY_DELAYS_SECONDS", "0,0,0")  # 4 attempts, no waiting
    monkeypatch.setenv("WEBHOOK_ALLOW_LOOPBACK", "true")
    boto3.client("ses").verify_email_identity(EmailAddress=SENDER)
    reset_caches()
    get_mailer.cache_clear()
    get_notification_queue.cache_clear()
    yield stack
    get_mailer.cache_clear()
    get_notification_queue.cache_clear()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


# ---- e-mail ------------------------------------------------------------------------------------

CLEAN = {"a.jpg": jpeg()}
WITH_ERROR = {"a.jpg": jpeg(), "broken.jpg": BROKEN}
WITH_WARNING = {"a.jpg": jpeg()}  # createMask without a clipping path → UploadWarning

EXPECTED = {  # (setting, scenario) → subject word or None
    ("All", "clean"): "completed", ("All", "error"): "completed", ("All", "warning"): "completed",
    ("JobCompletion", "clean"): "completed", ("JobCompletion", "error"): "completed",
    ("JobCompletion", "warning"): "completed",
    ("Error", "clean"): None, ("Error", "error"): "errors", ("Error", "warning"): None,
    ("ErrorAndWarning", "clean"): None, ("ErrorAndWarning", "error"): "errors",
    ("ErrorAndWarning", "warning"): "warnings",
    ("None", "clean"): None, ("None", "error"): None, ("None", "warning"): None,
}


@pytest.mark.parametrize(("setting", "scenario"), sorted(EXPECTED))
def test_email_setting_semantics(notify_stack, setting, scenario):
    files = {"clean": CLEAN, "error": WITH_ERROR, "warning": WITH_WARNING}[scenario]
    job = run_job(notify_stack, files, emailSetting=setting, createMask=scenario == "warning")
    log = notify_stack.job_log(job)
    assert (log["fileErrorCount"] > 0) == (scenario == "error")
    assert (log["fileWarningCount"] > 0) == (scenario == "warning")
    mails = sent_mail()
    expected = EXPECTED[(setting, scenario)]
    if expected is None:
        assert mails == []
        assert not [r for r in log_rows(notify_stack, job) if "e-mail" in r["logMessage"]]
        return
    (mail,) = mails
    assert mail.source == SENDER
    assert mail.destinations["ToAddresses"] == ["ops@acme.example"]
    assert mail.subject == f'[openips] Upload job "notify-job" {"completed" if expected == "completed" else "finished with " + expected}'
    assert job in mail.body
    assert f"https://api.openips.example/v1/jobs/{job}/log-details" in mail.body
    assert f"openips jobs details {job}" in mail.body
    lists_errors = setting in ("All", "Error", "ErrorAndWarning") and scenario == "error"
    assert ("broken.jpg" in mail.body) == lists_errors
    lists_warnings = setting in ("All", "ErrorAndWarning") and scenario == "warning"
    # the file's warning (createMask without a path); job-level warnings may be listed too
    assert any(line.startswith("- a.jpg") for line in mail.body.splitlines()) == lists_warnings
    (sent,) = log_rows(notify_stack, job, "NotificationSent")
    assert "ops@acme.example" in sent["logMessage"]
    # the job's own counts and state are untouched by the notification rows
    assert notify_stack.job_log(job)["fileWarningCount"] == log["fileWarningCount"]


def test_korean_locale_mail_and_english_fallback(notify_stack):
    def open_with(locale: str) -> str:
        opened = notify_stack.call("POST", "/v1/upload-jobs", {
            "jobName": f"job-{locale}", "locale": locale,
            "uploadParams": {"overwrite": True, "readyForPublish": True, "createMask": False,
                             "emailSetting": "Error"}})
        assert opened.status == 201, opened.body
        notify_stack.post_file(opened.body["upload"], "broken.jpg", BROKEN)
        notify_stack.call("POST", f"/v1/upload-jobs/{opened.body['jobHandle']}/end")
        notify_stack.drain()
        return opened.body["jobHandle"]

    open_with("ko-KR")
    open_with("fr-FR")
    korean, french = sent_mail()
    assert korean.subject == '[openips] 업로드 작업 "job-ko-KR"이(가) 오류와 함께 종료되었습니다'
    assert "오류 (1개 중 처음 1개):" in korean.body and "전체 작업 로그:" in korean.body
    assert french.subject == '[openips] Upload job "job-fr-FR" finished with errors'
    assert "Errors (first 1 of 1):" in french.body


def test_mail_lists_the_first_ten_errors_of_many(notify_stack):
    files = {f"bad-{i:02d}.jpg": BROKEN for i in range(12)}
    run_job(notify_stack, files, emailSetting="Error")
    (mail,) = sent_mail()
    assert "Errors (first 10 of 12):" in mail.body
    assert "bad-00.jpg" in mail.body and mail.body.count("\n- ") == 10


def test_exactly_once_under_duplicate_job_events(notify_stack, receiver, lambda_context):
    from openips.handlers import finalize_job

    job = run_job(notify_stack, CLEAN, emailSetting="All", postHttpUrl=receiver.url)
    # The job has been finalized once by drain(); deliver the same JobFinished three more times,
    # two of them in one batch.
    assert finalize_job.lambda_handler(job_finished_event(notify_stack, job, 2), lambda_context) == {
        "batchItemFailures": []}
    assert finalize_job.lambda_handler(job_finished_event(notify_stack, job), lambda_context) == {
        "batchItemFailures": []}
    assert drain_notifications(notify_stack) == []
    assert len(sent_mail()) == 1
    assert len(receiver.requests) == 1
    assert len(log_rows(notify_stack, job, "NotificationSent")) == 2  # one mail, one webhook


def test_exactly_once_when_finalize_crashes_after_notifying(notify_stack, receiver, lambda_context, monkeypatch):
    """A crash after the mail and the webhook start (and before the job is marked finalized)
    makes SQS deliver the job again: neither is repeated."""
    from openips.handlers import finalize_job
    from openips.services import finalize

    opened = notify_stack.open_job("crashy", emailSetting="JobCompletion", postHttpUrl=receiver.url)
    job = opened.body["jobHandle"]
    notify_stack.post_file(opened.body["upload"], "a.jpg", jpeg())
    notify_stack.call("POST", f"/v1/upload-jobs/{job}/end")
    real = finalize.remove_processed_uploads
    crashes = iter([True])

    def crash_once(deps, j):
        if next(crashes, False):
            raise TransientError("S3: SlowDown")
        return real(deps, j)

    monkeypatch.setattr(finalize, "remove_processed_uploads", crash_once)
    failures = notify_stack.drain()
    assert len(failures["JobEventsQueue"]) == 1  # the crashed delivery stays in flight
    assert get_deps().jobs.get(job).finalized is False
    assert finalize_job.lambda_handler(job_finished_event(notify_stack, job), lambda_context) == {
        "batchItemFailures": []}
    assert get_deps().jobs.get(job).finalized is True
    drain_notifications(notify_stack)
    assert len(sent_mail()) == 1
    assert len(receiver.requests) == 1


def test_busy_step_makes_a_concurrent_delivery_retry_later(notify_stack, lambda_context):
    """While another invocation holds the mail step, a duplicate delivery neither sends nor
    marks the job finalized; it fails its record so SQS brings it back."""
    from openips.handlers import finalize_job
    from openips.models.domain import utcnow

    opened = notify_stack.open_job("busy", emailSetting="JobCompletion")
    job = opened.body["jobHandle"]
    notify_stack.post_file(opened.body["upload"], "a.jpg", jpeg())
    notify_stack.call("POST", f"/v1/upload-jobs/{job}/end")
    # process the file but keep the JobFinished message away from finalize
    from openips.handlers import process_file

    messages = notify_stack.receive("ProcessQueue")
    process_file.lambda_handler(notify_stack.as_lambda_event(messages, notify_stack.resources.arns["ProcessQueue"]),
                                lambda_context)
    assert get_deps().jobs.get(job).finished
    assert get_deps().steps.claim(job, "email:Completion", utcnow(), 120) == "new"  # the "other" holder
    result = finalize_job.lambda_handler(job_finished_event(notify_stack, job), lambda_context)
    assert result == {"batchItemFailures": [{"itemIdentifier": "dup-0"}]}
    assert sent_mail() == [] and get_deps().jobs.get(job).finalized is False


def test_send_failures_are_retried_and_logged(notify_stack, monkeypatch):
    from openips.adapters.mail import Mailer

    real = Mailer.send
    calls = []

    def flaky(self, *args):
        calls.append(args)
        if len(calls) < 3:
            raise TransientError("SES: Throttling")
        return real(self, *args)

    monkeypatch.setattr(Mailer, "send", flaky)
    job = run_job(notify_stack, CLEAN, emailSetting="All")
    assert len(calls) == 3 and len(sent_mail()) == 1
    (row,) = log_rows(notify_stack, job, "NotificationSent")
    assert "(attempt 3)" in row["logMessage"]


def test_send_failure_never_fails_the_job(notify_stack, monkeypatch):
    from openips.adapters.mail import Mailer

    def down(self, *args):
        raise TransientError("SES: ServiceUnavailable")

    monkeypatch.setattr(Mailer, "send", down)
    job = run_job(notify_stack, CLEAN, emailSetting="JobCompletion")  # drain() asserts no failed record
    log = notify_stack.job_log(job)
    assert log["logType"] == "EndUpload" and log["fatalError"] is False and log["fileErrorCount"] == 0
    assert get_deps().jobs.get(job).finalized is True
    warning = [r for r in log_rows(notify_stack, job, "UploadWarning") if "e-mail" in r["logMessage"]]
    assert len(warning) == 1
    assert "could not be sent after 3 attempts: SES: ServiceUnavailable" in warning[0]["logMessage"]


def test_unverified_sender_is_refused_without_retry(notify_stack, monkeypatch):
    from openips.services.deps import reset_caches

    monkeypatch.setenv("SENDER_EMAIL", "nobody@unverified.example")
    reset_caches()
    job = run_job(notify_stack, CLEAN, emailSetting="All")
    assert sent_mail() == []
    (warning,) = [r for r in log_rows(notify_stack, job, "UploadWarning") if "e-mail" in r["logMessage"]]
    assert "after 1 attempt:" in warning["logMessage"] and "MessageRejected" in warning["logMessage"]


def test_no_sender_configured_says_so(notify_stack, monkeypatch):
    from openips.services.deps import reset_caches

    monkeypatch.delenv("SENDER_EMAIL")
    reset_caches()
    job = run_job(notify_stack, CLEAN, emailSetting="All")
    assert sent_mail() == []
    assert any("no sender address is configured" in r["logMessage"] for r in log_rows(notify_stack, job, "UploadWarning"))


# ---- webhook -------------------------------------------------------------------------------------


def company_secret(stack) -> str:
    response = stack.call("GET", f"/v1/admin/companies/{stack.company}/webhook-secret")
    assert response.status == 200, response.body
    return response.body["webhookSecret"]


def test_webhook_is_signed_and_the_documented_snippet_verifies_it(notify_stack, receiver, capsys):
    verify = documented_verifier()
    job = run_job(notify_stack, WITH_ERROR, emailSetting="None", postHttpUrl=receiver.url)
    assert drain_notifications(notify_stack) == []
    (request,) = receiver.requests
    headers = {k.lower(): v for k, v in request["headers"].items()}
    secret = company_secret(notify_stack)
    assert secret.startswith("whsec_") and len(secret) > 40
    assert request["path"] == "/hooks/openips?token=s3cr3t"
    assert headers["content-type"] == "application/json"
    assert headers["x-openips-event"] == "job.ended"
    assert headers["x-openips-delivery"] == f"{job}.0" and headers["x-openips-attempt"] == "1"
    assert re.fullmatch(r"v1=[0-9a-f]{64}", headers["x-openips-signature"])
    ts, sig = headers["x-openips-timestamp"], headers["x-openips-signature"]
    assert verify(secret, request["body"], ts, sig) is True
    assert verify(secret, request["body"] + b" ", ts, sig) is False  # tampered body
    assert verify("whsec_wrong", request["body"], ts, sig) is False
    assert verify(secret, request["body"], str(int(ts) - 1), sig) is False  # tampered timestamp
    assert verify(secret, request["body"], ts, sig, tolerance_seconds=-1) is False  # too old
    assert verify(secret, request["body"], "not-a-number", sig) is False
    body = json.loads(request["body"])
    log = notify_stack.job_log(job)
    assert body["jobHandle"] == job and body["companyHandle"] == notify_stack.company
    assert body["state"] == "Done" and body["fatalError"] is False and body["resend"] is False
    for name in ("fileSuccessCount", "fileErrorCount", "fileWarningCount", "fileDuplicateCount",
                 "fileUpdateCount", "totalFileCount", "startDate", "endDate", "jobName"):
        assert body[name] == log[name], name
    assert body["fileErrorCount"] == 1 and body["fileSuccessCount"] == 1
    assert body["logDetailsUrl"] == f"https://api.openips.example/v1/jobs/{job}/log-details"
    (row,) = log_rows(notify_stack, job, "NotificationSent")
    assert row["logMessage"] == f"Webhook delivered to http://127.0.0.1:{receiver.port}/hooks/openips (HTTP 200, attempt 1 of 4)"
    output = capsys.readouterr()
    assert secret not in output.out + output.err and sig not in output.out + output.err
    assert "s3cr3t" not in json.dumps(log_rows(notify_stack, job))  # query strings stay out of the log


def test_webhook_retries_5xx_and_429_then_delivers(notify_stack, receiver):
    receiver.script = [500, 429, 200]
    job = run_job(notify_stack, CLEAN, emailSetting="None", postHttpUrl=receiver.url)
    assert drain_notifications(notify_stack) == []
    assert [r["headers"]["X-Openips-Attempt"] for r in receiver.requests] == ["1", "2", "3"]
    assert len({r["body"] for r in receiver.requests}) == 1  # the same body every attempt
    assert len({r["headers"]["X-Openips-Delivery"] for r in receiver.requests}) == 1
    warnings = [r["logMessage"] for r in log_rows(notify_stack, job, "UploadWarning") if "Webhook" in r["logMessage"]]
    assert len(warnings) == 2
    assert "(HTTP 500, attempt 1 of 4); next attempt in 0 s" in warnings[0]
    assert "(HTTP 429, attempt 2 of 4)" in warnings[1]
    (ok,) = log_rows(notify_stack, job, "NotificationSent")
    assert "attempt 3 of 4" in ok["logMessage"]


def test_webhook_retries_a_timeout(notify_stack, receiver):
    receiver.script = [("sleep", 1.5, 200), 200]  # client timeout is 0.5 s
    job = run_job(notify_stack, CLEAN, emailSetting="None", postHttpUrl=receiver.url)
    started = time.monotonic()
    assert drain_notifications(notify_stack) == []
    assert time.monotonic() - started < 5
    assert len(receiver.requests) == 2
    (timeout,) = [r for r in log_rows(notify_stack, job, "UploadWarning") if "Webhook" in r["logMessage"]]
    assert "timeout: no answer within 0.5 s" in timeout["logMessage"] and "next attempt" in timeout["logMessage"]
    assert len(log_rows(notify_stack, job, "NotificationSent")) == 1


@pytest.mark.parametrize("status", [400, 404, 410, 301])
def test_webhook_stops_on_other_4xx_and_redirects(notify_stack, receiver, status):
    receiver.script = [status]
    job = run_job(notify_stack, CLEAN, emailSetting="None", postHttpUrl=receiver.url)
    assert drain_notifications(notify_stack) == []
    assert len(receiver.requests) == 1  # and the redirect target was never called
    (row,) = [r for r in log_rows(notify_stack, job, "UploadWarning") if "Webhook" in r["logMessage"]]
    assert f"(HTTP {status}" in row["logMessage"] and row["logMessage"].endswith("; not retried")
    assert not log_rows(notify_stack, job, "NotificationSent")


def test_webhook_gives_up_after_the_last_attempt(notify_stack, receiver):
    receiver.script = [503] * 10
    job = run_job(notify_stack, CLEAN, emailSetting="None", postHttpUrl=receiver.url)
    assert drain_notifications(notify_stack) == []
    assert len(receiver.requests) == 4
    rows = [r["logMessage"] for r in log_rows(notify_stack, job, "UploadWarning") if "Webhook" in r["logMessage"]]
    assert len(rows) == 4 and rows[-1].endswith("attempt 4 of 4); no attempts left, giving up")


def test_connection_refused_is_retried(notify_stack):
    from openips_cli.local import free_port

    url = f"http://127.0.0.1:{free_port()}/nobody-listens"
    job = run_job(notify_stack, CLEAN, emailSetting="None", postHttpUrl=url)
    assert drain_notifications(notify_stack) == []
    rows = [r["logMessage"] for r in log_rows(notify_stack, job, "UploadWarning") if "Webhook" in r["logMessage"]]
    assert len(rows) == 4 and all("connection:" in r for r in rows)


def test_duplicate_attempt_messages_post_once(notify_stack, receiver):
    job = run_job(notify_stack, CLEAN, emailSetting="None", postHttpUrl=receiver.url)
    (message,) = notify_stack.receive("NotificationQueue")
    sqs = boto3.client("sqs")
    for _ in range(2):  # the same attempt, delivered three times in all
        sqs.send_message(QueueUrl=notify_stack.resources.names["NotificationQueue"], MessageBody=message["Body"])
    sqs.change_message_visibility(QueueUrl=notify_stack.resources.names["NotificationQueue"],
                                  ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    assert drain_notifications(notify_stack) == []
    assert len(receiver.requests) == 1
    assert len(log_rows(notify_stack, job, "NotificationSent")) == 1


def test_lost_next_attempt_is_queued_when_the_attempt_is_redelivered(notify_stack, receiver, monkeypatch):
    """A crash between recording attempt 1 and queueing attempt 2: SQS redelivers attempt 1,
    which does not POST again but queues attempt 2."""
    from openips.adapters.notification_queue import NotificationQueue

    receiver.script = [500, 200]
    run_job(notify_stack, CLEAN, emailSetting="None", postHttpUrl=receiver.url)
    real = NotificationQueue.send
    crashes = iter([True])

    def send_crashing_once(self, body, delay_seconds=0):
        if body.get("attempt") == 2 and next(crashes, False):
            raise RuntimeError("crash before queueing attempt 2")
        return real(self, body, delay_seconds)

    monkeypatch.setattr(NotificationQueue, "send", send_crashing_once)
    failed = drain_notifications(notify_stack)
    assert len(failed) == 1 and len(receiver.requests) == 1
    boto3.client("sqs").change_message_visibility(  # SQS redelivers it after its visibility timeout
        QueueUrl=notify_stack.resources.names["NotificationQueue"], ReceiptHandle=failed[0], VisibilityTimeout=0)
    assert drain_notifications(notify_stack) == []
    assert [r["headers"]["X-Openips-Attempt"] for r in receiver.requests] == ["1", "2"]


def test_long_delays_hop_through_the_queue(notify_stack, monkeypatch):
    """A delay over SQS's 900 s maximum is reached by re-sending the message, never by sleeping."""
    from openips.models.domain import utcnow
    from openips.services import webhooks

    sent = []

    class FakeQueue:
        def send(self, body, delay_seconds=0):
            sent.append((body, delay_seconds))

    now = utcnow()
    message = webhooks.attempt_message("j-none", "0", 6, now.timestamp() + 7200)
    assert webhooks.deliver(get_deps(), FakeQueue(), message, now) == "hop"
    assert sent == [(message, 900)]
    assert webhooks.deliver(get_deps(), FakeQueue(), message, now.replace(microsecond=0)
                            .fromtimestamp(now.timestamp() + 6500, tz=now.tzinfo)) == "hop"
    assert sent[-1][1] == 700


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{port}/",
    "http://localhost:{port}/",
    "http://[::1]:{port}/",
    "http://0.0.0.0:{port}/",
    "http://10.1.2.3/",
    "http://192.168.0.10/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://100.64.0.1/",
    "http://224.0.0.1/",
])
def test_ssrf_refusals_without_loopback(notify_stack, receiver, monkeypatch, url):
    from openips.services.deps import reset_caches

    monkeypatch.setenv("WEBHOOK_ALLOW_LOOPBACK", "false")
    reset_caches()
    job = run_job(notify_stack, CLEAN, emailSetting="None", postHttpUrl=url.format(port=receiver.port))
    assert drain_notifications(notify_stack) == []
    assert receiver.requests == []
    (row,) = [r for r in log_rows(notify_stack, job, "UploadWarning") if "Webhook" in r["logMessage"]]
    assert "refused:" in row["logMessage"] and "attempt 1 of 4" in row["logMessage"]
    assert row["logMessage"].endswith("; not retried")
    assert re.search(r"\((loopback|private|link-local|unspecified|multicast|not globally routable)\)",
                     row["logMessage"])


@pytest.mark.parametrize("url", [
    "ftp://hooks.example/x", "file:///etc/passwd", "javascript:alert(1)", "gopher://127.0.0.1:70/",
    "http://", "https:///path-only", "hooks.example/no-scheme", "http://user:pw@hooks.example/",
    "http://hooks.example/a b", "http://hooks.example/\r\nX-Injected: 1", "http://hooks.example:99999/",
    "https://hooks.example/" + "a" * 2048,
])
def test_post_http_url_is_validated_at_job_creation(notify_stack, url):
    response = notify_stack.open_job(postHttpUrl=url)
    assert response.status == 400, response.body
    assert response.fault_code == 30001 and "postHttpUrl" in response.body["fault"]["reason"]


# ---- admin routes -----------------------------------------------------------------------------


def make_user(stack, role: str, company: str | None = None) -> str:
    admin = get_deps().accounts.get_user_by_key_hash(auth.hash_key(stack.admin_key))
    _, key = auth.create_user(get_deps().companies, get_deps().accounts, admin, CreateUserRequest(
        company_handle=company or stack.company, email=f"{role.lower()}-{len(role)}@x.example", role=role))
    return key


def other_company(stack) -> str:
    admin = get_deps().accounts.get_user_by_key_hash(auth.hash_key(stack.admin_key))
    return auth.create_company(get_deps().companies, admin, CreateCompanyRequest(name="Other")).company_handle


def test_webhook_secret_access_and_rotation(notify_stack, receiver):
    path = f"/v1/admin/companies/{notify_stack.company}/webhook-secret"
    first = notify_stack.call("GET", path)
    assert first.status == 200 and first.body["companyHandle"] == notify_stack.company
    assert notify_stack.call("GET", path).body["webhookSecret"] == first.body["webhookSecret"]  # stable
    assert notify_stack.call("GET", path, key=notify_stack.admin_key).status == 200  # IpsAdmin: any company
    for role in ("IpsUser", "ImagePortalUser"):
        denied = notify_stack.call("GET", path, key=make_user(notify_stack, role))
        assert denied.status == 403 and denied.fault_code == 20003
    stranger = make_user(notify_stack, "IpsCompanyAdmin", other_company(notify_stack))
    assert notify_stack.call("GET", path, key=stranger).fault_code == 20006
    assert notify_stack.call("POST", f"{path}/rotate", key=stranger).status == 403
    assert notify_stack.call("GET", path, key=None).status == 401
    # the company settings never show it
    settings = notify_stack.call("GET", f"/v1/admin/companies/{notify_stack.company}")
    assert first.body["webhookSecret"] not in json.dumps(settings.body)

    rotated = notify_stack.call("POST", f"{path}/rotate")
    assert rotated.status == 200 and rotated.body["webhookSecret"] != first.body["webhookSecret"]
    assert rotated.body["previousSecretValidUntil"]
    # during the grace period, both the new and the old secret verify the delivery
    verify = documented_verifier()
    run_job(notify_stack, CLEAN, emailSetting="None", postHttpUrl=receiver.url)
    drain_notifications(notify_stack)
    (request,) = receiver.requests
    ts, sig = request["headers"]["X-Openips-Timestamp"], request["headers"]["X-Openips-Signature"]
    assert sig.count("v1=") == 2
    assert verify(rotated.body["webhookSecret"], request["body"], ts, sig)
    assert verify(first.body["webhookSecret"], request["body"], ts, sig)


def test_resend_route(notify_stack, receiver):
    job = run_job(notify_stack, WITH_ERROR, emailSetting="Error", postHttpUrl=receiver.url)
    drain_notifications(notify_stack)
    assert len(sent_mail()) == 1 and len(receiver.requests) == 1
    route = f"/v1/jobs/{job}/notifications/resend"

    assert notify_stack.call("POST", route, key=make_user(notify_stack, "IpsUser")).status == 403
    stranger = make_user(notify_stack, "IpsCompanyAdmin", other_company(notify_stack))
    denied = notify_stack.call("POST", route, key=stranger)
    assert denied.status == 403 and denied.fault_code == 20006
    assert notify_stack.call("POST", "/v1/jobs/j-doesnotexist/notifications/resend").status == 404
    running = notify_stack.open_job().body["jobHandle"]
    assert notify_stack.call("POST", f"/v1/jobs/{running}/notifications/resend").status == 409
    assert drain_notifications(notify_stack) == [] and len(receiver.requests) == 1  # nothing queued so far

    accepted = notify_stack.call("POST", route)  # the company's IpsCompanyAdmin
    assert accepted.status == 202 and accepted.body["jobHandle"] == job
    by_admin = notify_stack.call("POST", route, key=notify_stack.admin_key)  # IpsAdmin of another company
    assert by_admin.status == 202 and by_admin.body["resendId"] != accepted.body["resendId"]
    assert drain_notifications(notify_stack) == []
    assert len(sent_mail()) == 3 and all(m.subject.endswith("finished with errors") for m in sent_mail())
    deliveries = [r["headers"]["X-Openips-Delivery"] for r in receiver.requests]
    assert deliveries[0] == f"{job}.0" and len(set(deliveries)) == 3
    assert all(json.loads(r["body"])["resend"] for r in receiver.requests[1:])
    resent = [r for r in log_rows(notify_stack, job, "NotificationSent") if "re-sent" in r["logMessage"]]
    assert len(resent) == 2 and "ops@acme.example" in resent[0]["logMessage"] + resent[1]["logMessage"]
