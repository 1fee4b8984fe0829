"""Reading assets, with short-lived presigned GET URLs for their files."""

from __future__ import annotations

from openips.models import errors
from openips.models.api import AssetFile, AssetFiles, AssetJobLog, AssetResponse
from openips.models.domain import Asset, User
from openips.models.words import tokenize
from openips.services import auth, views
from openips.services.deps import Deps
from openips.services.jobs import get_owned_job, reading_locale
from openips.services.naming import normalize_folder
from openips.services.projects import owned_project


def asset_view(deps: Deps, asset: Asset) -> AssetResponse:
    bucket = deps.settings.assets_bucket
    storage = deps.storage
    optimized = None
    if asset.optimized_key:
        stem = asset.file_name.rsplit(".", 1)[0]
        optimized = AssetFile(url=storage.presign_get(bucket, asset.optimized_key, f"{stem}.tif"),
                              key=asset.optimized_key, format=asset.optimized_format)
    mask = None
    if asset.mask_key:
        mask = AssetFile(url=storage.presign_get(bucket, asset.mask_key, f"{asset.name}-mask.tif"),
                         key=asset.mask_key, format="ptiff")
    master = None
    if asset.master_key:  # set assets have no files of their own
        master = AssetFile(url=storage.presign_get(bucket, asset.master_key, asset.file_name), key=asset.master_key)
    files = AssetFiles(master=master, optimized=optimized, mask=mask)
    return AssetResponse(**asset.model_dump(exclude={"master_key", "optimized_key", "optimized_format",
                                                     "mask_key", "extension", "last_claim", "members"}),
                         files=files, children=list(asset.members))


def get_asset(deps: Deps, user: User, asset_handle: str) -> AssetResponse:
    auth.require_role(user, auth.READ_ROLES, "getAssets")
    return asset_view(deps, _owned_asset(deps, user, asset_handle))


def asset_job_logs(deps: Deps, user: User, asset_handle: str, locale: str | None = None) -> list[AssetJobLog]:
    """getAssetJobLogs: every job-log row that named the asset, across jobs, newest first.

    Messages are in ``locale`` when given, else in each job's own locale.
    """
    auth.require_role(user, auth.READ_ROLES, "getAssetJobLogs")
    locale = reading_locale(locale)
    asset = _owned_asset(deps, user, asset_handle)
    rows = list(deps.store.query_asset_log_rows(asset.asset_handle))
    jobs = deps.store.get_jobs({job_handle for job_handle, _ in rows})
    return [views.asset_job_log(jobs[handle], row, locale or jobs[handle].locale)
            for handle, row in rows if handle in jobs]


def _owned_asset(deps: Deps, user: User, asset_handle: str) -> Asset:
    asset = deps.store.get_asset(asset_handle)
    if asset is None:
        raise errors.unknown_handle("asset", asset_handle)
    auth.check_owner(user, asset.company_handle)
    return asset


def find_assets(deps: Deps, user: User, company: str | None, job_handle: str | None,
                folder: str | None, name: str | None, asset_type: str | None,
                project_handle: str | None = None, text: str | None = None) -> list[AssetResponse]:
    """Assets by job, by folder, by name (the company-unique asset ID), by project or by words (``text``)."""
    auth.require_role(user, auth.READ_ROLES, "searchAssets")
    company_handle = auth.company_scope(user, company)
    if text is not None:
        found = _assets_with_words(deps, company_handle, text)
    elif project_handle:
        project = owned_project(deps, user, project_handle)
        found = [a for h in deps.store.list_project_asset_handles(project.project_handle)
                 if (a := deps.store.get_asset(h)) is not None]
    elif job_handle:
        job = get_owned_job(deps, user, job_handle)
        found = deps.store.list_job_assets(job.job_handle)
        if company is None:  # the job names the company (IpsAdmin: any); a companyHandle given still filters
            company_handle = job.company_handle
    elif name:
        asset = deps.store.find_asset_by_name(company_handle, name)
        found = [asset] if asset else []
    elif folder is not None:
        try:
            found = deps.store.list_folder_assets(company_handle, normalize_folder(folder))
        except errors.FileRejectedError as exc:
            raise errors.invalid_parameter(f"folder: {exc.message}") from exc
    else:
        raise errors.missing_parameter("Give one of jobHandle, folder, name, projectHandle or text")
    found = [a for a in found if a.company_handle == company_handle]
    if folder is not None and (job_handle or name or project_handle or text is not None):
        found = [a for a in found if a.folder == normalize_folder(folder)]
    if job_handle and text is not None:
        found = [a for a in found if job_handle in (a.created_job_handle, a.updated_job_handle)]
    if name and (job_handle or project_handle or text is not None):
        found = [a for a in found if a.name == name]
    if asset_type:
        found = [a for a in found if a.type == asset_type]
    return [asset_view(deps, a) for a in found]


MAX_TEXT_RESULTS = 1000


def _assets_with_words(deps: Deps, company_handle: str, text: str) -> list[Asset]:
    """Assets of the company holding every word of ``text`` (extractSearchWords), from the word index."""
    words = list(dict.fromkeys(tokenize(text)))
    if not words:
        raise errors.invalid_parameter("text: give at least one word (letters or digits)")
    if len(words) > 10:
        raise errors.invalid_parameter("text: at most 10 words")
    handles: set[str] | None = None
    for word in words:
        found = set(deps.store.list_word_asset_handles(company_handle, word))
        handles = found if handles is None else handles & found
        if not handles:
            return []
    assets = [a for h in sorted(handles or ())[:MAX_TEXT_RESULTS] if (a := deps.store.get_asset(h)) is not None]
    return sorted(assets, key=lambda a: (a.folder, a.name))
