"""Issue 13 item 4: the operator's SES sender cannot be turned into a phishing tool.

Recipients are limited to the domains the operator allows (``MAIL_ALLOWED_DOMAINS``), no text
reaches a mail header with a line break or another hidden character (even a job name stored
before names refused them), and mails and re-sends are capped per job and per company and UTC
day, with conditional writes that hold when requests race.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import boto3
import pytest
from moto.server import ThreadedMotoServer

from openips.adapters.mail import Mailer, MailRejectedError, get_mailer
from openips.adapters.dynamodb.factory import JobsTable
from openips.adapters.dynamodb.table import Table
from openips.models.domain import utcnow
from openips.services import notify_email
from openips.services.deps import get_deps, reset_caches
from openips.settings import parse_mail_domains
from openips_cli.local import free_port
from openips_cli.moto_atomic import make_atomic
from openips_cli.provision import load_template
from tests.integration.test_api import other_company_key
from tests.integration.test_local_atomicity import hammer
from tests.integration.test_notifications import (
    CLEAN,
    SENDER,
    Receiver,
    drain_notifications,
    jpeg,
    log_rows,
    run_job,
    sent_mail,
)

# A name stored before job names refused control characters: a forged header, a forged body, a terminal escape.
LEGACY_NAME = "spring\r\nBcc: victim@evil.example\r\n\r\nYour password expired: https://evil.example\x1b[2J\u2028\u202e"
HEADER_BREAKERS = ("Cc", "Cf", "Cs", "Zl", "Zp")


@pytest.fixture
def mail_stack(stack, monkeypatch):
    """The in-process stack with a verified sender and NotificationQueue wired, as docs/notifications.md sets it up."""
    monkeypatch.setenv("SENDER_EMAIL", SENDER)
    monkeypatch.setenv("MAIL_ALLOWED_DOMAINS", "acme.example, rival.example")  # the companies' domains, as listed
    monkeypatch.setenv("NOTIFICATION_QUEUE_URL", stack.resources.names["NotificationQueue"])
    monkeypatch.setenv("EMAIL_RETRY_BASE_SECONDS", "0")
    monkeypatch.setenv("WEBHOOK_ALLOW_LOOPBACK", "true")
    boto3.client("ses").verify_email_identity(EmailAddress=SENDER)
    reset_caches()
    yield stack
    reset_caches()


def configure(monkeypatch, **env: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_caches()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def resend(stack, job: str, key: str = "default"):
    return stack.call("POST", f"/v1/jobs/{job}/notifications/resend", key=key)


def finished_job(stack, key: str = "default", **params) -> str:
    """A job of the key's company, ended and finalized, with one file."""
    opened = stack.open_job("quota-job", key=key, **params)
    assert opened.status == 201, opened.body
    assert stack.post_file(opened.body["upload"], "a.jpg", jpeg()).status_code in (200, 204)
    assert stack.call("POST", f"/v1/upload-jobs/{opened.body['jobHandle']}/end", key=key).status == 202
    assert stack.drain() == {"ProcessQueue": [], "MediaQueue": [], "JobEventsQueue": []}
    return opened.body["jobHandle"]


# ---- recipients: only the domains the operator allows -----------------------------------------------


def test_a_user_outside_the_allowed_domains_is_refused(mail_stack, monkeypatch):
    configure(monkeypatch, MAIL_ALLOWED_DOMAINS="acme.example, *.Partner.example")

    def create(email: str, key: str = "default"):
        return mail_stack.call("POST", "/v1/admin/users", {"companyHandle": mail_stack.company, "email": email,
                                                          "role": "IpsUser"}, key=key)

    # outside; the apex of a wildcard; a look-alike suffix; the allowed name as a subdomain of another
    for email in ("phish@evil.example", "x@partner.example", "x@evilacme.example", "x@acme.example.evil.example"):
        for key in ("default", mail_stack.admin_key):  # the company's admin, and IpsAdmin alike
            refused = create(email, key)
            assert (refused.status, refused.fault_code) == (400, 30001), (email, refused.body)
            assert "allowed: acme.example, *.partner.example" in refused.body["fault"]["reason"]
    assert create("new@ACME.example").status == 201
    assert create("buyer@eu.partner.example").status == 201


def test_out_of_the_box_only_the_senders_own_domain_is_mailed_and_star_opens_it(mail_stack, monkeypatch):
    # A deployment whose operator never set MailAllowedDomains: its sender mails its own domain only.
    configure(monkeypatch, MAIL_ALLOWED_DOMAINS="", SENDER_EMAIL="openips@ops.example")
    boto3.client("ses").verify_email_identity(EmailAddress="openips@ops.example")

    def create(email: str):
        return mail_stack.call("POST", "/v1/admin/users", {"companyHandle": mail_stack.company, "email": email,
                                                          "role": "IpsUser"})

    refused = create("phish@evil.example")
    assert (refused.status, refused.fault_code) == (400, 30001)
    assert refused.body["fault"]["reason"] == (
        "Invalid value for email: phish@evil.example is not in a domain this service may send mail to "
        "(allowed: ops.example; the operator widens it with MailAllowedDomains)")
    assert create("colleague@ops.example").status == 201
    job = run_job(mail_stack, CLEAN, emailSetting="All")  # opened by ops@acme.example
    assert sent_mail() == []
    assert any(r["logMessage"].endswith("(allowed: ops.example)") for r in log_rows(mail_stack, job, "UploadWarning"))

    # "*" is the operator's explicit choice of any address.
    configure(monkeypatch, MAIL_ALLOWED_DOMAINS=" * ")
    assert create("anyone@elsewhere.example").status == 201
    run_job(mail_stack, CLEAN, emailSetting="All")
    (mail,) = sent_mail()
    assert (mail.source, mail.destinations["ToAddresses"]) == ("openips@ops.example", ["ops@acme.example"])


def test_a_recipient_created_before_the_setting_is_not_mailed(mail_stack, monkeypatch):
    configure(monkeypatch, MAIL_ALLOWED_DOMAINS="partner.example")  # ops@acme.example exists already
    job = run_job(mail_stack, CLEAN, emailSetting="All")
    assert sent_mail() == []
    (warning,) = [r for r in log_rows(mail_stack, job, "UploadWarning") if "e-mail" in r["logMessage"]]
    assert warning["logMessage"] == ("The Completion e-mail to ops@acme.example was not sent: the address is not in "
                                     "a domain this service may send mail to (allowed: partner.example)")
    korean = mail_stack.job_log(job, locale="ko-KR", recordsPerPage="1000")  # localised like the other mail rows
    assert any(r["logMessage"].endswith("(허용: partner.example)") for r in korean["detailArray"])
    assert korean["fatalError"] is False and korean["fileErrorCount"] == 0  # a mail never fails the job


# ---- no header injection --------------------------------------------------------------------------


def test_a_legacy_job_name_cannot_forge_headers_or_lines(mail_stack):
    finished = finished_job(mail_stack)  # emailSetting None: nothing sent yet
    stored = get_deps().jobs.get(finished)
    legacy = stored.model_copy(update={  # as a job opened before the naming rule was stored
        "name": LEGACY_NAME, "options": stored.options.model_copy(update={"email_setting": "JobCompletion"})})
    assert notify_email.send_job_mail(get_deps(), get_mailer(), legacy, utcnow()) == "Completion"

    (mail,) = sent_mail()
    assert [ch for ch in mail.subject if unicodedata.category(ch) in HEADER_BREAKERS] == []
    assert mail.subject == ('[openips] Upload job "spring\\u000d\\u000aBcc: victim@evil.example\\u000d\\u000a'
                            '\\u000d\\u000aYour password expired: https://evil.example\\u001b[2J\\u2028\\u202e" '
                            'completed')
    first_line, *other_lines = mail.body.split("\n")
    assert first_line.startswith("Upload job spring\\u000d\\u000aBcc: victim@evil.example")
    assert not [line for line in other_lines if "evil.example" in line]  # no line of the body is the attacker's
    assert not [ch for ch in mail.body if ch != "\n" and unicodedata.category(ch) in HEADER_BREAKERS]
    assert mail.destinations["ToAddresses"] == ["ops@acme.example"]


def test_the_mailer_escapes_any_subject_and_refuses_forged_addresses(mail_stack):
    mailer = Mailer()
    mailer.send(SENDER, "ops@acme.example", "hello\r\nBcc: victim@evil.example", "body\x1b[31m\n")
    (mail,) = sent_mail()
    assert mail.subject == "hello\\u000d\\u000aBcc: victim@evil.example"
    assert mail.body == "body\\u001b[31m\n"
    for recipient in ("ops@acme.example\r\nBcc: victim@evil.example", "ops@acme.example\u2028", "a b@acme.example"):
        with pytest.raises(MailRejectedError):
            mailer.send(SENDER, recipient, "subject", "body")
    assert len(sent_mail()) == 1


# ---- quotas -------------------------------------------------------------------------------------------


def test_the_sixth_resend_of_a_job_is_refused_before_anything_is_queued(mail_stack):
    job = finished_job(mail_stack)
    for _ in range(5):
        assert resend(mail_stack, job).status == 202
    refused = resend(mail_stack, job, key=mail_stack.admin_key)  # the quota is the job's, whoever asks
    assert (refused.status, refused.fault_code) == (429, 30001), refused.body
    assert "at most 5 times" in refused.body["fault"]["reason"]
    assert drain_notifications(mail_stack) == []
    resent = [r for r in log_rows(mail_stack, job, "NotificationSent") if "re-sent" in r["logMessage"]]
    assert len(resent) == 5  # the sixth request queued nothing


def test_a_companys_daily_resend_quota_spans_its_jobs_and_no_other_company(mail_stack, monkeypatch):
    configure(monkeypatch, MAX_RESENDS_PER_COMPANY_DAY="3")
    first, second = finished_job(mail_stack), finished_job(mail_stack)
    rival_key = other_company_key(mail_stack)
    theirs = finished_job(mail_stack, key=rival_key)
    assert [resend(mail_stack, job).status for job in (first, first, second)] == [202, 202, 202]
    for job in (second, first):
        refused = resend(mail_stack, job)
        assert (refused.status, refused.fault_code) == (429, 30001), refused.body
        assert "at most 3 re-sends per day (UTC)" in refused.body["fault"]["reason"]
    assert resend(mail_stack, theirs, key=rival_key).status == 202  # another tenant is not affected

    # A refused request took no place in its job's own quota: with room for the company, the first job
    # (two re-sends) gets exactly one more of three.
    configure(monkeypatch, MAX_RESENDS_PER_COMPANY_DAY="100", MAX_RESENDS_PER_JOB="3")
    assert [resend(mail_stack, first).status for _ in range(2)] == [202, 429]


def test_the_daily_mail_quota_stops_mails_not_webhooks_nor_other_companies(mail_stack, receiver, monkeypatch):
    configure(monkeypatch, MAX_MAILS_PER_COMPANY_DAY="1")
    run_job(mail_stack, CLEAN, emailSetting="JobCompletion")
    assert len(sent_mail()) == 1
    over = run_job(mail_stack, CLEAN, emailSetting="JobCompletion", postHttpUrl=receiver.url)
    assert len(sent_mail()) == 1  # not mailed
    (warning,) = [r for r in log_rows(mail_stack, over, "UploadWarning") if "e-mail" in r["logMessage"]]
    assert "was not sent: company" in warning["logMessage"]
    assert "reached its daily mail quota (1 e-mails on" in warning["logMessage"]
    drain_notifications(mail_stack)
    assert len(receiver.requests) == 1  # the webhook still goes
    # A re-send's mail counts in the same quota: refused the same way.
    assert resend(mail_stack, over).status == 202
    drain_notifications(mail_stack)
    assert len(sent_mail()) == 1
    assert len([r for r in log_rows(mail_stack, over, "UploadWarning") if "daily mail quota" in r["logMessage"]]) == 2

    rival_key = other_company_key(mail_stack)
    finished_job(mail_stack, key=rival_key, emailSetting="JobCompletion")
    assert [m.destinations["ToAddresses"] for m in sent_mail()][-1] == ["spy@rival.example"]


# ---- race safety: conditional writes, not read-then-write --------------------------------------------


@pytest.fixture
def racing_store(monkeypatch) -> Iterator[JobsTable]:
    """The jobs table's repositories on a moto server that serialises each request (as DynamoDB does),
    hit from many threads."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port("127.0.0.1"), verbose=False)
    server.start()
    make_atomic(server)
    try:
        host, port = server.get_host_and_port()
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
        table = f"jobs-{uuid.uuid4().hex[:8]}"
        boto3.client("dynamodb").create_table(
            TableName=table, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
        yield JobsTable.on(Table(table))
    finally:
        server.stop()


def test_quotas_hold_when_requests_race(racing_store):
    day = utcnow().date().isoformat()
    racing_store.table.resource.put_item(Item={"pk": "J#j-race", "sk": "JOB"})
    outcomes: list[str | None] = []
    errors = hammer(lambda _: outcomes.append(racing_store.quotas.reserve_resend("j-race", "c-race", day, 5, 1000)))
    assert errors == [] and Counter(outcomes) == {None: 5, "job": 11}

    steps = [f"email:resend-{i}:Completion" for i in range(16)]
    sent: dict[str, bool] = {}
    quotas = racing_store.quotas
    errors = hammer(lambda i: sent.update({steps[i]: quotas.reserve_mail("j-race", steps[i], "c-race", day, 7)}))
    assert errors == [] and Counter(sent.values()) == {True: 7, False: 9}
    # a step counted once is not counted again when it is taken over after a crash (its item rewritten)
    counted = next(step for step, ok in sent.items() if ok)
    racing_store.steps.claim("j-race", counted, utcnow(), 0)
    assert racing_store.steps.claim("j-race", counted, utcnow() + timedelta(seconds=1), 120) == "new"
    assert racing_store.quotas.reserve_mail("j-race", counted, "c-race", day, 7) is True
    day_item = racing_store.table.resource.get_item(Key={"pk": "C#c-race", "sk": f"MAIL#{day}"})["Item"]
    assert (day_item["resends"], day_item["mails"]) == (5, 7)
    assert day_item["expiresAt"] > utcnow().timestamp() + 2 * 86400  # the jobs table's TTL removes it


def test_the_template_passes_the_allowed_domains_to_the_functions_that_mail_or_create_users():
    template = load_template()
    parameter = template["Parameters"]["MailAllowedDomains"]
    assert parameter["Default"] == ""  # the sender's own domain
    # What CloudFormation lets through, the functions parse (settings.parse_mail_domains), and no more.
    pattern = re.compile(parameter["AllowedPattern"])
    for accepted in ("", "*", " * ", "acme.example", "acme.example, *.partner.example"):
        assert pattern.search(accepted) and parse_mail_domains(accepted) is not None, accepted
    for refused in ("*, acme.example", "ops@acme.example", "acme.example;evil.example", "**.example"):
        assert not pattern.search(refused), refused
    for function in ("ApiFunction", "FinalizeJobFunction", "NotificationFunction"):
        env = template["Resources"][function]["Properties"]["Environment"]["Variables"]
        assert env["MAIL_ALLOWED_DOMAINS"] == {"Ref": "MailAllowedDomains"}, function
    assert template["Resources"]["JobsTable"]["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": "expiresAt", "Enabled": True}
