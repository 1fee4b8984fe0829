"""Where things live in S3, and how an uploaded object is identified (no AWS, no pyvips)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from openips.models.domain import Job


# User metadata (x-amz-meta-…) on an upload openips wrote for a caller (the UploadFile servlet):
# the caller's address, for the same-IP rule. Presigned POST policies allow no metadata field.
UPLOADED_FROM = "openips-uploaded-from"


def incoming_prefix(job: Job) -> str:
    """Every file of a job is POSTed under this key prefix (enforced by the form policy)."""
    return f"incoming/{job.company_handle}/{job.job_handle}/"


@dataclass(frozen=True)
class IncomingKey:
    company_handle: str
    job_handle: str
    relative: str
    depth: int = 0  # 0: uploaded by the client; n: extracted from an archive n levels deep

    @property
    def extracted(self) -> bool:
        return self.depth > 0


def extracted_prefix(job: Job, archive_claim: str, depth: int) -> str:
    """Where the members of one archive go (not counted when the job closes; see archives)."""
    return f"extracted/{job.company_handle}/{job.job_handle}/{archive_claim[:16]}.{depth}/"


def parse_incoming_key(key: str) -> IncomingKey | None:
    """``incoming/<company>/<job>/<path>`` or ``extracted/<company>/<job>/<tag>.<depth>/<path>``."""
    parts = key.split("/", 3)
    if len(parts) != 4 or parts[0] not in ("incoming", "extracted"):
        return None
    if not parts[1].startswith("c-") or not parts[2].startswith("j-"):
        return None
    if parts[0] == "incoming":  # the bare prefix too ("" path): its job logs it as naming no file
        return IncomingKey(parts[1], parts[2], parts[3])
    tag, _, relative = parts[3].partition("/")
    _, _, depth = tag.rpartition(".")
    if not relative or not depth.isdigit() or int(depth) < 1:
        return None
    return IncomingKey(parts[1], parts[2], relative, int(depth))


def quarantine_key(key: str, owner: IncomingKey | None) -> str:
    """Where a refused upload is kept: under its (verified) job, or ``unattributed/``, and a generated id.

    Nothing of the upload's own path but a cleaned file name is used, so a key holding ``..``
    can never name a place in another tenant's prefix; the copy's metadata keeps the key.
    """
    place = f"{owner.company_handle}/{owner.job_handle}" if owner else "unattributed"
    name = re.sub(r"[^\w.\- ]", "_", key.rsplit("/", 1)[-1]).replace("..", "_").lstrip(".")[:200] or "upload"
    return f"quarantine/{place}/{hashlib.sha256(key.encode()).hexdigest()[:16]}/{name}"


def claim_id_for(key: str, version: str) -> str:
    """One claim per uploaded object: its key and its content (ETag)."""
    return hashlib.sha256(f"{key}\n{version}".encode()).hexdigest()[:32]
