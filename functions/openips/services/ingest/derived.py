"""Derived assets: the assets one uploaded file gives beyond its own (PDF pages, Photoshop layers).

A derived asset names the file's asset in ``parent_handle`` and is listed in its ``members``.
It follows the upload rules of spec §9.2 (``ingest.outcome.decide_asset``) plus one of its own: an
asset of the same name that already belongs to this parent (a re-upload), or that this file's
earlier attempt wrote, is always updated, so a retry or a re-upload never makes ``name-1``.
Its log rows are rows of the file (not files of the job): the file is counted once.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from openips.models import errors
from openips.models.domain import Asset, Company, FileClaim, Job, LogEntry, LogType
from openips.models.log_file_types import LogFileType
from openips.models.outcomes import FileOutcome
from openips.services import naming
from openips.services.deps import Deps
from openips.services.ingest.context import Upload
from openips.services.ingest.outcome import Content, invalidate_renditions, new_asset, updated_asset, upload_thumbnail


@dataclass(kw_only=True)
class Derivation:
    """One uploaded file making derived assets: the upload, and what the steps produced."""

    upload: Upload
    parent: Asset | None = None
    handles: list[str] = field(default_factory=list)  # the derived assets made, in order
    rows: list[LogEntry] = field(default_factory=list)
    warned: bool = False  # a derived asset was refused or has warnings: the file counts as warned

    # The upload's parts every step reads, by their short names.
    @property
    def deps(self) -> Deps:
        return self.upload.deps

    @property
    def job(self) -> Job:
        return self.upload.job

    @property
    def company(self) -> Company:
        return self.upload.company

    @property
    def claim(self) -> FileClaim:
        return self.upload.claim

    @property
    def target(self) -> naming.TargetPath:
        return self.upload.target

    @property
    def now(self) -> datetime:
        return self.upload.now

    @property
    def projects(self) -> tuple[str, ...]:
        return self.upload.projects

    @property
    def tmp(self) -> str:
        return self.upload.tmp


def is_ours(existing: Asset, parent: Asset, claim: FileClaim) -> bool:
    """Derived from this parent (a re-upload updates it), or written by this file's earlier attempt."""
    return existing.parent_handle == parent.asset_handle or existing.last_claim == claim.claim_id


def blocked_by(run: Derivation, target: naming.TargetPath) -> tuple[Asset | None, Asset | None, bool]:
    """Before any rendering: (the asset of that name, the one this upload will replace, whether it is skipped)."""
    parent = run.parent
    assert parent is not None
    existing = run.deps.assets.find_by_name(run.company.company_handle, target.asset_name)
    ours = existing is not None and is_ours(existing, parent, run.claim)
    if existing is not None and not ours and not run.job.options.overwrite:
        return existing, None, True
    replacing = existing if existing is not None and (ours or naming.overwrite_matches(
        run.company.overwrite_mode, existing, target)) else None
    return existing, replacing, False


def decide(run: Derivation, target: naming.TargetPath, content: Content, size: int,
           finish: Callable[[Asset], Asset]) -> tuple[FileOutcome, Asset | None, bool]:
    """The derived asset: (outcome, asset, whether it already existed); None when skipped as a duplicate.

    Any other asset of the same name follows the job's ``overwrite`` and the company's
    ``overwriteMode``, taking ``name-1``, ``name-2``… when it may not be replaced.
    """
    deps, job, company, claim, parent, now = run.deps, run.job, run.company, run.claim, run.parent, run.now
    assert parent is not None
    n = 0
    while n <= naming.MAX_SUFFIX:
        name = naming.suffixed(target.asset_name, n)
        existing = deps.assets.find_by_name(company.company_handle, name)
        if existing is None:
            asset = finish(new_asset(job, company, target, name, content, size, claim, now, run.projects))
            if deps.assets.create(asset):
                return FileOutcome.UPLOAD_SUCCESS, asset, False
            continue  # taken meanwhile: look again
        if is_ours(existing, parent, claim) or (
                job.options.overwrite and naming.overwrite_matches(company.overwrite_mode, existing, target)):
            # Created by an earlier attempt of this same file: still a creation in the log.
            retried = existing.last_claim == claim.claim_id and existing.created == existing.updated
            updated = updated_asset(existing, job, company, target, content, size, claim, now,
                                    FileOutcome.FILE_UPDATED, run.projects)
            return (FileOutcome.UPLOAD_SUCCESS if retried else FileOutcome.FILE_UPDATED), finish(updated), True
        if not job.options.overwrite:
            return FileOutcome.DUPLICATE_SKIPPED, None, False
        n += 1
    raise errors.FileRejectedError(f"no free asset ID for {target.asset_name}", "asset.no_free_name")


def store_image(run: Derivation, content: Content, asset: Asset, exists: bool,
                existing: Asset | None) -> None:
    """Write a derived image: its pyramid TIFF and mask, its record, its words and projects."""
    deps = run.deps
    old_words = list(existing.search_words) if existing is not None and existing.asset_handle == asset.asset_handle \
        else []
    bucket = deps.settings.assets_bucket
    if content.optimized_path and asset.optimized_key:
        deps.storage.upload(content.optimized_path, bucket, asset.optimized_key, "image/tiff")
    if content.mask_path and asset.mask_key:
        deps.storage.upload(content.mask_path, bucket, asset.mask_key, "image/tiff")
    upload_thumbnail(deps, content, asset)
    for path in (content.optimized_path, content.mask_path, content.thumbnail_path):
        with contextlib.suppress(FileNotFoundError, TypeError):
            os.remove(path)  # type: ignore[arg-type]
    if exists:
        deps.assets.replace(asset)
        invalidate_renditions(deps, run.company, asset)  # a page or layer rendered again: new pixels
    deps.assets.index_words(run.company.company_handle, asset.asset_handle, old_words, asset.search_words)
    deps.projects.link_assets(list(run.projects), asset.asset_handle)
    run.handles.append(asset.asset_handle)
    if content.warnings:
        run.warned = True


def store_container(run: Derivation, name: str, content: Content, update: dict, *, messages: str,
                    params: dict, asset_type: LogFileType) -> Asset | None:
    """A derived asset with no files of its own (a PDF's Catalog, a PSD's template) over ``run.handles``, and its row.

    ``messages`` is the prefix of its ``_created``, ``_updated`` and ``_duplicate`` messages. None when
    the name is taken and may not be replaced.
    """
    parent = run.parent
    assert parent is not None
    target = naming.TargetPath(folder=run.target.folder, file_name=name, asset_name=name, extension="")
    members = list(run.handles)

    def finish(asset: Asset) -> Asset:
        return asset.model_copy(update={"parent_handle": parent.asset_handle, "master_key": "", "members": members,
                                        "optimized_key": None, "optimized_format": None, "mask_key": None,
                                        "thumbnail_key": None, "thumbnail_format": None,
                                        **update})

    outcome, container, exists = decide(run, target, content, 0, finish)
    params = {"path": run.target.path, "asset": container.name if container else name, **params}
    if container is None:
        run.rows.append(LogEntry.localised(LogType.DUPLICATE_SKIPPED, f"{messages}_duplicate", params, run.now,
                                           asset_name=name, file_path=run.target.path))
        return None
    if exists:
        run.deps.assets.replace(container)
    run.deps.projects.link_assets(list(run.projects), container.asset_handle)
    created = outcome == FileOutcome.UPLOAD_SUCCESS
    run.rows.append(LogEntry.localised(LogType.UPLOAD_SUCCESS if created else LogType.FILE_UPDATED,
                                       f"{messages}_created" if created else f"{messages}_updated", params,
                                       run.now, asset_name=container.name, asset_type=asset_type,
                                       asset_handle=container.asset_handle, file_path=run.target.path))
    return container


def detach_stale(run: Derivation, earlier: list[str]) -> int:
    """Derived assets an earlier upload of the file made and this one did not: kept, no longer linked to it.

    A re-uploaded PDF with fewer pages, or a PSD with a layer removed, leaves assets a user may
    have published or put into sets, so they are not deleted; they stop naming the file as their
    parent (and the file stops listing them). Returns how many were detached.
    """
    parent = run.parent
    assert parent is not None
    current, detached = set(run.handles), 0
    for handle in earlier:
        old = run.deps.assets.get(handle) if handle not in current else None
        if old is not None and old.parent_handle == parent.asset_handle:
            run.deps.assets.replace(old.model_copy(update={"parent_handle": None}))
            detached += 1
    return detached
