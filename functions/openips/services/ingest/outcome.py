"""What one file becomes: its content, the decision on its asset (spec §9.2), the stored asset, its row, its result.

The bottom of the ingest graph: formats build a ``Content`` and end with ``finish_file``, the one
tail every file's own asset goes through (job metadata → decide → duplicate? → store → the
format's additions → row → result). ``derived`` builds page and layer assets from the same parts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from openips.adapters.cdn import get_cdn, rendition_paths
from openips.models import errors
from openips.models.domain import (
    Asset,
    Company,
    FileClaim,
    Job,
    LogAux,
    LogEntry,
    LogType,
    PublishState,
    VideoInfo,
    new_handle,
)
from openips.models.keywords import merge_keywords, parse_xmp_keywords
from openips.models.log_file_types import LogFileType
from openips.models.messages import details
from openips.models.metadata import apply_updates
from openips.models.outcomes import FileOutcome
from openips.models.processing import CropRect, NamedCrop
from openips.services import naming
from openips.services.deps import Deps
from openips.services.ingest.context import Upload


@dataclass(frozen=True)
class Content:
    """What one processed file gives its asset."""

    type: str  # IPS asset type: "Image", "IccProfile", "Pdf", "Video", …
    summary: str  # for the log row, e.g. "1200×800, pyramid TIFF, jpeg"
    width: int | None = None
    height: int | None = None
    orientation: int | None = None  # level 0's EXIF orientation, for images with a pyramid
    optimized_path: str | None = None
    mask_path: str | None = None
    thumbnail_path: str | None = None  # the browser preview (ingest/raster.py); None when none was made
    thumbnail_format: str | None = None  # "jpeg" or "webp"
    crop: CropRect | None = None
    smart_crops: tuple[NamedCrop, ...] = ()  # services/smart_crops.py: made, preserved or kept
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    video: VideoInfo | None = None  # Video and MasterVideo assets


@dataclass
class FileResult:
    """A finished file: what ``complete_file`` writes in one transaction."""

    outcome: FileOutcome
    rows: list[LogEntry] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    asset_handle: str | None = None
    more_expected: int = 0  # archive members written for processing


@dataclass(frozen=True)
class Additions:
    """What a format adds once its file's own asset is stored: pages, layers, words, their rows."""

    asset: Asset  # the asset's final record (written again when it is not the stored one)
    summary: str  # the file row's summary
    aux: tuple[LogAux, ...] = ()  # the file row's warnings beyond its content's
    rows: tuple[LogEntry, ...] = ()  # rows of the derived assets, after the file's row
    warned: bool = False  # a derived asset was refused or warned: the file counts as warned


def finish_file(upload: Upload, content: Content,
                add: Callable[[Asset, Content], Additions] | None = None) -> FileResult:
    """A file's own asset once its content is made: decided (spec §9.2), stored, added to, and its one row."""
    deps = upload.deps
    content = with_job_metadata(upload.job, content, upload.projects, upload.gone)
    outcome, asset = decide_asset(upload, content)
    if asset is None:
        return duplicate_result(deps, upload.claim, upload.target, upload.now, upload.size)
    store_asset(upload, outcome, asset, content)
    added = add(asset, content) if add is not None else Additions(asset, content.summary)
    final = added.asset
    if final is not asset:
        deps.assets.replace(final)
        deps.assets.index_words(upload.company.company_handle, final.asset_handle, list(asset.search_words),
                                     list(final.search_words))
    row = file_row(outcome, upload.target, final, added.summary, content, upload.now,
                   upload.log_file_types.of(content.type), aux=list(added.aux))
    warned = bool(added.aux or content.warnings or added.warned)
    return FileResult(outcome, [row, *added.rows], file_counts(outcome, upload.size, warned), final.asset_handle)


def with_job_metadata(job: Job, content: Content, projects: tuple[str, ...], gone: tuple[str, ...]) -> Content:
    """The job-wide additions to the file's log row: metadata fields, projects."""
    notes, warnings = list(content.notes), list(content.warnings)
    updates = job.options.metadata_options.update_array if job.options.metadata_options else None
    if updates:
        fields = ", ".join(dict.fromkeys(u.field_handle for u in updates))
        notes.append(f"metadataOptions: {len(updates)} update(s) applied ({fields})")
    if projects:
        notes.append(f"projectHandleArray: added to {', '.join(projects)}")
    warnings += [f"projectHandleArray: project {h} was deleted after the job was opened; "
                 "the asset was not added to it" for h in gone]
    return replace(content, notes=tuple(notes), warnings=tuple(warnings))


def decide_asset(upload: Upload, content: Content) -> tuple[FileOutcome, Asset | None]:
    """New asset, update of an existing one, or duplicate (None); idempotent per claim."""
    deps, job, company, claim, target = upload.deps, upload.job, upload.company, upload.claim, upload.target
    size, now, projects = upload.size, upload.now, upload.projects
    if claim.outcome is not None:  # a retry: repeat the decision taken before the crash
        outcome = FileOutcome(claim.outcome)
        if outcome == FileOutcome.DUPLICATE_SKIPPED:
            return outcome, None
        existing = deps.assets.get(claim.asset_handle or "")
        if existing is None:
            raise errors.TransientError("asset of a previous attempt is missing")
        return outcome, updated_asset(existing, job, company, target, content, size, claim, now, outcome, projects)

    n = 0
    while n <= naming.MAX_SUFFIX:
        name = naming.suffixed(target.asset_name, n)
        existing = deps.assets.find_by_name(company.company_handle, name)
        if existing is None:
            asset = new_asset(job, company, target, name, content, size, claim, now, projects)
            if deps.assets.create(asset):
                deps.claims.record_decision(claim, FileOutcome.UPLOAD_SUCCESS, asset.asset_handle)
                return FileOutcome.UPLOAD_SUCCESS, asset
            continue  # another file took this ID meanwhile: look again
        if existing.last_claim == claim.claim_id:
            # This claim created it, then failed before recording so (an update is recorded before it
            # is written): the same new asset, neither an update nor a duplicate of itself.
            deps.claims.record_decision(claim, FileOutcome.UPLOAD_SUCCESS, existing.asset_handle)
            return FileOutcome.UPLOAD_SUCCESS, existing
        if not job.options.overwrite:
            deps.claims.record_decision(claim, FileOutcome.DUPLICATE_SKIPPED, None)
            return FileOutcome.DUPLICATE_SKIPPED, None
        if naming.overwrite_matches(company.overwrite_mode, existing, target):
            deps.claims.record_decision(claim, FileOutcome.FILE_UPDATED, existing.asset_handle)
            return FileOutcome.FILE_UPDATED, updated_asset(existing, job, company, target, content, size, claim, now,
                                                           FileOutcome.FILE_UPDATED, projects)
        n += 1
    raise errors.FileRejectedError(f"no free asset ID for {target.asset_name} (tried -1 to -{naming.MAX_SUFFIX})",
                                   "asset.no_free_name")


def duplicate_result(deps: Deps, claim: FileClaim, target: naming.TargetPath, now: datetime,
                     size: int) -> FileResult:
    """``DuplicateSkipped``: an asset has the file's ID and the job does not overwrite (decided once per claim)."""
    deps.claims.record_decision(claim, FileOutcome.DUPLICATE_SKIPPED, None)
    row = LogEntry.localised(LogType.DUPLICATE_SKIPPED, "file.duplicate",
                             {"path": target.path, "asset": target.asset_name}, now,
                             asset_name=target.asset_name, file_path=target.path)
    return FileResult(FileOutcome.DUPLICATE_SKIPPED, [row], {"duplicate": 1, "total_size": size})


def new_asset(job: Job, company: Company, target: naming.TargetPath, name: str, content: Content, size: int,
              claim: FileClaim, now: datetime, projects: tuple[str, ...]) -> Asset:
    handle = new_handle("a")
    state: PublishState = "MarkedForPublish" if job.options.ready_for_publish else "NotMarkedForPublish"
    return Asset(
        asset_handle=handle, company_handle=company.company_handle, name=name, type=content.type,
        folder=target.folder, file_name=target.file_name, extension=target.extension, publish_state=state,
        width=content.width, height=content.height, orientation=content.orientation, file_size=size,
        crop_rect=content.crop,
        smart_crops=list(content.smart_crops), created_job_handle=job.job_handle, updated_job_handle=job.job_handle,
        created=now, updated=now, last_claim=claim.claim_id, xmp_keywords=_job_keywords(job),
        project_handles=list(projects), metadata=_job_metadata(job, {}), video=content.video,
        **_asset_files(company.company_handle, handle, content),
    )


def updated_asset(existing: Asset, job: Job, company: Company, target: naming.TargetPath, content: Content, size: int,
                  claim: FileClaim, now: datetime, outcome: FileOutcome, projects: tuple[str, ...]) -> Asset:
    if outcome == FileOutcome.UPLOAD_SUCCESS:  # retry of a creation: the record is already ours
        return existing
    preserve = job.options.preserve_publish_state
    if preserve is None:
        preserve = company.retain_publish_state
    state: PublishState = existing.publish_state if preserve else (
        "MarkedForPublish" if job.options.ready_for_publish else "NotMarkedForPublish")
    # Spec §9.2: the "AnyFolder" modes move the asset to the folder of the new upload.
    # The crop stored is the one applied now: new, preserved (§9.4) or none.
    return existing.model_copy(update={
        "type": content.type, "folder": target.folder, "file_name": target.file_name,
        "extension": target.extension, "publish_state": state, "width": content.width,
        "height": content.height, "orientation": content.orientation, "file_size": size, "crop_rect": content.crop,
        "smart_crops": list(content.smart_crops),  # decided with the asset replaced (preserved, kept or none)
        "updated_job_handle": job.job_handle, "updated": now, "last_claim": claim.claim_id,
        # Spec §9.7 says "merged": an update adds the job's keywords to those the asset has.
        "xmp_keywords": merge_keywords(existing.xmp_keywords, _job_keywords(job)),
        "project_handles": list(dict.fromkeys([*existing.project_handles, *projects])),
        "metadata": _job_metadata(job, existing.metadata), "video": content.video,
        **_asset_files(company.company_handle, existing.asset_handle, content),
    })


def store_asset(upload: Upload, outcome: FileOutcome, asset: Asset, content: Content) -> None:
    """The upload's asset: its master (the uploaded bytes), pyramid TIFF and mask, its record, its projects."""
    deps, obj = upload.deps, upload.obj
    bucket = deps.settings.assets_bucket
    deps.storage.copy(obj.bucket, obj.key, bucket, asset.master_key)
    if content.optimized_path and asset.optimized_key:
        deps.storage.upload(content.optimized_path, bucket, asset.optimized_key, "image/tiff")
    if content.mask_path and asset.mask_key:
        deps.storage.upload(content.mask_path, bucket, asset.mask_key, "image/tiff")
    upload_thumbnail(deps, content, asset)
    if outcome == FileOutcome.FILE_UPDATED:
        deps.assets.replace(asset)
        # New pixels, maybe a new publish state: the CDN must not serve the old renditions until they expire.
        invalidate_renditions(deps, upload.company, asset)
    deps.projects.link_assets(list(upload.projects), asset.asset_handle)


def invalidate_renditions(deps: Deps, company: Company, asset: Asset) -> None:
    """Drop the asset's cached renditions (GET /is/image/<company handle or name>/<asset>…) from the CDN."""
    paths = rendition_paths((company.company_handle, company.name), asset.name)
    # One reference per stored version: a retry of this file asks for the same invalidation again.
    get_cdn(deps.settings.cdn_distribution_id).invalidate(paths, f"{asset.asset_handle}-{asset.last_claim}")


def upload_thumbnail(deps: Deps, content: Content, asset: Asset) -> None:
    """The preview, over the asset's previous one (one key per asset, whatever its format)."""
    if content.thumbnail_path and asset.thumbnail_key:
        deps.storage.upload(content.thumbnail_path, deps.settings.assets_bucket, asset.thumbnail_key,
                            f"image/{asset.thumbnail_format}")  # image/jpeg, image/webp


def file_row(outcome: FileOutcome, target: naming.TargetPath, asset: Asset, summary: str, content: Content,
             now: datetime, log_file_type: LogFileType, aux: list[LogAux] | None = None) -> LogEntry:
    """The file's one row (spec §8.7): every colour and crop decision in it, each warning an ``auxArray`` entry."""
    created = outcome == FileOutcome.UPLOAD_SUCCESS
    params = {"path": target.path, "asset": asset.name, "summary": summary, "details": details(content.notes)}
    aux = [*(aux or []), *(LogAux.warning("file.warning", {"path": target.path, "warning": w}, now)
                           for w in content.warnings)]
    return LogEntry.localised(LogType.UPLOAD_SUCCESS if created else LogType.FILE_UPDATED,
                              "file.created" if created else "file.updated", params, now,
                              asset_name=asset.name, asset_type=log_file_type,
                              asset_handle=asset.asset_handle, file_path=target.path, aux=aux)


def file_counts(outcome: FileOutcome, size: int, warned: bool) -> dict[str, int]:
    counts = {"success" if outcome == FileOutcome.UPLOAD_SUCCESS else "update": 1, "total_size": size}
    if warned:
        counts["warning"] = 1
    return counts


def _asset_files(company_handle: str, asset_handle: str, content: Content) -> dict:
    base = f"{company_handle}/{asset_handle}"
    # The preview's key has no extension, so a re-upload that changes its format still
    # replaces it; its format is on the record and in the object's Content-Type.
    thumbnail = bool(content.optimized_path and content.thumbnail_path)
    return {"master_key": f"{base}/master",
            "optimized_key": f"{base}/optimized.tif" if content.optimized_path else None,
            "optimized_format": "ptiff" if content.optimized_path else None,
            "mask_key": f"{base}/mask.tif" if content.mask_path else None,
            "thumbnail_key": f"{base}/thumbnail" if thumbnail else None,
            "thumbnail_format": content.thumbnail_format if thumbnail else None}


def _job_metadata(job: Job, current: dict) -> dict:
    updates = job.options.metadata_options.update_array if job.options.metadata_options else None
    return apply_updates(current, updates or [])


def _job_keywords(job: Job) -> list[str]:
    return parse_xmp_keywords(job.options.xmp_keywords or "")
