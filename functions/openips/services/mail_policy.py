"""Whom the operator's SES sender may mail, and how often (issue 13; docs/security.md).

* **Recipients** are limited to the domains of ``MAIL_ALLOWED_DOMAINS``: ``example.com`` (that
  domain exactly), ``*.example.com`` (its subdomains, not itself) or ``*`` (any address, the
  operator's explicit choice). Empty = the sender's own domain only: out of the box, a company admin
  cannot make the operator's sender mail an address elsewhere. Checked when a user is created (30001)
  and again when a mail is sent, where a user created before the setting gets an ``UploadWarning``
  row instead of the mail.
* **Quotas**: re-send requests per job and per company and UTC day, refused (30001, HTTP 429)
  before anything is queued; mails per company and UTC day (job-end and re-sent alike), counted
  just before a mail is handed to SES. Each is a conditional DynamoDB ADD in the store.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from openips.models import errors
from openips.models.domain import Job
from openips.services.deps import Deps
from openips.settings import Settings, mail_allowed_domains

# A local part SES and every mail reader take as one address: RFC 5322's dot-atom, ASCII only.
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
ANY = "*"  # MAIL_ALLOWED_DOMAINS=*: any address


def recipient_domain(address: str) -> str | None:
    """The address's domain, lower case and ASCII (an IDN as ``xn--``), or None when the address is
    not one plain ``local@domain`` (two ``@``, quotes, brackets, spaces, control characters)."""
    local, at, domain = address.partition("@")
    if not at or "@" in domain or not _LOCAL_PART.fullmatch(local):
        return None
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    labels = ascii_domain.split(".")
    return ascii_domain if len(ascii_domain) <= 253 and all(_LABEL.fullmatch(label) for label in labels) else None


@dataclass(frozen=True)
class AllowedDomains:
    """The operator's rule; ``patterns`` as Settings normalised them (lower case, no empty entries)."""

    patterns: tuple[str, ...]

    @classmethod
    def of(cls, settings: Settings) -> AllowedDomains:
        return cls.configured(settings.mail_allowed_domains, settings.sender_email)

    @classmethod
    def configured(cls, patterns: tuple[str, ...], sender: str) -> AllowedDomains:
        """The operator's list; without one, the sender's domain (no sender: no mail is sent, any address)."""
        if patterns or not sender:
            return cls(patterns or (ANY,))
        own = recipient_domain(sender)
        return cls((own,) if own else ())

    def allows(self, address: str) -> bool:
        if ANY in self.patterns:
            return True
        domain = recipient_domain(address)
        # The labels are checked, so ".example.com" at the end cannot be part of a longer label.
        return domain is not None and any(
            domain.endswith(pattern[1:]) if pattern.startswith("*.") else domain == pattern
            for pattern in self.patterns)

    def describe(self) -> str:
        return ", ".join(self.patterns) or "none"


def require_mailable(address: str) -> None:
    """Refuse (30001) a new user's address outside the domains the operator allows mail to."""
    allowed = AllowedDomains.configured(mail_allowed_domains(), os.environ.get("SENDER_EMAIL", ""))
    if not allowed.allows(address):
        raise errors.invalid_parameter(
            f"Invalid value for email: {address} is not in a domain this service may send mail to "
            f"(allowed: {allowed.describe()}; the operator widens it with MailAllowedDomains)")


def utc_day(now: datetime) -> str:
    return now.astimezone(UTC).date().isoformat()


def reserve_resend(deps: Deps, job: Job, now: datetime) -> None:
    """Count one re-send request of the job; 30001 with HTTP 429 when its job's or its company's quota is used up."""
    per_job, per_day = deps.settings.max_resends_per_job, deps.settings.max_resends_per_company_day
    over = deps.quotas.reserve_resend(job.job_handle, job.company_handle, utc_day(now), per_job, per_day)
    if over == "job":
        raise errors.invalid_parameter(
            f"Job {job.job_handle} may be re-sent at most {per_job} times; its notifications were not re-sent", 429)
    if over == "company":
        raise errors.invalid_parameter(
            f"Company {job.company_handle} may request at most {per_day} re-sends per day (UTC); "
            "its notifications were not re-sent, try again after midnight UTC", 429)


def reserve_mail(deps: Deps, job: Job, step: str, now: datetime) -> bool:
    """Count the mail of ``step`` against its company's daily quota (once per step); False when it is used up."""
    return deps.quotas.reserve_mail(job.job_handle, step, job.company_handle, utc_day(now),
                                   deps.settings.max_mails_per_company_day)
