"""The job-end e-mail (``emailSetting``, spec §6.1): which mail, its text, sending it once.

Semantics (docs/notifications.md): every mail is sent when the job has ended, at most one per
job and kind, to ``job.submit_user_email``, in the job's locale (English and Korean; any other
locale gets English).

=================  ====================================================================
``All``            a ``Completion`` mail, always, listing the first errors and warnings
``JobCompletion``  a ``Completion`` mail, always, with the counts only
``Error``          an ``Error`` mail when fileErrorCount > 0 or fatalError, listing errors
``ErrorAndWarning`` an ``Error`` mail as above, else a ``Warning`` mail when
                   fileWarningCount > 0; both list errors and warnings
``None``           nothing
=================  ====================================================================
"""

from __future__ import annotations

import time
from datetime import datetime

from openips.adapters.mail import Mailer, MailRejectedError
from openips.models.domain import Job, LogEntry, LogType
from openips.models.errors import TransientError
from openips.models.messages import message
from openips.models.text import escape_hidden
from openips.observability import logger
from openips.services import mail_policy
from openips.services.deps import Deps

MAX_LISTED = 10
ERROR_TYPES = [LogType.UPLOAD_ERROR.value, LogType.FILE_CANCEL.value, LogType.FATAL_ERROR.value]
WARNING_TYPES = [LogType.UPLOAD_WARNING.value]
NOTIFICATION_CODES = ("notification.email", "notification.webhook", "notification.resend")
EMAIL_LEASE_SECONDS = 120

# (errors listed, warnings listed) per setting
_LISTS = {"All": (True, True), "JobCompletion": (False, False), "Error": (True, False),
          "ErrorAndWarning": (True, True)}

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "subject.Completion": '[openips] Upload job "{job}" completed',
        "subject.Error": '[openips] Upload job "{job}" finished with errors',
        "subject.Warning": '[openips] Upload job "{job}" finished with warnings',
        "intro": "Upload job {job} ({handle}) of company {company} ended on {end} (UTC).",
        "stopped": "The job was stopped by {by}.",
        "fatal": "The job hit a fatal error.",
        "counts": ("Files: {total} received, {success} new, {update} updated, {duplicate} duplicates skipped, "
                   "{error} errors, {warning} with warnings."),
        "sets": "Sets created or updated ({count}):",
        "errors": "Errors (first {shown} of {count}):",
        "warnings": "Warnings (first {shown} of {count}):",
        "log": "Full job log:",
        "log.api": "  GET {url}  (Authorization: Bearer <your API key>)",
        "log.cli": "  openips jobs details {handle}",
        "footer": "You receive this mail because the job was submitted with emailSetting={setting}.",
    },
    "ko": {
        "subject.Completion": '[openips] 업로드 작업 "{job}"이(가) 완료되었습니다',
        "subject.Error": '[openips] 업로드 작업 "{job}"이(가) 오류와 함께 종료되었습니다',
        "subject.Warning": '[openips] 업로드 작업 "{job}"이(가) 경고와 함께 종료되었습니다',
        "intro": "회사 {company}의 업로드 작업 {job} ({handle})이(가) {end} (UTC)에 종료되었습니다.",
        "stopped": "작업이 {by}(으)로 중지되었습니다.",
        "fatal": "작업에 치명적인 오류가 발생했습니다.",
        "counts": ("파일: 수신 {total}개, 신규 {success}개, 업데이트 {update}개, 중복으로 건너뜀 {duplicate}개, "
                   "오류 {error}개, 경고 {warning}개."),
        "sets": "생성되거나 업데이트된 세트 ({count}개):",
        "errors": "오류 ({count}개 중 처음 {shown}개):",
        "warnings": "경고 ({count}개 중 처음 {shown}개):",
        "log": "전체 작업 로그:",
        "log.api": "  GET {url}  (Authorization: Bearer <API 키>)",
        "log.cli": "  openips jobs details {handle}",
        "footer": "이 메일은 작업이 emailSetting={setting}(으)로 제출되었기 때문에 발송되었습니다.",
    },
}


def language(locale: str | None) -> str:
    lang = (locale or "").replace("_", "-").split("-")[0].lower()
    return lang if lang in TEXTS else "en"


def has_errors(job: Job) -> bool:
    return job.counts.error > 0 or job.fatal_error


def mail_kind(job: Job) -> str | None:
    """``Completion``, ``Error``, ``Warning`` or None (no mail), from the job's emailSetting."""
    setting = job.options.email_setting
    if setting in ("All", "JobCompletion"):
        return "Completion"
    if setting == "Error":
        return "Error" if has_errors(job) else None
    if setting == "ErrorAndWarning":
        if has_errors(job):
            return "Error"
        return "Warning" if job.counts.warning > 0 else None
    return None


def log_details_url(api_url: str, job_handle: str) -> str | None:
    return f"{api_url.rstrip('/')}/v1/jobs/{job_handle}/log-details" if api_url else None


def _problems(deps: Deps, job: Job, types: list[str]) -> tuple[list[LogEntry], int]:
    """The first rows of these types (oldest first) and how many there are in all."""
    shown: list[LogEntry] = []
    count = 0
    for row in deps.logs.query(job.job_handle, types, newest_first=False):
        if row.code in NOTIFICATION_CODES:
            continue
        count += 1
        if len(shown) < MAX_LISTED:
            shown.append(row)
    return shown, count


def _row_text(row: LogEntry, locale: str) -> str:
    text = row.text(locale) if hasattr(row, "text") else row.log_message
    return escape_hidden(" ".join(text.split()))  # one line per row, whatever the message held


def compose(deps: Deps, job: Job, kind: str, set_rows: list[LogEntry] | None = None) -> tuple[str, str]:
    """(subject, plain-text body) of the job's mail, in the job's language."""
    t = TEXTS[language(job.locale)]
    c = job.counts
    # Jobs named before names refused control characters may hold CR/LF or ESC: never raw in a header or a line.
    name = escape_hidden(job.name)
    lines = [
        t["intro"].format(job=name, handle=job.job_handle, company=job.company_handle,
                          end=(job.end_date or job.last_activity).strftime("%Y-%m-%d %H:%M:%S")),
    ]
    if job.stopped_by:
        lines.append(t["stopped"].format(by=job.stopped_by))
    if job.fatal_error:
        lines.append(t["fatal"])
    lines += ["", t["counts"].format(total=c.received, success=c.success, update=c.update,
                                      duplicate=c.duplicate, error=c.error, warning=c.warning)]
    made = [row for row in set_rows or [] if row.log_type in (LogType.UPLOAD_SUCCESS, LogType.FILE_UPDATED)]
    if made:
        lines += ["", t["sets"].format(count=len(made))]
        lines += [f"- {_row_text(row, job.locale)}" for row in made[:MAX_LISTED]]
    list_errors, list_warnings = _LISTS.get(job.options.email_setting, (False, False))
    for wanted, types, title in ((list_errors, ERROR_TYPES, "errors"), (list_warnings, WARNING_TYPES, "warnings")):
        if not wanted:
            continue
        rows, count = _problems(deps, job, types)
        if rows:
            lines += ["", t[title].format(shown=len(rows), count=count)]
            lines += [f"- {_row_text(row, job.locale)}" for row in rows]
    lines += ["", t["log"]]
    url = log_details_url(deps.settings.api_url, job.job_handle)
    if url:
        lines.append(t["log.api"].format(url=url))
    lines += [t["log.cli"].format(handle=job.job_handle), "", t["footer"].format(setting=job.options.email_setting)]
    return t[f"subject.{kind}"].format(job=name), "\n".join(lines) + "\n"


def _row(log_type: LogType, message_id: str, params: dict, now: datetime) -> LogEntry:
    return LogEntry.localised(log_type, message_id, params, now, code="notification.email")


def _refusal(deps: Deps, job: Job, kind: str, step: str, now: datetime) -> tuple[str, dict, str] | None:
    """Why the mail may not go (its row's message id and parameters, the step's outcome), or None."""
    recipient = job.submit_user_email
    if not deps.settings.sender_email:
        return "mail.not_configured", {"kind": kind, "recipient": recipient}, "NotConfigured"
    allowed = mail_policy.AllowedDomains.of(deps.settings)
    if not allowed.allows(recipient):  # a user created before MAIL_ALLOWED_DOMAINS was set
        return ("mail.domain_not_allowed", {"kind": kind, "recipient": recipient, "allowed": allowed.describe()},
                "DomainNotAllowed")
    # Counted last, so that a mail refused for another reason takes no place in the quota.
    if not mail_policy.reserve_mail(deps, job, step, now):
        return ("mail.quota_reached", {"kind": kind, "recipient": recipient, "company": job.company_handle,
                                       "limit": deps.settings.max_mails_per_company_day,
                                       "day": mail_policy.utc_day(now)}, "QuotaReached")
    return None


def send_job_mail(deps: Deps, mailer: Mailer, job: Job, now: datetime, tag: str = "",
                  set_rows: list[LogEntry] | None = None) -> str | None:
    """Send the job's mail once (step ``X#email[:<tag>]:<kind>``); returns the kind sent or tried.

    Raises TransientError when another invocation holds the step (the caller's message is
    retried later). A mail that cannot be sent is an ``UploadWarning`` row, never a job failure.
    """
    kind = mail_kind(job)
    if kind is None:
        return None
    step = f"email{':' + tag if tag else ''}:{kind}"
    state = deps.steps.claim(job.job_handle, step, now, EMAIL_LEASE_SECONDS)
    if state == "done":
        return kind
    if state == "busy":
        raise TransientError(f"step {step} of {job.job_handle} is being run by another invocation")
    recipient = job.submit_user_email
    sender = deps.settings.sender_email
    refusal = _refusal(deps, job, kind, step, now)
    if refusal is not None:
        reason_id, params, outcome = refusal
        deps.steps.finish(job.job_handle, step, [_row(LogType.UPLOAD_WARNING, reason_id, params, now)],
                               outcome=outcome)
        logger.warning("job mail not sent", kind=kind, reason=outcome)
        return kind
    subject, text = compose(deps, job, kind, set_rows)
    attempts = deps.settings.email_attempts
    error = ""
    for attempt in range(1, attempts + 1):
        try:
            message_id = mailer.send(sender, recipient, subject, text)
        except TransientError as exc:
            error = str(exc)
            logger.warning("job mail attempt failed", kind=kind, attempt=attempt, error=error)
            if attempt < attempts:
                time.sleep(deps.settings.email_retry_base_seconds * 2 ** (attempt - 1))
            continue
        except MailRejectedError as exc:
            error = str(exc)
            logger.warning("job mail refused", kind=kind, attempt=attempt, error=error)
            break
        deps.steps.finish(job.job_handle, step, [_row(
            LogType.NOTIFICATION_SENT, "mail.sent", {"kind": kind, "recipient": recipient, "attempt": (
                message("mail.attempt", n=attempt) if attempt > 1 else "")}, now)],
            outcome="Sent", message_id=message_id, attempts=attempt)
        logger.info("job mail sent", kind=kind, attempts=attempt)
        return kind
    deps.steps.finish(job.job_handle, step, [_row(
        LogType.UPLOAD_WARNING, "mail.failed", {
            "kind": kind, "recipient": recipient, "error": error,
            "attempts": message("mail.attempts.many", n=attempt) if attempt > 1 else message("mail.attempts.one")},
        now)], outcome="Failed", attempts=attempt)
    return kind
