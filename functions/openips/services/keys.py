"""Where things live in S3, and how an uploaded object is identified (no AWS, no pyvips)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from openips.models.domain import Job


def incoming_prefix(job: Job) -> str:
    """Every file of a job is POSTed under this key prefix (enforced by the form policy)."""
    return f"incoming/{job.company_handle}/{job.job_handle}/"


@dataclass(frozen=True)
class IncomingKey:
    company_handle: str
    job_handle: str
    relative: str


def parse_incoming_key(key: str) -> IncomingKey | None:
    """``incoming/<company>/<job>/<relative path>`` → its parts, or None."""
    parts = key.split("/", 3)
    if len(parts) != 4 or parts[0] != "incoming" or not parts[3]:
        return None
    if not parts[1].startswith("c-") or not parts[2].startswith("j-"):
        return None
    return IncomingKey(parts[1], parts[2], parts[3])


def quarantine_key(key: str) -> str:
    return "quarantine/" + key.removeprefix("incoming/")


def claim_id_for(key: str, version: str) -> str:
    """One claim per uploaded object: its key and its content (ETag)."""
    return hashlib.sha256(f"{key}\n{version}".encode()).hexdigest()[:32]
