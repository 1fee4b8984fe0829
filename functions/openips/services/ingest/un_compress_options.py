"""Archives (``unCompressOptions``, spec §5.16): ZIP, TAR and TAR.GZ, recognised by content.

``process: None`` (or no block) stores the archive whole as one ``Zip`` asset. ``UnCompress``
writes its members back into the job under ``extracted/``, where each is processed like an
uploaded file in the archive's folder and counted in the job; the archive itself is no asset.
Reading archives safely (bombs, links, ``..``, damaged members) is ``services.archives``.
"""

from __future__ import annotations

import posixpath

from openips.models.domain import LogEntry, LogType
from openips.models.log_file_types import LogFileType, LogFileTypes
from openips.models.messages import message
from openips.models.outcomes import FileOutcome
from openips.services import archives
from openips.services.ingest.context import Upload
from openips.services.ingest.format import Format
from openips.services.ingest.outcome import Content, FileResult, finish_file
from openips.services.ingest.quarantine import keep
from openips.services.ingest.sniff import Sniff
from openips.services.keys import extracted_prefix


def recognises(sniff: Sniff) -> bool:
    return sniff.archive is not None


def ingest(upload: Upload) -> FileResult:
    kind = upload.sniff.archive
    assert kind is not None  # recognised
    options = upload.job.options.un_compress_options
    if options is not None and options.process == "UnCompress":
        return _extract(upload, kind)
    return finish_file(upload, Content(type="Zip", summary=f"{archives.KIND_LABELS[kind]} archive, stored whole"))


def _extract(upload: Upload, kind: archives.ArchiveKind) -> FileResult:
    """``UnCompress``: write the archive's members back into the job; they count as its files."""
    deps, key, target, now = upload.deps, upload.key, upload.target, upload.now
    limits = archives.Limits(max_member_bytes=upload.max_size)
    if key.depth + 1 > limits.max_depth:
        raise archives.ArchiveRefusedError(f"it is an archive inside {key.depth} archives; archives are "
                                           f"extracted at most {limits.max_depth} levels deep")
    plan = archives.plan_extraction(upload.source, kind, upload.size, limits)
    _reserve_extraction(upload, plan)
    prefix = extracted_prefix(upload.job, upload.claim.claim_id, key.depth + 1)
    folder = posixpath.dirname(key.relative)
    refused, written = list(plan.refused), 0
    with archives.opened(upload.source, kind) as open_member:
        for member in plan.members:
            member_key = prefix + (f"{folder}/" if folder else "") + member.path
            try:
                with open_member(member) as stream:
                    deps.storage.upload_stream(stream, deps.settings.incoming_bucket, member_key)
                written += 1
            except archives.MEMBER_READ_ERRORS as exc:
                refused.append((member.name, f"its data is damaged ({exc})"))
    rows = [LogEntry.localised(LogType.UPLOAD_ERROR, "archive.member_refused",
                               {"member": name, "archive": target.path, "reason": why}, now,
                               file_path=f"{target.path}/{name}", code="archive.member_refused")
            for name, why in refused]
    params = {"path": target.path, "kind": archives.KIND_LABELS[kind], "count": written,
              "skipped": message("archive.skipped", count=plan.skipped) if plan.skipped else "",
              "refused": message("archive.refused", count=len(refused)) if refused else "",
              "kept": keep(deps, upload.obj, key) if refused else ""}  # the archive stays for inspection
    rows.insert(0, LogEntry.localised(LogType.UPLOAD_SUCCESS, "archive.extracted", params, now,
                                      file_path=target.path, asset_type=LogFileType.ZIP))
    n = len(refused)  # each refused member is one file of the job, received and in error
    counts = {"success": 1, "total_size": upload.size, "received": n, "done": n, "error": n}
    return FileResult(FileOutcome.EXTRACTED, rows, counts, more_expected=written + n)


def _reserve_extraction(upload: Upload, plan: archives.Plan) -> None:
    """Refuse the archive whole if its members would pass the job's or the company's daily budget."""
    deps, job = upload.deps, upload.job
    settings = deps.settings
    members, size = len(plan.members), plan.total_bytes
    job_limits = (settings.max_extracted_files_per_job, settings.max_extracted_bytes_per_job)
    company_limits = (settings.max_extracted_files_per_company_day, settings.max_extracted_bytes_per_company_day)
    over = deps.quotas.reserve_extraction(upload.claim, job.company_handle, upload.now.date().isoformat(), members,
                                         size, job_limits, company_limits)
    if over is not None:
        limit = job_limits if over == "job" else company_limits
        where = "this job" if over == "job" else "the company today (UTC)"
        raise archives.ArchiveRefusedError(
            f"its {members} files ({size} bytes) would take the files extracted from archives in {where} past "
            f"the limit of {limit[0]} files or {limit[1]} bytes")


FORMAT = Format(name="archive (ZIP, TAR, TAR.GZ)", option="un_compress_options", recognises=recognises,
                log_file_types=LogFileTypes(LogFileType.ZIP), ingest=ingest)
