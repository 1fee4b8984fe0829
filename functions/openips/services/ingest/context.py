"""The upload a format ingests: one frozen value instead of the same thirteen arguments to every format."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from openips.models.domain import Asset, Company, FileClaim, Job
from openips.models.events import IncomingObject
from openips.models.log_file_types import LogFileTypes
from openips.services.deps import Deps
from openips.services.ingest.sniff import Sniff
from openips.services.keys import IncomingKey
from openips.services.naming import TargetPath


@dataclass(frozen=True)
class Upload:
    """One claimed, downloaded upload on its way to becoming assets (built once, by ``processing``)."""

    deps: Deps
    job: Job
    company: Company
    claim: FileClaim
    obj: IncomingObject  # the object in the incoming bucket: the master is copied from it
    key: IncomingKey  # where it was uploaded: its job, its path, how deep in archives
    target: TargetPath  # where its asset goes: folder, file name, asset ID
    source: str  # the downloaded file
    size: int
    tmp: str  # a private directory, removed with everything in it once the file is done
    now: datetime
    projects: tuple[str, ...]  # projectHandleArray: the projects that still exist
    gone: tuple[str, ...]  # projectHandleArray: deleted since the job was opened
    replacing: Asset | None  # the asset it most likely updates (it gives preserveCrop its crop)
    max_size: int  # the company's file-size limit (archive members are held to it too)
    sniff: Sniff
    log_file_types: LogFileTypes  # declared by the format that ingests it: what its rows say
