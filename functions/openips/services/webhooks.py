"""The ``postHttpUrl`` webhook: payload, signature, and a delivery chain run through SQS.

One chain per job (chain ``0``), plus one per admin re-send (chain = the re-send id). Each
attempt is a message on NotificationQueue; each attempt is claimed with a marker item
(``X#webhook:<chain>:<attempt>``), so duplicate messages of an attempt POST once and a
chain never forks. Delays longer than SQS's 900 s are hops: a message that arrives before
its ``notBefore`` is sent again with the remaining delay. Nothing sleeps.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from openips.adapters import webhook_http
from openips.adapters.notification_queue import MAX_DELAY_SECONDS, NotificationQueue
from openips.models.domain import Job, LogEntry, LogType
from openips.models.messages import message
from openips.observability import logger
from openips.services import views
from openips.services.deps import Deps
from openips.services.notify_email import log_details_url

EVENT = "job.ended"
SECRET_PREFIX = "whsec_"
PREVIOUS_SECRET_GRACE = timedelta(hours=24)
FIRST_CHAIN = "0"
_COUNTS = ("fileSuccessCount", "fileErrorCount", "fileWarningCount", "fileDuplicateCount", "fileUpdateCount",
           "totalFileCount", "transferSuccessCount", "transferErrorCount", "transferWarningCount")


# ---- secrets -----------------------------------------------------------------------------


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def company_secret(deps: Deps, company_handle: str, now: datetime) -> dict:
    """The company's secret record, created on first use."""
    return deps.accounts.get_webhook_secret(company_handle) or deps.accounts.create_webhook_secret(
        company_handle, new_secret(), now)


def signing_secrets(record: dict, now: datetime) -> list[str]:
    """The current secret, and the previous one while its grace period lasts."""
    found = [record["secret"]]
    until = record.get("previous_valid_until")
    if record.get("previous_secret") and until and datetime.fromisoformat(until.replace("Z", "+00:00")) > now:
        found.append(record["previous_secret"])
    return found


# ---- payload and signature ---------------------------------------------------------------


def payload(deps: Deps, job: Job, chain: str) -> dict:
    log = views.job_log(job).model_dump(by_alias=True, mode="json")
    return {
        "type": EVENT, "deliveryId": f"{job.job_handle}.{chain}", "resend": chain != FIRST_CHAIN,
        "jobHandle": job.job_handle, "jobName": job.name, "originalJobName": job.original_name,
        "companyHandle": job.company_handle, "state": job.state.value, "stoppedBy": job.stopped_by,
        "fatalError": job.fatal_error, "startDate": log["startDate"], "endDate": log.get("endDate"),
        **{name: log[name] for name in _COUNTS},
        "logDetailsUrl": log_details_url(deps.settings.api_url, job.job_handle),
    }


def body_bytes(data: dict) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """hex HMAC-SHA256 of ``<timestamp>.<body>`` keyed with the secret's UTF-8 bytes."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signed_headers(signing: list[str], timestamp: int, body: bytes, delivery_id: str, attempt: int) -> dict[str, str]:
    return {
        "X-Openips-Event": EVENT,
        "X-Openips-Delivery": delivery_id,
        "X-Openips-Attempt": str(attempt),
        "X-Openips-Timestamp": str(timestamp),
        "X-Openips-Signature": ",".join(f"v1={signature(s, timestamp, body)}" for s in signing),
    }


def display_url(url: str) -> str:
    """scheme://host[:port]/path: no query, no credentials (they may hold tokens)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path or '/'}"


# ---- the delivery chain ----------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    result: str  # "Delivered" | "Retry" | "Stopped" | "Refused"
    detail: str
    http_status: int | None = None


def attempt_count(deps: Deps) -> int:
    return len(deps.settings.webhook_retry_delays) + 1


def attempt_message(job_handle: str, chain: str, attempt: int, not_before: float) -> dict:
    return {"type": "WebhookAttempt", "jobHandle": job_handle, "chain": chain, "attempt": attempt,
            "notBefore": not_before}


def start_chain(deps: Deps, queue: NotificationQueue, job: Job, chain: str, now: datetime) -> bool:
    """Queue attempt 1 of a chain once (step ``X#webhook:<chain>``); False without a URL."""
    if not job.options.post_http_url:
        return False
    step = f"webhook:{chain}"
    if (deps.steps.get(job.job_handle, step) or {}).get("status") == "Done":
        return True
    # A duplicate attempt-1 message (crash before the marker) is harmless: attempts are claimed.
    queue.send(attempt_message(job.job_handle, chain, 1, now.timestamp()))
    deps.steps.finish(job.job_handle, step, [], outcome="Queued")
    return True


def classify(status: int) -> Outcome:
    if 200 <= status < 300:
        return Outcome("Delivered", f"HTTP {status}", status)
    if status >= 500 or status in (408, 429):
        return Outcome("Retry", f"HTTP {status}", status)
    if 300 <= status < 400:
        return Outcome("Stopped", f"HTTP {status} (redirects are not followed)", status)
    return Outcome("Stopped", f"HTTP {status}", status)


def post_once(deps: Deps, job: Job, chain: str, attempt: int, now: datetime) -> Outcome:
    url = job.options.post_http_url or ""
    record = company_secret(deps, job.company_handle, now)
    body = body_bytes(payload(deps, job, chain))
    timestamp = int(now.timestamp())
    headers = signed_headers(signing_secrets(record, now), timestamp, body, f"{job.job_handle}.{chain}", attempt)
    try:
        response = webhook_http.post(url, body, headers, deps.settings.webhook_timeout_seconds,
                                     deps.settings.webhook_allow_loopback)
    except webhook_http.WebhookRefusedError as exc:
        return Outcome("Refused", f"refused: {exc}")
    except webhook_http.WebhookTransportError as exc:
        return Outcome("Retry", str(exc))
    return classify(response.status)


def _delay_text(seconds: int) -> str:
    return f"{seconds // 3600} h {seconds % 3600 // 60} min" if seconds >= 3600 else (
        f"{seconds // 60} min" if seconds >= 60 else f"{seconds} s")


def attempt_row(deps: Deps, job: Job, attempt: int, outcome: Outcome, next_delay: int | None,
                now: datetime) -> LogEntry:
    total = attempt_count(deps)
    target = display_url(job.options.post_http_url or "")
    params = {"target": target, "detail": outcome.detail, "attempt": attempt, "total": total}
    if outcome.result == "Delivered":
        return LogEntry.localised(LogType.NOTIFICATION_SENT, "webhook.delivered", params, now,
                                  code="notification.webhook")
    if outcome.result == "Retry" and next_delay is not None:
        tail = message("webhook.next", delay=_delay_text(next_delay))
    elif outcome.result == "Retry":
        tail = message("webhook.give_up")
    else:
        tail = message("webhook.not_retried")
    return LogEntry.localised(LogType.UPLOAD_WARNING, "webhook.failed", params | {"tail": tail}, now,
                              code="notification.webhook")


def deliver(deps: Deps, queue: NotificationQueue, message: dict, now: datetime) -> str:
    """Handle one WebhookAttempt message; returns what happened (for logs and tests)."""
    job_handle, chain, attempt = message["jobHandle"], str(message["chain"]), int(message["attempt"])
    wait = float(message.get("notBefore", 0)) - now.timestamp()
    if wait > 0.5:  # an intermediate hop of a long delay
        queue.send(message, delay_seconds=min(MAX_DELAY_SECONDS, math.ceil(wait)))
        return "hop"
    job = deps.jobs.get(job_handle)
    if job is None or not job.options.post_http_url:
        return "nothing"
    step = f"webhook:{chain}:{attempt:02d}"
    lease = int(deps.settings.webhook_timeout_seconds) * 3 + 60
    state = deps.steps.claim(job_handle, step, now, lease)
    if state == "busy":
        return "busy"  # the holder's own message comes back if it crashed
    if state == "done":
        _queue_next_if_pending(deps, queue, job_handle, chain, attempt, step, now)
        return "duplicate"
    outcome = post_once(deps, job, chain, attempt, now)
    delays = deps.settings.webhook_retry_delays
    next_delay = delays[attempt - 1] if outcome.result == "Retry" and attempt <= len(delays) else None
    row = attempt_row(deps, job, attempt, outcome, next_delay, now)
    not_before = now.timestamp() + next_delay if next_delay is not None else None
    deps.steps.finish(job_handle, step, [row], outcome=outcome.result, detail=outcome.detail,
                           next="pending" if next_delay is not None else "none",
                           next_not_before=str(not_before) if not_before is not None else None)
    logger.info("webhook attempt", chain=chain, attempt=attempt, outcome=outcome.result, detail=outcome.detail,
                host=urlsplit(job.options.post_http_url).hostname)
    if not_before is not None:
        _queue_next_if_pending(deps, queue, job_handle, chain, attempt, step, now)
    return outcome.result


def _queue_next_if_pending(deps: Deps, queue: NotificationQueue, job_handle: str, chain: str, attempt: int,
                           step: str, now: datetime) -> None:
    """Send the next attempt's message unless that was done (a crash between the two writes)."""
    item = deps.steps.get(job_handle, step) or {}
    if item.get("next") != "pending":
        return
    not_before = float(item["next_not_before"])
    delay = max(0, math.ceil(not_before - now.timestamp()))
    queue.send(attempt_message(job_handle, chain, attempt + 1, not_before), delay_seconds=delay)
    deps.steps.set_fields(job_handle, step, next="queued")
