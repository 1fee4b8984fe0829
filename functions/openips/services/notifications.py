"""Job-end notifications: what finalize and NotificationFunction run, and the admin routes.

docs/notifications.md describes the behaviour; ``notify_email`` and ``webhooks`` hold the
two channels.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from openips.adapters.mail import Mailer, get_mailer
from openips.adapters.notification_queue import NotificationQueue, get_notification_queue
from openips.models import errors
from openips.models.domain import Job, LogEntry, LogType, User, utcnow
from openips.observability import logger
from openips.services import auth, mail_policy, notify_email, webhooks
from openips.services.deps import Deps
from openips.settings import Settings

ADMIN_ROLES = frozenset({"IpsAdmin", "IpsCompanyAdmin"})


@dataclass(frozen=True)
class Notifiers:
    mailer: Mailer
    queue: NotificationQueue


def get_notifiers(settings: Settings) -> Notifiers:
    return Notifiers(mailer=get_mailer(), queue=get_notification_queue(settings.notification_queue_url))


def notify_job_end(deps: Deps, notifiers: Notifiers, job: Job, now: datetime,
                   set_rows: list[LogEntry] | None = None) -> None:
    """The job's e-mail and the start of its webhook chain, each once."""
    notify_email.send_job_mail(deps, notifiers.mailer, job, now, set_rows=set_rows)
    webhooks.start_chain(deps, notifiers.queue, job, webhooks.FIRST_CHAIN, now)


def handle_message(deps: Deps, notifiers: Notifiers, message: dict, now: datetime) -> str:
    """One NotificationQueue message: a webhook attempt (or hop), or a re-send request."""
    kind = message.get("type")
    if kind == "WebhookAttempt":
        return webhooks.deliver(deps, notifiers.queue, message, now)
    if kind == "Resend":
        return _resend(deps, notifiers, message, now)
    logger.warning("unknown notification message dropped", message_type=str(kind)[:40])
    return "dropped"


def _resend(deps: Deps, notifiers: Notifiers, message: dict, now: datetime) -> str:
    job = deps.jobs.get(message["jobHandle"])
    if job is None:
        return "nothing"
    resend_id = message["resendId"]
    tag = f"resend-{resend_id}"
    step = f"resend:{resend_id}"
    if deps.steps.claim(job.job_handle, step, now, 300) == "new":
        deps.steps.finish(job.job_handle, step, [LogEntry.localised(
            LogType.NOTIFICATION_SENT, "notify.resent", {"who": message.get("requestedBy", "an administrator")},
            now, code="notification.resend")])
    notify_email.send_job_mail(deps, notifiers.mailer, job, now, tag=tag)
    webhooks.start_chain(deps, notifiers.queue, job, tag, now)
    return "resent"


# ---- admin routes ---------------------------------------------------------------------------


def _admin_of(deps: Deps, user: User, company_handle: str, operation: str) -> None:
    auth.require_role(user, ADMIN_ROLES, operation)
    auth.check_owner(user, company_handle)
    if deps.companies.get(company_handle) is None:
        raise errors.unknown_handle("company", company_handle)


def get_webhook_secret(deps: Deps, user: User, company_handle: str, now: datetime) -> dict:
    _admin_of(deps, user, company_handle, "getWebhookSecret")
    record = webhooks.company_secret(deps, company_handle, now)
    logger.info("webhook secret read", company_handle=company_handle, by=user.user_handle)
    return record


def rotate_webhook_secret(deps: Deps, user: User, company_handle: str, now: datetime) -> dict:
    _admin_of(deps, user, company_handle, "rotateWebhookSecret")
    record = deps.accounts.rotate_webhook_secret(company_handle, webhooks.new_secret(), now,
                                              now + webhooks.PREVIOUS_SECRET_GRACE)
    logger.info("webhook secret rotated", company_handle=company_handle, by=user.user_handle)
    return record


def request_resend(deps: Deps, user: User, job_handle: str, notifiers_queue: NotificationQueue | None = None,
                   now: datetime | None = None) -> str:
    """Queue a re-send of an ended job's e-mail and webhook; returns the re-send id.

    Beyond the job's or its company's daily re-send quota: 30001 with HTTP 429, and nothing is queued.
    """
    auth.require_role(user, ADMIN_ROLES, "resendJobNotifications")
    job = deps.jobs.get(job_handle)
    if job is None:
        raise errors.unknown_handle("job", job_handle)
    auth.check_owner(user, job.company_handle)
    if not job.finished:
        raise errors.invalid_parameter(f"Job {job_handle} has not ended; notifications are sent when it ends", 409)
    mail_policy.reserve_resend(deps, job, now or utcnow())
    resend_id = secrets.token_hex(6)
    notifiers_queue = notifiers_queue or get_notification_queue(deps.settings.notification_queue_url)
    notifiers_queue.send({"type": "Resend", "jobHandle": job_handle, "resendId": resend_id,
                          "requestedBy": user.email})
    return resend_id
